#!/usr/bin/env python3
"""How long do other clients wait while cache_flush deletes a pattern from a big Redis?

    .venv/bin/python bench/bench_redis_flush.py [--keys 1000000] [--batch-size 1000] [--no-contrast]

Starts its own redis-server on a free loopback port (temp dir, removed at the end),
fills DB 0 with --keys keys, half Django view-cache keys and half sessions, then runs the
redis_flush module THROUGH ANSIBLE to delete the view cache by pattern, while a second
process PINGs in a tight loop and records every round trip. Prints the worst latency it
saw, percentiles, and the same for an idle baseline. With the contrast (default), it then
times a plain blocking FLUSHDB of the remaining keys the same way, to show what batching
avoids. A script, not a test: the numbers depend on the machine.
"""

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'collections'))  # the collection, by its full name

from ansible_collections.headroom.memory.plugins.module_utils.redis_client import (  # noqa: E402 - needs the path above
    connect, info as redis_info)

PASSWORD = 'bench-pw'
VIEW_PREFIX = ':1:views.decorators.cache.cache_page'
SESSION_PREFIX = 'django.contrib.sessions.cache'


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def pinger(port, stop, out):
    """PING until told to stop; send back every round trip in seconds."""
    client = connect('127.0.0.1', port, None, None, PASSWORD, 0, 30.0)
    samples = []
    while not stop.is_set():
        start = time.perf_counter()
        client.ping()
        samples.append(time.perf_counter() - start)
    out.put(samples)


def measure(port, action):
    """Run ``action()`` while a pinger runs; return (action's value, seconds, latency stats)."""
    stop = multiprocessing.Event()
    out = multiprocessing.Queue()
    proc = multiprocessing.Process(target=pinger, args=(port, stop, out))
    proc.start()
    time.sleep(0.5)  # the pinger is connected and looping before the action starts
    start = time.perf_counter()
    value = action()
    seconds = time.perf_counter() - start
    stop.set()
    samples = out.get(timeout=60)
    proc.join(10)
    return value, seconds, stats(samples)


def stats(samples):
    ordered = sorted(samples)

    def pct(p):
        return ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))] * 1000

    return {'pings': len(ordered), 'max_ms': round(ordered[-1] * 1000, 2), 'p50_ms': round(pct(50), 3),
            'p99_ms': round(pct(99), 3), 'p99_9_ms': round(pct(99.9), 3)}


def slowest_commands(client):
    """Redis's own view, free of client scheduling noise: the slowest commands it ran
    (SLOWLOG keeps those above slowlog-log-slower-than), as (ms, command name)."""
    entries = client.execute_command('SLOWLOG', 'GET', 1024)
    found = []
    for entry in entries:
        # [id, timestamp, microseconds, [args...], ...]; redis-py may already parse it into a dict
        if isinstance(entry, dict):
            micros, args = entry['duration'], entry['command']
            args = args.split() if isinstance(args, (str, bytes)) else args
        else:
            micros, args = entry[2], entry[3]
        args = [a.decode() if isinstance(a, bytes) else str(a) for a in args[:2]]
        # MEMORY USAGE and MEMORY PURGE differ; an UNLINK's first key says nothing
        name = ' '.join(args).upper() if args[0].upper() == 'MEMORY' else args[0].upper()
        found.append((round(micros / 1000.0, 2), name))
    found.sort(reverse=True)
    return found[:3]


def run_module(port, batch_size):
    args = {'port': port, 'password': PASSWORD, 'batch_size': batch_size,
            'patterns': [{'db': 0, 'match': VIEW_PREFIX + ':*'}]}
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
    proc = subprocess.run([os.path.join(ROOT, '.venv', 'bin', 'ansible'), 'localhost', '-m', 'headroom.memory.redis_flush',
                           '-a', json.dumps(args)], cwd=ROOT, env=env, capture_output=True, text=True)
    data = json.loads(proc.stdout[proc.stdout.find('{'):])
    result = data['plays'][0]['tasks'][0]['hosts']['localhost']
    if result.get('failed'):
        raise SystemExit('redis_flush failed: %s' % result.get('msg'))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--keys', type=int, default=1000000)
    parser.add_argument('--batch-size', type=int, default=1000)
    parser.add_argument('--value-size', type=int, default=100)
    parser.add_argument('--no-contrast', action='store_true', help='skip the blocking FLUSHDB comparison')
    opts = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix='headroom-bench-redis-')
    port = free_port()
    # DEBUG POPULATE fills a million keys in about a second; it is off by default since 7.0.
    server = subprocess.Popen([shutil.which('redis-server'), '--port', str(port), '--bind', '127.0.0.1',
                               '--dir', workdir, '--save', '', '--appendonly', 'no', '--requirepass', PASSWORD,
                               '--enable-debug-command', 'local', '--logfile', os.path.join(workdir, 'log')],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = connect('127.0.0.1', port, None, None, PASSWORD, 0, 120.0)
        for _ in range(100):
            try:
                client.ping()
                break
            except Exception:  # still starting
                time.sleep(0.05)
        half = opts.keys // 2
        client.execute_command('DEBUG', 'POPULATE', half, VIEW_PREFIX, opts.value_size)
        client.execute_command('DEBUG', 'POPULATE', opts.keys - half, SESSION_PREFIX, opts.value_size)
        info = redis_info(client)
        print('redis-server %s, %d keys in db0 (%d view cache, %d sessions), used_memory %.1f MiB, batch %d'
              % (info['server']['redis_version'], client.dbsize(), half, opts.keys - half,
                 info['memory']['used_memory'] / 2.0 ** 20, opts.batch_size))

        client.execute_command('CONFIG', 'SET', 'slowlog-log-slower-than', 1000)
        client.execute_command('CONFIG', 'SET', 'slowlog-max-len', 1024)
        _, _, idle = measure(port, lambda: time.sleep(3))
        print('idle baseline (3 s):           %s' % idle)

        client.execute_command('SLOWLOG', 'RESET')
        result, seconds, during = measure(port, lambda: run_module(port, opts.batch_size))
        slow = slowest_commands(client)
        target = result['targets'][0]
        print('redis_flush via ansible:       deleted %d keys (%.1f MiB by MEMORY USAGE) in %d batches, '
              'flush loop %.2f s, whole ansible run %.2f s'
              % (result['keys'], result['bytes'] / 2.0 ** 20, target['batches'], target['seconds'], seconds))
        print('  latency seen by other client: %s' % during)
        print('  slowest commands inside Redis (ms, over 1 ms): %s' % (slow or 'none'))
        print('  sessions left: %d (expected %d)' % (client.dbsize(), opts.keys - half))

        if not opts.no_contrast:
            client.execute_command('SLOWLOG', 'RESET')
            _, seconds, blocking = measure(port, lambda: client.execute_command('FLUSHDB', 'SYNC'))
            print('contrast, blocking FLUSHDB SYNC of the %d sessions: %.2f s' % (opts.keys - half, seconds))
            print('  latency seen by other client: %s' % blocking)
            print('  slowest commands inside Redis (ms): %s' % slowest_commands(client))
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
