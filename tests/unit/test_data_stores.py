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


# ------------------------------------------------------------ Redis's own figures (REAL: tests/fixtures/redis/oom-restart)

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'redis', 'oom-restart')


def redis_facts(name):
    """What redis_memory_facts returns for this INFO all capture (its own functions), read at Redis's clock."""
    from ansible_collections.headroom.memory.plugins.module_utils.read.redis import (
        keyspace, memory_summary, parse_info, persistence_summary)
    with open(os.path.join(FIXTURES, name), 'rb') as handle:
        info = parse_info(handle.read())
    keys = keyspace(info)
    persistence = persistence_summary(info)
    return {'endpoint': '127.0.0.1:6379', 'memory': memory_summary(info), 'keyspace': dict((str(k), v) for k, v in keys.items()),
            'keys_total': sum(keys.values()), 'persistence': persistence, 'read_at': persistence['server_time']}


def previous_run_of(name):
    """The history's record of a run that read this Redis (report/history.py compact(), as the lookup gives it)."""
    from ansible_collections.headroom.memory.plugins.module_utils.report.history import compact
    redis = redis_facts(name)
    return compact({'host': 'web', 'verdict': 'ok', 'read_at': redis['read_at'], 'redis': redis})['redis']


def journal_exit(state, nth):
    """When systemd saw the unit's main process killed (its journal, short-iso, the nth such line)."""
    import calendar
    import time
    with open(os.path.join(FIXTURES, state, 'unit.journal.txt')) as handle:
        stamps = [line.split()[0] for line in handle if 'Main process exited, code=killed, status=9/KILL' in line]
    return float(calendar.timegm(time.strptime(stamps[nth][:19], '%Y-%m-%dT%H:%M:%S')))


def killed_redis(state, nth):
    """The data store entry of the kernel's kill of redis-server in this capture (its dmesg lines, parsed as headroom
    reads them; dated by systemd's line of the same kill: dmesg gives seconds since boot)."""
    from ansible_collections.headroom.memory.plugins.module_utils.read import oom
    with open(os.path.join(FIXTURES, state, 'kernel.txt')) as handle:
        events = [e for e in oom.parse_oom_log(handle.read()) if e['comm'] == 'redis-server']
    event = dict(events[-1], epoch=journal_exit(state, nth))
    assert event['task_memcg'].endswith('/system.slice/redis-server.service')
    store, = data_stores([event], [unit_death('redis-server.service', event['epoch'], kernel_pid=event['pid'])], None)
    return store


def test_the_seed_s_redis_killed_and_restarted_empty_says_what_it_lost():
    """48,210 session and cache keys, no save yet (save ''): the kernel killed redis-server, systemd restarted it
    with nothing to load. Before: "warning, 1 kill". Now the reason says it restarted empty, the keys of the last
    run, and that it had never saved."""
    store = killed_redis('empty', 0)
    assert (store['pid'], store['kills'], store['by'], store['unit']) == (6429, 1, 'kernel', 'redis-server.service')
    result, said = reasons([store], redis=redis_facts('empty/info_after.txt'), previous_redis=previous_run_of('empty/info_before.txt'))
    assert result['verdict'] == 'critical'
    assert [r['message'] for r in said] == [
        'redis-server (pid 6429) was OOM-killed at 2026-12-08 02:13:13 UTC and restarted empty at 2026-12-08 02:13:13 UTC: '
        '0 key(s) now, 48,210 at the last run (2026-12-08 02:13:10 UTC); used_memory 919.2 KiB now, 8.1 MiB then; it '
        'loaded 0 key(s) from disk at the restart; its last save was never: none since it started at 2026-12-08 '
        '02:13:09 UTC, as the last run read it, so all it took since then is gone']


def test_a_redis_that_had_saved_says_when_and_what_the_restart_loaded():
    """35,000 keys, a SAVE after 30,000 of them: the restart loads 30,000 from the snapshot, the 5,000 after it are gone."""
    store = killed_redis('saved', 1)
    _result, said = reasons([store], redis=redis_facts('saved/info_after.txt'), previous_redis=previous_run_of('saved/info_before.txt'))
    assert [r['message'] for r in said] == [
        'redis-server (pid 7165) was OOM-killed at 2026-12-08 02:13:19 UTC and restarted at 2026-12-08 02:13:19 UTC: '
        '30,000 key(s) now, 35,000 at the last run (2026-12-08 02:13:16 UTC); used_memory 5.3 MiB now, 6.5 MiB then; '
        'it loaded 30,000 key(s) from disk at the restart; its last save was 4 s before the kill (2026-12-08 02:13:15 '
        'UTC, as the last run read it): what it took since then is gone']


def test_a_redis_that_has_run_since_before_the_kill_was_not_the_one_killed():
    """The Redis headroom reads started before the kill (its uptime says so): the process killed was another one."""
    now = redis_facts('saved/info_before.txt')
    store = {'command': 'redis-server', 'kind': 'redis', 'kills': 1, 'last': now['read_at'] + 3600, 'pid': 9,
             'unit': None, 'by': 'kernel'}
    _result, said = reasons([store], redis=now, previous_redis=None)
    assert said[0]['message'].endswith('; the Redis at 127.0.0.1:6379 has run since 2026-12-08 02:13:13 UTC, before the '
                                       'kill (pid 842): the process killed was another one')


def test_without_the_last_run_s_figures_the_restart_is_told_and_the_loss_said_plainly():
    kill = journal_exit('empty', 0)
    store = {'command': 'redis-server', 'kind': 'redis', 'kills': 1, 'last': kill, 'pid': 6429, 'unit': None, 'by': 'kernel'}
    _result, said = reasons([store], redis=redis_facts('empty/info_after.txt'), previous_redis=None)
    assert said[0]['message'].endswith(' and restarted empty at 2026-12-08 02:13:13 UTC: 0 key(s) now; it loaded 0 key(s) '
                                       'from disk at the restart; what it took since its last save before the kill is gone '
                                       '(the last run read no Redis figures to say when that was)')
