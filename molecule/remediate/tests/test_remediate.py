"""remediate.yml on a fleet of three: each host fixed as its diagnosis said, the healthy one untouched.

converge runs remediate.yml three times in `molecule test`: in check mode (the report is kept as
remediate-check.json), applied (remediate-applied.json) and again for idempotence (remediate.json).
Each test runs once per host (testinfra's `host`) and skips where its group does not apply.

Swap is global to the kernel: once needs-swap has its swap file, every container sees it in
/proc/swaps and /proc/meminfo. So the state of the others is checked on their own files (no swap
file, no fstab line, no sysctl drop-in), and the diagnosis from before remediation is read from the
report, taken before any swap existed.
"""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from checks import cgroup_file, cgroup_oom_kills, count_keys, record_of, redis  # noqa: E402

DIRECTORY = os.environ['MOLECULE_EPHEMERAL_DIRECTORY']
MIB = 1024 ** 2


def load(name):
    with open(os.path.join(DIRECTORY, name)) as handle:
        return json.load(handle)


@pytest.fixture(name='want', scope='module')
def fixture_want(host):
    return host.ansible.get_variables()


@pytest.fixture(name='applied', scope='module')
def fixture_applied():
    return load('remediate-applied.json')


def roles(record):
    return sorted({rec['role'] for rec in record['recommendations'] if rec['role']})


def only(want, group):
    if group not in want['group_names']:
        pytest.skip('not a %s host' % group)


def swap_areas(host):
    """/proc/swaps as {path: (size KiB, priority)}: the whole kernel's swap."""
    rows = host.file('/proc/swaps').content_string.splitlines()[1:]
    return dict((r.split()[0], (int(r.split()[2]), int(r.split()[4]))) for r in rows)


# --- the report ---------------------------------------------------------------------------------

def test_every_host_is_once_in_each_report_with_before_and_after(want):
    inventory = set(want['groups']['all'])
    for name in ('remediate-check.json', 'remediate-applied.json', 'remediate.json'):
        report = load(name)
        assert sorted(r['host'] for r in report['hosts']) == sorted(inventory), name
        assert report['fleet']['hosts'] == 3
        for record in report['hosts']:
            assert record['before']['host'] == record['host']
            assert record['change']['verdict'] == [record['before']['verdict'], record['verdict']]


def test_the_html_page_and_the_summary_were_written_beside_the_json(want):
    for suffix in ('.html', '.md'):
        with open(os.path.join(DIRECTORY, 'remediate' + suffix)) as handle:
            text = handle.read()
        for name in want['groups']['all']:
            assert name in text, (suffix, name)


def test_needs_swap_was_short_with_no_swap_and_got_swap_setup_only(host, want, applied):
    only(want, 'needs_swap')
    before = record_of(host, applied)['before']
    limit = int(cgroup_file(host, 'memory.limit_in_bytes', 'memory.max'))
    assert limit == 256 * MIB
    assert before['effective_total'] == limit and before['memory']['swap_total'] == 0
    assert before['usable_pct'] <= 20.0
    assert before['verdict'] in ('warning', 'critical')
    assert 'available' in {r['signal'] for r in before['reasons']}
    assert roles(before) == ['swap_setup']


def test_redis_held_a_tenth_of_its_limit_and_got_cache_flush_only(host, want, applied):
    only(want, 'redis')
    before = record_of(host, applied)['before']
    assert before['effective_total'] == 128 * MIB
    redis_group = [g for g in before['groups'] if g['command'] == 'redis-server'][0]
    assert redis_group['memory'] >= 0.10 * before['effective_total']
    assert roles(before) == ['cache_flush']


def test_the_healthy_host_had_nothing_recommended_before_or_after(host, want):
    only(want, 'healthy')
    for name in ('remediate-check.json', 'remediate-applied.json', 'remediate.json'):
        record = record_of(host, load(name))
        assert record['before']['verdict'] == 'ok', (name, record['before']['reasons'])
        assert record['before']['recommendations'] == [], name
        assert record['recommendations'] == [], name


def test_check_mode_planned_what_the_applied_run_did(host, applied):
    planned = record_of(host, load('remediate-check.json'))['before']
    assert roles(planned) == roles(record_of(host, applied)['before'])


def test_each_report_says_what_the_fixes_did_to_the_host(host, want, applied):
    """The dry run planned each fix, the applied run applied it, the idempotence run changed nothing;
    the healthy host had nothing to fix in all three."""
    check = record_of(host, load('remediate-check.json'))['remediation']
    done = record_of(host, applied)['remediation']
    again = record_of(host, load('remediate.json'))['remediation']
    if 'healthy' in want['group_names']:
        assert check['status'] == done['status'] == again['status'] == 'nothing to fix'
        return
    planned = roles(record_of(host, applied)['before'])
    assert check['dry_run'] is True and check['status'] == 'planned', check
    assert [step['role'] for step in check['steps']] == planned
    assert all(step['status'] == 'would change' for step in check['steps']), check
    assert done['dry_run'] is False and done['status'] == 'applied', done
    assert [step['role'] for step in done['steps']] == planned
    assert all(step['status'] == 'applied' and step['done'] for step in done['steps']), done
    assert again['status'] in ('nothing to fix', 'unchanged'), again
    outcome = load('remediate-applied.json')['fleet']['remediation']
    assert outcome['failed'] == {} and outcome['counts']['applied'] == 2 and outcome['counts']['nothing to fix'] == 1


def test_after_remediation_needs_swap_has_its_swap(host, want, applied):
    only(want, 'needs_swap')
    after = record_of(host, applied)
    # /proc/swaps leaves out the header page.
    assert after['memory']['swap_total'] >= 256 * MIB - 4096


def test_after_remediation_redis_holds_less(host, want, applied):
    only(want, 'redis')
    record = record_of(host, applied)
    size = dict((g['command'], g['memory']) for g in record['groups'])
    before = dict((g['command'], g['memory']) for g in record['before']['groups'])
    assert size['redis-server'] < before['redis-server'] / 2, (before['redis-server'], size['redis-server'])
    assert record['usable'] > record['before']['usable']


def test_the_second_run_recommends_no_swap_anywhere(host):
    # needs-swap has swap now; the others see it too (free shows the machine's swap)
    assert 'swap_setup' not in roles(record_of(host, load('remediate.json'))['before'])


# --- needs-swap: real swap from the file it was given --------------------------------------------

def test_swap_is_active_from_the_given_file(host, want):
    only(want, 'needs_swap')
    size_kib, _priority = swap_areas(host)[want['swap_setup_path']]
    assert size_kib == 256 * 1024 - 4


def test_swap_file_is_root_only(host, want):
    only(want, 'needs_swap')
    swapfile = host.file(want['swap_setup_path'])
    assert swapfile.is_file and not swapfile.is_symlink
    assert swapfile.mode == 0o600
    assert swapfile.user == 'root' and swapfile.group == 'root'
    assert swapfile.size == 256 * MIB


def test_fstab_has_the_swap_file_once(host, want):
    only(want, 'needs_swap')
    lines = [line.split() for line in host.file('/etc/fstab').content_string.splitlines()
             if line.split() and line.split()[0] == want['swap_setup_path']]
    assert len(lines) == 1 and lines[0][1:3] == ['none', 'swap']


def test_sysctls_persisted(host, want):
    only(want, 'needs_swap')
    dropin = host.file('/etc/sysctl.d/60-headroom-swap.conf')
    assert dropin.mode == 0o644
    assert 'vm.swappiness = %d' % want.get('swap_setup_swappiness', 10) in dropin.content_string.splitlines()


def test_the_ballast_survived(host, want):
    only(want, 'needs_swap')
    assert host.service('ballast').is_running
    assert cgroup_oom_kills(host) == 0


# --- redis: only the disposable keys gone ---------------------------------------------------------

def test_only_the_disposable_keys_are_gone_every_other_key_is_there(host, want):
    only(want, 'redis')
    for entry in want['molecule_seed']:
        expected = 0 if entry['doomed'] else entry['count']
        assert count_keys(host, want, entry['db'], entry['prefix']) == expected, entry


def test_dbsize_is_the_kept_seed(host, want):
    only(want, 'redis')
    for db in sorted({e['db'] for e in want['molecule_seed']}):
        kept = sum(e['count'] for e in want['molecule_seed'] if e['db'] == db and not e['doomed'])
        assert int(redis(host, want, '-n %d dbsize' % db)) == kept, db


def test_maxmemory_is_set_live_and_in_redis_conf(host, want):
    only(want, 'redis')
    assert redis(host, want, 'config get maxmemory').splitlines() == [
        'maxmemory', str(want['molecule_maxmemory_bytes'])]
    assert redis(host, want, 'config get maxmemory-policy').splitlines() == [
        'maxmemory-policy', want['cache_flush_redis_maxmemory_policy']]
    active = [line for line in host.file('/etc/redis/redis.conf').content_string.splitlines()
              if line.startswith('maxmemory')]
    assert sorted(active) == sorted(['maxmemory %s' % want['cache_flush_redis_maxmemory'],
                                     'maxmemory-policy %s' % want['cache_flush_redis_maxmemory_policy']])


# --- every host but needs-swap: no swap of its own -------------------------------------------------

def test_no_swap_file_no_fstab_line_no_sysctl_dropin(host, want):
    if 'needs_swap' in want['group_names']:
        pytest.skip('needs-swap has them')
    assert not host.file('/swapfile').exists
    assert not host.file('/swap').exists
    assert not host.file('/etc/sysctl.d/60-headroom-swap.conf').exists
    assert [line for line in host.file('/etc/fstab').content_string.splitlines()
            if 'swap' in line.split()[2:3]] == []


def test_the_healthy_host_is_untouched(host, want):
    only(want, 'healthy')
    assert not host.package('redis-server').is_installed
    assert cgroup_oom_kills(host) == 0


# --- the diagnosis in containers: the cgroup's own kills and swap ---------------------------------------------------

def test_oom_kills_are_the_containers_own(host, applied):
    # in a container /proc/vmstat and the kernel log are the machine's: the cgroup's count decides
    record = record_of(host, applied)
    assert record['oom']['scope'] and record['oom']['counted'] == cgroup_oom_kills(host)
    assert record['oom']['kills'] == cgroup_oom_kills(host)


def test_a_cgroup_that_may_not_swap_has_no_swap(host, want, applied):
    # free shows the machine's swap (needs-swap's file by now); the cgroup may use none of it
    only(want, 'redis')
    record = record_of(host, applied)
    assert record['cgroup']['swap_limit'] == 0
    assert record['memory']['swap_total'] > 0
    assert record['swap_total'] == 0
