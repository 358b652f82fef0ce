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

from ansible_collections.headroom.memory.plugins.module_utils.report import history
from ansible_collections.headroom.memory.plugins.module_utils.report.files import ARGUMENT_SPEC, ReportError, write_reports

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'collections'))
MIB = 1 << 20
DAY = 86400.0
T0 = 1796000000.0


def record(host, usable, verdict='ok', groups=None, kills=0):
    return {'host': host, 'verdict': verdict, 'usable': usable, 'effective_total': 1024 * MIB, 'swap_used': 0,
            'swap_total': 0, 'oom': {'kills': kills, 'counted': kills, 'last': None}, 'groups': groups or []}


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
    runs = [{'epoch': T0, 'usable': 900 * MIB}, {'epoch': T0 + 3600, 'usable': 800 * MIB}]
    result = history.trend(runs)
    assert result['exhaustion_seconds'] is None and result['reason'].startswith('not enough history: 2 run(s)')


def test_a_steady_loss_gives_the_time_to_exhaustion_and_a_good_fit():
    # 10 MiB an hour from 500 MiB, a little noise: zero comes 50 h after the first run
    runs = [{'epoch': T0 + k * 3600, 'usable': 500 * MIB - k * 10 * MIB + (k % 2) * 256 * 1024} for k in range(6)]
    result = history.trend(runs)
    truth = 50 * 3600 - 5 * 3600  # from the last run
    assert abs(result['exhaustion_seconds'] - truth) / truth < 0.02
    assert result['r2'] > 0.99 and result['slope_bytes_per_day'] == pytest.approx(-240 * MIB, rel=0.02)
    assert result['reason'].startswith('available memory falls 239.5 MiB a day (r2 1.00 over 6 runs')


def test_memory_that_is_not_falling_has_no_exhaustion():
    runs = [{'epoch': T0 + k * 3600, 'usable': 500 * MIB + k * MIB} for k in range(4)]
    assert history.trend(runs)['exhaustion_seconds'] is None
    assert history.trend(runs)['reason'] == 'available memory is not falling'


def test_a_growing_process_is_a_leak_suspect_and_a_restart_starts_over():
    def run(k, pid, started, grown):
        return {'epoch': T0 + k * DAY / 4,
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
    no trend to extrapolate, and the reason says why."""
    total = 24 * 1024 * MIB
    runs = [{'epoch': T0, 'usable': total - 500 * MIB, 'total': total},
            {'epoch': T0 + 1.15, 'usable': total - 537 * MIB, 'total': total},
            {'epoch': T0 + 2.28, 'usable': total - 537 * MIB, 'total': total}]
    result = history.trend(runs)
    assert result['exhaustion_seconds'] is None and result['reason'].startswith('no steady trend')
    steady = [{'epoch': T0 + k * 60, 'usable': total - k * MIB, 'total': total} for k in range(4)]
    result = history.trend(steady)  # a perfect line, but 3 MiB of 24 GiB
    assert result['r2'] == 1.0 and result['exhaustion_seconds'] is None
    assert result['reason'] == 'no trend beyond noise: available memory fell 3.0 MiB over the runs, 0.0% of 24.0 GiB'
    zigzag = [{'epoch': T0 + k * 3600, 'usable': (500 - 100 * (k % 2) - 10 * k) * MIB, 'total': 1024 * MIB}
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

