"""App servers' masters and workers, their settings, and the worker budget's arithmetic."""
import os
import subprocess
import sys

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.read import app_servers as apps
from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import budgets
from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy

MIB = 1 << 20


@pytest.mark.parametrize('comm, argv, kind', [
    ('gunicorn', ['/usr/bin/python3', '/usr/bin/gunicorn', '-w', '3', 'app:application'], 'gunicorn'),
    ('python3', ['/srv/venv/bin/python3', '-m', 'gunicorn', 'app:app'], 'gunicorn'),
    ('gunicorn: maste', ['gunicorn: master [app]'], 'gunicorn'),  # setproctitle
    ('uwsgi', ['/usr/bin/uwsgi', '--ini', 'app.ini'], 'uwsgi'),
    ('celery', ['/usr/bin/python3', '/usr/bin/celery', '-A', 'app', 'worker'], 'celery'),
    ('php-fpm8.2', ['php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)'], 'php-fpm'),
    ('ruby', ['puma 6.4.0 (tcp://0.0.0.0:3000) [app]'], None),  # puma renames itself: its comm stays ruby
    ('ruby', ['/usr/bin/ruby', '/usr/local/bin/puma', '-C', 'config/puma.rb'], 'puma'),
    ('java', ['/usr/bin/java', '-Xmx2g', '-jar', 'app.jar'], 'jvm'),
    ('node', ['node', '--max-old-space-size=1536', 'server.js'], 'node'),
    ('python3', ['/usr/bin/python3', 'manage.py', 'runserver'], None),
    ('redis-server', ['redis-server *:6379'], None),
])
def test_kind_of(comm, argv, kind):
    assert apps.kind_of(comm, argv) == kind


def test_settings_from_the_command_line_and_the_config_files(tmp_path):
    (tmp_path / 'gunicorn.conf.py').write_text('workers = 9\npreload_app = True\nmax_requests = 1200\n'
                                               '# secret_key = "hunter2"\n')
    found = apps.settings('gunicorn', ['gunicorn', '-c', 'gunicorn.conf.py', 'app:app'], cwd=str(tmp_path))
    assert found == {'config': 'gunicorn.conf.py', 'workers': 9, 'preload_app': True, 'max_requests': 1200,
                     'max_requests_jitter': None}
    assert 'hunter2' not in repr(found)
    assert apps.settings('gunicorn', ['gunicorn', '--workers=4', '--max-requests', '500', 'a:b'])['workers'] == 4
    assert apps.settings('gunicorn', ['gunicorn', '-w', '4', '--max-requests', '500', 'a:b'])['max_requests'] == 500
    (tmp_path / 'app.ini').write_text('[uwsgi]\nprocesses = 6\nmax-requests = 300\n')
    assert apps.settings('uwsgi', ['uwsgi', '--ini', str(tmp_path / 'app.ini')])['workers'] == 6
    pool = tmp_path / 'etc' / 'php' / '8.2' / 'fpm' / 'pool.d'
    pool.mkdir(parents=True)
    (pool / 'www.conf').write_text('[www]\npm = dynamic\npm.max_children = 5\npm.max_requests = 500\n')
    assert apps.settings('php-fpm', ['php-fpm: master process'], root=str(tmp_path))['workers'] == 5
    assert apps.settings('jvm', ['java', '-Xmx512m', '-Xmx2g', '-jar', 'x'])['max_heap'] == 2 << 30
    assert apps.settings('node', ['node', '--max-old-space-size=1536', 's.js'])['max_old_space'] == 1536 * MIB
    assert apps.settings('gunicorn', ['gunicorn', '-w', '9' * 40, 'a:b'])['workers'] is None  # not a count


def test_masters_and_their_workers_whatever_the_workers_are_called():
    table = {1: ('systemd', 0), 10: ('gunicorn', 1), 11: ('gunicorn', 10), 12: ('gunicorn', 10),
             20: ('celery', 1), 21: ('python3', 20), 22: ('python3', 20), 30: ('java', 1), 40: ('bash', 1)}
    argv = {10: ['/usr/bin/gunicorn', '-w', '2'], 11: ['/usr/bin/gunicorn'], 12: ['/usr/bin/gunicorn'],
            20: ['/usr/bin/celery', '-A', 'app', 'worker', '-c', '2'], 21: ['/usr/bin/python3', '-c', 'x'],
            22: ['/usr/bin/python3', '-c', 'x'], 30: ['java', '-Xmx1g', '-jar', 'a.jar']}
    rollups = dict((pid, {'private_clean': MIB, 'private_dirty': pid * MIB, 'shared_clean': 2 * MIB,
                          'shared_dirty': 0, 'pss': pid * MIB}) for pid in table)
    asked = []

    def command_line(pid):
        asked.append(pid)
        return argv.get(pid, []), '/srv'
    servers = apps.find(sorted(table), table.get, command_line, rollups.get)
    assert [(s['kind'], s['master_pid'], s['workers']) for s in servers] == [
        ('gunicorn', 10, 2), ('celery', 20, 2), ('jvm', 30, 1)]
    assert [w['pid'] for w in servers[1]['measured']] == [21, 22]
    assert servers[0]['measured'][0] == {'pid': 11, 'private': 12 * MIB, 'shared': 2 * MIB, 'pss': 11 * MIB}
    assert servers[2]['master'] == {'private': None, 'shared': None, 'pss': None}  # the JVM is its own worker
    assert 40 not in asked and 1 not in asked  # only names a server can have are read further


def test_the_proc_readers_read_a_real_process(tmp_path):
    """stat and command_line on a live process of this machine, in a directory of its own.

    The child says it is running before it is read: Popen returns as soon as exec closes the child's
    error pipe, and the kernel does that before it sets the new image's arguments, so /proc/PID/cmdline
    can still be empty then (CI saw it once)."""
    code = 'import sys; print("ready", flush=True); sys.stdin.read()'
    proc = subprocess.Popen([sys.executable, '-c', code, 'an argument'], cwd=str(tmp_path),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == 'ready\n'
        stat, command_line = apps.proc_readers()
        assert stat(proc.pid) == (os.path.basename(sys.executable)[:15], os.getpid())
        assert command_line(proc.pid) == ([sys.executable, '-c', code, 'an argument'], str(tmp_path))
        assert command_line(2 ** 22 + 1) == ([], None)  # gone (or never was): nothing, not a failure
    finally:
        proc.kill()
        proc.communicate()


def _server(workers, private, shared, master_private, **config):
    return {'kind': 'gunicorn', 'master_pid': 10, 'workers': workers, 'settings': config,
            'master': {'private': master_private, 'shared': shared, 'pss': None},
            'measured': [{'pid': 11 + k, 'private': private, 'shared': shared, 'pss': None} for k in range(workers)]}


def test_the_budget_arithmetic():
    """9 workers of 140 MiB private on a 2 GiB host with 300 MiB available: 1748 MiB in use, of
    which the workers' 1260; 488 MiB is everything else. With 20% of 2048 kept free, 1638.4 MiB
    may be used: 1150.4 MiB for workers, 8 of 140 MiB."""
    policy = merge_policy()
    server = _server(9, 140 * MIB, 60 * MIB, 30 * MIB, preload_app=False, max_requests=None)
    budget = budgets([server], 2048 * MIB, 300 * MIB, policy)[0]
    assert budget['workers_that_fit'] == int((2048 * MIB * 0.8 - (1748 - 9 * 140) * MIB) // (140 * MIB)) == 8
    assert budget['private_per_worker'] == 140 * MIB and budget['shared'] == 60 * MIB
    # not preloaded: each worker but one holds its own copy of the app, 110 MiB (140 less the master's 30)
    assert budget['preloaded'] is False and budget['preload_saves'] == 8 * 110 * MIB
    # tighter: 100 MiB available
    assert budgets([server], 2048 * MIB, 100 * MIB, policy)[0]['workers_that_fit'] == 6
    # a host that has room for more than it runs
    assert budgets([server], 8192 * MIB, 6000 * MIB, policy)[0]['workers_that_fit'] > 9


def test_the_recommendation_says_the_numbers():
    policy = merge_policy()
    server = _server(9, 140 * MIB, 60 * MIB, 30 * MIB, preload_app=False)
    facts = {'memory': {'total': 2048 * MIB, 'available': 100 * MIB},
             'app_servers': budgets([server], 2048 * MIB, 100 * MIB, policy)}
    recs = [r for r in audit(facts, policy)['recommendations'] if r['title'] == "Fit gunicorn's workers in memory"]
    assert len(recs) == 1 and recs[0]['step'] == 'code'
    assert recs[0]['detail'] == ('9 workers x 140.0 MiB private (+60.0 MiB shared); 6 fit with 20% kept free: set '
                                 'workers to 6; preloading the app would share about 880.0 MiB; recycle workers '
                                 '(max_requests 1000, max_requests_jitter 100) so a leak cannot grow without bound')
    assert recs[0]['bytes'] == 3 * 140 * MIB
    # recycling already set, preloaded: neither is said
    done = _server(9, 40 * MIB, 160 * MIB, 200 * MIB, preload_app=True, max_requests=1000)
    facts['app_servers'] = budgets([done], 2048 * MIB, 100 * MIB, policy)
    detail = [r for r in audit(facts, policy)['recommendations'] if r['step'] == 'code'][0]['detail']
    assert 'preloading' not in detail and 'recycle' not in detail


def test_a_heap_above_what_the_process_may_have_or_none_in_a_container_is_said():
    policy = merge_policy()
    jvm = {'kind': 'jvm', 'master_pid': 30, 'workers': 1, 'settings': {'max_heap': 2 << 30}, 'master': {},
           'measured': [{'pid': 30, 'private': 900 * MIB, 'shared': 10 * MIB, 'pss': None}]}
    facts = {'memory': {'total': 8192 * MIB, 'available': 4096 * MIB}, 'cgroup': {'limit': 1024 * MIB, 'current': 950 * MIB},
             'app_servers': budgets([jvm], 1024 * MIB, 74 * MIB, policy)}
    recs = [r['detail'] for r in audit(facts, policy)['recommendations'] if r['title'] == 'Cap the JVM heap']
    assert recs == ['pid 30 may grow its heap to 2.0 GiB of the 1.0 GiB it has: lower it to -Xmx768m, three quarters']
    node = dict(jvm, kind='node', settings={'max_old_space': None})
    facts['app_servers'] = budgets([node], 1024 * MIB, 74 * MIB, policy)
    recs = [r['detail'] for r in audit(facts, policy)['recommendations'] if r['title'] == 'Cap the Node heap']
    assert recs == ['pid 30 has no heap limit of its own in a cgroup of 1.0 GiB: set --max-old-space-size=768']
    # on a host without a cgroup limit, an unset heap is the runtime's own default: nothing said
    facts.pop('cgroup')
    facts['app_servers'] = budgets([node], 8192 * MIB, 4096 * MIB, policy)
    assert not [r for r in audit(facts, policy)['recommendations'] if r['title'] == 'Cap the Node heap']


# ------------------------------------------------------------ the budget at a worker's peak

GIB_ = 1 << 30
KILLED_AT = 1796696040.0  # 2026-12-08 02:14:00 UTC


def _seed(workers=4, private=33 * MIB, shared=20 * MIB):
    """The seed's 1 GiB machine: gunicorn with 4 workers of 33 MiB private at rest."""
    return dict(_server(workers, private, shared, 25 * MIB, preload_app=False, max_requests=None), command='gunicorn')


def _killed(command, rss, pid=4242, tasks=None):
    return {'time': None, 'epoch': KILLED_AT, 'scope': 'global', 'cgroup': None,
            'victim': {'pid': pid, 'command': command, 'rss': rss, 'cgroup': '/system.slice/gunicorn.service'},
            'tasks': tasks, 'other': None, 'task_count': None, 'rss': None, 'swap': None, 'memory': None}


def _fit_step(budget, total=1024 * MIB, available=500 * MIB):
    facts = {'memory': {'total': total, 'available': available}, 'app_servers': [budget]}
    return [r for r in audit(facts, merge_policy())['recommendations'] if r['title'] == "Fit gunicorn's workers in memory"]


def test_a_worker_killed_at_123_mib_is_the_budget_not_its_33_mib_at_rest():
    """The issue's case: 33 MiB private at rest fits 12 workers; every heavy request takes 90 MiB more, and the
    kernel killed a worker of 143 MiB RSS (its 123 MiB and the 20 MiB the workers share). 3 fit at that size."""
    policy = merge_policy()
    budget = budgets([_seed()], 1024 * MIB, 500 * MIB, policy, postmortem=[_killed('gunicorn', 143 * MIB)])[0]
    room = 1024 * MIB * 0.8 - ((1024 - 500) * MIB - 4 * 33 * MIB)
    assert budget['workers_that_fit'] == int(room // (33 * MIB)) == 12
    assert budget['peak'] == {'bytes': 123 * MIB, 'measured': 143 * MIB, 'measure': 'rss', 'source': 'kill',
                              'at': KILLED_AT, 'pid': 4242, 'count': 1}
    assert budget['workers_that_fit_at_peak'] == int(room // (123 * MIB)) == 3
    step, = _fit_step(budget)
    assert step['detail'] == (
        '4 workers x 33.0 MiB private (+20.0 MiB shared); 12 fit at 33.0 MiB idle, 3 at 123.0 MiB, the size a gunicorn '
        'process (pid 4242) reached when the kernel killed it at 2026-12-08 02:14:00 UTC (its RSS 143.0 MiB less the '
        '20.0 MiB the workers share), with 20% kept free: set workers to 3; preloading the app would share about 24.0 MiB; '
        'recycle workers (max_requests 1000, max_requests_jitter 100) so a leak cannot grow without bound')
    assert step['bytes'] == 1 * 123 * MIB


def test_the_watch_window_s_biggest_worker_is_a_peak():
    watched = {'workers': [{'master_pid': 10, 'pid': 12, 'rss': 143 * MIB, 'at': KILLED_AT},
                           {'master_pid': 99, 'pid': 100, 'rss': 900 * MIB, 'at': KILLED_AT}]}  # another server's
    budget = budgets([_seed()], 1024 * MIB, 500 * MIB, merge_policy(), watch=watched)[0]
    assert (budget['peak']['source'], budget['peak']['bytes'], budget['workers_that_fit_at_peak']) == ('watch', 123 * MIB, 3)
    assert 'the size a gunicorn worker (pid 12) reached during the watch, at 2026-12-08 02:14:00 UTC' in _fit_step(budget)[0]['detail']


def test_the_kernel_s_task_dump_of_a_kill_is_a_peak_real_capture():
    """tests/fixtures/kernel/postmortem (REAL, 6.18): the kernel killed a python3 hog; its task dump lists
    3 gunicorn of 5183, 5174 and 5193 pages. Their average RSS is a size a gunicorn process reached."""
    from ansible_collections.headroom.memory.plugins.module_utils.read import oom
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import postmortems
    with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'kernel', 'postmortem', 'dmesg.txt')) as handle:
        events = oom.parse_oom_log(handle.read())
    entries = postmortems(events)
    server = _seed(workers=3, private=8 * MIB, shared=4 * MIB)
    budget = budgets([server], 256 * MIB, 100 * MIB, merge_policy(), postmortem=entries)[0]
    average = (5183 + 5174 + 5193) * 4096 // 3
    assert budget['peak']['source'] == 'dump' and budget['peak']['count'] == 3
    assert budget['peak']['measured'] == average and budget['peak']['bytes'] == average - 4 * MIB
    assert budget['peak']['pid'] is None


def test_the_history_s_biggest_process_of_the_command_is_a_peak():
    history = {'gunicorn': {'memory': 118 * MIB, 'measure': 'pss', 'pid': 777, 'at': KILLED_AT - 86400},
               'redis-server': {'memory': 600 * MIB, 'measure': 'pss', 'pid': 5, 'at': KILLED_AT}}
    budget = budgets([_seed()], 1024 * MIB, 500 * MIB, merge_policy(), history=history)[0]
    assert budget['peak'] == {'bytes': 118 * MIB, 'measured': 118 * MIB, 'measure': 'pss', 'source': 'history',
                              'at': KILLED_AT - 86400, 'pid': 777, 'count': 1}
    assert 'the size a gunicorn process (pid 777) had at the run of 2026-12-07 02:14:00 UTC (its PSS)' in _fit_step(budget)[0]['detail']


def test_the_biggest_of_the_peaks_counts_and_one_no_bigger_than_at_rest_is_none():
    watched = {'workers': [{'master_pid': 10, 'pid': 12, 'rss': 100 * MIB, 'at': KILLED_AT + 60}]}
    killed = [_killed('gunicorn', 143 * MIB), _killed('redis-server', 700 * MIB, pid=5)]  # Redis is no gunicorn worker
    budget = budgets([_seed()], 1024 * MIB, 500 * MIB, merge_policy(), watch=watched, postmortem=killed)[0]
    assert (budget['peak']['source'], budget['peak']['bytes']) == ('kill', 123 * MIB)
    calm = budgets([_seed()], 1024 * MIB, 500 * MIB, merge_policy(), watch={'workers': [
        {'master_pid': 10, 'pid': 12, 'rss': 50 * MIB, 'at': KILLED_AT}]})[0]  # 50 less 20 shared: under 33 at rest
    assert calm['peak'] is None and calm['workers_that_fit_at_peak'] is None and calm['workers_that_fit'] == 12
    assert not _fit_step(calm)  # 12 fit, 4 run: nothing to say


def test_without_smaps_there_is_no_budget_and_no_peak():
    server = _seed(private=None, shared=None)
    budget = budgets([server], 1024 * MIB, 500 * MIB, merge_policy(), postmortem=[_killed('gunicorn', 143 * MIB)])[0]
    assert (budget['workers_that_fit'], budget['peak'], budget['workers_that_fit_at_peak']) == (None, None, None)
