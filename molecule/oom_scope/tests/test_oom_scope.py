"""The diagnosis of a systemd server whose gunicorn workers the kernel OOM-killed, in a container.

Each test runs once per host. What the kernel counted is read here with find and grep (every
cgroup below the container's root) and from gunicorn's own journal, not from headroom's code.
"""
import json
import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from checks import cgroup_file, cgroup_oom_kills, record_of  # noqa: E402

REPORT = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'headroom.json')


@pytest.fixture(name='record')
def fixture_record(host):
    with open(REPORT) as handle:
        return record_of(host, json.load(handle))


@pytest.fixture(name='groups')
def fixture_groups(host):
    return host.ansible.get_variables()['group_names']


def killed_workers(host):
    """Pids gunicorn says were killed by signal 9, from its journal."""
    out = host.check_output('journalctl -u gunicorn -q --no-pager')
    return [int(pid) for pid in re.findall(r'Worker with pid (\d+) was terminated due to signal 9', out)]


def test_the_kills_are_counted_and_the_verdict_is_not_ok(host, record):
    spikes = host.ansible.get_variables()['molecule_spikes']
    assert cgroup_oom_kills(host) >= spikes
    assert len(killed_workers(host)) >= spikes
    assert record['oom']['kills'] == cgroup_oom_kills(host)
    assert record['oom']['recent'] == record['oom']['kills']
    assert record['verdict'] != 'ok'
    assert 'oom_kills' in [reason['signal'] for reason in record['reasons']]
    assert [r for r in record['recommendations'] if r['step'] == 'refactor']


def test_the_unit_is_named(host, record):
    assert record['oom']['by_cgroup'] == [{'cgroup': '/system.slice/gunicorn.service',
                                           'oom_kill': cgroup_oom_kills(host)}]
    assert 'gunicorn.service' in record['oom']['victims']
    message = [r['message'] for r in record['reasons'] if r['signal'] == 'oom_kills'][0]
    assert 'gunicorn.service' in message


def test_with_the_kernel_log_the_victims_come_with_their_times(host, record, groups):
    if 'logged' not in groups:
        pytest.skip('only the host that may read dmesg')
    events = record['oom']['events']
    # the other host's kills are in the same ring buffer: only this container's count
    assert len(events) == record['oom']['logged'] == record['oom']['kills']
    # one kernel kill per worker gunicorn lost (the kernel names pids as the machine numbers them)
    assert len(events) == len(killed_workers(host))
    scope = record['oom']['scope']
    assert scope and scope != '/'
    assert all(e['task_memcg'] == scope + '/system.slice/gunicorn.service' for e in events)
    assert all(e['comm'] == 'gunicorn' for e in events)
    for event in events:
        assert time.time() - 3600 < event['epoch'] <= time.time()
    assert record['oom']['last'] == max(e['epoch'] for e in events)
    assert record['oom']['complete'] is True or record['oom']['incomplete'] == [
        reason for reason in record['oom']['incomplete'] if 'ring buffer' in reason]


def test_without_the_kernel_log_the_history_says_it_is_incomplete(record, groups):
    if 'blind' not in groups:
        pytest.skip('only the host that may not read dmesg')
    assert record['oom']['sources'] == [] or record['oom']['logged'] == 0
    assert record['oom']['complete'] is False
    assert any('not readable' in reason or 'no kernel log' in reason for reason in record['oom']['incomplete'])
    assert [r for r in record['reasons'] if r['signal'] == 'oom_history']


def test_each_logged_kill_says_what_held_the_memory_then(host, record, groups):
    """The kernel's own report of each kill, its task dump summed per command: the gunicorn master and
    its workers, in the container's cgroup, up against the limit the test reads from the cgroup."""
    if 'logged' not in groups:
        assert record['postmortem'] == []  # no kernel log: no kill, and so no picture of one
        return
    limit = int(cgroup_file(host, 'memory.limit_in_bytes', 'memory.max'))
    entries = record['postmortem']
    assert len(entries) == len(record['oom']['events']) == record['oom']['logged']
    assert not [event for event in record['oom']['events'] if 'postmortem' in event]  # said once
    for entry in entries:
        assert entry['scope'] == 'cgroup' and entry['cgroup'] == record['oom']['scope']
        assert entry['victim']['command'] == 'gunicorn'
        assert entry['victim']['cgroup'] == record['oom']['scope'] + '/system.slice/gunicorn.service'
        assert entry['memory']['limit'] == limit and entry['memory']['usage'] <= limit
        gunicorn = [task for task in entry['tasks'] if task['command'] == 'gunicorn'][0]
        assert gunicorn['count'] >= 2 and entry['victim']['pid'] in gunicorn['pids']  # master and workers
        assert entry['rss'] == sum(task['rss'] for task in entry['tasks']) + entry['other']['rss']
        # the worker that took the request held most of the limit when it was killed
        assert entry['victim']['rss'] > limit // 2
    said = [r['message'] for r in record['reasons'] if r['signal'] == 'oom_postmortem']
    assert len(said) == 1 and 'gunicorn' in said[0] and '(killed)' in said[0]
