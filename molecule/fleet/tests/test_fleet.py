"""diagnose.yml's fleet report, checked against each container as it is.

converge runs playbooks/diagnose.yml, which writes the JSON report to the scenario's
ephemeral directory (headroom_report_path in molecule.yml). Each test runs once per
host (testinfra's `host`) and checks that host's record, or the fleet summary.
"""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from checks import cgroup_file, cgroup_oom_kills, record_of  # noqa: E402

REPORT = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'headroom.json')
ORDER = ('ok', 'warning', 'critical', 'failed')
# signals that say a host is short of memory now (audit.py's _SHORT_SIGNALS)
SHORT_SIGNALS = {'available', 'swap_used', 'swap_rate', 'direct_reclaim', 'pressure', 'commit'}


@pytest.fixture(name='report', scope='module')
def fixture_report():
    with open(REPORT) as handle:
        return json.load(handle)


@pytest.fixture(name='groups')
def fixture_groups(host):
    return host.ansible.get_variables()['group_names']


@pytest.fixture(name='record')
def fixture_record(host, report):
    return record_of(host, report)


def signals(record):
    return {reason['signal'] for reason in record['reasons']}


def test_the_fleet_is_every_host_of_the_inventory(host, report):
    inventory = set(host.ansible.get_variables()['groups']['all'])
    assert {r['host'] for r in report['hosts']} == inventory
    assert report['fleet']['hosts'] == len(inventory) == 3


def test_counts_and_order_agree_with_the_records(report):
    fleet = report['fleet']
    verdicts = dict((r['host'], r['verdict']) for r in report['hosts'])
    assert fleet['counts'] == dict((v, list(verdicts.values()).count(v)) for v in ORDER)
    ranks = [ORDER.index(verdicts[name]) for name in fleet['order']]
    assert ranks == sorted(ranks, reverse=True), 'hosts are not worst first: %s' % fleet['order']
    assert fleet['worst'] == verdicts[fleet['order'][0]]


def test_the_short_host_is_first(host, report):
    short = host.ansible.get_variables()['groups']['short']
    assert report['fleet']['order'][0] in short


def test_the_short_host_is_judged_against_its_cgroup_limit(host, groups, record):
    if 'short' not in groups:
        pytest.skip('healthy host')
    limit = int(cgroup_file(host, 'memory.limit_in_bytes', 'memory.max'))
    assert limit == 200 << 20
    assert record['verdict'] in ('warning', 'critical')
    assert record['effective_total'] == limit and record['cgroup']['limit'] == limit
    available = [r for r in record['reasons'] if r['signal'] == 'available']
    assert len(available) == 1 and 'of the cgroup limit' in available[0]['message']
    assert record['usable_pct'] <= 20.0


def test_the_short_hosts_oom_kill_is_in_its_record(host, groups, record):
    if 'short' not in groups:
        pytest.skip('healthy host')
    kills = cgroup_oom_kills(host)
    assert kills >= 1
    assert record['cgroup']['events']['oom_kill'] == kills
    assert 'oom_kills' in signals(record)


def test_the_ballast_is_the_biggest_group(host, groups, record):
    if 'short' not in groups:
        pytest.skip('healthy host')
    pid = int(host.check_output('systemctl show -p MainPID --value ballast'))
    status = host.file('/proc/%d/status' % pid).content_string
    rss = [int(line.split()[1]) for line in status.splitlines() if line.startswith('VmRSS:')][0] * 1024
    first = record['groups'][0]
    assert pid in first['pids']
    # the group is `python3`: the ballast script's name is only in the command line
    assert abs(first['memory'] - rss) <= 0.10 * rss, (first['memory'], rss)


def test_a_healthy_host_is_not_short_of_memory(host, groups, record):
    if 'short' in groups:
        pytest.skip('short host')
    assert not signals(record) & SHORT_SIGNALS, record['reasons']
    assert record['cgroup']['limit'] is None and record['effective_total'] == record['memory']['total']
    assert cgroup_oom_kills(host) == record['cgroup']['events']['oom_kill'] == 0


def test_a_healthy_host_is_ok(host, groups, record):
    if 'short' in groups:
        pytest.skip('short host')
    assert record['verdict'] == 'ok', record['reasons']


def test_a_containers_oom_kills_are_its_own(host, record):
    assert record['oom']['kills'] == cgroup_oom_kills(host)
