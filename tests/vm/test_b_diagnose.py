"""diagnose.yml from this checkout, run over SSH against the VM as a user runs it against a server
(``ansible-playbook -i <inventory> diagnose.yml -e headroom_hosts=vm``): one host, the VM's own figures."""
import pytest


@pytest.fixture(scope='module')
def healthy(diagnose, vm):
    """The VM's record from a diagnosis of the healthy machine, and what the VM itself says just after."""
    record, report = diagnose('healthy')
    meminfo = dict(line.split(':', 1) for line in vm.ssh('cat /proc/meminfo').stdout.splitlines())
    return record, report, meminfo


def test_one_host_diagnosed_without_failure(healthy):
    record, report, _meminfo = healthy
    assert [r['host'] for r in report['hosts']] == ['vm']
    assert record['verdict'] in ('ok', 'warning', 'critical'), record['summary']
    assert record.get('error') is None
    assert report['fleet']['counts']['failed'] == 0, report['fleet']
    assert record['lines'], record


def test_the_vm_s_memory_not_this_machine_s(healthy):
    record, _report, meminfo = healthy
    total = int(meminfo['MemTotal'].split()[0]) * 1024
    assert record['memory']['total'] == total, record['memory']
    assert record['swap_total'] == 0
    with open('/proc/meminfo') as handle:
        host_total = int(handle.readline().split()[1]) * 1024
    assert record['memory']['total'] != host_total


def test_cgroup_v2_facts(healthy):
    record, _report, _meminfo = healthy
    cgroup = record['cgroup']
    assert cgroup['version'] == 2, cgroup
    assert record['pressure'], record['pressure']


def test_no_kill_on_a_healthy_machine(healthy):
    record, _report, _meminfo = healthy
    oom = record['oom']
    assert oom['kills'] == 0, oom
    assert oom['events'] == [] and record['postmortem'] == []
