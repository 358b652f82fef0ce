"""A data store the OOM killer hit: its own critical reason, with what it lost where that can be known
(judge/memory_facts.py data_stores(), judge/verdict.py data_store_reasons()). Redis's own figures are real
captures (tests/fixtures/redis/oom-restart: Debian's redis-server 7.0 OOM-killed by the kernel and restarted
by systemd), read as redis_memory_facts reads them."""
import os

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import data_stores
from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy

MIB = 1 << 20
KILL = 1796696040.0  # 2026-12-08 02:14:00 UTC


def kernel_kill(comm, pid, epoch, memcg='/system.slice/redis-server.service'):
    return {'comm': comm, 'pid': pid, 'epoch': epoch, 'task_memcg': memcg, 'unit': None}


def unit_death(unit, epoch, kernel_pid=None, pid=None):
    return {'server': 'systemd', 'pid': pid, 'worker': unit, 'epoch': epoch, 'dated': True, 'unit': 'init.scope',
            'source': 'journalctl', 'message': '%s: Main process exited, code=killed, status=9/KILL' % unit,
            'kernel_pid': kernel_pid}


def reasons(stores, **facts):
    found = audit(dict({'memory': {'total': 1024 * MIB, 'available': 600 * MIB}, 'data_stores': stores}, **facts),
                  merge_policy())
    return found, [r for r in found['reasons'] if r['signal'] == 'data_store']


def test_the_kills_of_data_stores_since_the_last_run_one_entry_each():
    events = [kernel_kill('redis-server', 612, KILL - 7200), kernel_kill('redis-server', 650, KILL),
              kernel_kill('gunicorn', 700, KILL, '/system.slice/gunicorn.service'),
              kernel_kill('postgres', 800, KILL - 3 * 86400, '/system.slice/system-postgresql.slice/postgresql@15-main.service')]
    deaths = [unit_death('redis-server.service', KILL + 1, kernel_pid=650),  # the same kill, seen by systemd
              unit_death('memcached.service', KILL - 60),  # SIGKILL the kernel's log does not have (earlyoom?)
              unit_death('gunicorn.service', KILL)]
    found = data_stores(events, deaths, since=KILL - 86400)
    assert found == [
        {'command': 'redis-server', 'kind': 'redis', 'kills': 2, 'last': KILL, 'pid': 650, 'unit': 'redis-server.service',
         'by': 'kernel'},
        {'command': 'memcached', 'kind': 'memcached', 'kills': 0, 'last': KILL - 60, 'pid': None, 'unit': 'memcached.service',
         'by': 'sigkill'}]  # postgres's kill is older than the run before: reported, not judged
    assert data_stores(events, [], since=None)[-1]['command'] == 'postgres'
    assert data_stores([dict(kernel_kill('redis-server', 1, None))], [], since=None) == []  # no time: not placed


def test_a_killed_redis_without_its_own_figures_says_what_is_lost():
    result, said = reasons([{'command': 'redis-server', 'kind': 'redis', 'kills': 1, 'last': KILL, 'pid': 650,
                             'unit': 'redis-server.service', 'by': 'kernel'}])
    assert result['verdict'] == 'critical'
    assert [r['message'] for r in said] == [
        'redis-server (pid 650) was OOM-killed at 2026-12-08 02:14:00 UTC: a data store, and a restarted Redis has only '
        'what its last save (a snapshot, or its append-only file) held: what it took since then is gone '
        '(headroom_redis=true reads what it holds and lost)']


def test_memcached_and_a_database_each_their_own_words():
    _result, said = reasons([
        {'command': 'memcached', 'kind': 'memcached', 'kills': 0, 'last': KILL - 60, 'pid': None, 'unit': 'memcached.service',
         'by': 'sigkill'},
        {'command': 'postgres', 'kind': 'database', 'kills': 3, 'last': KILL, 'pid': 800, 'unit': None, 'by': 'kernel'}])
    assert [r['level'] for r in said] == ['critical', 'critical']
    assert said[0]['message'] == (
        "memcached was killed by SIGKILL (systemd saw its main process end so; the kernel's OOM log does not have it) at "
        '2026-12-08 02:13:00 UTC: a cache held only in memory: every item it held is gone, and the app reads it all from '
        'its database again')
    assert said[1]['message'] == (
        'postgres (pid 800) was OOM-killed at 2026-12-08 02:14:00 UTC (3 OOM kills): a database: what it had committed '
        'is on disk and comes back with its crash recovery, but every connection and transaction in flight was lost')
