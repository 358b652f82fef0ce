#!/usr/bin/env python3
"""The OOM history's parser over a 16 MiB syslog file (oom.TAIL_BYTES, what a host without a journal
has read): CPU time and peak memory, this checkout beside an older headroom.

    .venv/bin/python bench/bench_oom_parse.py [--baseline REF] [--runs 5] [--megabytes 16]

Three files are written to a temporary directory, each `--megabytes` long:
- quiet: a host's kern.log in rsyslog's RFC 3339 format (Debian 12+), kernel noise lines with 50 copies
  of the real kill report of tests/fixtures/kernel/postmortem/dmesg.txt (each with its task dump);
- busybox: the same as busybox syslogd writes it ("host kern.warn kernel: [uptime] msg");
- hostile: nothing but OOM-looking lines (forged kills under the ident kernel, task rows and
  invoking lines whose kill never comes): every line passes the cheap filter and is parsed.
Each case runs in a fresh interpreter, `--runs` times: read_log_tail() streamed into parse_oom_log()
(with collect_oom_history's arguments for a file, where the parser takes them), reporting CPU time (user + system) and the peak RSS
(ru_maxrss) beside an interpreter that only imports the module (the parser's own cost is the
difference). The baseline's module_utils come from `git show REF:...` into a temporary package.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'collections/ansible_collections/headroom/memory/plugins/module_utils'
REPORT = os.path.join(ROOT, 'tests', 'fixtures', 'kernel', 'postmortem', 'dmesg.txt')

RUN = r'''import inspect, json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
from module_utils.read import oom
path, parse = sys.argv[2], sys.argv[3] == '1'
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
events = []
if parse:
    known = inspect.signature(oom.parse_oom_log).parameters  # as collect_oom_history reads a file
    kwargs = dict((k, v) for k, v in (('origin', 'syslog'), ('keep', getattr(oom, 'MAX_EVENTS', None))) if k in known)
    events = oom.parse_oom_log(oom.read_log_tail(path), **kwargs)
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({'cpu': after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                  'wall': time.perf_counter() - start, 'rss': after.ru_maxrss * 1024, 'kills': len(events)}))
'''


def tree(ref, into):
    """module_utils of ``ref`` (None: this checkout) as a package ``module_utils`` under ``into``."""
    target = os.path.join(into, 'module_utils')
    if ref is None:
        shutil.copytree(os.path.join(ROOT, PACKAGE), target)
        return into
    names = subprocess.run(['git', '-C', ROOT, 'ls-tree', '-r', '--name-only', ref, PACKAGE], check=True,
                           capture_output=True, text=True).stdout.split()
    for name in names:
        if not name.endswith('.py'):
            continue
        dest = os.path.join(target, os.path.relpath(name, PACKAGE))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, 'wb') as handle:
            handle.write(subprocess.run(['git', '-C', ROOT, 'show', '%s:%s' % (ref, name)], check=True,
                                        capture_output=True).stdout)
    return into


def write_logs(directory, megabytes):
    size = megabytes * 1024 * 1024
    with open(REPORT) as handle:
        report = [re.sub(r'^\[\s*\d+\.\d+\] ', '', line) for line in handle.read().splitlines()]
    noise = ['eth0: renamed from veth1a2b3c4', 'docker0: port 2(veth1a2b3c4) entered forwarding state',
             'EXT4-fs (sda1): re-mounted. Quota mode: none.', 'audit: type=1400 audit(1765101600.123:42): apparmor='
             '"DENIED" operation="open" profile="snap.lxd" name="/proc/1/cmdline" pid=4242 comm="lxd"',
             'TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.']
    every = max(1, size // 50 // 120)  # lines between two reports, about 120 bytes a line
    hostile = ['Out of memory: Killed process %d (sshd) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, '
               'shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0',
               'sshd invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0',
               '[ %6d]     0 %6d    23746     3610   180224        0             0 oom-looking-task']
    paths = {}
    for case, prefix in (('quiet', '2026-12-07T10:%02d:%02d.123456+00:00 web1 kernel: [%d.%06d] '),
                         ('busybox', 'Dec  7 10:%02d:%02d web1 kern.warn kernel: [%d.%06d] '),
                         ('hostile', 'Dec  7 10:%02d:%02d web1 kernel: [%d.%06d] ')):
        path = paths[case] = os.path.join(directory, case + '.log')
        written, number = 0, 0
        with open(path, 'w') as out:
            while written < size:
                number += 1
                stamp = prefix % ((number // 60) % 60, number % 60, 1000 + number // 1000, number % 1000000)
                if case == 'hostile':
                    line = hostile[number % 3] % ((number,) * hostile[number % 3].count('%'))
                    lines = [stamp + line]
                elif number % every == 0:
                    lines = [stamp + line for line in report]
                else:
                    lines = [stamp + noise[number % len(noise)]]
                text = '\n'.join(lines) + '\n'
                out.write(text)
                written += len(text)
    return paths


def measure(package, path, parse, runs):
    results = [json.loads(subprocess.run([sys.executable, '-c', RUN, package, path, '1' if parse else '0'], check=True,
                                         capture_output=True, text=True).stdout) for _ in range(runs)]
    return {'cpu': statistics.median(r['cpu'] for r in results), 'rss': max(r['rss'] for r in results),
            'kills': results[0]['kills']}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--baseline', help='git ref to compare with (default: where this branch left main)')
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--megabytes', type=int, default=16)
    args = parser.parse_args()
    if args.baseline is None:
        args.baseline = subprocess.run(['git', '-C', ROOT, 'merge-base', 'HEAD', 'main'], check=True, capture_output=True,
                                       text=True).stdout.strip()[:12]
    work = tempfile.mkdtemp(prefix='headroom-bench-oom-')
    try:
        logs = write_logs(work, args.megabytes)
        trees = [('this checkout', tree(None, os.path.join(work, 'new'))),
                 (args.baseline, tree(args.baseline, os.path.join(work, 'old')))]
        print('%d MiB per file, %d runs each, median CPU, largest peak RSS; "import" is the interpreter with the'
              ' module imported and nothing parsed' % (args.megabytes, args.runs))
        print('| case | code | CPU | peak RSS | kills |')
        print('|---|---|---|---|---|')
        for label, package in trees:
            base = measure(package, logs['quiet'], False, args.runs)
            print('| import | %s | %.0f ms | %.1f MiB | |' % (label, base['cpu'] * 1000, base['rss'] / 1048576.0))
        for case in ('quiet', 'busybox', 'hostile'):
            for label, package in trees:
                got = measure(package, logs[case], True, args.runs)
                print('| %s | %s | %.0f ms | %.1f MiB | %d |'
                      % (case, label, got['cpu'] * 1000, got['rss'] / 1048576.0, got['kills']))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
