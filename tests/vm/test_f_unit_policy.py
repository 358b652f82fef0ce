"""The unit_policy role on the whole machine (issue 21, part 2): the diagnosis of the first kill found
gunicorn.service stopped by its OOM policy and recommends the role; the operator starts the site again and runs
remediate.yml with unit_policy among headroom_fixes. The drop-in (OOMPolicy=continue, Restart=on-failure: the app's
unit has no Restart= of its own) is planned in check mode, written, and read back from systemd, with no restart of
the app. Then the same traffic: the kernel kills a worker again, and this time systemd logs it and the unit runs
on, the master forks a new worker, and the site keeps answering. The requests that failed after the kill, before and
after the role, are the stage's figures."""
import os
import shlex
import time

from scenario import step, ansible_playbook, cursor, health, kernel_kills, measured, run_traffic, show, wait_for, workers
from test_e_seed import TRAFFIC

DROPIN = '/etc/systemd/system/gunicorn.service.d/50-headroom-oom-policy.conf'
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'unit_policy.yml')


@step
def policy(vm, first_kill, remediate, history_dir):
    started = time.monotonic()
    # the operator brings the site back, as after any outage
    vm.ssh('systemctl start gunicorn.service')
    wait_for('the site to answer again', lambda: workers(vm, 4) and health(vm), timeout=300)
    ahead = workers(vm, 4)
    # the role alone in check and diff mode first: what it would write, and nothing written
    rc, check_output, check_recap = ansible_playbook(
        vm, history_dir, 'unit-policy-check', PLAYBOOK, [{'unit_policy_units': ['gunicorn']}], check=True, diff=True)
    check_left = vm.ssh('test -e %s' % DROPIN, check=False).returncode
    # headroom_history=false: remediate.yml's diagnosis judges every kill of the OOM window, as it did before main's
    # history; with the history it judges only the kills since the last run, and diagnose.yml just judged the first
    # kill and its stop (the unit is up again): it would then recommend nothing (see the stage's README)
    rc_remediate, record, report, recap, output = remediate('remediate-unit-policy', ['unit_policy'], 'headroom_history=false')
    after = show(vm, 'gunicorn.service', 'OOMPolicy', 'Restart', 'DropInPaths', 'MainPID', 'ActiveState')
    dropin = vm.ssh('cat %s' % DROPIN, check=False).stdout
    measured('unit_policy_apply', started)
    return {'ahead': ahead, 'check': (rc, check_output, check_recap), 'check_left': check_left,
            'remediate': (rc_remediate, record, report, recap, output), 'after': after, 'dropin': dropin}


@step
def second_kill(vm, policy, diagnose):
    start_cursor = cursor(vm)
    ahead = workers(vm, 4)
    traffic, figures = run_traffic(vm, 'with-unit-policy', **TRAFFIC)
    kills = kernel_kills(vm, start_cursor)
    state = show(vm, 'gunicorn.service', 'ActiveState', 'MainPID', 'NRestarts', 'Result')
    unit_log = vm.ssh('journalctl -b -o short-iso --no-pager -u gunicorn.service --after-cursor %s' % shlex.quote(start_cursor)).stdout

    def back_or_gone():
        # 4 workers again, or the unit no longer running: a stopped unit never gets its workers back, and waiting
        # for them would only run out the timeout (the last run waited 300 s so, for a policy that was not applied)
        found = workers(vm, 4)
        if found:
            return found
        now = show(vm, 'gunicorn.service', 'ActiveState', 'MainPID', 'Result')
        return {'gone': now} if now['ActiveState'] not in ('active', 'reloading', 'activating') else None
    respawned = wait_for('gunicorn to run 4 workers again, or its unit to stop', back_or_gone, timeout=120)
    assert 'gone' not in respawned, (respawned, state, unit_log[-3000:])
    record, _report = diagnose('after-kill-with-unit-policy')
    return {'ahead': ahead, 'figures': figures, 'kills': kills, 'state': state, 'respawned': respawned,
            'unit_log': unit_log, 'record': record}


def test_check_mode_shows_the_drop_in_and_writes_nothing(policy):
    rc, output, recap = policy['check']
    assert rc == 0, output[-3000:]
    assert recap.get('changed', 0) >= 1, recap
    assert '+OOMPolicy=continue' in output and '+Restart=on-failure' in output, output[-3000:]
    assert policy['check_left'] != 0  # no drop-in after the check


def test_remediate_applies_the_role_where_the_diagnosis_recommends_it(policy):
    rc, record, _report, _recap, output = policy['remediate']
    assert rc == 0, output[-4000:]
    steps = dict((fix['role'], fix) for fix in record['remediation']['steps'])
    assert steps['unit_policy']['status'] == 'applied', record['remediation']
    assert any(line.startswith('gunicorn.service: OOMPolicy=stop -> continue, Restart=no -> on-failure')
               for line in steps['unit_policy']['done']), steps['unit_policy']


def test_systemd_took_the_policy_without_restarting_the_app(policy):
    after = policy['after']
    assert after['OOMPolicy'] == 'continue' and after['Restart'] == 'on-failure', after
    assert DROPIN in after['DropInPaths'].split(), after
    assert policy['dropin'].startswith('# Managed by headroom (unit_policy)')
    assert int(after['MainPID']) == policy['ahead']['master'] and after['ActiveState'] == 'active'


def test_the_same_kill_and_the_site_keeps_answering(second_kill, first_kill):
    assert second_kill['kills'], 'the traffic made no kill this time'
    assert 'A process of this unit has been killed by the OOM killer' in second_kill['unit_log']
    assert "Failed with result 'oom-kill'" not in second_kill['unit_log'], second_kill['unit_log'][-3000:]
    assert second_kill['state']['ActiveState'] == 'active', second_kill['state']
    assert int(second_kill['state']['MainPID']) == second_kill['ahead']['master']  # the same master
    assert second_kill['respawned']['master'] == second_kill['ahead']['master']
    figures, before = second_kill['figures'], first_kill['figures']
    # before the role the light requests after the kill failed; with it, at most the few a dying worker held
    assert figures['window_failed'] <= 2, figures
    assert figures['window_answered'] >= 0.9 * (figures['window_answered'] + figures['window_failed']), figures
    assert before['window_failed'] > figures['window_failed'], (before, figures)
