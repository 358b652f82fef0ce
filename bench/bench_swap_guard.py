#!/usr/bin/env python3
"""What the swapoff guard's reading (module_utils/read/swapped.py) costs a host: time and memory.

    .venv/bin/python bench/bench_swap_guard.py                      # 2000 live processes, 30000 in a tree
    .venv/bin/python bench/bench_swap_guard.py --live 10000 --tree 50000 --cgroups 2000

Two measures, because the cost has two parts:

- live: N extra processes (children forked from a small parent, each sleeping) on this machine, and
  read_swapped('/') timed over them: the kernel's price of generating /proc/PID/status N times plus
  the reading. None of them has pages in swap unless the machine swaps.
- tree: a host written to a temporary directory (tmpfs when /dev/shm is there) with M processes that
  ALL have pages in swap (so /proc/PID/cgroup is read for each) spread over C memory-limited
  cgroups, from the captured v1 forms (tests/swap_trees.py): the reading's own price at its worst.

Each measure is taken --repeat times (the median and the slowest are printed), with the peak of
Python's allocations during the reading (tracemalloc) and, for the live one, the peak RSS of a
fresh interpreter that only imports the reader and reads (ru_maxrss). Everything it starts is ended
and everything it writes removed at the end, also on an error or Ctrl-C.
"""
import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, 'collections'), os.path.join(ROOT, 'tests')]

from ansible_collections.headroom.memory.plugins.module_utils.read import swapped  # noqa: E402
from swap_trees import build  # noqa: E402


def timed(root, repeat):
    times, peaks = [], []
    for _ in range(repeat):
        tracemalloc.start()
        started = time.perf_counter()
        reading = swapped.read_swapped(root)
        times.append(time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return reading, times, peaks


def fresh_rss():
    """Peak RSS (KiB) of a new interpreter that imports the reader and reads this machine once."""
    code = ('import resource, sys; sys.path[:0] = [%r]\n'
            'from ansible_collections.headroom.memory.plugins.module_utils.read import swapped\n'
            'base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n'
            'swapped.read_swapped("/")\n'
            'print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)' % os.path.join(ROOT, 'collections'))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def spawn(count):
    """``count`` sleeping children; returns their pids."""
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            try:
                signal.pause()
            finally:
                os._exit(0)
        pids.append(pid)
    return pids


def report(name, reading, times, peaks):
    processes = reading['processes']
    print('%-5s %6d processes (%d with pages in swap), %4d limited cgroups: median %.3f s, slowest %.3f s,'
          ' %.1f us a process; Python peak %.1f MiB' % (
              name, processes['scanned'], processes['swapped'], len(reading['cgroups']), statistics.median(times),
              max(times), statistics.median(times) / max(processes['scanned'], 1) * 1e6, max(peaks) / 2 ** 20))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--live', type=int, default=2000, help='extra processes forked on this machine')
    parser.add_argument('--tree', type=int, default=30000, help='processes, all with pages in swap, in the written tree')
    parser.add_argument('--cgroups', type=int, default=500, help='memory-limited cgroups in the written tree')
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    pids, directory = [], None
    try:
        pids = spawn(args.live)
        report('live', *timed('/', args.repeat))
        base, peak = fresh_rss()
        print('live  a fresh interpreter: %.1f MiB after the import, %.1f MiB peak after the reading (ru_maxrss)'
              % (base / 1024, peak / 1024))
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            os.waitpid(pid, 0)
        pids = []
        directory = tempfile.mkdtemp(prefix='headroom-bench-guard-', dir='/dev/shm' if os.path.isdir('/dev/shm') else None)
        cgroups = {'/bench/c%d' % i: {'limit': 1 << 30, 'own': 100 << 20, 'swap': 50 << 20} for i in range(args.cgroups)}
        processes = [(1000 + i, 'w%d' % i, '/bench/c%d' % (i % args.cgroups), 64) for i in range(args.tree)]
        build(directory, 1, cgroups, processes)
        report('tree', *timed(directory, args.repeat))
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        if directory:
            shutil.rmtree(directory, ignore_errors=True)
    with open('/proc/loadavg') as handle:
        load = handle.read().strip()
    print('(max user processes %s; /proc/loadavg %s)' % (resource.getrlimit(resource.RLIMIT_NPROC)[0], load))


if __name__ == '__main__':
    main()
