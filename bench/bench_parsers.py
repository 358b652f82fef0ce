#!/usr/bin/env python3
"""Parser throughput: headroom's parse_top / parse_free beside jc's top / free parsers.

    .venv/bin/python bench/bench_parsers.py [--processes 5000] [--seconds 3]

Input (say what it is, it is not a capture of a 5,000-process host):
- top: a real ``top -b`` output (the first top capture of tests/fixtures/captures/ when there is one,
  else jc's real CentOS 7.7 capture tests/fixtures/legacy/jc-centos-7.7-top-b-n3.excerpt.out), with its
  process lines repeated in turn until there are N of them, each renumbered with a fresh PID in
  the PID column's own width, and the Tasks total set to N. Every column keeps top's layout.
- free: jc's real CentOS 7.7 ``free`` output (tests/fixtures/free/jc-centos-7.7-free.out), the same
  text for both parsers.

For each parser: runs per second and milliseconds per parse (best of 5 rounds of --seconds / 5), and
the peak memory of one parse under tracemalloc (allocations made while parsing, input excluded).
"""
import argparse
import glob
import json
import os
import re
import sys
import time
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'collections'))  # the collection, by its full name

from ansible_collections.headroom.memory.plugins.module_utils.read.top import parse_top  # noqa: E402

FIXTURES = os.path.join(ROOT, 'tests', 'fixtures')


def base_top():
    for path in sorted(glob.glob(os.path.join(FIXTURES, 'captures', '*', '*.json'))):
        with open(path) as handle:
            data = json.load(handle)
        command = data.get('command', '')
        # One procps sample (busybox has no RES, several samples would be parsed several times).
        if re.search(r'(^|/)top\s', command) and re.search(r'-n\s*1\b', command) \
                and 'busybox' not in command:
            return data['output'], os.path.relpath(path, ROOT)
    path = os.path.join(FIXTURES, 'legacy', 'jc-centos-7.7-top-b-n3.excerpt.out')
    with open(path) as handle:
        return handle.read(), os.path.relpath(path, ROOT)


def build_top(text, count):
    """Repeat the real process lines of the first sample until there are ``count``, renumbered."""
    lines = text.splitlines()
    header_at = next(i for i, l in enumerate(lines) if 'PID' in l.split() and 'COMMAND' in l)
    end = next((i for i in range(header_at + 1, len(lines)) if lines[i].startswith('top - ')), len(lines))
    header = lines[header_at]
    rows = [l for l in lines[header_at + 1:end] if l.strip()]
    pid_end = header.index('PID') + 3
    width = max(pid_end, len(str(count)) + 1)
    out_rows = []
    for n in range(count):
        row = rows[n % len(rows)]
        rest = row[pid_end:]
        out_rows.append(str(n + 1).rjust(width) + rest)
    head = [re.sub(r'^Tasks:\s*\d+ total', 'Tasks: %d total' % count, l) for l in lines[:header_at]]
    header = header[:pid_end].rjust(width) + header[pid_end:] if width > pid_end else header
    return '\n'.join(head + [header] + out_rows) + '\n'


def measure(fn, text, seconds):
    fn(text)  # warm up, and fail early
    best = None
    for _ in range(5):
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 5.0:
            fn(text)
            runs += 1
        per = (time.perf_counter() - start) / runs
        best = per if best is None or per < best else best
    tracemalloc.start()
    fn(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return 1.0 / best, best * 1000.0, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--processes', type=int, default=5000)
    parser.add_argument('--seconds', type=float, default=3.0)
    args = parser.parse_args()

    text, source = base_top()
    top_text = build_top(text, args.processes)
    with open(os.path.join(FIXTURES, 'free', 'jc-centos-7.7-free.out')) as handle:
        free_text = handle.read()
    assert len(parse_top(top_text)['processes']) == args.processes

    cases = [('top', 'headroom parse_top', parse_top, top_text)]
    try:
        from ansible_collections.headroom.memory.plugins.module_utils.read.free import parse_free
        cases.append(('free', 'headroom parse_free', lambda t: parse_free(t, ''), free_text))
    except ImportError:
        print('headroom.free not found: parse_free skipped')
    try:
        import jc
        cases.append(('top', 'jc %s top' % jc.__version__, lambda t: jc.parse('top', t, quiet=True), top_text))
        cases.append(('free', 'jc %s free' % jc.__version__, lambda t: jc.parse('free', t, quiet=True),
                      free_text))
    except ImportError:
        print('jc not installed (it is in requirements-dev.txt): jc skipped')

    print('top input: %d processes, %d bytes, process lines from %s (repeated, renumbered)'
          % (args.processes, len(top_text), source))
    print('free input: %d bytes, tests/fixtures/free/jc-centos-7.7-free.out' % len(free_text))
    print('python %s' % sys.version.split()[0])
    print()
    print('%-6s %-24s %12s %12s %14s' % ('input', 'parser', 'runs/s', 'ms/parse', 'peak KiB'))
    for kind, name, fn, data in sorted(cases, key=lambda c: c[0], reverse=True):
        rate, ms, peak = measure(fn, data, args.seconds)
        print('%-6s %-24s %12.1f %12.3f %14.0f' % (kind, name, rate, ms, peak / 1024.0))


if __name__ == '__main__':
    main()
