"""What the process_audit role found on each container, checked against the container itself.

The converge step leaves each host's ansible_facts.headroom in the scenario's ephemeral
directory (facts-converge-<host>.json, and facts-check-<host>.json from the check-mode run);
these tests read the live container through testinfra and compare.
"""
import json
import os

import pytest

EPHEMERAL = os.environ['MOLECULE_EPHEMERAL_DIRECTORY']


def load_facts(host, run):
    path = os.path.join(EPHEMERAL, 'facts-%s-%s.json' % (run, host.backend.get_hostname()))
    with open(path) as handle:
        return json.load(handle)


@pytest.fixture(name='facts')
def fixture_facts(host):
    return load_facts(host, 'converge')


@pytest.fixture(name='hog')
def fixture_hog(host):
    """The hog's name, size asked, pid and VmRSS in bytes, read in the container now."""
    variables = host.ansible.get_variables()
    name = variables['molecule_hog_name']
    pid = int(host.check_output('systemctl show -p MainPID --value %s', name))
    assert pid > 0, '%s.service is not running' % name
    status = host.file('/proc/%d/status' % pid).content_string
    rss_kib = [int(line.split()[1]) for line in status.splitlines() if line.startswith('VmRSS:')][0]
    return {'name': name, 'mib': variables['molecule_hog_mib'], 'pid': pid, 'rss': rss_kib * 1024}


def free_b(host):
    """`free -b` in the container: {'Mem': [total, used, ...], 'Swap': [...]}."""
    lines = host.check_output('LC_ALL=C free -b').splitlines()[1:]
    return dict((line.split()[0].rstrip(':'), [int(v) for v in line.split()[1:]]) for line in lines)


def hog_group(facts, hog):
    groups = [g for g in facts['groups'] if g['command'] == hog['name']]
    assert len(groups) == 1, 'no group for %s in %s' % (hog['name'], [g['command'] for g in facts['groups']])
    return groups[0]


def test_the_hog_is_named_as_denied_with_its_real_memory(facts, hog):
    group = hog_group(facts, hog)
    assert group['status'] == 'denied'
    assert group['count'] == 1 and group['pids'] == [hog['pid']]
    # root reads smaps_rollup, so the group is measured by PSS; a private buffer's PSS is its RSS
    assert group['measure'] == 'pss'
    assert abs(group['memory'] - hog['rss']) <= 0.10 * hog['rss'], (group['memory'], hog['rss'])
    assert group['memory'] >= hog['mib'] << 20


def test_the_hog_is_a_reason_and_the_first_recommendation(facts, hog):
    audit = facts['audit']
    denied = [r for r in audit['reasons'] if r['signal'] == 'denied_process']
    assert len(denied) == 1 and denied[0]['message'].startswith(hog['name'] + ' is running')
    assert audit['verdict'] in ('warning', 'critical'), 'a denied process makes at least a warning'
    first = audit['recommendations'][0]
    assert first['rank'] == 1 and first['step'] == 'processes'
    assert first['title'] == 'Stop %s' % hog['name']
    assert str(hog['pid']) in first['detail']
    assert first['bytes'] == hog_group(facts, hog)['memory']


def test_top_lists_the_hog_first_with_its_resident_size(facts, hog):
    first = facts['top']['processes'][0]
    assert first['pid'] == hog['pid'] and first['command'] == hog['name']
    assert abs(first['res'] - hog['rss']) <= 0.10 * hog['rss'], (first['res'], hog['rss'])


def test_memory_total_is_what_free_says_in_the_container(host, facts):
    free = free_b(host)
    assert facts['memory']['total'] == free['Mem'][0]
    assert facts['meminfo']['MemTotal'] == free['Mem'][0]
    # swap is not compared: it is the kernel's, and other tests on this machine turn some on and off


def test_cgroup_is_the_containers_own_and_not_limited(host, facts):
    lines = host.file('/proc/self/cgroup').content_string.splitlines()
    memory = [line.split(':', 2)[2] for line in lines if line.split(':')[1] in ('memory', '')]
    cgroup = facts['cgroup']
    assert cgroup is not None and cgroup['path'] == memory[0]
    # no --memory on these containers: the verdict is against RAM
    assert cgroup['limit'] is None
    assert facts['audit']['limited_by_cgroup'] is False
    assert facts['audit']['effective_total'] == facts['memory']['total']


def test_check_mode_finds_the_same(facts, host, hog):
    checked = load_facts(host, 'check')
    assert checked['memory']['total'] == facts['memory']['total']
    group = hog_group(checked, hog)
    assert group['status'] == 'denied' and group['pids'] == [hog['pid']]


def test_the_role_changed_nothing_on_the_host(host, hog):
    # read-only: nothing new in the writable places since prepare installed the hog
    assert host.file('/usr/local/bin/%s' % hog['name']).exists
    listing = host.check_output('find /tmp /root /var/tmp -mindepth 1 -newer /usr/local/bin/%s '
                                '-not -path "/root/.ansible*" -print', hog['name'])
    assert listing == ''
