"""What a remediation did to each host and to the fleet (report/remediation.py): applied, refused,
failed or stopped, and why; the report's record, the fleet's counts, the page and the summary.

The step records are what remediate.yml (playbooks/tasks/fix.yml) records: one per fix and phase, the
role's exported result as the roles build it (swap_setup_result is the swapfile module's result, with
left_alone; cache_flush_report the redis_flush/redis_memory_limit/page_cache_drop results)."""
import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit
from ansible_collections.headroom.memory.plugins.module_utils.report.records import build_report
from ansible_collections.headroom.memory.plugins.module_utils.report.remediation import (
    FAILED, HOST_STATUSES, WHY_CHARS, fleet_remediation, host_remediation)
from ansible_collections.headroom.memory.plugins.module_utils.report.render import render_html, render_markdown

GIB = 1 << 30
MIB = 1 << 20
SWAP_PLAN = {'changed': True, 'file': '/swap/remediate.swap', 'size': 512 * MIB,
             'actions': ['create', 'swapon', 'fstab'],
             'sysctl': {'file': '/etc/sysctl.d/60-headroom-swap.conf', 'values': {}, 'live': {}, 'overrides': [],
                        'left_alone': ["vm.swappiness is the machine's, not this container's"]},
             'left_alone': ["vm.swappiness is the machine's, not this container's: set "
                            "swap_setup_machine_sysctl=true to change it for every container on the machine"]}
CACHE_PLAN = {'redis': {'keyspace': {'0': 22600}}, 'redis_limit': None, 'page_cache': None, 'left_alone': [],
              'redis_flush': {'changed': True, 'keys': 22000, 'bytes': 22576000, 'check_mode': True,
                              'targets': [{'db': 0, 'match': ':1:views.decorators.cache.*', 'keys': 22000}]}}

# unit_policy's result (the oom_policy module's) in check mode, then applied, as the VM stage saw them
DROPIN = '/etc/systemd/system/gunicorn.service.d/50-headroom-oom-policy.conf'
POLICY_PLAN = {'changed': True, 'files': [DROPIN], 'left_alone': [], 'host': {'systemd': 252, 'cgroup2': True},
               'units': [{'unit': 'gunicorn.service', 'kind': 'gunicorn', 'dropin': DROPIN, 'restart_added': True,
                          'before': {'OOMPolicy': 'stop', 'Restart': 'no'}, 'after': {'OOMPolicy': 'stop', 'Restart': 'no'}}]}
POLICY_DONE = dict(POLICY_PLAN, units=[dict(POLICY_PLAN['units'][0], after={'OOMPolicy': 'continue', 'Restart': 'on-failure'})])


def step(role, phase, status='ok', result=None, why=None):
    return {'role': role, 'phase': phase, 'status': status, 'why': why, 'result': result}


def recorded(steps, fixes=('cache_flush', 'swap_setup'), dry_run=False):
    return {'dry_run': dry_run, 'fixes': list(fixes), 'steps': steps}


def by_role(record):
    return dict((fix['role'], fix) for fix in record['steps'])


def test_a_dry_run_plans_each_fix_with_what_it_would_do_and_what_it_leaves_alone():
    record = host_remediation(recorded([step('cache_flush', 'plan', result=CACHE_PLAN),
                                        step('swap_setup', 'plan', result=SWAP_PLAN),
                                        step('cache_flush', 'apply', result=CACHE_PLAN),
                                        step('swap_setup', 'apply', result=SWAP_PLAN)], dry_run=True))
    assert record['status'] == 'planned' and record['dry_run'] is True and record['why'] is None
    fixes = by_role(record)
    assert [fix['role'] for fix in record['steps']] == ['cache_flush', 'swap_setup']  # cheapest first
    assert fixes['cache_flush']['status'] == 'would change'
    assert fixes['cache_flush']['done'] == ['Redis: 22000 key(s) (21.5 MiB by MEMORY USAGE) of db 0 :1:views.decorators.cache.*']
    assert fixes['swap_setup']['done'] == ['/swap/remediate.swap: create, swapon, fstab (512.0 MiB)']
    assert fixes['swap_setup']['left_alone'] == SWAP_PLAN['left_alone']


def test_a_refusal_in_the_plan_is_the_hosts_status_and_nothing_else_runs_on_it():
    why = "vm.swappiness: in a container these are the whole machine's ...; nothing was changed"
    record = host_remediation(recorded([step('cache_flush', 'plan', result=CACHE_PLAN),
                                        step('swap_setup', 'plan', 'refused', why=why)]))
    assert record['status'] == 'refused' and record['why'] == 'swap_setup refused: ' + why
    fixes = by_role(record)
    assert fixes['swap_setup']['status'] == 'refused' and fixes['swap_setup']['why'] == why
    assert fixes['cache_flush']['status'] == 'not run'
    assert 'swap_setup refused' in fixes['cache_flush']['why']
    # what it would have done is still said
    assert fixes['cache_flush']['done'][0].startswith('Redis: 22000 key(s)')


def test_a_failure_while_applying_keeps_what_was_applied_before_it():
    applied = dict(CACHE_PLAN, redis_flush=dict(CACHE_PLAN['redis_flush'], check_mode=False))
    why = 'cannot replace /etc/fstab: ...; rolled back'
    record = host_remediation(recorded([step('cache_flush', 'plan', result=CACHE_PLAN),
                                        step('swap_setup', 'plan', result=SWAP_PLAN),
                                        step('cache_flush', 'apply', result=applied),
                                        step('swap_setup', 'apply', 'failed', why=why)]))
    assert record['status'] == 'failed' and record['why'] == 'swap_setup failed: ' + why
    fixes = by_role(record)
    assert fixes['cache_flush']['status'] == 'applied' and fixes['cache_flush']['changed'] is True
    assert fixes['swap_setup']['status'] == 'failed'


def test_a_host_the_rollout_did_not_reach_is_stopped_with_the_hosts_that_stopped_it():
    why = 'the rollout stopped: more than headroom_max_fail_percentage (0%) of a batch was refused or failed (a)'
    record = host_remediation(recorded([step('cache_flush', 'plan', result=CACHE_PLAN),
                                        step('swap_setup', 'plan', result=SWAP_PLAN),
                                        step('cache_flush', 'apply', 'stopped', why=why),
                                        step('swap_setup', 'apply', 'stopped', why=why)]))
    assert record['status'] == 'stopped' and '(a)' in record['why']


def test_a_host_that_stopped_answering_is_failed_not_applied():
    lost = {'unreachable': True, 'msg': 'Failed to connect to the host via ssh', 'changed': False}
    record = host_remediation(recorded([step('swap_setup', 'plan', result=SWAP_PLAN),
                                        step('swap_setup', 'apply', result=lost)], fixes=['swap_setup']))
    assert record['status'] == 'failed'
    why = 'unreachable: Failed to connect to the host via ssh; what was applied is unknown'
    assert by_role(record)['swap_setup']['why'] == why
    nested = dict(CACHE_PLAN, redis_flush=lost)
    record = host_remediation(recorded([step('cache_flush', 'plan', result=nested)], fixes=['cache_flush']))
    assert record['status'] == 'refused'


def test_no_diagnosis_no_fix_and_nothing_to_fix():
    assert host_remediation(recorded([], fixes=[]), diagnosed=False, error='no route to host') == {
        'status': 'failed', 'why': 'no diagnosis before the fixes, so none ran (no route to host)', 'dry_run': False,
        'fixes': [], 'steps': []}
    assert host_remediation(recorded([], fixes=[]))['status'] == 'nothing to fix'
    assert host_remediation(None)['status'] == 'nothing to fix'
    same = dict(SWAP_PLAN, changed=False, actions=[])
    record = host_remediation(recorded([step('swap_setup', 'plan', result=same), step('swap_setup', 'apply', result=same)],
                                       fixes=['swap_setup']))
    assert record['status'] == 'unchanged' and by_role(record)['swap_setup']['done'] == ['/swap/remediate.swap: as wanted already']


def facts(available, total=8 * GIB):
    memory = {'total': total, 'available': available, 'swap_total': 0, 'swap_used': 0, 'shared': 0}
    return {'memory': memory, 'audit': audit({'memory': memory}), 'gaps': []}


def test_the_report_carries_each_hosts_remediation_and_the_fleets_outcome():
    refused = recorded([step('swap_setup', 'plan', 'refused', why='refusing to allocate 1.0 TiB')], fixes=['swap_setup'])
    applied = recorded([step('swap_setup', 'plan', result=SWAP_PLAN), step('swap_setup', 'apply', result=SWAP_PLAN)],
                       fixes=['swap_setup'])
    report = build_report(['a', 'b', 'c'], [facts(GIB // 2), facts(GIB), None], 'now',
                          before=[facts(GIB // 2), facts(GIB // 2), None], errors=[None, None, 'no route to host'],
                          remediation=[refused, applied, recorded([], fixes=[])])
    statuses = [record['remediation']['status'] for record in report['hosts']]
    assert statuses == ['refused', 'applied', 'failed']
    fleet = report['fleet']['remediation']
    assert fleet['counts']['refused'] == fleet['counts']['applied'] == fleet['counts']['failed'] == 1
    assert sorted(fleet['failed']) == ['a', 'c'] and 'refusing to allocate' in fleet['failed']['a']
    assert report['fleet']['lines'][-3:] == [
        'remediation: 1 failed, 1 refused, 1 applied',
        '  refused   a  swap_setup refused: refusing to allocate 1.0 TiB',
        '  failed    c  no diagnosis before the fixes, so none ran (no route to host)']
    with pytest.raises(ValueError, match='got 3 hosts but 1 remediation records'):
        build_report(['a', 'b', 'c'], [None] * 3, 'now', remediation=[None])
    page = render_html(report)
    assert 'data-field="remediation" data-status="refused"' in page and 'refusing to allocate 1.0 TiB' in page
    assert "left alone: vm.swappiness is the machine&#x27;s" in page
    summary = render_markdown(report)
    assert summary.splitlines()[1] == 'remediation: 1 failed, 1 refused, 1 applied'
    assert 'remediation refused: swap\\_setup refused: refusing to allocate 1.0 TiB' in summary


def test_a_long_message_is_kept_to_a_bound():
    why = 'Traceback ' + 'x' * 100000
    record = host_remediation(recorded([step('swap_setup', 'plan', 'refused', why=why)], fixes=['swap_setup']))
    assert len(by_role(record)['swap_setup']['why']) == WHY_CHARS and record['why'].endswith('…')


def test_host_text_in_a_refusal_cannot_inject_markup():
    why = '<script>alert(1)</script>'
    report = build_report(['a'], [facts(GIB)], 'now', before=[facts(GIB)],
                          remediation=[recorded([step('swap_setup', 'plan', 'refused', why=why)], fixes=['swap_setup'])])
    page = render_html(report)
    assert '<script>' not in page and '&lt;script&gt;alert(1)&lt;/script&gt;' in page


STATUS = st.sampled_from(['ok', 'refused', 'failed', 'stopped'])
RESULT = st.one_of(st.none(), st.just(SWAP_PLAN), st.just(CACHE_PLAN), st.just(POLICY_PLAN), st.just(POLICY_DONE),
                   st.just({'unreachable': True, 'msg': 'gone'}),
                   st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.integers(), st.text(max_size=8)),
                                   max_size=3))
STEP = st.builds(step, st.sampled_from(['cache_flush', 'swap_setup', 'oom_guard', 'unit_policy']), st.sampled_from(['plan', 'apply']),
                 STATUS, RESULT, st.one_of(st.none(), st.text(max_size=20)))
HOST = st.builds(recorded, st.lists(STEP, max_size=6),
                 st.lists(st.sampled_from(['cache_flush', 'swap_setup', 'oom_guard', 'unit_policy']), unique=True, max_size=4),
                 st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.lists(HOST, max_size=5), st.lists(st.booleans(), min_size=5, max_size=5))
def test_any_record_of_steps_gives_one_status_per_host_and_a_refused_host_never_applied(hosts, diagnosed):
    """Whatever remediate.yml recorded (steps in any order, results of any shape, unreachable ones), each
    host gets one of the statuses, a host with a refused plan is refused and has nothing applied, and the
    fleet's counts and failed hosts add up."""
    records = []
    for index, recorded_host in enumerate(hosts):
        record = host_remediation(recorded_host, diagnosed[index])
        assert record['status'] in HOST_STATUSES
        plan_refused = any(s['phase'] == 'plan' and s['status'] != 'ok' and s['role'] in recorded_host['fixes']
                           for s in recorded_host['steps'])
        if diagnosed[index] and plan_refused:
            assert record['status'] == 'refused'
            assert 'applied' not in [fix['status'] for fix in record['steps']]
        if record['status'] in FAILED + ('stopped',):
            assert record['why']
        records.append({'host': 'h%d' % index, 'remediation': record})
    fleet = fleet_remediation(records)
    assert sum(fleet['counts'].values()) == len(records)
    assert sorted(fleet['failed']) == sorted(r['host'] for r in records if r['remediation']['status'] in FAILED)


def test_unit_policy_says_each_unit_s_policy_before_and_after_and_comes_last():
    planned = host_remediation(recorded([step('unit_policy', 'plan', result=POLICY_PLAN),
                                         step('swap_setup', 'plan', result=SWAP_PLAN)],
                                        fixes=['unit_policy', 'swap_setup'], dry_run=True))
    assert [fix['role'] for fix in planned['steps']] == ['swap_setup', 'unit_policy']
    assert by_role(planned)['unit_policy']['status'] == 'would change'
    assert by_role(planned)['unit_policy']['done'] == [
        'gunicorn.service: OOMPolicy=stop, Restart=no; the drop-in %s changes them' % DROPIN, 'files: %s' % DROPIN]
    applied = host_remediation(recorded([step('unit_policy', 'plan', result=POLICY_PLAN),
                                         step('unit_policy', 'apply', result=POLICY_DONE)], fixes=['unit_policy']))
    assert applied['status'] == 'applied'
    assert by_role(applied)['unit_policy']['done'][0] == 'gunicorn.service: OOMPolicy=stop -> continue, Restart=no -> on-failure'
    again = dict(POLICY_DONE, changed=False, files=[], units=[dict(POLICY_DONE['units'][0],
                                                                   before=POLICY_DONE['units'][0]['after'])])
    unchanged = host_remediation(recorded([step('unit_policy', 'plan', result=again),
                                           step('unit_policy', 'apply', result=again)], fixes=['unit_policy']))
    assert unchanged['status'] == 'unchanged'
    assert by_role(unchanged)['unit_policy']['done'] == ['gunicorn.service: OOMPolicy=continue, Restart=on-failure already']
