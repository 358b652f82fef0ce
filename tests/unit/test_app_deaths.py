"""Silent deaths of app-server workers, from real gunicorn 20.1, uWSGI 2.0.21, Celery 5.2.6 and php-fpm 8.2
(Debian 12's packages) whose workers the kernel OOM-killed in a 384 MiB container
(tests/fixtures/apps/capture-app-deaths.sh), linked to the kernel's kills of that container."""
import json
import os

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.read import app_deaths as apps
from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import services
from ansible_collections.headroom.memory.plugins.module_utils.read.oom import parse_oom_log, stamp_epoch

FIX = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'apps')


def _text(name):
    with open(os.path.join(FIX, name)) as handle:
        return handle.read()


def _kills():
    events = parse_oom_log(_text('dmesg_T_kills.txt'))
    for event in events:
        event['epoch'] = stamp_epoch(event['time'])
    return events


def _all_deaths():
    deaths = apps.parse_journal(_text('journal_units.json'))
    with open(os.path.join(FIX, 'uwsgi_app.log')) as handle:
        deaths += apps.parse_log(handle, '/var/log/uwsgi/app/app.log')
    with open(os.path.join(FIX, 'php8.2-fpm.log')) as handle:
        deaths += apps.parse_log(handle, '/var/log/php8.2-fpm.log')
    return deaths


def test_the_captured_servers_are_the_versions_named():
    versions = _text('versions.txt')
    for version in ('gunicorn (version 20.1.0)', '2.0.21-debian', '5.2.6', 'PHP 8.2', 'systemd 252'):
        assert version in versions


def test_each_servers_own_line_is_one_death_with_the_workers_pid():
    deaths = _all_deaths()
    assert [(d['server'], d['unit'] or d['source']) for d in deaths] == [
        ('gunicorn', 'gunicorn.service'), ('celery', 'celery.service'),
        ('uwsgi', '/var/log/uwsgi/app/app.log'), ('php-fpm', '/var/log/php8.2-fpm.log')]
    pids = dict((d['server'], d['pid']) for d in deaths)
    # the pids each server logged when it spawned the worker that died (its own pid namespace)
    assert 'Booting worker with pid: %d' % pids['gunicorn'] in _text('journal_units.json')
    assert 'spawned uWSGI worker 1 (pid: %d' % pids['uwsgi'] in _text('uwsgi_app.log')
    assert "'ForkPoolWorker-2'" in deaths[1]['message'] and deaths[1]['worker'] == 'ForkPoolWorker-2'
    assert deaths[3]['worker'] == 'www'
    assert all(d['dated'] for d in deaths if d['server'] != 'uwsgi')
    # uWSGI stamps only its request lines: its death takes the last request's time, and says so
    assert deaths[2]['dated'] is False and deaths[2]['epoch'] is not None


def test_each_death_is_linked_to_the_kernels_kill_of_its_worker():
    """In a container the app's pids are not the kernel's: the unit (journal) or the server's command
    (log files) and the time join them; each kill serves one death."""
    kills = _kills()
    assert sorted(k['comm'] for k in kills) == ['gunicorn', 'php-fpm8.2', 'python3', 'uwsgi']
    deaths = apps.link(_all_deaths(), kills)
    by_server = dict((d['server'], d['kernel_pid']) for d in deaths)
    comm = dict((k['pid'], k['comm']) for k in kills)
    assert comm[by_server['gunicorn']] == 'gunicorn' and comm[by_server['uwsgi']] == 'uwsgi'
    assert comm[by_server['php-fpm']] == 'php-fpm8.2' and comm[by_server['celery']] == 'python3'
    assert len(set(by_server.values())) == 4
    for death in deaths:
        kill = [k for k in kills if k['pid'] == death['kernel_pid']][0]
        assert abs(kill['epoch'] - death['epoch']) <= 2
    # the kills the kernel logged are the container's
    assert all(open(os.path.join(FIX, 'container_id')).read().strip() in k['task_memcg'] for k in kills)


def test_services_say_who_lost_how_many_workers_and_when():
    deaths = apps.link(_all_deaths(), _kills())
    rows = services(deaths)
    assert sorted((r['service'], r['lost'], r['oom_killed']) for r in rows) == [
        ('/var/log/php8.2-fpm.log', 1, 1), ('/var/log/uwsgi/app/app.log', 1, 1),
        ('celery.service', 1, 1), ('gunicorn.service', 1, 1)]
    gunicorn = [r for r in rows if r['service'] == 'gunicorn.service'][0]
    assert gunicorn['first'] == gunicorn['last'] == deaths[0]['epoch']
    # a window that starts after them: lost, but none recent
    assert all(r['recent'] == 0 for r in services(deaths, since=max(d['epoch'] for d in deaths) + 1))


@pytest.mark.parametrize('line, expected', [
    ('[2026-12-03 06:44:02 +0000] [6894] [ERROR] Worker (pid:6903) was sent SIGKILL! Perhaps out of memory?',
     ('gunicorn', 6903, None)),  # gunicorn 20.1+ (field notes), not Debian 12's
    ("[2026-12-03 06:44:04,400: ERROR/MainProcess] Task app.report[x] raised unexpected: WorkerLostError("
     "'Worker exited prematurely: signal 9 (SIGKILL) Job: 0.')", ('celery', None, None)),
    ('celery.service: Main process exited, code=killed, status=9/KILL', ('systemd', None, 'celery.service')),
    ('Worker with pid 6903 was terminated due to signal 15', None),  # a stop, not a kill
    ('DAMN ! worker 1 (pid: 6904) died :( trying respawn ...', None),  # died of its own accord
    ('child 6838 exited on signal 9 (SIGKILL) after 2.9 seconds from start', None),  # no pool: not php-fpm's
])
def test_the_other_forms_and_the_near_misses(line, expected):
    assert apps.match(line) == expected


def test_celery_says_one_death_twice_and_it_counts_once():
    pid_line = {'MESSAGE': "Process 'ForkPoolWorker-1' pid:7 exited with 'signal 9 (SIGKILL)'",
                '_SYSTEMD_UNIT': 'celery.service', '__REALTIME_TIMESTAMP': '1796280000000000'}
    lost = {'MESSAGE': "raised unexpected: WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL) Job: 0.')",
            '_SYSTEMD_UNIT': 'celery.service', '__REALTIME_TIMESTAMP': '1796280001000000'}
    import json
    text = '\n'.join(json.dumps(entry) for entry in (pid_line, lost))
    assert [d['pid'] for d in apps.parse_journal(text)] == [7]


def test_hostile_journal_lines_are_skipped():
    text = '\n'.join(['not json', '[]', '{"MESSAGE": [1, 2]}', '{"MESSAGE": "x", "__REALTIME_TIMESTAMP": "nan"}',
                      '{"MESSAGE": "Worker with pid 99999999999 was terminated due to signal 9"}',
                      '{"MESSAGE": "Worker with pid 12 was terminated due to signal 9", '
                      '"__REALTIME_TIMESTAMP": "zzz", "_SYSTEMD_UNIT": 5}'])
    deaths = apps.parse_journal(text)
    assert [(d['pid'], d['epoch'], d['unit']) for d in deaths] == [(12, None, None)]


def test_the_verdict_names_each_service_and_the_report_shows_it():
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import app_deaths, judged_start
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy
    from ansible_collections.headroom.memory.plugins.module_utils.report.render import render_html
    deaths = apps.link(_all_deaths(), _kills())
    last = max(d['epoch'] for d in deaths)
    facts = app_deaths({'app_deaths': deaths, 'app_death_sources': ['journal']},
                       judged_start(last + 60, merge_policy())[0])
    result = audit({'memory': {'total': 8 << 30, 'available': 6 << 30}, 'app_deaths': facts}, merge_policy())
    said = [r for r in result['reasons'] if r['signal'] == 'app_deaths']
    assert len(said) == 4 and all(r['level'] == 'warning' for r in said)
    gunicorn = [r['message'] for r in said if r['message'].startswith('gunicorn.service')][0]
    assert gunicorn.startswith('gunicorn.service lost 1 gunicorn worker(s) to SIGKILL in the last 24 h, the last at ')
    assert gunicorn.endswith("(1 of 1 seen in the kernel's OOM log)")
    assert result['verdict'] == 'warning'
    # a day later they are history: no reason
    later = app_deaths({'app_deaths': deaths}, judged_start(last + 25 * 3600, merge_policy())[0])
    assert not [r for r in audit({'memory': {'total': 8 << 30, 'available': 6 << 30}, 'app_deaths': later},
                                 merge_policy())['reasons'] if r['signal'] == 'app_deaths']
    page = render_html({'generated_at': 'now', 'fleet': {'order': ['h']}, 'hosts': [
        {'host': 'h', 'verdict': 'warning', 'summary': 's', 'reasons': [], 'recommendations': [], 'lines': [],
         'app_deaths': facts}]})
    assert page.count('data-service=') == 4 and 'data-service="celery.service"' in page


def test_deaths_before_the_hosts_last_run_are_not_judged_again():
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import app_deaths, judged_start
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import merge_policy
    deaths = apps.link(_all_deaths(), _kills())
    last = max(d['epoch'] for d in deaths)
    assert judged_start(last + 60, merge_policy(), last + 30) == (last + 30, True)
    facts = app_deaths({'app_deaths': deaths}, judged_start(last + 60, merge_policy(), last + 30)[0])
    assert [row['recent'] for row in facts['services']] == [0, 0, 0, 0]
    assert [row['lost'] for row in facts['services']] == [1, 1, 1, 1]
    assert judged_start(last + 60, merge_policy(), last - 3600) == (last - 3600, True)
    facts = app_deaths({'app_deaths': deaths}, judged_start(last + 60, merge_policy(), last - 3600)[0])
    assert sum(row["recent"] for row in facts["services"]) == 4  # the last run, an hour back, is the later bound


def test_celerys_worker_lost_line_ten_seconds_later_is_the_same_death():
    """Real journal of Debian 12's Celery (journal_celery_lost.json): the pid line, then WorkerLostError
    10.5 s later, once billiard's LOST_WORKER_TIMEOUT ran out. One death; and a run that fell between
    the two lines sees no new one."""
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import app_deaths
    deaths = apps.parse_journal(_text('journal_celery_lost.json'))
    assert [(d['server'], d['pid'], d['unit']) for d in deaths] == [('celery', 1740, 'celery.service')]
    between = deaths[0]['epoch'] + 5
    facts = app_deaths({'app_deaths': deaths, 'app_death_sources': ['journal']}, between)
    assert [(row['service'], row['recent']) for row in facts['services']] == [('celery.service', 0)]


def test_a_log_flooded_with_deaths_costs_a_bounded_reading():
    """An app's log is anyone's to fill: a million forged deaths cost the newest DEATHS_KEPT, and the
    collector says the older ones were left out."""
    from ansible_collections.headroom.memory.plugins.module_utils.read import app_deaths, collect
    lines = ('[2026-12-07 10:00:00 +0000] [1] [WARNING] Worker with pid %d was terminated due to signal 9\n' % n
             for n in range(1000000))
    deaths = app_deaths.parse_log(lines, '/var/log/gunicorn/error.log')
    assert len(deaths) == app_deaths.DEATHS_KEPT + 1 and deaths[-1]['pid'] == 999999
    collector = collect.Collector(run=None, which=lambda name: None)
    kept = collector.newest(deaths, '/var/log/gunicorn/error.log')
    assert len(kept) == app_deaths.DEATHS_KEPT and kept[0]['pid'] == 1000000 - app_deaths.DEATHS_KEPT
    assert collector.gaps == ["/var/log/gunicorn/error.log: more than 1000 workers' deaths: only the newest 1000 read"]


def test_the_journal_flooded_with_deaths_keeps_the_newest():
    from ansible_collections.headroom.memory.plugins.module_utils.read import app_deaths
    text = ''.join(json.dumps({'MESSAGE': 'Worker (pid:%d) was sent SIGKILL! Perhaps out of memory?' % n,
                               '__REALTIME_TIMESTAMP': str(1796637600000000 + n), '_SYSTEMD_UNIT': 'gunicorn.service'}) + '\n'
                   for n in range(5000))
    deaths = app_deaths.parse_journal(text)
    assert len(deaths) == app_deaths.DEATHS_KEPT + 1 and [d['pid'] for d in deaths[-2:]] == [4998, 4999]


# ------------------------------------------------------------ systemd's line about a unit (issue 21, defect 2)

VM = os.path.join(os.path.dirname(FIX), 'vm', 'bookworm-6.1.0-57-amd64', 'global-oom')


def _vm(name):
    with open(os.path.join(VM, name)) as handle:
        return handle.read()


def _vm_kill():
    events = [e for e in parse_oom_log(_vm('journalctl-k.short-iso.txt'), origin='journal-text') if e['pid']]
    for event in events:
        event['epoch'] = stamp_epoch(event['time'])
    return events


def test_systemds_line_about_a_killed_unit_is_filed_under_that_unit_and_linked_to_the_kill():
    """Real journal of the VM (systemd 252): "headroom-hog.service: Main process exited, code=killed, status=9/KILL"
    comes from systemd itself, so _SYSTEMD_UNIT is init.scope, the unit systemd runs in; UNIT= names the unit
    it is about. The death is that unit's, and the kernel's kill of its process (task_memcg
    /system.slice/headroom-hog.service) is the one it links to."""
    entries = [json.loads(line) for line in _vm('unit.journal.json').splitlines()]
    line = [e for e in entries if 'status=9/KILL' in e['MESSAGE']][0]
    assert (line['_SYSTEMD_UNIT'], line['UNIT'], line['_PID']) == ('init.scope', 'headroom-hog.service', '1')
    deaths = apps.parse_journal(_vm('unit.journal.json'))
    assert [(d['server'], d['unit'], d['worker']) for d in deaths] == [('systemd', 'headroom-hog.service', 'headroom-hog.service')]
    kills = _vm_kill()
    assert [k['task_memcg'] for k in kills] == ['/system.slice/headroom-hog.service']
    apps.link(deaths, kills)
    assert deaths[0]['kernel_pid'] == kills[0]['pid']
    assert [(r['service'], r['lost'], r['oom_killed']) for r in services(deaths)] == [('headroom-hog.service', 1, 1)]


def test_systemds_words_from_anyone_else_are_no_units_death():
    """UNIT= is a field any client may send, and the words anyone may print: only systemd's own entry (PID 1, or a
    user's manager in its init.scope) says a unit's main process was killed."""
    entries = [json.loads(line) for line in _vm('unit.journal.json').splitlines()]
    real = [e for e in entries if 'status=9/KILL' in e['MESSAGE']][0]
    forged = [dict(real, _PID='4242', _SYSTEMD_UNIT='myapp.service', _COMM='python3', UNIT='sshd.service',
                   MESSAGE='sshd.service: Main process exited, code=killed, status=9/KILL'),
              dict(real, _PID='4243', _SYSTEMD_UNIT='user@1000.service', _SYSTEMD_USER_UNIT='app.service',
                   _COMM='systemd', USER_UNIT='sshd.service', UNIT=None,
                   MESSAGE='sshd.service: Main process exited, code=killed, status=9/KILL')]
    user = dict(real, _PID='1302', _SYSTEMD_UNIT='user@1000.service', _SYSTEMD_USER_UNIT='init.scope', _COMM='systemd',
                USER_UNIT='hog.service', MESSAGE='hog.service: Main process exited, code=killed, status=9/KILL')
    del user['UNIT']
    deaths = apps.parse_journal('\n'.join(json.dumps(e) for e in forged + [user]))
    assert [(d['server'], d['unit']) for d in deaths] == [('systemd', 'hog.service')]
    # an app's own line in a user's service is that user unit's
    worker = dict(real, _PID='1400', _SYSTEMD_UNIT='user@1000.service', _SYSTEMD_USER_UNIT='gunicorn.service',
                  _COMM='gunicorn', MESSAGE='[2026-12-08 00:24:28 +0000] [1399] [WARNING] Worker with pid 1401 was '
                  'terminated due to signal 9')
    assert [d['unit'] for d in apps.parse_journal(json.dumps(worker))] == ['gunicorn.service']


def test_the_journal_query_asks_for_the_fields_that_say_whose_line_it_is():
    argv = apps.journal_command()
    fields = argv[argv.index('-o') + 2].split('=', 1)[1].split(',')
    assert set(['UNIT', 'USER_UNIT', '_PID', '_COMM', '_SYSTEMD_UNIT', '_SYSTEMD_USER_UNIT']) <= set(fields)


def test_the_verdict_says_a_units_main_process_was_killed_not_that_it_lost_a_worker():
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import app_deaths
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy
    deaths = apps.link(apps.parse_journal(_vm('unit.journal.json')), _vm_kill())
    facts = app_deaths({'app_deaths': deaths, 'app_death_sources': ['journal']}, deaths[0]['epoch'] - 60)
    said = [r['message'] for r in audit({'memory': {'total': 8 << 30, 'available': 6 << 30}, 'app_deaths': facts},
                                        merge_policy())['reasons'] if r['signal'] == 'app_deaths']
    assert len(said) == 1 and said[0].startswith('the main process of headroom-hog.service was killed by SIGKILL 1 time(s) ')
    assert said[0].endswith("(1 of 1 seen in the kernel's OOM log)") and 'init.scope' not in said[0]
