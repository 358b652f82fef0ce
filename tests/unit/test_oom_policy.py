"""unit_policy's decisions (module_utils/fix/oom_policy.py): which units get OOMPolicy=continue, whether a
Restart= is added, the drop-in's text, the read-back; and the oom_policy module on a fake host.

The ``systemctl show`` text of tests/fixtures/vm/bookworm-*/units/ was captured in the test VM (systemd 252);
the forms below that are not from there are taken from systemd's source (v252.31 src/systemctl/systemctl-show.c,
print_property: ``{ path=... ; argv[]=... ; ignore_errors=... ; ... }``, and ``flags=`` for ExecStartEx=)."""
import glob
import os

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.fix import lock, oom_policy as plan
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAPTURED = sorted(glob.glob(os.path.join(ROOT, 'tests', 'fixtures', 'vm', 'bookworm-*', 'units')))

GUNICORN_EXEC = ('{ path=/usr/bin/gunicorn ; argv[]=/usr/bin/gunicorn --workers 4 --bind 0.0.0.0:8000 app.wsgi ; '
                 'ignore_errors=no ; start_time=[Mon 2026-12-07 10:00:00 UTC] ; stop_time=[n/a] ; pid=412 ; code=(null) ; '
                 'status=0/0 }')
REDIS_EXEC = ('{ path=/usr/bin/redis-server ; argv[]=/usr/bin/redis-server /etc/redis/redis.conf --supervised systemd '
              '--daemonize no ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }')


def show(exec_value=GUNICORN_EXEC, policy='stop', restart='no', load='loaded', extra=''):
    return plan.parse_show('LoadState=%s\nId=gunicorn.service\nExecStart=%s\nOOMPolicy=%s\nRestart=%s\n%s' % (
        load, exec_value, policy, restart, extra))


def test_a_gunicorn_unit_without_a_restart_policy_gets_continue_and_on_failure():
    files = [('/etc/systemd/system/gunicorn.service', '[Service]\nExecStart=/usr/bin/gunicorn app.wsgi\n')]
    decided = plan.plan_unit('gunicorn.service', show(), files, None, 'on-failure', plan.RESPAWNING, True)
    assert decided['kind'] == 'gunicorn' and decided['why'] is None
    assert decided['text'] == plan.MARK + '\n[Service]\nOOMPolicy=continue\nRestart=on-failure\n'
    assert decided['restart_own'] == 'no' and decided['oom_policy'] == 'stop'


def test_a_restart_policy_of_the_units_own_is_kept():
    files = [('/lib/systemd/system/gunicorn.service', '[Unit]\nRestart=always\n[Service]\nRestart=always\n'),
             ('/etc/systemd/system/gunicorn.service.d/local.conf', '[Service]\n# Restart=no\nRestart = on-abnormal \n')]
    decided = plan.plan_unit('gunicorn.service', show(restart='on-abnormal'), files, None, 'on-failure', plan.RESPAWNING, True)
    assert decided['restart_own'] == 'on-abnormal'
    assert 'Restart=' not in decided['text'] and 'OOMPolicy=continue' in decided['text']


@pytest.mark.parametrize('files, expected', [
    ([], 'no'),
    ([('a', '[Service]\nRestart=always\n'), ('b', '[Service]\nRestart=\n')], 'no'),  # an empty one resets it
    ([('a', '[Service]\nRestart=always\n'), ('b', '[Unit]\nRestart=no\n')], 'always'),  # another section
    ([('a', '[Service]\nExecStart=/bin/x \\\n  Restart=always\n')], 'no'),  # a continued ExecStart=, not a key
    ([('a', '[Service]\nExecStart=/bin/x \\\n# a comment\n  --y\nRestart=on-failure\n')], 'on-failure'),
    ([('a', '[Service]\n; Restart=always\n#Restart=always\nRestart=on-watchdog\n')], 'on-watchdog'),
])
def test_the_units_own_restart_is_read_as_systemd_reads_its_files(files, expected):
    assert plan.own_restart(files) == expected


def test_a_unit_already_continue_with_a_restart_of_its_own_is_left_alone():
    decided = plan.plan_unit('gunicorn.service', show(policy='continue', restart='always'),
                             [('/etc/systemd/system/gunicorn.service', '[Service]\nRestart=always\nOOMPolicy=continue\n')],
                             None, 'on-failure', plan.RESPAWNING, True)
    assert decided['text'] is None and 'already' in decided['why']


def test_headroom_s_own_drop_in_is_kept_on_a_second_run():
    current = plan.dropin('continue', 'on-failure')
    decided = plan.plan_unit('gunicorn.service', show(policy='continue', restart='on-failure'), [], current,
                             'on-failure', plan.RESPAWNING, True)
    assert decided['text'] == current


def test_a_unit_that_is_no_respawning_app_server_is_refused_by_name():
    with pytest.raises(plan.PolicyRefused, match=r'redis-server\.service runs /usr/bin/redis-server /etc/redis/redis\.conf '
                                                 r'--supervised, not an app server'):
        plan.plan_unit('redis-server.service', show(REDIS_EXEC), [], None, 'on-failure', plan.RESPAWNING, True)
    decided = plan.plan_unit('redis-server.service', show(REDIS_EXEC), [], None, 'on-failure', plan.RESPAWNING, False)
    assert decided['text'] and decided['kind'] is None


def test_the_kind_comes_from_the_main_process_when_exec_start_does_not_tell():
    wrapper = '{ path=/srv/app/run.sh ; argv[]=/srv/app/run.sh ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }'
    decided = plan.plan_unit('app.service', show(wrapper), [], None, 'on-failure', plan.RESPAWNING, True,
                             main=('gunicorn', ['/usr/bin/python3', '/usr/bin/gunicorn', 'app:app']))
    assert decided['kind'] == 'gunicorn'
    with pytest.raises(plan.PolicyRefused, match='runs /srv/app/run.sh'):
        plan.plan_unit('app.service', show(wrapper), [], None, 'on-failure', plan.RESPAWNING, True)


def test_exec_start_ex_and_several_commands():
    ex = ('{ path=/usr/sbin/php-fpm8.2 ; argv[]=/usr/sbin/php-fpm8.2 --nodaemonize --fpm-config /etc/php/8.2/fpm/php-fpm.conf ; '
          'flags= ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }')
    parsed = plan.parse_show('ExecStart=%s\nExecStart=%s\n' % (ex, GUNICORN_EXEC))
    commands = plan.exec_commands(parsed['ExecStart'])
    assert [path for path, _argv in commands] == ['/usr/sbin/php-fpm8.2', '/usr/bin/gunicorn']
    assert plan.server_kind(commands) == 'php-fpm'


def test_a_unit_not_on_the_host_is_skipped_not_refused():
    decided = plan.plan_unit('gone.service', show(load='not-found'), [], None, 'on-failure', plan.RESPAWNING, True)
    assert decided['text'] is None and decided['why'] == 'gone.service: not on this host (not-found)'


@pytest.mark.parametrize('value, expected', [('gunicorn', 'gunicorn.service'), ('gunicorn.service', 'gunicorn.service'),
                                             ('app@blue.service', 'app@blue.service'), ('celery-worker', 'celery-worker.service')])
def test_service_names(value, expected):
    assert plan.service_name(value, 'units') == expected


@pytest.mark.parametrize('value', ['web.slice', 'session-1.scope', 'gunicorn.socket', 'a b', '$(reboot)', '', 7, 'x/y'])
def test_a_name_that_is_no_service_is_refused(value):
    with pytest.raises(ParseError):
        plan.service_name(value, 'units')


@pytest.mark.parametrize('version, message', [(None, 'not PID 1'), (241, 'needs systemd 243 or later; this host has 241')])
def test_systemd_without_oom_policy_is_refused(version, message):
    with pytest.raises(plan.PolicyRefused, match=message):
        plan.check_systemd(version, True)
    assert plan.check_systemd(243, True) is None


def test_cgroup_v1_is_said_not_refused():
    assert plan.notes(True) == []
    assert 'cgroup v1' in plan.notes(False)[0]


def test_the_read_back_names_the_drop_in_that_overrides():
    after = plan.parse_show('OOMPolicy=stop\nRestart=on-failure\nDropInPaths=/etc/systemd/system/gunicorn.service.d/'
                            '50-headroom-oom-policy.conf /etc/systemd/system/gunicorn.service.d/90-local.conf\n')
    problem = plan.check_read_back('gunicorn.service', after, True)
    assert 'OOMPolicy=stop' in problem and '90-local.conf' in problem
    assert plan.check_read_back('gunicorn.service', plan.parse_show('OOMPolicy=continue\nRestart=on-failure\n'), True) is None
    assert 'Restart=no' in plan.check_read_back('gunicorn.service', plan.parse_show('OOMPolicy=continue\nRestart=no\n'), True)


def test_only_headroom_s_files_are_its_own():
    assert plan.ours(plan.dropin('continue', None))
    assert not plan.ours('[Service]\nOOMPolicy=continue\n') and not plan.ours(None)
    with pytest.raises(ParseError):
        plan.dropin('continue', 'sometimes')


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(['Service', 'Unit', 'Install']),
                          st.lists(st.one_of(st.sampled_from(['no', 'always', 'on-failure', '']),
                                             st.text(alphabet='abc-', max_size=6)), max_size=3)), max_size=4))
def test_own_restart_is_the_last_service_assignment_of_any_file(sections):
    """Files made of sections with Restart= lines in any order: the value is the last [Service] one (an empty
    one the default), whatever else the files hold."""
    files = []
    expected = 'no'
    for index, (section, values) in enumerate(sections):
        text = '# file %d\n[%s]\nDescription=x\n' % (index, section) + ''.join('Restart=%s\n' % value for value in values)
        files.append(('f%d' % index, text))
        if section == 'Service':
            for value in values:
                expected = value or 'no'
    assert plan.own_restart(files) == expected


@pytest.mark.skipif(not CAPTURED, reason='no capture from the VM')
def test_the_captured_units_from_the_vm():
    """systemctl show and the unit files of the VM's gunicorn.service (the app the tests install: no Restart=)
    and Debian's redis-server.service (Restart=always), as systemd 252 printed them."""
    where = CAPTURED[-1]

    def read(name):
        with open(os.path.join(where, name)) as handle:
            return handle.read()
    gunicorn = plan.parse_show(read('gunicorn.service.show.txt'))
    assert plan.server_kind(plan.exec_commands(gunicorn['ExecStart'])) == 'gunicorn'
    files = [(gunicorn['FragmentPath'][-1], read('gunicorn.service.unit.txt'))]
    decided = plan.plan_unit('gunicorn.service', gunicorn, files, None, 'on-failure', plan.RESPAWNING, True)
    assert decided['oom_policy'] == 'stop' and decided['restart_own'] == 'no'
    assert 'Restart=on-failure' in decided['text']
    redis = plan.parse_show(read('redis-server.service.show.txt'))
    assert plan.own_restart([(redis['FragmentPath'][-1], read('redis-server.service.unit.txt'))]) == 'always'
    with pytest.raises(plan.PolicyRefused):
        plan.plan_unit('redis-server.service', redis, [], None, 'on-failure', plan.RESPAWNING, True)


# --- the module on a stand-in host: its drop-ins in a temporary directory, systemctl answered by a runner that
# shows what the files there say (a later drop-in of someone else's wins, as systemd's load order has it)

class Systemd(object):
    """systemctl as the module calls it: ``show`` answers from the drop-ins in ``root`` (files in name order,
    the last OOMPolicy=/Restart= wins), ``daemon-reload`` is counted."""

    def __init__(self, root, units):
        self.root = root
        self.units = units  # name -> (ExecStart value, the unit file's text)
        self.reloads = 0
        self.calls = []

    def run_command(self, module, args, environ_update=None, **kwargs):
        argv = list(args)
        self.calls.append(argv)
        if argv[1:] == ['--version']:
            return 0, 'systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT\n', ''
        if argv[1:] == ['daemon-reload']:
            self.reloads += 1
            return 0, '', ''
        if argv[1] == 'show':
            unit = argv[-1]
            if unit not in self.units:
                return 0, 'LoadState=not-found\nId=%s\nOOMPolicy=stop\nRestart=no\n' % unit, ''
            exec_value, text = self.units[unit]
            dropins = sorted(glob.glob(os.path.join(self.root, unit + '.d', '*.conf')))
            files = [('/etc/systemd/system/' + unit, text)] + [(path, open(path).read()) for path in dropins]
            policy = 'stop'
            for _path, body in files:
                for value in plan.assignments(body, 'Service', 'OOMPolicy'):
                    policy = value or 'stop'
            return 0, ('LoadState=loaded\nId=%s\nFragmentPath=/etc/systemd/system/%s\nDropInPaths=%s\nExecStart=%s\n'
                       'MainPID=0\nOOMPolicy=%s\nRestart=%s\n' % (unit, unit, ' '.join(dropins), exec_value, policy,
                                                                  plan.own_restart(files))), ''
        return 1, '', 'unknown'


def run_module(tmp_path, args, units, check_mode=False):
    from module_glue import run_glue
    systemd = Systemd(str(tmp_path), units)

    class Runner(object):
        def run_command(self, module, argv, **kwargs):
            return systemd.run_command(module, argv, **kwargs)

        def get_bin_path(self, module, name, required=False, opt_dirs=None):
            return '/usr/bin/' + name

    def setup(module):
        module.UNITS_DIR = str(tmp_path)
        module.Units.version = lambda self: 252
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    try:
        return run_glue('oom_policy', dict(args, _ansible_diff=True), Runner(), setup), systemd
    finally:  # the run's lock, held by this process as by the module's own until it exits
        while lock._HELD:
            lock._HELD.pop().close()
        path = lock.lock_path('oom_policy', 'the units\' OOM policy of this host')
        if path and os.path.exists(path):
            os.unlink(path)


GUNICORN = {'gunicorn.service': (GUNICORN_EXEC, '[Service]\nExecStart=/usr/bin/gunicorn app.wsgi\n'),
            'redis-server.service': (REDIS_EXEC, '[Service]\nRestart=always\n')}


def dropin_path(tmp_path, unit='gunicorn.service'):
    return tmp_path / (unit + '.d') / plan.DROPIN


def test_the_module_plans_in_check_mode_writes_reads_back_and_then_changes_nothing(tmp_path):
    planned, systemd = run_module(tmp_path, {'units': ['gunicorn']}, GUNICORN, check_mode=True)
    assert planned['changed'] and not dropin_path(tmp_path).exists() and systemd.reloads == 0
    assert planned['diff'][0]['after'] == plan.dropin('continue', 'on-failure')
    done, systemd = run_module(tmp_path, {'units': ['gunicorn']}, GUNICORN)
    assert done['changed'] and dropin_path(tmp_path).read_text() == plan.dropin('continue', 'on-failure')
    unit = done['units'][0]
    assert unit['before'] == {'OOMPolicy': 'stop', 'Restart': 'no'}
    assert unit['after'] == {'OOMPolicy': 'continue', 'Restart': 'on-failure'} and unit['restart_added']
    assert systemd.reloads == 1
    again, systemd = run_module(tmp_path, {'units': ['gunicorn']}, GUNICORN)
    assert not again['changed'] and again['files'] == [] and systemd.reloads == 0


def test_the_module_refuses_a_unit_that_is_no_app_server_before_writing_anything(tmp_path):
    result, systemd = run_module(tmp_path, {'units': ['gunicorn', 'redis-server']}, GUNICORN)
    assert result['failed'] and 'redis-server.service runs' in result['msg'] and 'nothing changed' in result['msg']
    assert not dropin_path(tmp_path).exists() and systemd.reloads == 0


def test_a_later_drop_in_that_overrides_rolls_the_run_back(tmp_path):
    override = tmp_path / 'gunicorn.service.d' / '90-local.conf'
    override.parent.mkdir()
    override.write_text('[Service]\nOOMPolicy=stop\n')
    result, systemd = run_module(tmp_path, {'units': ['gunicorn']}, GUNICORN)
    assert result['failed'] and 'OOMPolicy=stop' in result['msg'] and '90-local.conf' in result['msg']
    assert 'rolled back' in result['msg'] and not dropin_path(tmp_path).exists() and override.exists()
    assert systemd.reloads == 2  # once after the write, once after putting it back


def test_a_file_headroom_did_not_write_is_never_replaced_nor_removed(tmp_path):
    foreign = dropin_path(tmp_path)
    foreign.parent.mkdir()
    foreign.write_text('[Service]\nOOMPolicy=kill\n')
    result, _systemd = run_module(tmp_path, {'units': ['gunicorn']}, GUNICORN)
    assert result['failed'] and 'headroom did not write it' in result['msg']
    removed, _systemd = run_module(tmp_path, {'state': 'absent'}, GUNICORN)
    assert not removed['changed'] and foreign.read_text() == '[Service]\nOOMPolicy=kill\n'
    assert any('headroom did not write it' in line for line in removed['left_alone'])


def test_absent_removes_headroom_s_drop_ins_and_their_directory(tmp_path):
    run_module(tmp_path, {'units': ['gunicorn']}, GUNICORN)
    result, systemd = run_module(tmp_path, {'state': 'absent'}, GUNICORN)
    assert result['changed'] and result['files'] == [str(dropin_path(tmp_path))]
    assert not dropin_path(tmp_path).parent.exists() and systemd.reloads == 1
    assert result['units'][0]['after'] == {'OOMPolicy': 'stop', 'Restart': 'no'}


def test_a_unit_not_on_the_host_and_a_pid_in_no_service_are_named_not_fatal(tmp_path):
    result, _systemd = run_module(tmp_path, {'units': ['gone'], 'pids': [2 ** 22 + 1]}, GUNICORN)
    assert not result.get('failed') and not result['changed']
    assert 'gone.service: not on this host (not-found)' in result['left_alone']
    assert any(line.startswith('pid 4194305') for line in result['left_alone'])


def test_a_unit_the_diagnosis_proposes_that_is_no_app_server_is_left_alone_not_refused():
    decided = plan.plan_unit('redis-server.service', show(REDIS_EXEC), [], None, 'on-failure', plan.RESPAWNING, True,
                             named=False)
    assert decided['text'] is None and 'not an app server whose master respawns its workers' in decided['why']


def test_the_module_takes_the_diagnosis_s_stopped_units_and_skips_those_that_are_no_app_server(tmp_path):
    result, _systemd = run_module(tmp_path, {'candidates': ['gunicorn.service', 'redis-server.service']}, GUNICORN)
    assert not result.get('failed') and result['changed'], result
    assert [unit['unit'] for unit in result['units']] == ['gunicorn.service']
    assert any(line.startswith('redis-server.service: runs') for line in result['left_alone']), result['left_alone']


@pytest.mark.parametrize('candidate', ['session-3.scope', 'run-r1234.scope', 'user.slice', 'docker-1f2e.scope'])
def test_a_stopped_unit_from_the_diagnosis_that_is_no_service_is_left_alone_not_refused(tmp_path, candidate):
    """oom.unit_stops names any unit systemd stopped after an OOM kill (read/unit_stops.py: services and scopes, as
    valid_unit allows); OOMPolicy= is a service's setting, so such a candidate is left alone with the reason, and the
    rest of the run goes on (before: the whole role failed, 'candidates: ... is not a service')."""
    from ansible_collections.headroom.memory.plugins.module_utils.read import unit_stops
    assert unit_stops.valid_unit(candidate) or candidate.endswith('.slice')
    result, _systemd = run_module(tmp_path, {'candidates': [candidate, 'gunicorn.service']}, GUNICORN)
    assert not result.get('failed') and result['changed'], result
    assert [unit['unit'] for unit in result['units']] == ['gunicorn.service']
    assert any(line.startswith(candidate + ': ') and 'not a service' in line for line in result['left_alone']), result['left_alone']


def test_a_unit_the_user_names_that_is_no_service_is_still_refused(tmp_path):
    result, _systemd = run_module(tmp_path, {'units': ['session-3.scope']}, GUNICORN)
    assert result.get('failed') and 'is not a service' in result['msg'] and 'nothing changed' in result['msg'], result
