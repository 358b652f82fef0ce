"""Units systemd stopped after an OOM kill (issue 21): which, when, whether they came back, and what the
verdict says and recommends. Real journal lines of the test VM (systemd 252, cgroup v2)."""
import json
import os

from ansible_collections.headroom.memory.plugins.module_utils.read import app_deaths, oom, unit_stops
from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy, unit_stop_level, unit_stop_words
from ansible_collections.headroom.memory.plugins.module_utils.report.render import render_html, render_markdown

VM = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'vm', 'bookworm-6.1.0-57-amd64')


def _vm(*parts):
    with open(os.path.join(VM, *parts)) as handle:
        return handle.read()


def test_the_lifecycle_lines_of_the_vms_killed_unit():
    """systemd 252's own lines about headroom-hog.service (journalctl -o json -u): started, failed with result
    'oom-kill'; the other lines about it (the kill, the main process, the CPU it used) are not lifecycle."""
    lines = unit_stops.parse_lifecycle(_vm('global-oom', 'unit.journal.json'), 'headroom-hog.service')
    assert [what for _epoch, what, _detail in lines] == ['started', 'failed']
    assert lines[1][2] == 'oom-kill' and lines[0][0] < lines[1][0]
    # another unit's lines, or the same words from anyone but PID 1, are not this unit's
    assert unit_stops.parse_lifecycle(_vm('global-oom', 'unit.journal.json'), 'other.service') == []
    forged = [dict(json.loads(line), _PID='4242') for line in _vm('global-oom', 'unit.journal.json').splitlines()]
    assert unit_stops.parse_lifecycle('\n'.join(json.dumps(e) for e in forged), 'headroom-hog.service') == []


def test_restart_and_stop_lines_by_their_message_ids_and_words():
    def entry(message, mid=None, job=None, at=1796700000):
        fields = {'MESSAGE': message, '_PID': '1', 'UNIT': 'gunicorn.service', '__REALTIME_TIMESTAMP': str(at * 1000000)}
        if mid:
            fields['MESSAGE_ID'] = mid
        if job:
            fields['JOB_TYPE'], fields['JOB_RESULT'] = job
        return json.dumps(fields)
    text = '\n'.join([
        entry("gunicorn.service: Failed with result 'oom-kill'.", 'd9b373ed55a64feb8242e02dbe79a49c', at=1796700000),
        entry('gunicorn.service: Scheduled restart job, restart counter is at 1.', '5eb03494b6584870a536b337290809b3',
              at=1796700005),
        entry('Stopped gunicorn.service - gunicorn.', '9d1aaa27d60140bd96365438aad20286', ('restart', 'done'), 1796700005),
        entry('Started gunicorn.service - gunicorn.', '39f53479d3a045ac8e11786248231fbf', ('restart', 'done'), 1796700006),
        # systemd 256+ words, no message id kept (a journal export that lost it)
        entry('gunicorn.service: Scheduled restart job immediately on client request, restart counter is at 2.', at=1796700010),
        entry('Started gunicorn.service - gunicorn.', job=('start', 'done'), at=1796700011)])
    assert unit_stops.parse_lifecycle(text, 'gunicorn.service') == [
        (1796700000, 'failed', 'oom-kill'), (1796700005, 'restart', 1), (1796700005, 'stopped', None),
        (1796700006, 'started', None), (1796700010, 'restart', 2), (1796700011, 'started', None)]


def test_systemctl_show_blocks():
    text = ('Id=gunicorn.service\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nNRestarts=1\n'
            'OOMPolicy=stop\nRestart=on-failure\nActiveEnterTimestampMonotonic=95000000\n\n'
            'Id=web.service\nActiveState=failed\nResult=oom-kill\nNRestarts=0\nRestart=no\nNotAsked=1\n\n'
            'LoadState=not-found\n')
    shown = unit_stops.parse_show(text)
    assert sorted(shown) == ['gunicorn.service', 'web.service']
    assert shown['web.service'] == {'Id': 'web.service', 'ActiveState': 'failed', 'Result': 'oom-kill', 'NRestarts': '0',
                                    'Restart': 'no'}


def test_only_unit_names_systemd_allows_reach_a_command_line():
    events = [{'unit': 'gunicorn.service', 'task_memcg': '/system.slice/gunicorn.service'},
              {'unit': None, 'task_memcg': '/user.slice/user-1000.slice/session-3.scope'},
              {'unit': '-rf /', 'task_memcg': '/docker/abc; reboot'},
              {'unit': 'system.slice', 'task_memcg': None}]
    assert unit_stops.killed_units(events) == ['session-3.scope', 'gunicorn.service']
    assert unit_stops.show_command(['a.service'])[-1] == 'a.service'


def _stop_event(unit='gunicorn.service', pid=4321, comm='gunicorn', at=1796700000.0, killer='kernel'):
    return {'killer': killer, 'unit': unit, 'unit_result': 'oom-kill', 'epoch_failed': at, 'pid': pid, 'comm': comm,
            'task_memcg': '/system.slice/' + unit, 'epoch': at - 0.1}


def _facts(stops, now):
    return {'memory': {'total': 8 << 30, 'available': 6 << 30},
            'oom': {'kills': 1, 'recent': 1, 'undated': 0, 'window_hours': 24, 'victims': ['gunicorn'], 'last': now - 60,
                    'incomplete': [], 'judged_from': now - 86400, 'unit_stops': stops, 'by_killer': {'kernel': 1}}}


def test_a_unit_restarted_after_the_stop_was_down_so_long():
    at = 1796700000.0
    lines = [(at, 'failed', 'oom-kill'), (at + 5, 'restart', 1), (at + 5.4, 'stopped', None), (at + 10.4, 'started', None)]
    shown = {'gunicorn.service': {'ActiveState': 'active', 'Result': 'success', 'NRestarts': '1', 'OOMPolicy': 'stop',
                                  'Restart': 'on-failure'}}
    found = unit_stops.stops([_stop_event()], [], shown, {'gunicorn.service': lines}, at - 1000, at + 60)
    assert len(found) == 1
    stop = found[0]
    assert (stop['unit'], stop['restarted_at'], stop['down_seconds'], stop['still_down'], stop['restarts']) == (
        'gunicorn.service', at + 10.4, 10.4, False, 1)
    assert stop['state']['OOMPolicy'] == 'stop' and stop['main_killed'] is False
    result = audit(_facts(found, at + 60), merge_policy())
    said = [r for r in result['reasons'] if r['signal'] == 'unit_stopped']
    assert [r['level'] for r in said] == ['warning']
    assert said[0]['message'].startswith('gunicorn.service was stopped by systemd at 2026-12-08 ')
    assert 'after the OOM killer took one of its processes (gunicorn, pid 4321; OOMPolicy=stop)' in said[0]['message']
    assert '; it was down 10.4 s (restarted at ' in said[0]['message'] and ', restart counter 1)' in said[0]['message']
    assert said[0]['message'].endswith('Its memory.events went with its cgroup: its kills are counted from the log')
    rec = [r for r in result['recommendations'] if r['role'] == 'unit_policy']
    assert len(rec) == 1 and rec[0]['step'] == 'guard' and rec[0]['title'] == 'Keep gunicorn.service up after an OOM kill'
    assert 'set OOMPolicy=continue' in rec[0]['detail'] and 'Restart=on-failure' in rec[0]['detail']


def test_a_unit_without_restart_is_still_down_and_the_host_is_critical():
    at = 1796700000.0
    shown = {'web.service': {'ActiveState': 'failed', 'Result': 'oom-kill', 'NRestarts': '0', 'OOMPolicy': 'stop',
                             'Restart': 'no'}}
    found = unit_stops.stops([_stop_event('web.service')], [], shown, {'web.service': [(at, 'failed', 'oom-kill')]},
                             at - 1000, at + 300)
    assert found[0]['still_down'] is True and found[0]['down_seconds'] == 300.0 and found[0]['restarted_at'] is None
    facts = _facts(found, at + 300)
    result = audit(facts, merge_policy())
    assert result['verdict'] == 'critical'
    said = [r['message'] for r in result['reasons'] if r['signal'] == 'unit_stopped'][0]
    assert '; it is still down (5 min) (ActiveState=failed, Result=oom-kill, NRestarts=0, Restart=no)' in said
    rec = [r for r in result['recommendations'] if r['role'] == 'unit_policy'][0]
    assert 'give web.service a Restart= policy' in rec['detail']
    record = dict(result, host='web', oom=facts['oom'], lines=[])
    page = render_html({'generated_at': 'now', 'fleet': {'order': ['web']}, 'hosts': [record]})
    assert 'data-unit="web.service" data-down-seconds="300"' in page and 'still down' in page
    assert 'still down after an OOM kill: `web.service`' in render_markdown({'fleet': {}, 'hosts': [record]})
    # a week later, with the unit still down: still critical, the site is still gone
    assert audit(_facts(found, at + 7 * 86400), merge_policy())['verdict'] == 'critical'


def test_a_unit_whose_main_process_was_killed_needs_a_restart_policy_not_oompolicy():
    """The VM's hog: its unit's main process was the one the kernel killed (systemd's "Main process exited,
    code=killed, status=9/KILL", linked to the kill)."""
    deaths = app_deaths.parse_journal(_vm('global-oom', 'unit.journal.json'))
    kills = [e for e in oom.parse_oom_log(_vm('global-oom', 'journalctl-k.short-iso.txt'), origin='journal-text') if e['pid']]
    for kill in kills:
        kill['epoch'] = oom.stamp_epoch(kill['time'])
    app_deaths.link(deaths, kills)
    lines = unit_stops.parse_lifecycle(_vm('global-oom', 'unit.journal.json'), 'headroom-hog.service')
    failed = [epoch for epoch, what, _detail in lines if what == 'failed'][0]
    event = dict(kills[0], unit='headroom-hog.service', unit_result='oom-kill', epoch_failed=failed)
    found = unit_stops.stops([event], deaths, {}, {'headroom-hog.service': lines}, None, failed + 30)
    assert found[0]['main_killed'] is True and found[0]['victim'] == {'pid': kills[0]['pid'], 'command': 'python3'}
    result = audit(_facts(found, failed + 30), merge_policy())
    said = [r['message'] for r in result['reasons'] if r['signal'] == 'unit_stopped'][0]
    assert 'after the OOM killer took its main process (python3, pid %d)' % kills[0]['pid'] in said and 'OOMPolicy' not in said
    rec = [r for r in result['recommendations'] if r['role'] == 'unit_policy'][0]
    assert 'its main process was killed, so no OOMPolicy keeps it' in rec['detail']


def test_the_stop_of_a_unit_up_again_before_the_judged_window_is_history():
    at = 1796700000.0
    found = unit_stops.stops([_stop_event()], [], {}, {'gunicorn.service': [(at + 3, 'started', None)]}, None, at + 10)
    facts = _facts(found, at + 2 * 86400)
    assert not [r for r in audit(facts, merge_policy())['reasons'] if r['signal'] == 'unit_stopped']
    assert not [r for r in audit(facts, merge_policy())['recommendations'] if r['role'] == 'unit_policy']


def test_the_reading_asks_systemctl_once_and_the_journal_for_the_newest_stops_only():
    """One systemctl show for the units named in kill lines, one journalctl per stopped unit up to STOPS_READ, all
    through the collector's bounded runner; a host without systemctl has no stops to read and no gap."""
    from ansible_collections.headroom.memory.plugins.module_utils.read import collect
    at = 1796700000.0
    events = [_stop_event('app%d.service' % n, pid=100 + n, at=at + n) for n in range(8)]
    asked = []

    def run(argv, env):
        asked.append(argv)
        if argv[0].endswith('systemctl'):
            return 0, ''.join('Id=app%d.service\nActiveState=failed\nResult=oom-kill\nRestart=no\n\n' % n for n in range(8)), ''
        return 0, '', ''
    collector = collect.Collector(run, which=lambda name: '/usr/bin/' + name)
    found = collector.unit_stops(events, [], at - 1000, at + 100)
    assert len(found) == 8 and all(stop['still_down'] for stop in found)
    assert [argv[0] for argv in asked].count('/usr/bin/systemctl') == 1
    journal = [argv for argv in asked if argv[0] == '/usr/bin/journalctl']
    assert len(journal) == unit_stops.STOPS_READ
    assert [argv[-1] for argv in journal] == ['UNIT=app%d.service' % n for n in (7, 6, 5, 4, 3)]
    assert collector.gaps == []
    collector = collect.Collector(run, which=lambda name: None)
    assert [stop['still_down'] for stop in collector.unit_stops(events, [], at - 1000, at + 100)] == [False] * 8
    assert collector.gaps == []


def test_a_transient_unit_still_failed_is_no_site_down_and_a_collected_one_is_gone():
    """systemd-run's units (Transient=yes) are jobs: one still failed after its OOM kill is a stop to report, not a
    critical host; one collected since (LoadState=not-found) is not down, it is gone."""
    at = 1796700000.0
    failed = {'hog.service': {'LoadState': 'loaded', 'ActiveState': 'failed', 'Result': 'oom-kill', 'Transient': 'yes'}}
    found = unit_stops.stops([_stop_event('hog.service')], [], failed, {}, None, at + 60)
    assert found[0]['still_down'] is True
    result = audit(_facts(found, at + 60), merge_policy())
    assert [r['level'] for r in result['reasons'] if r['signal'] == 'unit_stopped'] == ['warning']
    gone = {'hog.service': {'LoadState': 'not-found', 'ActiveState': 'inactive'}}
    assert unit_stops.stops([_stop_event('hog.service')], [], gone, {}, None, at + 60)[0]['still_down'] is False


from hypothesis import given, settings, strategies as st  # noqa: E402

WHAT = st.sampled_from(['failed', 'restart', 'started', 'stopped'])
STATES = st.fixed_dictionaries({}, optional={
    'LoadState': st.sampled_from(['loaded', 'not-found', 'masked']),
    'ActiveState': st.sampled_from(['active', 'failed', 'inactive', 'activating', 'deactivating', 'reloading']),
    'Result': st.sampled_from(['success', 'oom-kill', 'signal', 'exit-code']),
    'NRestarts': st.sampled_from(['0', '1', '12']), 'OOMPolicy': st.sampled_from(['stop', 'continue', 'kill']),
    'Restart': st.sampled_from(['no', 'on-failure', 'always']), 'Transient': st.sampled_from(['yes', 'no']),
    'ActiveEnterTimestampMonotonic': st.sampled_from(['0', '5000000', '999000000', 'x', ''])})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(-100, 100), WHAT), max_size=12), STATES, st.lists(st.floats(0, 50), min_size=1, max_size=4),
       st.sampled_from([None, 1796699000.0]))
def test_any_lines_and_state_give_a_coherent_stop(lines, state, stops_at, btime):
    """Whatever systemd's lines and state say: a restart is never before its stop, a down time is never negative, a
    unit still down was not restarted, and only its last stop may be still down."""
    at = 1796700000.0
    events = [_stop_event('app.service', pid=100 + n, at=at + offset) for n, offset in enumerate(sorted(stops_at))]
    lifecycle = sorted((at + offset, what, None) for offset, what in lines)
    found = unit_stops.stops(events, [], {'app.service': dict(state)}, {'app.service': lifecycle}, btime, at + 200)
    assert len(found) == len(events)
    for stop in found:
        assert stop['restarted_at'] is None or stop['restarted_at'] >= stop['at']
        assert stop['down_seconds'] is None or stop['down_seconds'] >= 0
        assert not (stop['still_down'] and stop['restarted_at'] is not None)
        level = unit_stop_level(stop, at - 1)
        assert level in ('critical', 'warning')
        assert unit_stop_words(stop).startswith('app.service was stopped by systemd at ')
    assert not [stop for stop in found[:-1] if stop['still_down'] and stop['at'] < found[-1]['at']]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_systemctl_output_is_never_an_error(text):
    assert isinstance(unit_stops.parse_show(text), dict)
    assert isinstance(unit_stops.parse_lifecycle(text, 'a.service'), list)


def _answer(*parts):
    text = _vm(*parts)
    head, rest = text.split('--- stdout\n', 1)
    out, err = rest.split('--- stderr\n', 1)
    return int(head.splitlines()[1].split()[-1]), out, err


def test_the_vms_units_stopped_by_systemd_one_restarted_one_still_down():
    """Real, in the VM (systemd 252, cgroup v2): two units, each a master that respawns its workers, MemoryMax=96M;
    a worker of each grew until the kernel killed it, and systemd stopped both units (OOMPolicy=stop, the default).
    headroom-app.service (Restart=on-failure, RestartSec=5) came back 5 s later; headroom-app-norestart.service stayed
    failed, its cgroup and memory.events gone. headroom's own queries, as the VM answered them, say all of it."""
    rc, out, _err = _answer('unit-stop', 'oom-query.json.txt')
    events = [e for e in oom.parse_oom_log(out, origin='journal') if e['trusted']]
    for event in events:
        event['epoch'] = oom.stamp_epoch(event['time'], event['uptime'], None)
        event['epoch_failed'] = oom.stamp_epoch(event['unit_failed_at'], None, None)
    assert [(e['killer'], e['unit'], e['unit_result'], e['constraint']) for e in events] == [
        ('kernel', 'headroom-app-norestart.service', 'oom-kill', 'cgroup'), ('kernel', 'headroom-app.service', 'oom-kill', 'cgroup')]
    units = unit_stops.killed_units(events)
    assert units == ['headroom-app.service', 'headroom-app-norestart.service']
    rc, shown_text, _err = _answer('unit-stop', 'systemctl-show.txt')
    assert rc == 0
    shown = unit_stops.parse_show(shown_text)
    lifecycles = dict((unit, unit_stops.parse_lifecycle(_answer('unit-stop', 'lifecycle-%s.json.txt' % unit)[1], unit))
                      for unit in units)
    rc, deaths_text, _err = _answer('unit-stop', 'app-deaths.json.txt')
    assert rc == 1 and deaths_text == ''  # the masters were stopped, not killed: no death line
    now = float(_vm('unit-stop', 'now.txt'))
    found = dict((stop['unit'], stop) for stop in unit_stops.stops(events, [], shown, lifecycles, None, now))
    back, down = found['headroom-app.service'], found['headroom-app-norestart.service']
    assert back['still_down'] is False and back['restarts'] == 1 and 5.0 <= back['down_seconds'] <= 5.2
    assert back['state'] == {'LoadState': 'loaded', 'ActiveState': 'active', 'SubState': 'running', 'Result': 'success',
                             'NRestarts': '1', 'OOMPolicy': 'stop', 'Restart': 'on-failure'}
    assert down['still_down'] is True and down['restarted_at'] is None and down['state']['ActiveState'] == 'failed'
    assert 10 <= down['down_seconds'] <= 12  # from its stop to the reading
    assert 'headroom-app-norestart.service/memory.events\': No such file' in _vm('unit-stop', 'cgroups-after.txt')
    assert down['memory_events'].startswith('removed with the unit\'s cgroup')
    facts = _facts(list(found.values()), now)
    result = audit(facts, merge_policy())
    said = dict((r['message'].split(' ', 1)[0], r) for r in result['reasons'] if r['signal'] == 'unit_stopped')
    assert said['headroom-app-norestart.service']['level'] == 'critical' and result['verdict'] == 'critical'
    assert 'it is still down (' in said['headroom-app-norestart.service']['message']
    assert said['headroom-app.service']['level'] == 'warning'
    assert 'after the OOM killer took one of its processes (python3, pid %d; OOMPolicy=stop); it was down 5.1 s' % (
        found['headroom-app.service']['victim']['pid']) in said['headroom-app.service']['message']
    rec = [r for r in result['recommendations'] if r['role'] == 'unit_policy'][0]
    assert rec['title'] == 'Keep headroom-app-norestart.service, headroom-app.service up after an OOM kill'
    assert 'give headroom-app-norestart.service a Restart= policy' in rec['detail']
