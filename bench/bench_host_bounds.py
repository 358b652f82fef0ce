#!/usr/bin/env python3
"""What the reading costs a host, whatever its tools print: the program memory_facts sends (remote.py)
run for real on this machine, with hostile stand-ins for top, free, journalctl and dmesg first on
its PATH, and hostile kernel and app log files bind-mounted over /var/log (a mount namespace of its
own: the machine's /var/log is not touched). Root is needed for the mount namespace.

    .venv/bin/python bench/bench_host_bounds.py                  # every scenario
    .venv/bin/python bench/bench_host_bounds.py top-endless journal-silent
    .venv/bin/python bench/bench_host_bounds.py --json out.json

Per scenario: the wall time, the peak RSS of the reading and of any command it ran (``ru_maxrss``
of the program from ``wait4``: the largest of it and its waited-for children), the size of its
answer, whether it failed, and the gaps it named. The claim it checks: the reading ends within its
time bound (sample_seconds + watch_seconds + READING_SECONDS), its answer stays small, and its
memory stays far below DATA_BYTES, for every scenario; ``real`` is this machine's own tools.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'collections'))

from ansible_collections.headroom.memory.plugins.module_utils.read import collect, remote  # noqa: E402

OPTIONS = {'top_limit': 20, 'pss_limit': 200, 'top_samples': 1, 'sample_seconds': 1.0, 'oom_history': True,
           'oom_since': None, 'oom_events_limit': 20, 'watch_seconds': 0.0, 'watch_interval': 1.0,
           'app_since': '-24h'}

TOP_HEAD = '''top - 10:00:00 up 1 day,  2:03,  1 user,  load average: 0.00, 0.00, 0.00
Tasks: 40000 total,   1 running, 39999 sleeping,   0 stopped,   0 zombie
%Cpu(s):  0.0 us,  0.0 sy,  0.0 ni,100.0 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st
MiB Mem :  24105.6 total,  20000.0 free,   2000.0 used,   2105.6 buff/cache
MiB Swap:      0.0 total,      0.0 free,      0.0 used.  22000.0 avail Mem

    PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND
'''
TOP_ROW = ('{pid:>7} root      20   0  123456  {res:>5}   1234 S   0.0   0.1   0:00.01 '
           'worker-{pid} --with a long command line that goes on and on\n')
# one forged OOM report: the invoking line, a task dump of 40 tasks of distinct names, the kill
KILL = '\n'.join(
    ['{stamp} host kernel: python3 invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), '
     'order=0, oom_score_adj=0',
     '{stamp} host kernel: [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name']
    + ['{stamp} host kernel: [%7d]     0 %7d    12345     1234    102400        0             0 task{n}-%d' % (i, i, i)
       for i in range(40)]
    + ['{stamp} host kernel: Out of memory: Killed process {n} (python3) total-vm:123456kB, anon-rss:1234kB, '
       'file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:100kB oom_score_adj:0']) + '\n'
GUNICORN = '[2026-12-07 10:00:00 +0000] [1] [WARNING] Worker with pid {n} was terminated due to signal 9\n'


# a journal entry as journalctl -o json prints the kernel's: who wrote it, when, and what
_JOURNAL_ENTRY = (
    'def _entry(line, n):\n'
    '    message = line.split("host kernel: ", 1)[-1].format(n=n, stamp="")\n'
    '    return {"_TRANSPORT": "kernel", "SYSLOG_FACILITY": "0", "SYSLOG_IDENTIFIER": "kernel",\n'
    '            "__REALTIME_TIMESTAMP": str(1796637600000000 + n * 1000000), "MESSAGE": message}\n')


def _python_tool(body):
    return '#!%s\nimport sys, time\nargs = sys.argv[1:]\n%s\n' % (sys.executable, body)


def _endless(text_expr):
    return 'n = 0\nwhile True:\n    n += 1\n    sys.stdout.write(%s)\n' % text_expr


SCENARIOS = {
    'real': ({}, {}, "this machine's own free, top, journalctl and dmesg"),
    'top-40k': ({'top': _python_tool(
        'if args == ["-V"]: print("  procps-ng 4.0.2"); sys.exit(0)\n'
        'sys.stdout.write(%r)\nfor pid in range(1, 40001):\n    sys.stdout.write(%r.format(pid=pid, res=40001 - pid))'
        % (TOP_HEAD, TOP_ROW))}, {}, 'top lists 40,000 processes'),
    'top-endless': ({'top': _python_tool(
        'if args == ["-V"]: print("  procps-ng 4.0.2"); sys.exit(0)\nsys.stdout.write(%r)\n' % TOP_HEAD
        + _endless('%r.format(pid=n, res=n %% 99999)' % TOP_ROW))}, {}, 'top prints rows without end'),
    'free-endless': ({'free': _python_tool(_endless(
        '"              total        used        free      shared  buff/cache   available\\n'
        'Mem:    25276182528   520392704 23764398080    10551296  1307156480 24755789824\\n'
        'Swap:             0           0           0\\n"'))}, {}, 'free prints blocks without end'),
    'silent': ({name: _python_tool('time.sleep(3600)') for name in ('top', 'free', 'journalctl', 'dmesg')}, {},
               'no tool ever answers'),
    'journal-endless-kills': ({'journalctl': _python_tool(
        'import json\nreport = %r.splitlines()\n' % KILL
        + _endless('"".join(json.dumps(_entry(line, n)) + "\\n" for line in report)').replace(
            'n = 0\n', 'n = 0\n' + _JOURNAL_ENTRY))}, {},
        'journalctl prints OOM reports, as the kernel\'s own entries (JSON, _TRANSPORT=kernel), without end'),
    'dmesg-endless-kills': ({'journalctl': _python_tool('sys.exit(1)'), 'dmesg': _python_tool(_endless(
        '%r.format(n=n, stamp="[%%d.000000]" %% n).replace("host kernel: ", "")' % KILL))}, {},
        'no journal; dmesg prints forged OOM reports without end'),
    'syslog-64MiB-kills': ({'journalctl': _python_tool('sys.exit(1)'), 'dmesg': _python_tool('sys.exit(1)')},
                           {'messages': (KILL, 64 << 20)},
                           'no journal, no dmesg; /var/log/messages holds 64 MiB of forged OOM reports'),
    'syslog-64MiB-kill-lines': ({'journalctl': _python_tool('sys.exit(1)'), 'dmesg': _python_tool('sys.exit(1)')},
                                {'messages': (KILL.splitlines(True)[-1], 64 << 20)},
                                'no journal, no dmesg; /var/log/messages holds 64 MiB of forged kill lines alone'),
    'journal-64MiB-kill-lines': ({'journalctl': _python_tool(
        'import itertools, json\nline = %r\nwritten = 0\n' % KILL.splitlines()[-1] + _JOURNAL_ENTRY
        + 'for n in itertools.count():\n'
        '    text = json.dumps(_entry(line, n)) + "\\n"\n'
        '    sys.stdout.write(text)\n    written += len(text)\n    if written > 64 << 20: break\n')}, {},
        'journalctl prints 64 MiB of kill lines as the kernel\'s own entries, then ends'),
    'app-logs': ({}, {'gunicorn/error.log': (GUNICORN, 64 << 20)},
                 'a gunicorn log of 64 MiB of workers killed by signal 9'),
}


def _write_log(path, line, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        n, written = 0, 0
        while written < size:
            n += 1
            text = line.format(n=n, stamp='Dec  7 10:%02d:%02d' % (n // 60 % 60, n % 60))
            handle.write(text)
            written += len(text)


def _talk(proc, data):
    """communicate() without its wait: (stdout, stderr), the process left to be reaped."""
    import threading
    chunks = {'out': [], 'err': []}

    def drain(stream, key):
        for block in iter(lambda: stream.read(65536), b''):
            chunks[key].append(block)
    readers = [threading.Thread(target=drain, args=(proc.stdout, 'out')),
               threading.Thread(target=drain, args=(proc.stderr, 'err'))]
    for reader in readers:
        reader.start()
    proc.stdin.write(data)
    proc.stdin.close()
    for reader in readers:
        reader.join()
    return b''.join(chunks['out']), b''.join(chunks['err'])


def run(name):
    tools, logs, what = SCENARIOS[name]
    with tempfile.TemporaryDirectory(prefix='headroom-bench-') as tmp:
        bindir = os.path.join(tmp, 'bin')
        os.mkdir(bindir)
        for tool, source in tools.items():
            path = os.path.join(bindir, tool)
            with open(path, 'w') as handle:
                handle.write(source)
            os.chmod(path, 0o755)
        logdir = os.path.join(tmp, 'log')
        os.mkdir(logdir)
        for rel, (line, size) in logs.items():
            _write_log(os.path.join(logdir, rel), line, size)
        cmd, stdin = remote.command(OPTIONS, sys.executable, stdin=True)
        # the machine's /var/log is left alone: a mount namespace of the reading's own sees ours there
        wrapped = 'mount --bind %s /var/log && exec sh -c %s' % (shlex.quote(logdir), shlex.quote(cmd)) if logs else cmd
        argv = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', wrapped] if logs else ['sh', '-c', cmd]
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get('PATH', '/usr/bin:/bin'))
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        out, err = _talk(proc, stdin.encode())
        # wait4 here, not Popen.wait: its rusage is the reading's and its commands' (RUSAGE_BOTH)
        _pid, _status, usage = os.wait4(proc.pid, 0)
        proc.returncode = _status
        wall = time.monotonic() - start
    try:
        answer = json.loads(out)
    except ValueError:
        answer = {'failed': True, 'msg': 'no JSON answer: %s' % err.decode(errors='replace')[-300:]}
    collected = answer.get('collected') or {}
    return {'scenario': name, 'what': what, 'wall_s': round(wall, 1),
            'peak_rss_mib': round(usage.ru_maxrss / 1024.0, 1), 'answer_kib': round(len(out) / 1024.0, 1), 'failed': answer.get('failed', False),
            'msg': answer.get('msg'), 'gaps': collected.get('gaps'),
            'kills': (collected.get('oom_events_count') or 0) + (collected.get('oom_unattributed') or 0), 'oom_sources': collected.get('oom_sources'), 'processes': len((collected.get('top') or {}).get('processes') or [])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('scenarios', nargs='*', default=list(SCENARIOS))
    parser.add_argument('--json', help='write the figures here too')
    args = parser.parse_args()
    rows = []
    for name in args.scenarios:
        row = run(name)
        rows.append(row)
        print('%-22s %6.1f s  peak %6.1f MiB  answer %7.1f KiB  %s  kills=%s processes=%s' % (
            name, row['wall_s'], row['peak_rss_mib'], row['answer_kib'],
            'FAILED: %s' % row['msg'] if row['failed'] else 'ok', row['kills'], row['processes']))
        for gap in row['gaps'] or []:
            print('%24s gap: %s' % ('', gap[:150]))
    print('bounds: READING_SECONDS=%d + sample_seconds %g, DATA_BYTES=%d MiB' % (
        collect.READING_SECONDS, OPTIONS['sample_seconds'], collect.DATA_BYTES >> 20))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(rows, handle, indent=1)


if __name__ == '__main__':
    main()
