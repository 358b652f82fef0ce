"""diagnose.yml from this checkout, run over SSH against the VM as a user runs it against a server
(``ansible-playbook -i <inventory> diagnose.yml -e headroom_hosts=vm``): one host, the VM's own figures."""
import os
import shlex

import pytest

from conftest import REPORTS
from ansible_collections.headroom.memory.plugins.module_utils.read import oom


@pytest.fixture(scope='module')
def healthy(diagnose, vm):
    """The VM's record from a diagnosis of the healthy machine, and what the VM itself says just after."""
    record, report = diagnose('healthy')
    meminfo = dict(line.split(':', 1) for line in vm.ssh('cat /proc/meminfo').stdout.splitlines())
    # what headroom's first OOM query answers on a journal without a kill (kept for the unit tests)
    where = os.path.join(REPORTS, 'captures', 'healthy-%s' % vm.versions['kernel'])
    os.makedirs(where, exist_ok=True)
    # and the probe that tells its exit 1 (nothing matched) from a journalctl that cannot --grep
    for name, query in (('oom-query.txt', oom.oom_log_commands()[0]['argv']), ('oom-probe.txt', oom.grep_probe_command())):
        done = vm.ssh(shlex.join(query), check=False)
        with open(os.path.join(where, name), 'w') as handle:
            text = '$ %s\nexit status %d\n' % (shlex.join(query), done.returncode)
            handle.write(text + '--- stdout\n%s--- stderr\n%s' % (done.stdout, done.stderr))
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


def test_the_cgroup_section_is_the_machine_not_the_ssh_session(healthy):
    """The reading runs in the SSH session's scope; a whole machine's figures are its root's: no limit, no use
    or events (the v2 root has none), not the session's."""
    record, _report, _meminfo = healthy
    cgroup = record['cgroup']
    assert cgroup['path'].startswith('/user.slice/user-0.slice/session-'), cgroup
    assert (cgroup['scope'], cgroup['workload'], cgroup['limit'], cgroup['current'], cgroup['events']) == \
        ('/', '/', None, None, None), cgroup
    assert cgroup['dir'] == '/sys/fs/cgroup' and cgroup['reclaimable'] > 0
    assert record['effective_total'] == record['memory']['total'] and not [
        r for r in record['reasons'] if 'of the cgroup limit' in r['message']]


def test_no_kill_on_a_healthy_machine(healthy):
    record, _report, _meminfo = healthy
    oom = record['oom']
    assert oom['kills'] == 0, oom
    assert oom['events'] == [] and record['postmortem'] == []


def test_a_journal_without_kills_is_a_complete_history(healthy):
    """Issue 21, defect 1: journalctl --grep exits 1 with nothing said when no line matches; the probe for a kernel
    line tells that answer from a journalctl that cannot --grep, and the history is complete."""
    record, _report, _meminfo = healthy
    oom = record['oom']
    assert oom['complete'] and oom['incomplete'] == [], oom
    assert not [line for line in record['lines'] if 'incomplete' in line], record['lines']
