"""A unit's own limit on a whole machine (issue 21, part 6), as the VM stage captured it (tests/vm/test_d_unit_limit.py;
Debian 12's kernel 6.1.0-57, systemd 252, cgroup v2): a transient service with MemoryMax=64M and OOMPolicy=continue
whose forked worker the kernel killed inside the limit. headroom's readers on the captured files: the unit's cgroup v2
figures (read/kernel.py), its kills counted from its memory.events, and the kernel's report of a memory cgroup's OOM
(read/oom.py) named by the unit."""
import os

from ansible_collections.headroom.memory.plugins.module_utils.read import kernel, oom

CAPTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures', 'vm', 'bookworm-6.1.0-57-amd64',
                       'unit-limit')
UNIT = 'headroom-capped.service'
TOP = os.path.join(CAPTURE, 'sys', 'fs', 'cgroup')
CGROUP = os.path.join(TOP, 'system.slice', UNIT)


def _text(*parts):
    with open(os.path.join(CAPTURE, *parts)) as handle:
        return handle.read()


def test_the_unit_s_cgroup_v2_files_as_headroom_reads_them():
    found = kernel._v2(CGROUP, TOP)
    assert found['version'] == 2
    assert found['limit'] == 64 << 20 and found['limit_dir'] == CGROUP
    assert found['events'] == {'oom': 1, 'oom_kill': 1}
    assert found['swap_limit'] is None  # memory.swap.max "max": no swap limit of its own (and no swap on the VM)
    assert found['swap_current'] == 0
    assert found['current'] == int(_text('sys', 'fs', 'cgroup', 'system.slice', UNIT, 'memory.current'))
    assert found['peak'] >= (64 << 20) - (1 << 20), found['peak']  # the worker reached the limit before the kill
    assert found['pressure'] and found['pressure']['some']['total'] > 0, found['pressure']


def test_the_unit_s_kills_are_counted_from_its_memory_events():
    counted = kernel._kills(CGROUP, 2)
    assert counted['total'] == 1 and counted['method'] == 'memory.events of the scope (hierarchical)', counted
    assert counted['by_cgroup'] == [{'cgroup': '/', 'oom_kill': 1}], counted


def test_the_kernel_s_report_is_the_unit_s_memory_cgroup_s():
    events = [event for event in oom.parse_oom_log(_text('journalctl-k.short-iso.txt'), origin='journal-text')
              if event.get('task_memcg') == '/system.slice/' + UNIT]
    assert len(events) == 1, events
    event = events[0]
    assert event['constraint'] == 'cgroup' and event['memcg'] == '/system.slice/' + UNIT, event
    assert event['comm'] == 'python3', event
    memory = (event.get('postmortem') or {}).get('memory') or {}
    assert memory.get('limit') == 64 << 20, event.get('postmortem')


def test_systemd_s_line_names_the_unit_and_the_unit_ran_on():
    """systemd's own line about the kill ("A process of this unit has been killed by the OOM killer.", PID 1,
    UNIT=) names the unit; with OOMPolicy=continue no "Failed with result 'oom-kill'" follows (the unit ran on,
    systemctl-show.txt: active, Result=success)."""
    events = oom.parse_oom_log(_text('unit.journal.json'), origin='journal')
    assert [(event['unit'], event['unit_result']) for event in events] == [(UNIT, None)], events
    shown = dict(line.split('=', 1) for line in _text('systemctl-show.txt').splitlines())
    assert shown['ActiveState'] == 'active' and shown['Result'] == 'success' and shown['OOMPolicy'] == 'continue'
