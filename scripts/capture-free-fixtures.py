#!/usr/bin/env python3
"""Capture real `free` output of every form a Debian release can print, into tests/fixtures/free/.

    flock /var/lock/headroom-kernel.lock scripts/capture-free-fixtures.py [RELEASE ...]

RELEASE is bullseye (procps-ng 3.3.17, busybox 1.30.1), bookworm (4.0.2, busybox 1.35.0), trixie
(4.0.4, busybox 1.37.0) or sid (procps 4.0.7 and busybox 1.38.0 from Debian sid, their .debs
unpacked and run in a trixie container with sid's own libc). Default: all four. Run by hand by a
developer (root, Docker, under the machine lock: it starts containers); tests only read what it
wrote.

What it writes, per release R:
- ``R-<slug>.out``: the exact stdout of one command, and one line per file in ``captured.json``
  (file, command, flags, locale, the tool's own version string, the release);
- ``getopt-R.json`` and ``getopt-R-busybox.json``: every flag string of ``GETOPT_FLAGS`` run through
  the real free: its exit code, stderr and stdout, with `free -b` beside it, so a test can check
  that the parser accepts exactly what the tool accepts and reads the unit the tool printed in.

Forms it makes happen on purpose:
- an overcommitted host for ``free -v``: a process in the container maps 16 GiB it never touches,
  so Committed_AS exceeds CommitLimit (this host has no swap: CommitLimit is half its RAM) and the
  Comm row's free column goes below zero; the process ends before the container does;
- every language procps translates free into (the languages whose procps-ng.mo holds "Mem:"),
  with its locale made by localedef inside the container, so each label is printed at its real
  width beside an 11-digit byte count (this host has 24 GiB: `Speicher:25276182528`).
Nothing is left behind: the containers are --rm, the mapping process is killed and waited for.
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'tests', 'fixtures', 'free')
IMAGES = {'bullseye': 'headroom/debian:bullseye', 'bookworm': 'headroom/debian:bookworm',
          'trixie': 'headroom/debian:trixie', 'sid': 'headroom/debian:trixie'}
# sid's own libc with them; the libraries it does not replace come from trixie, found after these.
SID_PACKAGES = ('procps', 'libproc2-1', 'libc6', 'busybox')

# Flag strings run through the real free of each release (never one that repeats without -c).
GETOPT_FLAGS = [
    '', '-b', '-k', '-m', '-g', '-h', '-w', '-t', '-l', '-v', '-L', '-o', '-a',
    '--bytes', '--kilo', '--mega', '--giga', '--tera', '--peta', '--kibi', '--mebi', '--gibi', '--tebi',
    '--pebi', '--human', '--si', '--lohi', '--total', '--wide', '--committed', '--line', '--old',
    '-b --si', '-k --si', '-m --si', '-g --si', '-h --si', '--si -h', '--si -b', '--si --kilo', '--kibi --si',
    '-bw', '-wb', '-bwt', '-bwtl', '-btlv', '-hw', '-hwt', '-mw', '-hb', '-bh', '-b -h', '-h -b', '-hh', '-ww',
    '-bm', '-b -m', '-bb', '-b --kilo', '--kilo --mega', '-k --kibi', '-m -m',
    '-c1', '-c 1', '-c1 -b', '-b -c1', '-bc1', '-bc 1', '-bs1 -c1', '-bs 0.1 -c 2', '-s0.1 -c2 -b', '-wbc1',
    '-bc2 -s0.1', '--count=1 -b', '--count 1 -b', '--co=1 -b', '--cou 1 -b', '--c=1 -b', '--c 1 -b',
    '--seconds=0.1 --count=2 -b', '--se=0.1 --co=2 -b', '--sec 0.1 -c2 -b', '-c 0', '-c -1', '-c x', '-c',
    '-b -c', '-c 1.5', '-c +2 -s 0.1 -b', '-c 1x', '-c 2 -s 0', '-c 2 -s -1', '-c 2 -s x', '-c 2 -s 1e-1 -b',
    '-c 2 -s .1 -b', '-s', '--count', '--count=', '--seconds= -c 1',
    '--by', '--b', '--byt -w', '--hu', '--h', '--w', '--wi', '--t', '--to', '--te', '--teb', '--tot', '--l',
    '--lo', '--li', '--k', '--ki', '--kil', '--kib', '--m', '--me', '--meg', '--meb', '--g', '--gi', '--gig',
    '--gib', '--p', '--pe', '--pet', '--peb', '--s', '--c', '--co', '--com', '--comm', '--o', '--ol',
    '--bytes=1', '--si=1', '--by=', '--wide=yes',
    '-b --', '-- -b', '-b -- x', '-b --', 'x', '-b x', 'x -b', '-b -w x',
    '-x', '-bx', '--xyz', '-', '---b', '-b -', '-kibi', '-bytes', '-si', '-B', '-K', '-H', '-W',
    '-k -k', '--mebi --mebi',
]
BUSYBOX_FLAGS = GETOPT_FLAGS + ['-bogus', '-m -b', '-b -m', '-hx', '-mb', '-gk', '-kh']


def main(releases):
    manifest_path = os.path.join(OUT, 'captured.json')
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else []
    for release in releases:
        with tempfile.TemporaryDirectory(prefix='headroom-free-') as work:
            os.chmod(work, 0o777)
            with open(os.path.join(work, 'runner.py'), 'w') as handle:
                handle.write(RUNNER)
            with open(os.path.join(work, 'flags.json'), 'w') as handle:
                json.dump({'procps': GETOPT_FLAGS, 'busybox': BUSYBOX_FLAGS}, handle)
            script = ''
            if release == 'sid':
                script = SID_SETUP % ' '.join(SID_PACKAGES)
            script += 'exec python3 /work/runner.py %s' % shlex.quote(release)
            subprocess.run(['docker', 'run', '--rm', '-v', '%s:/work' % work, IMAGES[release],
                            'bash', '-c', script], check=True)
            with open(os.path.join(work, 'result.json')) as handle:
                result = json.load(handle)
        manifest = [entry for entry in manifest if entry['release'] != release]
        for entry in result['captures']:
            name = '%s-%s.out' % (release, entry['slug'])
            with open(os.path.join(OUT, name), 'w') as handle:
                handle.write(entry.pop('stdout'))
            entry.pop('slug')
            manifest.append(dict(entry, file=name, release=release))
        for tool in ('procps', 'busybox'):
            name = 'getopt-%s%s.json' % (release, '-busybox' if tool == 'busybox' else '')
            with open(os.path.join(OUT, name), 'w') as handle:
                json.dump(result['getopt'][tool], handle, indent=1, ensure_ascii=False, sort_keys=True)
                handle.write('\n')
    manifest.sort(key=lambda entry: entry['file'])
    with open(manifest_path, 'w') as handle:
        json.dump(manifest, handle, indent=1, ensure_ascii=False, sort_keys=True)
        handle.write('\n')
    write_readme(manifest)


MARK = '<!-- captured: written by scripts/capture-free-fixtures.py, do not edit below -->'
RELEASES = {'bullseye': 'Debian 11 bullseye container', 'bookworm': 'Debian 12 bookworm container',
            'trixie': 'Debian 13 trixie container',
            'sid': "Debian sid's procps 2:4.0.7-1 and busybox 1:1.38.0-3+b1 .debs, run in a trixie container with sid's libc6"}


def write_readme(manifest):
    """tests/fixtures/free/README.md: the hand-written part, then one line per captured file."""
    path = os.path.join(OUT, 'README.md')
    with open(path) as handle:
        head = handle.read().split(MARK)[0].rstrip('\n')
    lines = [head, '', MARK, '', '## Captured here (scripts/capture-free-fixtures.py)', '',
             'Real output of the real tools, run on this machine (24 GiB of RAM, no swap, kernel shared by the',
             'containers) by `scripts/capture-free-fixtures.py`; `captured.json` holds the same list as data (the',
             'tests read it). `over-*` files were taken while a process held 16 GiB mapped and untouched, so that',
             'Committed_AS exceeded CommitLimit (the note in captured.json has both figures). `getopt-R.json` and',
             '`getopt-R-busybox.json`: every flag string of the script run through that release\'s free: exit code,',
             'stderr, stdout.', '']
    for release in ('bullseye', 'bookworm', 'trixie', 'sid'):
        entries = [entry for entry in manifest if entry['release'] == release]
        if not entries:
            continue
        lines += ['### %s' % RELEASES[release], '', '| file | command | version printed by the tool |', '|---|---|---|']
        for entry in entries:
            lines.append('| `%s` | `%s` | %s |' % (entry['file'], entry['command'], entry['version']))
        lines.append('')
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines))


# Debian sid's procps and busybox in a trixie container: their .debs unpacked under /sid and run
# through sid's own dynamic loader and libraries, so nothing of trixie's is replaced.
SID_SETUP = r'''set -e
echo "deb http://deb.debian.org/debian sid main" > /etc/apt/sources.list.d/sid.list
apt-get -o Acquire::Check-Valid-Until=false update -qq >/dev/null
mkdir -p /tmp/debs /sid && cd /tmp/debs
for p in %s; do apt-get download -qq "$p/sid" 2>/dev/null; done
for d in /tmp/debs/*.deb; do dpkg -x "$d" /sid; done
cat > /usr/local/bin/free <<'EOF'
#!/bin/sh
exec /sid/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path /sid/usr/lib/x86_64-linux-gnu:/sid/lib/x86_64-linux-gnu /sid/usr/bin/free "$@"
EOF
cat > /usr/local/bin/busybox <<'EOF'
#!/bin/sh
exec /sid/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path /sid/usr/lib/x86_64-linux-gnu:/sid/lib/x86_64-linux-gnu /sid/usr/bin/busybox "$@"
EOF
chmod +x /usr/local/bin/free /usr/local/bin/busybox
# sid's procps-ng.mo catalogs are the ones its free reads
cp -r /sid/usr/share/locale/. /usr/share/locale/
cd /
'''

RUNNER = r'''
import glob, gettext, json, os, re, shlex, signal, subprocess, sys, time
release = sys.argv[1]
PATH = '/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


def run(argv, env=None, timeout=20):
    full = {'PATH': PATH, 'LC_ALL': 'C', 'HOME': '/root'}
    full.update(env or {})
    done = subprocess.run(argv, env=full, capture_output=True, timeout=timeout)
    return done.returncode, done.stdout.decode('utf-8', 'surrogateescape'), done.stderr.decode('utf-8', 'surrogateescape')


rc, version, _ = run(['free', '-V'])
version = version.strip()
rc, bb_banner, _ = run(['busybox'])
bb_version = bb_banner.splitlines()[0].split(' multi-call')[0] if bb_banner else ''
procps_major = int(re.search(r'(\d+)\.\d+', version).group(1))
has_line = not version.endswith(('4.0.0', '4.0.1', '4.0.2', '4.0.3')) and procps_major >= 4
captures = []


def capture(slug, argv, env=None, tool=None, note=None):
    rc, out, err = run(argv, env)
    if rc != 0:
        raise SystemExit('%s failed (rc=%d): %s' % (argv, rc, err))
    is_busybox = argv[0] == 'busybox'
    flags = ' '.join(shlex.quote(a) for a in argv[2 if is_busybox else 1:])
    env = env or {}
    command = ' '.join(['%s=%s' % kv for kv in sorted(env.items())] + [shlex.quote(a) for a in argv])
    entry = {'slug': slug, 'stdout': out, 'command': command, 'flags': flags,
             'locale': env.get('LC_ALL', 'C'), 'version': bb_version if is_busybox else version}
    if note:
        entry['note'] = note
    captures.append(entry)


# ---- English, every layout and unit -------------------------------------------------------------
forms = [('b', ['-b']), ('default', []), ('k', ['-k']), ('m', ['-m']), ('g', ['-g']), ('h', ['-h']),
         ('h-si', ['-h', '--si']), ('si', ['--si']), ('kilo', ['--kilo']), ('mega', ['--mega']),
         ('w', ['-w']), ('b-w-t-l', ['-b', '-w', '-t', '-l']), ('h-w-t-l', ['-h', '-w', '-t', '-l']),
         ('b-s1-c2', ['-b', '-s', '1', '-c', '2']), ('c1-b', ['-c1', '-b']), ('bs1-c1', ['-bs1', '-c1']),
         ('bs0.1-c3', ['-bs0.1', '-c3']), ('count2-b', ['--count=2', '--se=0.1', '--by'])]
if procps_major >= 4:
    forms += [('b-v', ['-b', '-v']), ('v', ['-v']), ('h-v', ['-h', '-v'])]
if has_line:
    forms += [('L', ['-L']), ('b-L', ['-b', '-L']), ('h-L', ['-h', '-L']), ('b-L-c2', ['-b', '-L', '-c2', '-s0.1'])]
for slug, argv in forms:
    capture(slug, ['free'] + argv)

# ---- an overcommitted host: Committed_AS above CommitLimit --------------------------------------
if procps_major >= 4:
    hog = subprocess.Popen(['python3', '-c', 'import mmap, sys, time\n'
                            'maps = [mmap.mmap(-1, 8 << 30) for _ in range(2)]\n'
                            'print("mapped", flush=True)\n'
                            'sys.stdin.read()\n'],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert hog.stdout.readline().strip() == b'mapped'
        meminfo = open('/proc/meminfo').read()
        limit = int(re.search(r'CommitLimit:\s+(\d+)', meminfo).group(1))
        committed = int(re.search(r'Committed_AS:\s+(\d+)', meminfo).group(1))
        note = 'overcommitted: Committed_AS %d kB > CommitLimit %d kB (16 GiB mapped, untouched)' % (committed, limit)
        assert committed > limit, note
        for slug, argv in [('over-b-v', ['-b', '-v']), ('over-v', ['-v']), ('over-h-v', ['-h', '-v']),
                           ('over-m-v', ['-m', '-v']), ('over-kilo-v', ['--kilo', '-v']),
                           ('over-h-si-v', ['-h', '--si', '-v']), ('over-b-w-t-l-v', ['-bwtlv'])]:
            capture(slug, ['free'] + argv, note=note)
        capture('de-over-h-v', ['free', '-h', '-v'], {'LC_ALL': 'de_DE.UTF-8'}, note=note)
    finally:
        hog.stdin.close()
        hog.wait()

# ---- every language procps translates free into -------------------------------------------------
supported = open('/usr/share/i18n/SUPPORTED').read().split('\n')
languages = []
for path in sorted(glob.glob('/usr/share/locale/*/LC_MESSAGES/procps-ng.mo')):
    with open(path, 'rb') as handle:
        catalog = gettext.GNUTranslations(handle)._catalog
    if catalog.get('Mem:', '').strip() or catalog.get('Swap:', '').strip():
        languages.append(path.split('/')[4])
for lang in languages:
    candidates = [line.split()[0] for line in supported if line.endswith(' UTF-8') and
                  (line.split()[0].split('.')[0] == lang or line.split()[0].startswith(lang + '_'))]
    if not candidates:
        continue
    loc = candidates[0]
    name = loc.split('.')[0]
    if loc.upper().endswith('.UTF-8'):
        loc = loc[:-6] + '.UTF-8'
    subprocess.run(['localedef', '-i', name.split('@')[0], '-f', 'UTF-8', loc], check=False,
                   capture_output=True)
    env = {'LC_ALL': loc}
    more = ['-v'] if procps_major >= 4 else []
    capture('%s-b-t-l' % lang, ['free', '-b', '-t', '-l'] + more, env)
    capture('%s-h-w' % lang, ['free', '-h', '-w'] + more, env)
    if has_line:
        capture('%s-h-L' % lang, ['free', '-h', '-L'], env)

# ---- busybox ------------------------------------------------------------------------------------
for slug, argv in [('busybox-default', []), ('busybox-b', ['-b']), ('busybox-k', ['-k']),
                   ('busybox-m', ['-m']), ('busybox-g', ['-g']), ('busybox-h', ['-h']),
                   ('busybox-bm', ['-bm'])]:
    if slug == 'busybox-h' and run(['busybox', 'free', '-h'])[0] != 0:
        continue
    capture(slug, ['busybox', 'free'] + argv)

# ---- every flag string through the real tools ---------------------------------------------------
flags = json.load(open('/work/flags.json'))
getopt = {}
for tool, prefix in (('procps', ['free']), ('busybox', ['busybox', 'free'])):
    rows = []
    for text in flags[tool]:
        try:
            rc, out, err = run(prefix + shlex.split(text), timeout=5)
        except subprocess.TimeoutExpired:
            rc, out, err = 124, '', 'timed out (repeats forever)'
        rows.append({'flags': text, 'rc': rc, 'stdout': out if rc == 0 else '', 'stderr': err[:300]})
    ref = run(prefix + ['-b'])[1]
    getopt[tool] = {'version': version if tool == 'procps' else bb_version, 'free_b': ref, 'runs': rows,
                    'meminfo_total_kb': int(re.search(r'MemTotal:\s+(\d+)', open('/proc/meminfo').read()).group(1))}

json.dump({'captures': captures, 'getopt': getopt}, open('/work/result.json', 'w'))
'''

if __name__ == '__main__':
    main(sys.argv[1:] or ['bullseye', 'bookworm', 'trixie', 'sid'])
