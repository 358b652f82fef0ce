"""Units systemd stopped after an OOM kill, and whether and when they came back.

On cgroup v2 systemd reads each unit's ``memory.events``; when the kernel OOM-kills any process of a
service, the unit's ``OOMPolicy=`` decides (src/core/service.c service_notify_cgroup_oom_event(), systemd
243+): ``stop``, the default (``DefaultOOMPolicy=`` in system.conf), stops the whole unit and it fails
with result ``oom-kill``; ``kill`` kills the rest; ``continue`` only logs. So one gunicorn worker killed
takes its master and every other worker down, and the unit's cgroup, with its ``memory.events``, is
removed: that unit's kills are then counted from the log alone. The same follows a kill by systemd-oomd
(``ManagedOOM...=kill``). The site is down until something restarts the unit.

The OOM history (oom.py) gives each such stop: systemd's ``<unit>: Failed with result 'oom-kill'.`` folded
into the kill of that unit's process. This module reads, within the reading's bounds, what became of it:

- ``systemctl show -p <SHOW_PROPERTIES> <units>`` for the units named in kill lines (its ``Key=value``
  blocks, one per unit, separated by an empty line: src/systemctl/systemctl-show.c show_one(); the
  ``*TimestampMonotonic`` values are microseconds since boot, printed by every release);
- for each stopped unit, systemd's own journal lines about it since the stop (``_PID=1 UNIT=<unit>``):
  ``Scheduled restart job, restart counter is at %u.`` (service.c, 236+; 256+ may add " immediately on
  client request"), ``Started %s.`` and ``Stopped %s.`` (job.c job_done_message_format(); %s is the
  unit's description, "<unit> - <Description>" since 249), with their MESSAGE_IDs (sd-messages.h:
  SD_MESSAGE_UNIT_STARTED 39f53479..., SD_MESSAGE_UNIT_STOPPED 9d1aaa27..., SD_MESSAGE_UNIT_RESTART_SCHEDULED
  5eb03494...) and ``JOB_TYPE``/``JOB_RESULT``, and ``Failed with result '%s'.`` (unit.c unit_log_failure()).

Pure parsing and deciding here; collect.py runs the commands.
"""

import json
import re

SHOW_PROPERTIES = ('Id', 'LoadState', 'ActiveState', 'SubState', 'Result', 'NRestarts', 'OOMPolicy', 'Restart', 'Transient',
                   'ActiveEnterTimestampMonotonic', 'InactiveEnterTimestampMonotonic')
# units systemctl is asked about, and stopped units whose journal is read (one journalctl each)
UNITS_SHOWN = 20
STOPS_READ = 5
# the newest stops described (a unit that fails again and again: each is matched against its journal lines)
STOPS_KEPT = 100
# systemd's lines about a stopped unit that are read after its stop: an hour, then the unit's state now
FOLLOW_SECONDS = 3600

_STARTED = '39f53479d3a045ac8e11786248231fbf'
_STOPPED = '9d1aaa27d60140bd96365438aad20286'
_RESTART = '5eb03494b6584870a536b337290809b3'
_RESTART_WORDS = re.compile(r'^\S{1,256}: Scheduled restart job(?:[^,]{0,40}), restart counter is at (?P<n>\d{1,10})\.',
                            re.ASCII)
_FAILED_WORDS = re.compile(r"^\S{1,256}: Failed with result '(?P<result>[a-z-]{1,40})'\.", re.ASCII)
_UNIT = re.compile(r'^[A-Za-z0-9:_.\\@-]{1,256}\.(?:service|scope|socket|slice|mount|swap|target|timer|path|device|automount)$',
                   re.ASCII)


def valid_unit(name):
    """A unit name as systemd allows it (unit-name.c: letters, digits, ":-_.\\@", a known suffix): nothing
    else reaches a command line."""
    return isinstance(name, str) and _UNIT.match(name) is not None


def killed_units(events):
    """The units named in kill lines, newest first: systemd's unit lines, and the victim's cgroup when its
    last part is a service or a scope."""
    units = []
    for event in reversed(events):
        for name in (event.get('unit'), (event.get('task_memcg') or '').rstrip('/').rsplit('/', 1)[-1]):
            if valid_unit(name) and not name.endswith('.slice') and name not in units:
                units.append(name)
    return units[:UNITS_SHOWN]


def show_command(units):
    return ['systemctl', 'show', '--no-pager', '-p', ','.join(SHOW_PROPERTIES)] + list(units)


def parse_show(text):
    """{unit: {property: value}} of ``systemctl show``'s blocks (an unknown property is not printed by old
    releases: OOMPolicy before 243); a block without ``Id=`` is skipped."""
    units = {}
    block = {}
    for line in (text or '').splitlines() + ['']:
        if not line.strip():
            if block.get('Id'):
                units[block['Id']] = block
            block = {}
            continue
        key, sep, value = line.partition('=')
        if sep and key in SHOW_PROPERTIES:
            block[key] = value.strip()
    return units


def lifecycle_command(unit, since, until):
    """systemd's own journal lines about ``unit`` from ``since`` to ``until`` (epochs), as JSON."""
    return ['journalctl', '--no-pager', '-q', '-o', 'json',
            '--output-fields=MESSAGE,MESSAGE_ID,JOB_TYPE,JOB_RESULT,UNIT,_PID,_TRANSPORT',
            '--since', '@%d' % int(since), '--until', '@%d' % int(until + 1), '_PID=1', 'UNIT=' + unit]


def parse_lifecycle(text, unit):
    """[(epoch, what, detail)] of systemd's lines about ``unit``: 'failed' (its result), 'restart' (the
    restart counter), 'started', 'stopped'; oldest first. Entries not from PID 1 or about another unit are
    skipped."""
    found = []
    for line in (text or '').splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get('_PID') != '1' or entry.get('UNIT') != unit:
            continue
        message, mid = entry.get('MESSAGE'), entry.get('MESSAGE_ID')
        try:
            epoch = int(entry.get('__REALTIME_TIMESTAMP')) / 1e6
        except (TypeError, ValueError):
            continue
        if not isinstance(message, str):
            continue
        job = (entry.get('JOB_TYPE'), entry.get('JOB_RESULT'))
        restart = _RESTART_WORDS.match(message)
        failed = _FAILED_WORDS.match(message)
        if mid == _RESTART or restart:
            found.append((epoch, 'restart', int(restart.group('n')) if restart else None))
        elif failed:
            found.append((epoch, 'failed', failed.group('result')))
        elif mid == _STARTED or job == ('start', 'done') or (job == ('restart', 'done') and message.startswith('Started ')):
            found.append((epoch, 'started', None))
        elif mid == _STOPPED or (job[1] == 'done' and message.startswith('Stopped ')):
            found.append((epoch, 'stopped', None))
    found.sort(key=lambda item: item[0])
    return found


_KEPT = ('LoadState', 'ActiveState', 'SubState', 'Result', 'NRestarts', 'OOMPolicy', 'Restart', 'Transient')


def _epoch_of(monotonic, btime):
    try:
        value = int(monotonic)
    except (TypeError, ValueError):
        return None
    return btime + value / 1e6 if value > 0 and btime is not None else None


def stops(events, deaths, shown, lifecycles, btime, now):
    """One entry per stop of a unit after an OOM kill (an event with ``unit_result`` 'oom-kill'):

    ``unit``, ``at`` (when it failed, epoch), ``killer``, ``victim`` ({pid, command}), ``main_killed``
    (the unit's main process was the one killed: systemd's "Main process exited, code=killed,
    status=9/KILL" linked to that kill), ``restart_scheduled_at``, ``restarted_at``, ``down_seconds``
    (to the restart, or to ``now`` while still down), ``still_down``, ``restarts`` (systemd's counter
    in its line), ``state`` (systemctl show's properties, now) and ``memory_events`` (what became of
    the unit's memory.events: removed with its cgroup, unless the unit is up again)."""
    result = []
    last_stop = {}  # a unit's last stop: an earlier one is not "still down", whatever its state now
    for event in events:
        if event.get('unit_result') == 'oom-kill' and event.get('epoch_failed') is not None:
            last_stop[event.get('unit')] = max(last_stop.get(event.get('unit'), event['epoch_failed']), event['epoch_failed'])
    stopped = [event for event in events if event.get('unit_result') == 'oom-kill' and valid_unit(event.get('unit'))
               and event.get('epoch_failed') is not None]
    for event in stopped[-STOPS_KEPT:]:
        unit = event.get('unit')
        at = event['epoch_failed']
        state = shown.get(unit) or {}
        lines = [item for item in (lifecycles.get(unit) or [])[-10000:] if item[0] >= at - 1]
        restart = next((item for item in lines if item[1] == 'restart'), None)
        started = next((item for item in lines if item[1] == 'started' and item[0] >= at), None)
        restarted_at = started[0] if started else None
        if restarted_at is None:  # the journal's lines may be out of reach: systemd's own word on when it last came up
            active = _epoch_of(state.get('ActiveEnterTimestampMonotonic'), btime)
            if active is not None and active > at and state.get('ActiveState') in ('active', 'reloading', 'activating'):
                restarted_at = active
        later_stop = last_stop[unit] > at
        # down: loaded and not active now (a transient unit collected after it failed is gone, not down)
        still_down = (restarted_at is None and not later_stop and state.get('LoadState') in (None, 'loaded')
                      and state.get('ActiveState') not in (None, 'active', 'reloading', 'activating'))
        main = [d for d in deaths or [] if d.get('server') == 'systemd' and d.get('unit') == unit
                and d.get('kernel_pid') is not None and d.get('kernel_pid') == event.get('pid')]
        result.append({
            'unit': unit, 'at': at, 'killer': event.get('killer', 'kernel'),
            'victim': {'pid': event.get('pid'), 'command': event.get('comm')},
            'main_killed': bool(main),
            'restart_scheduled_at': restart[0] if restart else None,
            'restarts': restart[2] if restart else None,
            'restarted_at': restarted_at,
            'down_seconds': round((restarted_at if restarted_at is not None else now) - at, 1)
            if (restarted_at is not None or still_down) and now is not None else None,
            'still_down': still_down,
            'state': dict((key, state[key]) for key in _KEPT if key in state),
            'memory_events': ('removed with the unit\'s cgroup when it stopped: its kills are counted from the log'
                              if restarted_at is None else 'removed when it stopped; the restarted unit counts from 0'),
        })
    return result
