"""Fleet records, summary and the merge of AWX job slices."""
import pytest

from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit
from ansible_collections.headroom.memory.plugins.module_utils.report.records import (
    NO_HOSTS, build_report, fail_reason, fleet_summary, host_record, merge_reports, newest_per_host, slice_artifact,
    slice_records)
from ansible_collections.headroom.memory.plugins.module_utils.report.render import render_html, render_markdown

GIB = 1 << 30


def facts(available, total=8 * GIB):
    memory = {'total': total, 'available': available, 'swap_total': 0, 'swap_used': 0, 'shared': 0}
    return {'memory': memory, 'audit': audit({'memory': memory}), 'gaps': []}


def test_unreached_host_is_recorded_as_failed():
    record = host_record('web3', None)
    assert record['verdict'] == 'failed'
    assert host_record('web4', {})['verdict'] == 'failed'


def test_summary_counts_and_orders_worst_first():
    report = build_report(['a', 'b', 'c', 'd'], [facts(6 * GIB), facts(GIB // 2), None, facts(int(1.5 * GIB))],
                          '2026-11-25T10:00:00Z')
    fleet = report['fleet']
    assert fleet['counts'] == {'ok': 1, 'warning': 1, 'critical': 1, 'failed': 1}
    assert fleet['order'] == ['c', 'b', 'd', 'a']
    assert fleet['worst'] == 'failed'
    assert fleet['lines'][0] == 'fleet: 4 host(s): 1 ok, 1 warning, 1 critical, 1 failed'
    assert fleet['usable'] == 6 * GIB + GIB // 2 + int(1.5 * GIB)
    assert [r['host'] for r in report['hosts']] == ['a', 'b', 'c', 'd']


def test_no_host_is_not_a_healthy_fleet():
    """A run that matched no host must not read as 'fleet ok' to a schedule: failed, said, and failing under fail_on."""
    fleet = fleet_summary([])
    assert fleet['worst'] == 'failed' and fleet['hosts'] == 0
    assert fleet['lines'] == ['fleet: 0 host(s): ' + NO_HOSTS]
    assert fail_reason(fleet, 'never') is None
    assert fail_reason(fleet, 'critical') == NO_HOSTS + ' (headroom_fail_on=critical)'
    report = build_report([], [], 'now')
    assert NO_HOSTS in render_markdown(report) and '**headroom: fleet failed**: 0 host(s)' in render_markdown(report)
    assert '<p class="empty">' in render_html(report)
    assert merge_reports([report, build_report([], [], 'later')])['fleet']['worst'] == 'failed'


def test_mismatched_lists_fail():
    with pytest.raises(ValueError, match='2 hosts but 1 sets'):
        build_report(['a', 'b'], [None], 'now')


def test_slices_merge_into_the_whole_fleet():
    hosts = ['h%02d' % i for i in range(7)]
    every = dict((h, facts((i + 1) * GIB)) for i, h in enumerate(hosts))
    whole = build_report(hosts, [every[h] for h in hosts], '2026-11-25T10:00:00Z')
    # AWX job slicing: slice k of N gets sorted(hosts)[k-1::N]
    slices = [build_report(hosts[k::3], [every[h] for h in hosts[k::3]], '2026-11-25T10:00:0%dZ' % k)
              for k in range(3)]
    merged = merge_reports(slices)
    for key in ('counts', 'worst', 'order', 'usable', 'total'):
        assert merged['fleet'][key] == whole['fleet'][key]
    assert merged['generated_at'] == '2026-11-25T10:00:02Z'


def test_slice_artifacts_add_up_under_awx_shallow_merge():
    """AWX hands the next workflow node its slices' artifacts merged with combined.update(artifacts), in the
    order they finished: a key all slices share holds the last slice's; keys of each slice's own add up."""
    hosts = ['h%02d' % i for i in range(7)]
    every = dict((h, facts((i % 4 + 0.3) * GIB)) for i, h in enumerate(hosts))
    whole = build_report(hosts, [every[h] for h in hosts], '2026-11-25T10:00:00Z')['fleet']
    combined = {}
    for k in range(3):
        report = build_report(hosts[k::3], [every[h] for h in hosts[k::3]], '2026-11-25T10:00:0%dZ' % k)
        combined.update({'headroom_fleet_counts': report['fleet']['counts'],
                         'headroom_slice_%d' % (100 + k): slice_artifact(report, '/reports/%d.json' % k)})
    assert combined['headroom_fleet_counts'] != whole['counts']  # the shared key: the last slice's alone
    merged = fleet_summary(slice_records([v for k, v in sorted(combined.items()) if k.startswith('headroom_slice_')]))
    for key in ('hosts', 'counts', 'worst', 'order', 'usable', 'total', 'lines'):
        assert merged[key] == whole[key], key


def test_a_host_in_two_slices_keeps_its_newest_and_bad_artifacts_are_named():
    old = slice_artifact(build_report(['a'], [facts(GIB // 4)], '2026-11-25T09:00:00Z'))
    new = slice_artifact(build_report(['a'], [facts(6 * GIB)], '2026-11-25T10:00:00Z'))
    assert [r['verdict'] for r in slice_records([new, old])] == ['ok']
    with pytest.raises(ValueError, match='slice 1 is not a headroom slice artifact'):
        slice_records([new, 'critical'])
    with pytest.raises(ValueError, match='slice 0: host a has no verdict'):
        slice_records([{'hosts': {'a': {'verdict': 'fine'}}}])


def test_merge_keeps_the_newest_record_of_a_host():
    old = build_report(['a'], [facts(GIB // 4)], '2026-11-25T09:00:00Z')
    new = build_report(['a'], [facts(6 * GIB)], '2026-11-25T10:00:00Z')
    assert merge_reports([new, old])['hosts'][0]['verdict'] == 'ok'
    assert merge_reports([old, new])['hosts'][0]['verdict'] == 'ok'
    same_time = build_report(['a'], [facts(GIB // 4)], '2026-11-25T10:00:00Z')
    assert merge_reports([new, same_time])['hosts'][0]['verdict'] == 'critical'  # a tie: the later one


def test_newest_per_host_is_the_one_rule_of_both_merges():
    dated = [('2', {'host': 'b', 'n': 1}), ('1', {'host': 'a', 'n': 2}), ('1', {'host': 'b', 'n': 3}),
             ('1', {'host': 'a', 'n': 4})]
    assert newest_per_host(dated) == [{'host': 'a', 'n': 4}, {'host': 'b', 'n': 1}]
    assert newest_per_host([]) == []


def test_before_and_after_remediation():
    report = build_report(['a', 'b'], [facts(int(1.5 * GIB)), facts(6 * GIB)], 'now',
                          before=[facts(GIB // 2), None])
    first, second = report['hosts']
    assert first['before']['verdict'] == 'critical' and first['verdict'] == 'warning'
    assert first['change']['verdict'] == ['critical', 'warning']
    assert first['change']['summary'] == 'critical -> warning, available +1.0 GiB'
    assert 'before' not in second
    with pytest.raises(ValueError, match='and 1 from before'):
        build_report(['a', 'b'], [None, None], 'now', before=[None])


def test_failed_host_keeps_its_error():
    report = build_report(['a', 'b'], [None, None], 'now', errors=['cannot read free output: ...', None])
    first, second = report['hosts']
    assert first['summary'] == 'failed: no diagnosis (cannot read free output: ...)'
    assert first['error'] == 'cannot read free output: ...'
    assert second['summary'] == 'failed: no diagnosis (host unreachable or the collection failed)'


@pytest.mark.parametrize('worst, fail_on, fails', [
    ('ok', 'never', False), ('critical', 'never', False), ('failed', 'never', False),
    ('ok', 'warning', False), ('warning', 'warning', True), ('critical', 'warning', True), ('failed', 'warning', True),
    ('warning', 'critical', False), ('critical', 'critical', True), ('failed', 'critical', True),
])
def test_fail_on_is_decided_by_the_verdicts_order(worst, fail_on, fails):
    """headroom_fail_on, decided in code: a host at least that bad fails the run, a failed host worst of all."""
    reason = fail_reason({'worst': worst, 'hosts': 1}, fail_on)
    assert (reason is not None) == fails
    if fails:
        assert reason == 'fleet verdict %s (headroom_fail_on=%s)' % (worst, fail_on)
