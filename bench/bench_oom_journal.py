#!/usr/bin/env python3
"""The diagnosis's reading on a host whose journal holds 1,000 OOM reports (about 50 MB): its CPU time
and peak memory, beside the same host with an empty journal and beside an older headroom's reading.

    .venv/bin/python bench/bench_oom_journal.py [--reports 1000] [--runs 5] [--baseline REF]

A `headroom/debian:bookworm` container (no systemd: nothing else writes to its journal) gets
systemd-journal-remote from Debian, which writes a journal file from an export stream made here:
`--reports` copies of the real kill report in tests/fixtures/kernel/postmortem/dmesg.txt (each with
its own pids and the container's cgroup, one a minute up to a minute ago, as `_TRANSPORT=kernel` entries like those journald reads from
/dev/kmsg) between kernel noise lines, until the file is about `--megabytes`. The reading program
(what the memory_facts action plugin sends a host, sample_seconds=0) then runs in the container
`--runs` times for each case; a small wrapper there takes each run's wall time, CPU time (user +
system, journalctl and top included: wait4 counts the children it waited for) and peak RSS (the
largest process among them). Cases: this checkout with the full journal; this checkout with the
journal moved away; `--baseline` (a git ref, default the commit before the post-mortem) with the
full journal. The container is removed at the end.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT = os.path.join(ROOT, 'tests', 'fixtures', 'kernel', 'postmortem', 'dmesg.txt')
IMAGE = os.environ.get('HEADROOM_IMAGE_BOOKWORM', 'headroom/debian:bookworm')
OPTIONS = {'top_limit': 20, 'pss_limit': 200, 'top_samples': 1, 'sample_seconds': 0, 'oom_history': True,
           'oom_since': None, 'oom_events_limit': 20, 'app_since': '-24h', 'watch_seconds': 0,
           'watch_interval': 1.0}

# Runs the program given on the command line (a .py file, or a command) and prints what it cost, as JSON.
MEASURE = r'''import json, os, subprocess, sys, time
start = time.perf_counter()
argv = [sys.executable, sys.argv[1]] if sys.argv[1].endswith('.py') else sys.argv[1:]
proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
out = proc.stdout.read()
_pid, status, usage = os.wait4(proc.pid, 0)
result = json.loads(out) if argv[0] == sys.executable else {}
collected = result.get('collected') or {}
events = collected.get('oom_events') or []
print(json.dumps({'wall': time.perf_counter() - start, 'cpu': usage.ru_utime + usage.ru_stime,
                  'rss': usage.ru_maxrss * 1024, 'status': status, 'failed': result.get('failed'),
                  'kills': collected.get('oom_events_count'), 'sources': collected.get('oom_sources'),
                  'postmortems': len([e for e in events if e.get('postmortem')])}))
'''


def sh(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs).stdout


def export_stream(path, reports, megabytes, container_id):
    """A journal export stream: the real report ``reports`` times, with noise up to ``megabytes``; the
    captured container's cgroup becomes ``container_id``'s, so that the kills are the target's own."""
    with open(REPORT) as handle:
        text = handle.read()
    captured = re.search(r'task_memcg=/docker/([0-9a-f]{64})', text).group(1)
    report = [re.sub(r'^\[\s*\d+\.\d+\] ', '', line).replace(captured, container_id) for line in text.splitlines()]
    victim = int(re.search(r'Killed process (\d+)', report[-1]).group(1))
    pids = sorted(set(int(p) for line in report for p in re.findall(r'\b(\d{4,5})\b', line) if 1000 < int(p) < 60000))
    # the last one a minute ago: every line lies in the app servers' search window (the last 24 h)
    start = (int(time.time()) - reports * 60) * 10 ** 6
    boot = '0123456789abcdef0123456789abcdef'
    noise_per_report = max(0, int(megabytes * 1e6 / max(reports, 1) / 350) - len(report))  # ~350 B an entry
    count = 0
    with open(path, 'wb') as out:
        def entry(usec, message):
            out.write(('__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n_TRANSPORT=kernel\n'
                       'PRIORITY=6\nSYSLOG_IDENTIFIER=kernel\n_HOSTNAME=bench\nMESSAGE=%s\n\n'
                       % (usec, usec - start + 60 * 10 ** 6, boot, message)).encode('utf-8'))
        for number in range(reports):
            usec = start + number * 60 * 10 ** 6
            for k in range(noise_per_report):  # a busy host's kernel lines between two kills
                entry(usec - 30 * 10 ** 6 + k * 1000,
                      'audit: type=1400 audit(%d.%03d:%d): apparmor="DENIED" operation="open" profile="snap.%d" '
                      'name="/proc/%d/mounts" pid=%d comm="worker-%d" requested_mask="r" denied_mask="r" fsuid=%d'
                      % (usec // 10 ** 6, k % 1000, number * 1000 + k, k % 97, 2000 + k, 2000 + k, k % 13,
                         1000 + k % 7))
            shift = number * 7 % 20000
            for k, line in enumerate(report):
                for pid in pids:  # every kill its own processes
                    line = re.sub(r'\b%d\b' % pid, str(pid + shift), line)
                entry(usec + k, line)
            count += 1
    return count, victim


def baseline_program(ref, tmp):
    """The reading program of headroom at ``ref``, built by that version's own remote.py."""
    tree = os.path.join(tmp, 'baseline')
    os.makedirs(tree)
    archive = subprocess.run(['git', '-C', ROOT, 'archive', ref, 'collections'], check=True, capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', tree], input=archive, check=True)
    code = ('import json, sys; sys.path.insert(0, %r)\n'
            'from ansible_collections.headroom.memory.plugins.module_utils.read.remote import program\n'
            'sys.stdout.write(program(json.loads(%r)))' % (os.path.join(tree, 'collections'), json.dumps(OPTIONS)))
    return sh([sys.executable, '-c', code])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--reports', type=int, default=1000)
    parser.add_argument('--megabytes', type=float, default=50)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--baseline', default='09f8948~1', help='git ref of the headroom to compare with')
    opts = parser.parse_args()
    sys.path.insert(0, os.path.join(ROOT, 'collections'))
    from ansible_collections.headroom.memory.plugins.module_utils.read.remote import program
    from ansible_collections.headroom.memory.plugins.module_utils.read.oom import oom_log_commands
    tmp = tempfile.mkdtemp(prefix='headroom-bench-journal-')
    name = 'headroom-bench-journal-%d' % os.getpid()
    try:
        sh(['docker', 'run', '-d', '--name', name, IMAGE, 'sleep', 'infinity'])
        sh(['docker', 'exec', name, 'sh', '-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive '
            'apt-get install -y -qq systemd-journal-remote >/dev/null'])
        stream = os.path.join(tmp, 'export')
        cid = sh(['docker', 'inspect', '-f', '{{.Id}}', name]).strip()
        reports, _victim = export_stream(stream, opts.reports, opts.megabytes, cid)
        sh(['docker', 'cp', stream, name + ':/tmp/export'])
        size = sh(['docker', 'exec', name, 'sh', '-c',
                   'systemd-machine-id-setup >/dev/null 2>&1; d=/var/log/journal/$(cat /etc/machine-id); '
                   'mkdir -p $d && /lib/systemd/systemd-journal-remote -o $d/system.journal /tmp/export '
                   '>/dev/null 2>&1 && rm /tmp/export && du -b $d/system.journal | cut -f1'])
        programs = {'this checkout': program(OPTIONS), 'baseline %s' % opts.baseline: baseline_program(opts.baseline, tmp)}
        for label, source in programs.items():
            path = os.path.join(tmp, re.sub(r'\W+', '_', label) + '.py')
            with open(path, 'w') as handle:
                handle.write(source)
            sh(['docker', 'cp', path, name + ':/tmp/' + os.path.basename(path)])
        with open(os.path.join(tmp, 'measure.py'), 'w') as handle:
            handle.write(MEASURE)
        sh(['docker', 'cp', os.path.join(tmp, 'measure.py'), name + ':/tmp/measure.py'])

        def measure(label, argv=None):
            argv = argv or ['/tmp/' + re.sub(r'\W+', '_', label) + '.py']
            runs = [json.loads(sh(['docker', 'exec', name, 'python3', '/tmp/measure.py'] + argv))
                    for _ in range(opts.runs)]
            if any(run['failed'] or run['status'] for run in runs):
                raise SystemExit('%s failed: %r' % (label, runs[0]))
            return {'wall': statistics.median(r['wall'] for r in runs), 'cpu': statistics.median(r['cpu'] for r in runs),
                    'rss': max(r['rss'] for r in runs), 'kills': runs[0]['kills'],
                    'postmortems': runs[0]['postmortems'], 'sources': runs[0]['sources']}
        rows = [('this checkout, %d reports in the journal' % reports, measure('this checkout')),
                ('baseline %s, the same journal' % opts.baseline, measure('baseline %s' % opts.baseline)),
                ('journalctl --grep alone (its first command)', measure('grep', oom_log_commands()[0]['argv']))]
        sh(['docker', 'exec', name, 'sh', '-c', 'mv /var/log/journal /var/log/journal.away'])
        rows.append(('this checkout, empty journal', measure('this checkout')))
    finally:
        subprocess.run(['docker', 'rm', '-f', name], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print('target: a %s container on this machine (%s), journal file %.1f MB, %d runs each, sample_seconds=0'
          % (IMAGE, os.uname().release, int(size) / 1e6, opts.runs))
    print('%-52s %10s %10s %10s %7s %12s' % ('case', 'wall', 'CPU', 'peak RSS', 'kills', 'postmortems'))
    for label, row in rows:
        print('%-52s %7.0f ms %7.0f ms %6.1f MiB %7s %12s' % (label, row['wall'] * 1000, row['cpu'] * 1000,
                                                            row['rss'] / 1048576.0, row['kills'], row['postmortems']))


if __name__ == '__main__':
    main()
