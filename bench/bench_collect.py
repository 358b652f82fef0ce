#!/usr/bin/env python3
"""Wall time, CPU and peak memory of the diagnosis's reading on a target, beside Ansible's own `setup`.

    .venv/bin/python bench/bench_collect.py [--runs 10]

The hosts headroom diagnoses are already short of memory, so memory_facts must cost them no more
than `setup` does. Each module's AnsiballZ payload is built once by Ansible (kept with
ANSIBLE_KEEP_REMOTE_FILES, the memory_facts action plugin turned off), then run here as the target
runs it, `python AnsiballZ_x.py`, several times. The row "memory_facts, action plugin" runs what
the plugin sends a host instead: `sh -c` with the reading program of module_utils/read/remote.py.
Each run's wall time, CPU time (user + system, with its children) and peak RSS come from os.wait4 on
that one process. Target = this machine. memory_facts runs with sample_seconds=0 (its vmstat window
would otherwise add up to 1 s of sleeping, which costs no memory or CPU), and with its default 1 s
window once, for reference.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, 'collections'))  # the collection, by its full name

from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import (  # noqa: E402
    ARGUMENT_SPEC, policy_of, read_options)
from ansible_collections.headroom.memory.plugins.module_utils.read.remote import command  # noqa: E402


def payload(module, args, tmp):
    """Build the AnsiballZ file of `module` with `args` by running it once through Ansible. A headroom
    module runs as a copy under a name of its own: the collection's action plugin of the same name
    would run instead of the module (the row "action plugin" measures that)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_KEEP_REMOTE_FILES='1',
               ANSIBLE_REMOTE_TMP=tmp)
    if not module.startswith('ansible.'):
        library = os.path.join(tmp, 'library')
        os.makedirs(library)
        shutil.copy(os.path.join(ROOT, 'library', module + '.py'), os.path.join(library, module + '_module.py'))
        env['ANSIBLE_LIBRARY'] = library
        module += '_module'
    cmd = [os.path.join(BIN, 'ansible'), 'localhost', '-m', module]
    if args:
        cmd += ['-a', args]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    found = glob.glob(os.path.join(tmp, 'ansible-tmp-*', 'AnsiballZ_%s.py' % module.split('.')[-1]))
    if len(found) != 1:
        raise SystemExit('expected one AnsiballZ payload for %s, found %r' % (module, found))
    return [sys.executable, found[0]]


def program(**options):
    """What the memory_facts action plugin has a host run, as argv."""
    params = dict((key, spec.get('default')) for key, spec in ARGUMENT_SPEC.items())
    params.update(options)
    cmd, _stdin = command(read_options(params, policy_of(params)), sys.executable, stdin=False)
    return ['/bin/sh', '-c', cmd]


def run(argv):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or json.loads(out).get('failed'):
        raise SystemExit('%s failed: %s' % (argv[-1][:200], out[:500]))
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, len(out)


def measure(name, argv, runs):
    walls, cpus, rss, size = [], [], [], 0
    for _ in range(runs):
        wall, cpu, peak, size = run(argv)
        walls.append(wall)
        cpus.append(cpu)
        rss.append(peak)
    return {'name': name, 'wall_median': statistics.median(walls), 'wall_min': min(walls),
            'cpu_median': statistics.median(cpus),
            'rss_max': max(rss), 'rss_median': statistics.median(rss), 'result_bytes': size}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=10)
    opts = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix='headroom-bench-')
    try:
        cases = [
            ('ping (the floor)', payload('ansible.builtin.ping', '', tmp + '/p')),
            ('setup (all facts)', payload('ansible.builtin.setup', '', tmp + '/a')),
            ('setup gather_subset=hardware', payload('ansible.builtin.setup', 'gather_subset=!all,hardware', tmp + '/b')),
            ('memory_facts sample_seconds=0', payload('memory_facts', 'sample_seconds=0', tmp + '/c')),
            ('memory_facts default (1 s window)', payload('memory_facts', '', tmp + '/d')),
            ('memory_facts, action plugin', program(sample_seconds=0)),
            ('free_facts', payload('free_facts', '', tmp + '/e')),
        ]
        rows = [measure(name, argv, opts.runs if 'default' not in name else max(3, opts.runs // 3))
                for name, argv in cases]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print('target: this machine (%s), %d runs each, python %s' % (os.uname().release, opts.runs,
                                                                  sys.version.split()[0]))
    print('%-36s %12s %12s %12s %14s %12s' % ('module', 'wall median', 'wall min', 'CPU median', 'peak RSS max',
                                              'result'))
    for row in rows:
        print('%-36s %10.0f ms %10.0f ms %10.0f ms %11.1f MiB %9.1f KiB' % (
            row['name'], row['wall_median'] * 1000, row['wall_min'] * 1000, row['cpu_median'] * 1000,
            row['rss_max'] / 1048576.0, row['result_bytes'] / 1024.0))
    ping, setup = rows[0], rows[1]
    for ours in (rows[3], rows[5]):
        print('%s: / setup wall %.2fx, peak RSS %.2fx; / ping CPU %.2fx'
              % (ours['name'], ours['wall_median'] / setup['wall_median'], ours['rss_max'] / setup['rss_max'],
                 ours['cpu_median'] / ping['cpu_median']))


if __name__ == '__main__':
    main()
