"""diagnosis.oom_facts: how many kills, whose, when, and how sure; the window that judges them."""
import json

from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy
from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import oom_facts

HOUR = 3600.0
NOW = 1796165567.0


def collected(container=False, vmstat_kills=0, epochs=(), kills=None, sources=('dmesg -T',), **extra):
    data = {'cgroup': {'scope': '/docker/abc', 'version': 1, 'kills': kills}, 'container': container,
            'vmstat': {'oom_kill': vmstat_kills}, 'oom_events_count': len(epochs), 'oom_sources': list(sources),
            'oom_incomplete': [], 'oom_unattributed': 0, 'oom_epochs': sorted(epochs), 'now': NOW,
            'oom_victims': ['gunicorn'] if epochs else [], 'oom_events': []}
    data.update(extra)
    return data


def test_old_kills_are_reported_not_judged():
    """A fix that worked: 5 kills two days ago, none since. The host is ok, and the report says when."""
    facts = oom_facts(collected(vmstat_kills=5, epochs=[NOW - 48 * HOUR + i for i in range(5)]), merge_policy())
    assert (facts['kills'], facts['recent'], facts['undated']) == (5, 0, 0)
    assert facts['last'] == NOW - 48 * HOUR + 4
    result = audit({'memory': {'total': 8 << 30, 'available': 6 << 30}, 'oom': facts}, merge_policy())
    assert result['verdict'] == 'ok'
    past = [r for r in result['reasons'] if r['signal'] == 'oom_kills_past'][0]
    assert past['level'] == 'ok' and 'no OOM kill in the last 24 h; 5 before (gunicorn)' in past['message']
    assert 'the last at 2026-11-29' in past['message']
    assert not [r for r in result['recommendations'] if r['step'] == 'refactor']


def test_a_window_the_user_sets():
    facts = oom_facts(collected(vmstat_kills=2, epochs=[NOW - 30 * HOUR, NOW - 2 * HOUR]),
                      merge_policy({'oom_window_hours': 48}))
    assert facts['recent'] == 2 and facts['window_hours'] == 48


def test_kills_the_log_does_not_date_count_as_recent_and_are_said():
    """The counter says 7, the wrapped log dates 3 old ones: 4 could be from a minute ago."""
    facts = oom_facts(collected(vmstat_kills=7, epochs=[NOW - 90 * HOUR] * 3,
                                oom_incomplete=['the kernel ring buffer (dmesg) has wrapped']), merge_policy())
    assert (facts['kills'], facts['recent'], facts['undated']) == (7, 4, 4)
    assert facts['complete'] is False
    result = audit({'memory': {'total': 8 << 30, 'available': 6 << 30}, 'oom': facts}, merge_policy())
    warning = [r for r in result['reasons'] if r['signal'] == 'oom_kills'][0]['message']
    assert 'killed 4 process(es) in the last 24 h' in warning and '4 with no time' in warning
    assert [r for r in result['reasons'] if r['signal'] == 'oom_history']


def test_a_containers_kills_are_its_cgroups_not_the_machines():
    kills = {'total': 42, 'by_cgroup': [{'cgroup': '/system.slice/gunicorn.service', 'oom_kill': 42}],
             'method': 'memory.oom_control summed'}
    facts = oom_facts(collected(container=True, vmstat_kills=900, kills=kills, sources=()), merge_policy())
    assert facts['kills'] == 42 and facts['counted'] == 42 and facts['victims'] == ['gunicorn.service']
    assert facts['scope'] == '/docker/abc' and facts['recent'] == 42 and facts['undated'] == 42
    assert any('not readable here' in reason for reason in facts['incomplete'])


def test_no_counter_and_no_log_is_unknown_not_zero():
    facts = oom_facts(collected(container=True, kills=None, sources=()), merge_policy())
    assert facts['kills'] is None and facts['recent'] is None


def test_unknown_kills_are_no_crash_and_no_warning():
    facts = oom_facts(collected(container=True, kills=None, sources=()), merge_policy())
    result = audit({'memory': {'total': 8 << 30, 'available': 6 << 30}, 'oom': facts}, merge_policy())
    assert result['verdict'] == 'ok' and 'OOM kill' not in result['summary']


def _judge(facts):
    return audit({'memory': {'total': 8 << 30, 'available': 6 << 30}, 'oom': facts}, merge_policy())


def test_a_host_fixed_since_the_last_run_is_ok_again():
    """Kills 2 h ago, a run 1 h ago (which saw them), none since: ok now, and the report says why."""
    facts = oom_facts(collected(vmstat_kills=3, epochs=[NOW - 2 * HOUR] * 3), merge_policy(),
                      {'epoch': NOW - HOUR, 'counted': 3})
    assert (facts['recent'], facts['judged_since_run'], facts['since_previous_run']) == (0, True, NOW - HOUR)
    result = _judge(facts)
    assert result['verdict'] == 'ok'
    past = [r['message'] for r in result['reasons'] if r['signal'] == 'oom_kills_past'][0]
    assert past.startswith('no OOM kill since the last run (2026-') and '; 3 before (gunicorn)' in past
    # without the history, the window still holds them
    assert _judge(oom_facts(collected(vmstat_kills=3, epochs=[NOW - 2 * HOUR] * 3), merge_policy()))['verdict'] == 'warning'


def test_a_kill_since_the_last_run_is_judged_and_said_so():
    facts = oom_facts(collected(vmstat_kills=4, epochs=[NOW - 2 * HOUR] * 3 + [NOW - 600]), merge_policy(),
                      {'epoch': NOW - HOUR, 'counted': 3})
    assert facts['recent'] == 1
    message = [r['message'] for r in _judge(facts)['reasons'] if r['signal'] == 'oom_kills'][0]
    assert message.startswith('the OOM killer has killed 1 process(es) since the last run (')


def test_a_last_run_older_than_the_window_leaves_the_window_to_decide():
    facts = oom_facts(collected(vmstat_kills=2, epochs=[NOW - 30 * HOUR, NOW - 2 * HOUR]), merge_policy(),
                      {'epoch': NOW - 48 * HOUR, 'counted': 0})
    assert (facts['recent'], facts['judged_since_run']) == (1, False)
    assert 'in the last 24 h' in [r['message'] for r in _judge(facts)['reasons'] if r['signal'] == 'oom_kills'][0]


def test_undated_kills_are_new_only_as_far_as_the_counter_rose():
    """The counter says 7 and the log dates none: 2 are new since a run that counted 5; after a reboot
    (the counter fell) all 7 may be."""
    facts = oom_facts(collected(vmstat_kills=7), merge_policy(), {'epoch': NOW - HOUR, 'counted': 5})
    assert (facts['undated'], facts['recent']) == (7, 2)
    facts = oom_facts(collected(vmstat_kills=7), merge_policy(), {'epoch': NOW - HOUR, 'counted': 9})
    assert facts['recent'] == 7


def test_a_previous_run_that_makes_no_sense_is_ignored():
    for previous in ({'epoch': 'yesterday'}, {'epoch': True}, {'epoch': float('nan')}, {'epoch': float('inf')},
                     [], 'x', {'counted': 3}):
        facts = oom_facts(collected(vmstat_kills=3, epochs=[NOW - 2 * HOUR] * 3), merge_policy(), previous)
        assert (facts['recent'], facts['since_previous_run']) == (3, None), previous


# ---- kill lines a source cannot vouch for (issue 20, class 4) -----------------------------------------

NOTE = {'source': '/var/log/messages', 'note': '/var/log/messages is a syslog file: it cannot tell (the note)'}


def _unconfirmed(count=2, victims=('sshd', 'postgres')):
    events = [{'pid': 100 + i, 'comm': victim, 'trusted': False, 'time': 'Dec  7 10:00:00'} for i, victim in enumerate(victims)]
    return collected(vmstat_kills=0, oom_unconfirmed=events, oom_unconfirmed_count=count, oom_unverified=[NOTE])


def test_unconfirmed_kills_are_reported_never_counted_nor_named():
    facts = oom_facts(_unconfirmed(), merge_policy())
    assert (facts['kills'], facts['recent'], facts['victims']) == (0, 0, [])
    assert facts['unconfirmed'] == {'count': 2, 'events': _unconfirmed()['oom_unconfirmed'], 'sources': [NOTE]}
    result = _judge(facts)
    assert result['verdict'] == 'ok' and not result['recommendations']
    said = [r for r in result['reasons'] if r['signal'] == 'oom_unconfirmed']
    assert said == [{'level': 'ok', 'signal': 'oom_unconfirmed',
                     'message': '2 kill line(s) not judged: no kernel record holds them, and ' + NOTE['note']}]
    assert 'sshd' not in json.dumps(result) and 'postgres' not in json.dumps(result)


def test_the_page_says_which_source_cannot_tell_and_names_no_victim():
    from ansible_collections.headroom.memory.plugins.module_utils.report.render import _oom
    facts = oom_facts(_unconfirmed(), merge_policy())
    page = _oom({'oom': facts})
    assert 'data-oom-unconfirmed="2"' in page and 'cannot tell (the note)' in page
    assert 'sshd' not in page and 'postgres' not in page
    # a record from before (no 'unconfirmed') still renders
    del facts['unconfirmed']
    assert 'data-oom-unconfirmed' not in _oom({'oom': facts})
