#!/usr/bin/env python3
"""What parse_free and free_facts cost at their bounds, under hostile input (issue 20).

    .venv/bin/python bench/bench_free_bounds.py

For each input (all at or just under the 1 MiB parse_free accepts): the parser's own peak of
Python allocations (tracemalloc) and CPU time, in this process; then the whole module as Ansible
runs it (its own Python, exit_json's result handling) with the largest input, its peak RSS
(ru_maxrss of the child) and CPU time. Prints one line per input.
"""
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'collections'))
sys.path.insert(0, os.path.join(ROOT, 'tests'))

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError  # noqa: E402
from ansible_collections.headroom.memory.plugins.module_utils.read.free import MAX_TEXT, parse_free  # noqa: E402
from library_module import RUNNER  # noqa: E402

FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'free')


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return handle.read()


def fill(unit, size=MAX_TEXT):
    return (unit * (size // len(unit) + 1))[:size]


def inputs():
    block = fixture('bookworm-over-b-w-t-l-v.out') + '\n'
    whole = block * ((MAX_TEXT - 1) // len(block))
    rng = random.Random(20)
    yield 'blocks of free -bwtlv (1 MiB)', whole, '-bwtlv -s1'
    yield 'blocks of free -h -L (1 MiB)', fill(fixture('trixie-de-h-L.out')), '-h -L -s1'
    yield 'one row of 100k figures', (block.splitlines()[0] + '\nMem:' + fill(' 1', MAX_TEXT - 200) + '\n'), '-b'
    yield 'one line of digits', fill('9'), '-b'
    yield 'random printable text', ''.join(rng.choice('0123456789 :.,-MGKiB\nabc') for _ in range(MAX_TEXT)), '-b'
    header = block.splitlines()[0] + '\n'
    yield 'header then 1 MiB of labels', header + fill('Speicher:', MAX_TEXT - len(header)), '-b'
    yield 'over the bound (1 MiB + 1)', 'x' * (MAX_TEXT + 1), '-b'


def run(text, flags):
    try:
        result = parse_free(text, flags)
        return 'parsed, %d blocks, %d kept' % (result.get('blocks', 1), len(result.get('samples', [])))
    except ParseError as err:
        return 'ParseError: %s' % str(err)[:60]


def main():
    print('%-32s %12s %10s %s' % ('input', 'peak (MiB)', 'CPU (s)', 'result'))
    for name, text, flags in inputs():
        started = time.process_time()
        outcome = run(text, flags)
        cpu = time.process_time() - started
        tracemalloc.start()  # a second run: tracemalloc slows the parser down several times
        run(text, flags)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print('%-32s %12.1f %10.2f %s' % (name, peak / 2.0 ** 20, cpu, outcome))
    # the module as Ansible runs it, fed the largest accepted input
    block = fixture('bookworm-over-b-w-t-l-v.out') + '\n'
    args = os.path.join('/tmp', 'bench-free-args-%d.json' % os.getpid())
    with open(args, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': {'output': block * ((MAX_TEXT - 1) // len(block)), 'flags': '-bwtlv -s1'}},
                  handle)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, '-c', RUNNER, ROOT, os.path.join(ROOT, 'library', 'free_facts.py'),
                               args], capture_output=True, text=True, timeout=600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(args)
    result = json.loads(done.stdout)
    print('free_facts process, 1 MiB of blocks: peak RSS %.1f MiB, CPU %.2f s, result %d bytes of JSON, blocks %d'
          % (after.ru_maxrss / 1024.0, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
             len(done.stdout), result['ansible_facts']['free']['blocks']))


if __name__ == '__main__':
    main()
