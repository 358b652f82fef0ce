"""The diagnosis over time: the SQLite history on the controller, and what the runs together say.

Real SQLite files in tmp_path, real concurrent writers and a writer killed mid-transaction (separate
processes); the trend and leak arithmetic on series whose answer is known."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.judge import identity as ident
from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import (
    ARGUMENT_SPEC as FACTS_SPEC, diagnose, policy_of)
from ansible_collections.headroom.memory.plugins.module_utils.read.kernel import machine_identity
from ansible_collections.headroom.memory.plugins.module_utils.report import history
from ansible_collections.headroom.memory.plugins.module_utils.report.files import ARGUMENT_SPEC, ReportError, write_reports
from ansible_collections.headroom.memory.plugins.module_utils.report.render import render_html

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'collections'))
MIB = 1 << 20
DAY = 86400.0
T0 = 1796000000.0
# what read/kernel.machine_identity() gives on a host: every run of these tests is of one boot of one machine
HOST = {'machine': 'a' * 32, 'machine_from': '/etc/machine-id', 'boot_id': '266f4819-a7ed-4bfd-9593-4ad6066785dc',
        'btime': int(T0) - DAY, 'container': False, 'container_id': None, 'scope': None, 'init_ticks': None}


def record(host, usable, verdict='ok', groups=None, kills=0):
    return {'host': host, 'verdict': verdict, 'usable': usable, 'effective_total': 1024 * MIB, 'swap_used': 0,
            'swap_total': 0, 'oom': {'kills': kills, 'counted': kills, 'last': None}, 'groups': groups or [],
            'identity': HOST}


def test_runs_are_kept_per_host_oldest_first_and_failed_hosts_are_not(tmp_path):
    path = str(tmp_path / 'sub' / 'h.sqlite')
    for k in range(3):
        history.record_runs(path, T0 + k * 60, [record('a', 500 * MIB - k * MIB), record('b', 1, verdict='failed')])
    runs = history.load_runs(path, ['a', 'b', 'c'])
    assert [r['usable'] for r in runs['a']] == [500 * MIB, 499 * MIB, 498 * MIB]
    assert [r['epoch'] for r in runs['a']] == [T0, T0 + 60, T0 + 120]
    assert runs['b'] == [] and runs['c'] == []
    assert history.previous_run(path, 'a')['epoch'] == T0 + 120
    assert history.previous_run(str(tmp_path / 'none.sqlite'), 'a') == {}
    assert not os.path.exists(str(tmp_path / 'none.sqlite'))  # reading never creates the file


def test_retention_by_age_and_by_count(tmp_path):
    path = str(tmp_path / 'h.sqlite')
    for k in range(10):
        history.record_runs(path, T0 + k * DAY, [record('a', k), record('b', k)], days=5, runs=1000)
    assert [r['usable'] for r in history.load_runs(path, ['a'])['a']] == [4, 5, 6, 7, 8, 9]
    history.record_runs(path, T0 + 10 * DAY, [record('a', 10)], days=90, runs=3)
    kept = history.load_runs(path, ['a', 'b'])
    assert [r['usable'] for r in kept['a']] == [8, 9, 10] and [r['usable'] for r in kept['b']] == [7, 8, 9]


def test_a_file_that_is_not_a_history_is_refused_by_name_and_kept(tmp_path):
    path = tmp_path / 'h.sqlite'
    path.write_bytes(b'not a database at all, someone else\'s file' * 100)
    with pytest.raises(history.HistoryError, match=str(path)):
        history.record_runs(str(path), T0, [record('a', 1)])
    assert path.read_bytes().startswith(b'not a database')
    newer = tmp_path / 'newer.sqlite'
    db = sqlite3.connect(str(newer))
    db.execute('PRAGMA user_version = 7')
    db.close()
    with pytest.raises(history.HistoryError, match='newer headroom'):
        history.load_runs(str(newer), ['a'])


WRITER = r'''
import sys
sys.path.insert(0, %(collections)r)
from ansible_collections.headroom.memory.plugins.module_utils.report import history
name, count = sys.argv[1], int(sys.argv[2])
for k in range(count):
    history.record_runs(%(path)r, 1796000000.0 + k, [{'host': name + '-%%d' %% h, 'verdict': 'ok', 'usable': k}
                                                     for h in range(50)])
print('done')
'''


def test_two_runs_writing_at_once_both_land_whole(tmp_path):
    path = str(tmp_path / 'h.sqlite')
    code = WRITER % {'collections': COLLECTIONS, 'path': path}
    procs = [subprocess.Popen([sys.executable, '-c', code, name, '40'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name in ('x', 'y')]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    db = sqlite3.connect(path)
    counts = dict(db.execute("SELECT substr(host, 1, 1), count(*) FROM runs GROUP BY 1").fetchall())
    assert counts == {'x': 40 * 50, 'y': 40 * 50}


KILLED = r'''
import os, sqlite3, sys, time
sys.path.insert(0, %(collections)r)
from ansible_collections.headroom.memory.plugins.module_utils.report import history
real = sqlite3.Connection.executemany
def slow(self, sql, rows):  # the insert lands in the transaction, then the process dies before COMMIT
    result = real(self, sql, rows)
    print('inserted', flush=True)
    time.sleep(60)
    return result
history.sqlite3.Connection = type('Slow', (sqlite3.Connection,), {'executemany': slow})
real_connect = sqlite3.connect
history.sqlite3.connect = lambda *a, **k: real_connect(*a, factory=history.sqlite3.Connection, **k)
history.record_runs(%(path)r, 1796000999.0, [{'host': 'a', 'verdict': 'ok', 'usable': 999}])
'''


def test_a_run_killed_mid_write_leaves_the_history_as_it_was(tmp_path):
    path = str(tmp_path / 'h.sqlite')
    history.record_runs(path, T0, [record('a', 1)])
    proc = subprocess.Popen([sys.executable, '-c', KILLED % {'collections': COLLECTIONS, 'path': path}],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b'inserted'
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert [r['usable'] for r in history.load_runs(path, ['a'])['a']] == [1]
    history.record_runs(path, T0 + 60, [record('a', 2)])  # and the next run writes as usual
    assert [r['usable'] for r in history.load_runs(path, ['a'])['a']] == [1, 2]


def test_two_runs_are_not_enough_history():
    runs = [{'identity': HOST, 'epoch': T0, 'usable': 900 * MIB}, {'identity': HOST, 'epoch': T0 + 3600, 'usable': 800 * MIB}]
    result = history.trend(runs)
    assert result['exhaustion_seconds'] is None and result['reason'].startswith('not enough history: 2 run(s)')


def test_a_steady_loss_gives_the_time_to_exhaustion_and_a_good_fit():
    # 10 MiB an hour from 500 MiB, a little noise: zero comes 50 h after the first run
    runs = [{'identity': HOST, 'epoch': T0 + k * 3600, 'usable': 500 * MIB - k * 10 * MIB + (k % 2) * 256 * 1024} for k in range(6)]
    result = history.trend(runs)
    truth = 50 * 3600 - 5 * 3600  # from the last run
    assert abs(result['exhaustion_seconds'] - truth) / truth < 0.02
    assert result['r2'] > 0.99 and result['slope_bytes_per_day'] == pytest.approx(-240 * MIB, rel=0.02)
    # 5 h of history: the rate is said per hour, with the runs and the span it comes from
    assert result['reason'] == 'available memory falls 10.0 MiB an hour, from 6 runs over 5.0 h (r2 1.00)'
    assert result['span_seconds'] == 5 * 3600 and result['since'] == T0


def test_memory_that_is_not_falling_has_no_exhaustion():
    runs = [{'identity': HOST, 'epoch': T0 + k * 3600, 'usable': 500 * MIB + k * MIB} for k in range(4)]
    assert history.trend(runs)['exhaustion_seconds'] is None
    assert history.trend(runs)['reason'] == 'available memory is not falling (4 runs over 3.0 h)'


def test_a_growing_process_is_a_leak_suspect_and_a_restart_starts_over():
    def run(k, pid, started, grown):
        return {'identity': HOST, 'epoch': T0 + k * DAY / 4,
                'top': [{'command': 'gunicorn', 'memory': 100 * MIB + grown * 20 * MIB, 'pid': pid, 'started': started},
                        {'command': 'redis-server', 'memory': 300 * MIB, 'pid': 7, 'started': 1.0}]}
    first = [run(k, 100, 1000.0, k) for k in range(4)]
    found = history.leaks(first)
    assert [leak['command'] for leak in found] == ['gunicorn']  # redis-server is flat
    leak = found[0]
    assert leak['slope_bytes_per_day'] == pytest.approx(80 * MIB) and leak['r2'] == 1.0
    assert (leak['pid'], leak['started'], leak['runs'], leak['from'], leak['to']) == (100, 1000.0, 4, 100 * MIB, 160 * MIB)
    # restarted (another pid) before two more runs: the newest stretch is too short to say
    assert history.leaks(first + [run(4, 200, 5000.0, 0), run(5, 200, 5000.0, 1)]) == []
    # the same pid used again by a new process (another start time) is a restart too
    assert history.leaks(first + [run(4, 100, 5000.0, 0), run(5, 100, 5000.0, 1)]) == []


def task_params(**given):
    """fleet_report's options as Ansible hands them: every option of its spec, at its default unless given."""
    return dict(dict((name, spec.get('default')) for name, spec in ARGUMENT_SPEC.items()), **given)


def test_the_report_carries_history_trend_and_leaks(tmp_path):
    path = str(tmp_path / 'reports' / 'headroom.sqlite')
    params = task_params(path=str(tmp_path / 'reports' / 'h.json'), hosts=['a'], facts=[None], history=path)
    result = write_reports(params, check_mode=False, epoch=T0)
    report = json.load(open(params['path']))
    assert report['hosts'][0]['history']['runs'] == [] and report['hosts'][0]['trend']['runs'] == 0
    assert result['changed'] is True
    with pytest.raises(ReportError, match='history_days'):
        write_reports(dict(params, history_days=0), check_mode=False, epoch=T0)
    # check mode records nothing
    write_reports(params, check_mode=True, epoch=T0 + 60)
    assert history.load_runs(path, ['a'])['a'] == []


def test_a_fall_within_a_hosts_noise_or_a_poor_fit_gives_no_time_to_exhaustion():
    """Three runs a second apart on a 24 GiB host that lost 37 MB between the first two (seen here):
    no trend to extrapolate, and the reason says why (here: the span); a perfect line of hourly runs
    that fell less than a host's noise; a zigzag."""
    total = 24 * 1024 * MIB
    runs = [{'identity': HOST, 'epoch': T0, 'usable': total - 500 * MIB, 'total': total},
            {'identity': HOST, 'epoch': T0 + 1.15, 'usable': total - 537 * MIB, 'total': total},
            {'identity': HOST, 'epoch': T0 + 2.28, 'usable': total - 537 * MIB, 'total': total}]
    result = history.trend(runs)
    assert result['exhaustion_seconds'] is None and result['slope_bytes_per_day'] is None
    assert result['reason'] == 'not enough history: 3 runs over 2.3 s, at least 1.0 h needed'
    steady = [{'identity': HOST, 'epoch': T0 + k * 3600, 'usable': total - k * MIB, 'total': total} for k in range(4)]
    result = history.trend(steady)  # a perfect line, but 3 MiB of 24 GiB
    assert result['r2'] == 1.0 and result['exhaustion_seconds'] is None
    assert result['reason'] == 'no trend beyond noise: available memory fell 3.0 MiB over 3.0 h, 0.0% of 24.0 GiB'
    zigzag = [{'identity': HOST, 'epoch': T0 + k * 3600, 'usable': (500 - 100 * (k % 2) - 10 * k) * MIB, 'total': 1024 * MIB}
              for k in range(5)]
    result = history.trend(zigzag)
    assert result['exhaustion_seconds'] is None and result['reason'].startswith('no steady trend')
    assert result['r2'] < history.TREND_MIN_R2


def test_a_history_that_cannot_be_used_loses_neither_the_report_nor_the_file(tmp_path):
    """Someone else's file at the history's path: the report is written, says why it has no history,
    the task warns, and the file is left as it was."""
    other = tmp_path / 'h.sqlite'
    other.write_bytes(b'someone else\'s data' * 200)
    params = task_params(path=str(tmp_path / 'h.json'), hosts=['a'], facts=[None], html=str(tmp_path / 'h.html'),
                         history=str(other))
    result = write_reports(params, check_mode=False, epoch=T0)
    report = json.load(open(params['path']))
    assert report['history_error'].startswith('history not kept: %s' % other)
    assert result['warnings'] == [report['history_error']]
    assert 'history' not in report['hosts'][0] and (tmp_path / 'h.html').exists()
    assert other.read_bytes() == b'someone else\'s data' * 200


# --- which machine a run read (issue 20, class 10) ---------------------------------------------------

IDENTITY = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'kernel', 'identity')
NOW = T0 + 10 * DAY
BTIME = int(NOW - 5 * DAY)
CONTAINER_A = {'machine': None, 'boot_id': HOST['boot_id'], 'btime': BTIME, 'container': True,
               'container_id': 'a' * 64, 'scope': '/docker/' + 'a' * 64, 'init_ticks': 1000}
CONTAINER_B = dict(CONTAINER_A, container_id='b' * 64, scope='/docker/' + 'b' * 64, init_ticks=2000)


def host_collected(identity, counted, epochs=(), container=False, sources=('dmesg -T',)):
    """What collect() returns, as far as diagnose() reads it: a host (its kernel counter) or a container
    (its cgroup's), ``counted`` kills, the log dating ``epochs``."""
    kills = {'total': counted, 'by_cgroup': [], 'method': 'memory.oom_control summed over the scope\'s cgroups'}
    return {'gaps': [], 'memory': {'total': 8 << 30, 'available': 6 << 30, 'used': 2 << 30, 'swap_total': 0, 'swap_used': 0},
            'free': None, 'top': None, 'meminfo': None, 'rates': None, 'pressure': None, 'overcommit_memory': None,
            'vmstat': {'oom_kill': 9999 if container else counted}, 'container': container,
            'cgroup': {'version': 1, 'scope': (identity or {}).get('scope') or '/', 'kills': kills} if container else None,
            'growth': [], 'groups': [], 'oom_sources': list(sources), 'oom_incomplete': [], 'oom_unattributed': 0,
            'oom_events': [], 'oom_events_count': len(epochs), 'oom_epochs': sorted(epochs), 'now': NOW,
            'oom_victims': ['python3'] if epochs else [], 'app_deaths': [], 'app_death_sources': [], 'watch': None,
            'guard': None, 'app_servers': [], 'identity': identity}


def judge(collected, previous):
    params = dict((name, spec.get('default')) for name, spec in FACTS_SPEC.items())
    params['previous_run'] = previous
    return diagnose(collected, params, policy_of(params))


def said(facts, signal):
    return [r['message'] for r in facts['audit']['reasons'] if r['signal'] == signal]


def previous_of(path, host='web', collected=None, epoch=None):
    """This run as the history keeps it (fleet_report's record, compacted), read back as the lookup does."""
    facts = judge(collected, {})
    history.record_runs(path, epoch or NOW - 3600, [dict(record('web', 1), identity=facts['identity'], read_at=collected['now'],
                                                         oom={'kills': facts['oom']['kills'], 'counted': facts['oom']['counted']})])
    return history.previous_run(path, host)


def test_another_container_under_one_name_has_its_kills_judged_not_subtracted(tmp_path):
    """The issue's case: a rebuilt container under the name of one that had 42 kills, with 42 kills of its own
    (the cgroup's counter; no kernel log in an unprivileged container). Before: "no OOM kill since the last
    run; 42 before". Its kills are new to the history: all of them are judged, and the report says why."""
    path = str(tmp_path / 'h.sqlite')
    first = dict(host_collected(CONTAINER_A, 42, container=True, sources=()), now=NOW - 3600)
    previous = previous_of(path, collected=first)
    assert previous['identity']['container_id'] == 'a' * 64 and previous['counted'] == 42
    facts = judge(host_collected(CONTAINER_B, 42, container=True, sources=()), previous)
    assert facts['identity']['previous']['machine'] == 'other'
    assert (facts['oom']['recent'], facts['oom']['judged_since_run'], facts['oom']['since_previous_run']) == (42, False, None)
    assert facts['audit']['verdict'] == 'warning'
    assert said(facts, 'oom_kills')[0].startswith('the OOM killer has killed 42 process(es) in the last 24 h')
    assert said(facts, 'identity') == [
        'a different machine than the last run (container id bbbbbbbbbbbb, the last run\'s aaaaaaaaaaaa): its kill '
        'counter is not compared with that run\'s; every kill since its boot is judged (those the log dates: in the last 24 h)']
    assert not said(facts, 'oom_kills_past')


def test_the_same_boot_of_the_same_machine_compares_its_counter():
    previous = {'epoch': NOW - 3000, 'at': NOW - 3600, 'counted': 3, 'identity': HOST}
    facts = judge(host_collected(HOST, 3, epochs=[NOW - 2 * 3600] * 3), previous)
    assert facts['identity']['previous'] == {'machine': 'same', 'boot': 'same', 'counters': True,
                                             'why': 'the same machine id, the same boot id'}
    assert (facts['oom']['recent'], facts['oom']['judged_since_run']) == (0, True)
    assert facts['audit']['verdict'] == 'ok' and not said(facts, 'identity')
    assert said(facts, 'oom_kills_past')[0].startswith('no OOM kill since the last run (')
    # the same container, the same start of its PID 1: its cgroup's counter compares too
    facts = judge(host_collected(CONTAINER_A, 5, container=True, sources=()), dict(previous, identity=CONTAINER_A, counted=5))
    assert facts['identity']['previous']['counters'] is True and facts['oom']['recent'] == 0


def test_a_reboot_restarts_the_counter_but_not_the_machine():
    """The same machine id, another boot id, booted after the last run: its 3 kills since boot are new
    (the counter started again at 0: that it equals the last run's 3 says nothing), the last run's time
    still bounds the logged ones, and the report says it restarted."""
    previous = {'epoch': NOW - 3000, 'at': NOW - 3600, 'counted': 3, 'identity': HOST}
    rebooted = dict(HOST, boot_id='0b6c1d3e-1111-4222-8333-444455556666', btime=int(NOW - 1800))
    facts = judge(host_collected(rebooted, 3, sources=()), previous)
    assert facts['identity']['previous'] == {'machine': 'same', 'boot': 'new', 'counters': False,
                                             'why': 'the same machine id, another boot id'}
    assert (facts['oom']['recent'], facts['oom']['judged_since_run'], facts['oom']['since_previous_run']) == (3, True, NOW - 3600)
    assert said(facts, 'identity') == [
        'the same machine as the last run, started anew since (the same machine id, another boot id): its kill counter '
        'started again at 0 and is not compared with that run\'s; every kill since the start is judged']
    assert said(facts, 'oom_kills')[0].startswith('the OOM killer has killed 3 process(es) since the last run (')
    # a container restarted: its id stays, its PID 1 starts anew, and its cgroup (with its counts) is made anew
    restarted = dict(CONTAINER_A, init_ticks=5000)
    facts = judge(host_collected(restarted, 2, container=True, sources=()), dict(previous, identity=CONTAINER_A, counted=2))
    assert facts['identity']['previous']['machine'] == 'same' and facts['identity']['previous']['boot'] == 'new'
    assert facts['oom']['recent'] == 2 and 'PID 1 started anew' in said(facts, 'identity')[0]


def test_another_machine_under_one_name_whatever_tells_it():
    previous = {'epoch': NOW - 3000, 'at': NOW - 3600, 'counted': 4, 'identity': HOST}
    other_host = dict(HOST, machine='b' * 32, boot_id='0b6c1d3e-1111-4222-8333-444455556666')
    # a clone that kept the image's machine id, booted while the last run read the first one
    clone = dict(HOST, boot_id='0b6c1d3e-1111-4222-8333-444455556666', btime=int(NOW - 2 * DAY))
    # a container rebuilt from an image with a machine id baked in: the container id tells them apart
    baked_a, baked_b = dict(CONTAINER_A, machine='c' * 32), dict(CONTAINER_B, machine='c' * 32)
    # no container id (a runtime headroom cannot name), but the cgroup scope
    scoped_a, scoped_b = dict(CONTAINER_A, container_id=None), dict(CONTAINER_B, container_id=None)
    cases = [(HOST, other_host, False, 'another machine id'),
             (HOST, clone, False, 'the same machine id, but booted at'),
             (baked_a, baked_b, True, 'container id bbbbbbbbbbbb, the last run\'s aaaaaaaaaaaa'),
             (scoped_a, scoped_b, True, 'cgroup /docker/%s, the last run\'s /docker/%s' % ('b' * 64, 'a' * 64)),
             (HOST, CONTAINER_A, True, 'the last run read a machine, this one a container')]
    for before, now, container, why in cases:
        facts = judge(host_collected(now, 4, container=container, sources=()), dict(previous, identity=before))
        relation = facts['identity']['previous']
        assert relation['machine'] == 'other' and relation['why'].startswith(why), (why, relation)
        assert (facts['oom']['recent'], facts['oom']['judged_since_run']) == (4, False), why
        assert said(facts, 'identity')[0].startswith('a different machine than the last run (' + why), why


def test_an_identity_that_cannot_be_told_compares_nothing_and_claims_nothing(tmp_path):
    """Unknown: this run read nothing that identifies the machine; or containers of one image (its baked-in
    machine id) whose runtime headroom cannot name, under a cgroup namespace (scope '/'), whose PID 1s
    started at different times: another container, or this one restarted. No counter is compared and no
    "no OOM kill since the last run" is said: the window judges, as at a first run."""
    previous = {'epoch': NOW - 3000, 'at': NOW - 3600, 'counted': 5, 'identity': HOST}
    nothing = {'machine': None, 'boot_id': None, 'btime': None, 'container': None, 'container_id': None, 'scope': None,
               'init_ticks': None}
    anonymous = dict(CONTAINER_A, machine='c' * 32, container_id=None, scope=None)
    cases = [(HOST, nothing, False, 'nothing that identifies this machine could be read'),
             (anonymous, dict(anonymous, init_ticks=9), True,
              'no container id, cgroup or machine id to compare; the same boot id; its PID 1 started anew (the container '
              'was restarted or made anew)'),
             (dict(HOST, machine=None), dict(HOST, machine=None, boot_id='0b6c1d3e-1111-4222-8333-444455556666'), False,
              'no machine id to compare; another boot id')]
    for before, now, container, why in cases:
        facts = judge(host_collected(now, 5, epochs=[NOW - 2 * 3600] * 5, container=container),
                      dict(previous, identity=before))
        relation = facts['identity']['previous']
        assert relation['machine'] == 'unknown' and relation['counters'] is False and relation['why'] == why, relation
        assert (facts['oom']['recent'], facts['oom']['judged_since_run']) == (5, False)
        assert said(facts, 'identity') == ['cannot tell whether this is the machine the last run read (%s): kill counters '
                                           'are not compared, and the kills are judged in the last 24 h, not since that run' % why]
        assert not said(facts, 'oom_kills_past') and 'since the last run' not in said(facts, 'oom_kills')[0]


def test_a_record_from_before_identities_compares_nothing(tmp_path):
    """A history written by an older headroom: its records have no identity. The counter is not
    compared (5 then, 5 now says nothing), and no "since the last run" is claimed."""
    path = str(tmp_path / 'h.sqlite')
    old = record('web', 1, kills=5)
    del old['identity']
    history.record_runs(path, NOW - 3600, [old])
    previous = history.previous_run(path, 'web')
    assert previous['identity'] is None and previous['counted'] == 5
    facts = judge(host_collected(HOST, 5, epochs=[NOW - 2 * 3600] * 5), previous)
    assert facts['identity']['previous']['machine'] == 'unknown'
    assert facts['identity']['previous']['why'] == 'the last run recorded no machine identity (an older headroom wrote it)'
    assert (facts['oom']['recent'], facts['oom']['judged_since_run']) == (5, False)
    assert facts['audit']['verdict'] == 'warning' and not said(facts, 'oom_kills_past')
    # a record whose identity is damaged or hostile is no identity, and no crash
    for damaged in ('x', 7, [], {'machine': 7, 'boot_id': ['a'], 'btime': 'now', 'container': 'yes'},
                    {'btime': True, 'init_ticks': -1}, {'boot_id': 'b' * 10000}):
        facts = judge(host_collected(HOST, 5), {'epoch': NOW - 3600, 'counted': 5, 'identity': damaged})
        assert facts['identity']['previous']['machine'] == 'unknown' and facts['oom']['recent'] == 5, damaged


def test_the_last_runs_time_is_when_it_read_the_host_not_when_its_report_was_written():
    """A fleet's report is written after its last host is read: a kill on a host read at 10:00, whose
    report was written at 10:20, at 10:10, is new to the next run."""
    previous = {'epoch': NOW - 2400, 'at': NOW - 3600, 'counted': 1, 'identity': HOST}
    facts = judge(host_collected(HOST, 2, epochs=[NOW - 2 * 3600, NOW - 3000]), previous)
    assert (facts['oom']['recent'], facts['oom']['since_previous_run']) == (1, NOW - 3600)


def test_the_identity_of_real_containers():
    """machine_identity() on what REAL containers showed (fixtures/kernel/identity, capture-identity.sh):
    two made from one image, one of them restarted, and one with systemd as PID 1."""
    def read(name):
        return machine_identity(True, BTIME, None, root=os.path.join(IDENTITY, name))

    def docker_id(name):
        return open(os.path.join(IDENTITY, name, 'docker_id')).read().strip()

    a, b, restarted = read('plain_a'), read('plain_b'), read('plain_a_restarted')
    # the image ships /etc/machine-id empty: no machine id, and why
    assert a['machine'] is None and a['machine_from'] == '/etc/machine-id empty, /var/lib/dbus/machine-id missing'
    assert a['boot_id'] == b['boot_id'] == open(os.path.join(IDENTITY, 'plain_a', 'proc/sys/kernel/random/boot_id')).read().strip()
    assert (a['container_id'], b['container_id'], restarted['container_id']) == (
        docker_id('plain_a'), docker_id('plain_b'), docker_id('plain_a'))
    assert a['init_ticks'] == int(open(os.path.join(IDENTITY, 'plain_a', 'proc/1/stat')).read().rsplit(')', 1)[1].split()[19])
    assert ident.compare({'identity': a}, b)['machine'] == 'other'
    assert ident.compare({'identity': a}, restarted) == {
        'machine': 'same', 'boot': 'new', 'counters': False,
        'why': 'the same container id, the same boot id, its PID 1 started anew (the container was restarted or made anew)'}
    systemd, again = read('systemd'), read('systemd_restarted')
    # systemd wrote a machine id to the empty file at its first start and kept it; only its hash leaves the host
    raw = open(os.path.join(IDENTITY, 'systemd', 'etc', 'machine-id')).read().strip()
    assert systemd['machine'] == again['machine'] and len(systemd['machine']) == 32 and raw not in json.dumps(systemd)
    assert systemd['machine_from'] == '/etc/machine-id'
    assert ident.compare({'identity': systemd}, again)['boot'] == 'new'
    # outside a container, no container id is looked for (a Docker host's own mounts name its containers)
    host = machine_identity(False, BTIME, '/user.slice', root=os.path.join(IDENTITY, 'plain_a'))
    assert (host['container'], host['container_id'], host['scope'], host['init_ticks']) == (False, None, None, None)


def test_machine_id_forms(tmp_path):
    """The forms machine-id(5) and systemd's machine-id-setup.c write, and what is not an id."""
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'var' / 'lib' / 'dbus').mkdir(parents=True)
    etc, dbus = tmp_path / 'etc' / 'machine-id', tmp_path / 'var' / 'lib' / 'dbus' / 'machine-id'
    good = '3d1219c7c4c5404aaa1f6d2a48adfda4'
    for text, expect in ((good + '\n', '/etc/machine-id'), (good, '/etc/machine-id'), (good.upper() + '\n', '/etc/machine-id'),
                         ('uninitialized\n', None), ('', None), ('0' * 32 + '\n', None), (good + 'x\n', None),
                         (good + '\n\n', None), ('3d1219c7-c4c5-404a-aa1f-6d2a48adfda4\n', None)):
        etc.write_text(text)
        found = machine_identity(False, root=str(tmp_path))
        assert (found['machine_from'] if found['machine'] else None) == expect, text
    etc.write_text('')
    dbus.write_text(good + '\n')  # D-Bus's own file, the older place
    from_dbus = machine_identity(False, root=str(tmp_path))
    assert from_dbus['machine_from'] == '/var/lib/dbus/machine-id'
    etc.write_text(good + '\n')
    assert machine_identity(False, root=str(tmp_path))['machine'] == from_dbus['machine']  # one id, one hash, wherever it is


# --- predictions from enough time (issue 20, class 7) ------------------------------------------------

def runs_at(offsets, usable, top=None, identity=HOST, total=1024 * MIB):
    """Runs at T0 + each offset (seconds): ``usable(k)`` bytes available, ``top(k)`` its commands."""
    return [{'identity': identity, 'epoch': T0 + offset + 30, 'at': T0 + offset, 'usable': usable(k), 'total': total,
             'top': top(k) if top else []} for k, offset in enumerate(offsets)]


def python(k, pid=4242, started=T0 - 600.0, mib=19):
    return [{'command': 'python', 'memory': 100 * MIB + k * mib * MIB, 'pid': pid, 'started': started}]


def test_three_runs_four_seconds_apart_are_no_rate():
    """The issue's case: three diagnoses 4 s apart, python grew 57 MiB: "grew 1.1 TiB a day over 3 runs"
    was said. What grew, and in how long, is a fact; a rate per day from it, or a time to exhaustion, is not."""
    runs = runs_at([0, 2, 4], lambda k: 800 * MIB - k * 19 * MIB, python)
    found = history.leaks(runs)
    assert [(leak['command'], leak['grew'], leak['span_seconds'], leak['slope_bytes_per_day']) for leak in found] == [
        ('python', 38 * MIB, 4.0, None)]
    assert found[0]['reason'] == 'not enough history for a rate: 3 runs over 4 s, at least 1.0 h needed'
    result = history.trend(runs)
    assert (result['slope_bytes_per_day'], result['exhaustion_seconds'], result['span_seconds']) == (None, None, 4.0)
    assert result['reason'] == 'not enough history: 3 runs over 4 s, at least 1.0 h needed'
    page = render_html({'generated_at': 'now', 'fleet': {'order': ['h'], 'trend': []}, 'hosts': [
        {'host': 'h', 'verdict': 'ok', 'summary': 'ok', 'reasons': [], 'recommendations': [], 'lines': [],
         'history': {'runs': runs}, 'trend': result, 'leaks': found}]})
    assert 'python (pid 4242) grew 38.0 MiB in 4 s over 3 runs (100.0 MiB to 138.0 MiB): not enough history for a rate' in page
    assert 'a day' not in page and 'an hour' not in page and 'data-leak=' not in page
    assert 'no time to exhaustion: not enough history: 3 runs over 4 s, at least 1.0 h needed' in page


def test_an_awx_schedule_every_15_minutes_gets_a_rate_after_an_hour():
    quarter = 900

    def falling(k):
        return 800 * MIB - k * 50 * MIB
    assert history.trend(runs_at([k * quarter for k in range(4)], falling))['reason'] == (
        'not enough history: 4 runs over 45 min, at least 1.0 h needed')
    result = history.trend(runs_at([k * quarter for k in range(5)], falling))
    assert result['reason'] == 'available memory falls 200.0 MiB an hour, from 5 runs over 1.0 h (r2 1.00)'
    assert result['exhaustion_seconds'] == pytest.approx(600 * MIB / (200 * MIB) * 3600)
    leak = history.leaks(runs_at([k * quarter for k in range(5)], falling, python))[0]
    assert leak['slope_bytes_per_day'] == pytest.approx(19 * 4 * 24 * MIB) and leak['reason'] is None


def test_a_rate_from_days_is_said_per_day_with_its_span():
    """14 runs over 3 days: "falls 1.2 GiB a day, from 14 runs over 3 days"; the leak too, per day."""
    step = 3 * DAY / 13
    runs = runs_at([k * step for k in range(14)], lambda k: 8192 * MIB - int(k * 1.2 * 1024 * MIB * step / DAY),
                   lambda k: python(k, mib=40), total=16384 * MIB)
    result = history.trend(runs)
    assert result['reason'] == 'available memory falls 1.2 GiB a day, from 14 runs over 3.0 days (r2 1.00)'
    assert result['span_seconds'] == pytest.approx(3 * DAY)
    found = history.leaks(runs)
    page = render_html({'generated_at': 'now', 'fleet': {'order': ['h'], 'trend': []}, 'hosts': [
        {'host': 'h', 'verdict': 'ok', 'summary': 'ok', 'reasons': [], 'recommendations': [], 'lines': [],
         'history': {'runs': runs}, 'trend': result, 'leaks': found}]})
    assert 'python (pid 4242) grows 173.3 MiB a day, from 14 runs over 3.0 days (r2 1.0): 100.0 MiB to 620.0 MiB' in page


def test_runs_repeated_within_minutes_are_one_moment():
    """A run two hours ago and three in the last two minutes: four runs, but two moments, which always lie
    on a line: not enough history."""
    runs = runs_at([0, 7200, 7260, 7320], lambda k: 800 * MIB - k * 50 * MIB)
    assert history.trend(runs)['reason'] == (
        'not enough history: 4 runs over 2.0 h but at 2 moment(s) (runs within 5 min count as one), 3 needed')
    assert history.moments([0, 100, 299, 300, 301, 900]) == 3


def test_the_trend_is_of_the_machine_the_newest_run_read():
    """Runs of another machine under the name (or of unknown identity, or with another amount of memory)
    are no part of the trend or the leaks; a reboot of the same machine is."""
    hourly = [k * 3600 for k in range(6)]
    other = dict(HOST, machine='b' * 32, boot_id='0b6c1d3e-1111-4222-8333-444455556666')
    runs = runs_at(hourly[:3], lambda k: 900 * MIB, python) + runs_at(hourly[3:], lambda k: 800 * MIB - k * 50 * MIB, identity=other)
    result = history.trend(runs)  # the second machine's three runs over 2 h: its own trend
    assert result['runs'] == 3 and result['since'] == T0 + 3 * 3600 and result['slope_bytes_per_day'] == pytest.approx(-1200 * MIB)
    assert result['machine'] == 'the runs until 2026-11-30 02:53:20 UTC are left out: that run read another machine (another machine id)'
    assert history.leaks(runs) == []  # python grew on the first machine only
    rebooted = dict(HOST, boot_id='0b6c1d3e-1111-4222-8333-444455556666', btime=int(T0 + 2.5 * 3600))
    runs = runs_at(hourly[:3], lambda k: 800 * MIB - k * 50 * MIB) + [
        dict(run, identity=rebooted) for run in runs_at(hourly, lambda k: 800 * MIB - k * 50 * MIB)[3:]]
    result = history.trend(runs)
    assert result['runs'] == 6 and result['machine'] is None and result['exhaustion_seconds'] is not None
    old = [dict(run, identity=None) for run in runs_at(hourly[:3], lambda k: 800 * MIB - k * 50 * MIB)]
    result = history.trend(old + runs_at(hourly, lambda k: 800 * MIB - k * 50 * MIB)[3:])
    assert result['runs'] == 3 and 'that run cannot be told to be of this machine (that run recorded no machine identity' in result['machine']
    resized = runs_at(hourly[:3], lambda k: 800 * MIB) + runs_at(hourly, lambda k: 1800 * MIB - k * 50 * MIB, total=2048 * MIB)[3:]
    result = history.trend(resized)
    assert result['runs'] == 3 and result['machine'].startswith('the memory changed from 1.0 GiB to 2.0 GiB after the run of')


def test_a_growth_seen_while_watched_says_the_time_it_grew_in():
    """The verdict's growth (top's samples, seconds apart) is no rate: it says what grew and in how long,
    never "in 0 s" for half a second."""
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy
    for seconds, said_ in ((0.5, ' in 0.5 s'), (4, ' in 4 s'), (None, ''), (0, '')):
        result = audit({'memory': {'total': 8 << 30, 'available': 6 << 30},
                        'growth': [{'pid': 7, 'command': 'gunicorn', 'from': 200 * MIB, 'to': 330 * MIB, 'grew': 130 * MIB,
                                    'seconds': seconds}]}, merge_policy())
        assert [r['message'] for r in result['reasons'] if r['signal'] == 'growth'] == ['gunicorn (pid 7) grew by 130.0 MiB%s while it was watched' % said_]
        refactor = [r for r in result['recommendations'] if r['step'] == 'refactor'][0]
        assert refactor['detail'] == 'its RSS grew by 130.0 MiB (200.0 MiB to 330.0 MiB)%s while the host was watched' % said_


# ------------------------------------------------------------ the biggest process of each command, over the runs

def _group(command, memory, largest, measure='pss', pid=100, count=5):
    return {'command': command, 'memory': memory, 'count': count, 'measure': measure,
            'largest': {'pid': pid, 'memory': largest, 'started': T0 - DAY}}


def test_the_history_keeps_each_command_s_biggest_process_and_the_lookup_gives_its_peak(tmp_path):
    """A worker budget at the peak counts the biggest process of the command across runs: each run keeps
    its biggest commands' biggest process (size and measure), the lookup gives the biggest of the runs of
    this machine, with when and which pid."""
    path = str(tmp_path / 'h.sqlite')
    sizes = [(40, 38), (160, 118), (60, 41)]  # gunicorn's group and its biggest process, MiB, run by run
    for k, (group, largest) in enumerate(sizes):
        runs = [dict(record('web', 500 * MIB, groups=[_group('gunicorn', group * MIB, largest * MIB, pid=200 + k),
                                                      _group('redis-server', 300 * MIB, 300 * MIB, count=1)]),
                     read_at=T0 + k * 3600)]
        history.record_runs(path, T0 + k * 3600 + 10, runs)
    kept = history.load_runs(path, ['web'])['web'][0]['top'][0]
    assert kept == {'command': 'gunicorn', 'memory': 40 * MIB, 'count': 5, 'pid': 200, 'started': T0 - DAY,
                    'largest': 38 * MIB, 'measure': 'pss'}
    previous = history.previous_run(path, 'web')
    assert previous['at'] == T0 + 2 * 3600  # still the newest run
    assert previous['peaks'] == {'gunicorn': {'memory': 118 * MIB, 'measure': 'pss', 'pid': 201, 'at': T0 + 3600},
                                 'redis-server': {'memory': 300 * MIB, 'measure': 'pss', 'pid': 100, 'at': T0 + 2 * 3600}}


def test_a_run_of_another_machine_under_the_name_gives_no_peak(tmp_path):
    path = str(tmp_path / 'h.sqlite')
    other = dict(HOST, machine='b' * 32)
    history.record_runs(path, T0, [dict(record('web', 1, groups=[_group('gunicorn', 900 * MIB, 900 * MIB)]), identity=other,
                                        read_at=T0)])
    history.record_runs(path, T0 + 3600, [dict(record('web', 1, groups=[_group('gunicorn', 90 * MIB, 30 * MIB)]),
                                               read_at=T0 + 3600)])
    assert history.previous_run(path, 'web')['peaks'] == {
        'gunicorn': {'memory': 30 * MIB, 'measure': 'pss', 'pid': 100, 'at': T0 + 3600}}
    # records written before the biggest process's size was kept give no peak, and no error
    assert history.peaks([{'top': [{'command': 'gunicorn', 'memory': 5, 'pid': 1}], 'identity': HOST, 'at': T0}]) == {}


def test_the_diagnosis_counts_the_history_s_peak_only_for_the_same_machine():
    server = {'kind': 'gunicorn', 'command': 'gunicorn', 'master_pid': 10, 'workers': 4, 'settings': {},
              'master': {'private': 25 * MIB, 'shared': 20 * MIB, 'pss': None},
              'measured': [{'pid': 11 + k, 'private': 33 * MIB, 'shared': 20 * MIB, 'pss': None} for k in range(4)]}
    peaks = {'gunicorn': {'memory': 123 * MIB, 'measure': 'pss', 'pid': 777, 'at': NOW - DAY}}
    collected = dict(host_collected(HOST, 0), app_servers=[server])
    collected['memory'] = dict(collected['memory'], total=1024 * MIB, available=500 * MIB)
    same = judge(collected, {'at': NOW - 3600, 'counted': 0, 'identity': HOST, 'peaks': peaks})
    budget = same['app_servers'][0]
    assert budget['peak']['source'] == 'history' and budget['workers_that_fit_at_peak'] == 3
    other = judge(collected, {'at': NOW - 3600, 'counted': 0, 'identity': dict(HOST, machine='c' * 32), 'peaks': peaks})
    assert other['app_servers'][0]['peak'] is None
