"""Kills by the early OOM killers, from their own log lines: earlyoom, systemd-oomd and nohang act before the
kernel does (on MemAvailable and SwapFree, or on pressure) and say whom they killed.

:func:`feed` is called by oom.parse_oom_log for each line whose writer (log_prefix: the journal's
``_SYSTEMD_UNIT`` and ``_COMM``, a syslog file's ident) is one of them, and for systemd's (PID 1) line
about a unit systemd-oomd killed. Each kill is an event of oom.parse_oom_log's shape with ``killer`` set
and, beyond it, ``signal``, ``rss`` (the victim's size as the daemon printed it, in bytes: earlyoom
and nohang print whole MiB), ``trigger`` (what made it act) and ``processes`` (systemd-oomd: how many
it killed in the cgroup, from systemd's line). A daemon's line names its victim but never proves a
kill on its own: a dry run, a failed kill or a victim gone before the signal take the kill back.

Line forms, from each daemon's source (the releases that print them):

earlyoom (rfjakob/earlyoom kill.c and main.c; warn() writes stderr, or syslog with ``--syslog``):

- v0.9-v1.0: ``Killing process %d %s``
- v1.1: ``Killing process: %s, pid: %d, badness: %d, VmRSS: %lu MiB``
- v1.2: ``Killing process '%s' with signal %d, pid: %d, badness: %d, VmRSS: %lu MiB``
- v1.3: ``sending %s to process %d "%s": badness %d, VmRSS %lu MiB``
- v1.4-v1.7 (Debian 11: 1.6.2, 12: 1.7): ``sending %s to process %d uid %d "%s": badness %d, VmRSS %lld MiB``
- v1.8-v1.8.2 (Debian 13): ``sending %s to process %d uid %d "%s": oom_score %d, VmRSS %lld MiB, cmdline "%s"``
- v1.9: ``sending %s to process %d uid %d "%s": oom_score %d, oom_score_adj %d, VmRSS %lld MiB, cmdline "%s"``
- then ``process exited after %.1f seconds`` (v1.3-v1.7), ``process %d exited after %.3f seconds`` (v1.8+),
  ``escalating to SIGKILL after %.1f seconds`` (``%.3f`` from v1.8), ``process %d did not exit`` (v1.8+),
  ``kill failed: %s`` (v1.3+: no kill), ``dryrun, not actually sending any signal`` (v1.6+: no kill); a
  signal ``0 (no-op signal)`` is its start-up self test (v1.7+ with -d), not a kill
- what made it act: ``low memory! at or below SIGTERM limits: mem %5.2lf%%, swap %5.2lf%%`` (v1.5+; v1.3-v1.4
  ``mem %d %%, swap %d %%``; v1.2 ``Low Memory! At or below sigterm limits (mem: %d %%, swap: %d %%)``): the limits
  it was given, not what was left; what was left is its report line before it, ``mem avail: %5lld of %5lld MiB
  (%5.2lf%%), swap free: %4lld of %4lld MiB (%5.2lf%%)`` (v1.5+ print_mem_stats; captured from v1.7 in the VM)

systemd-oomd (systemd src/oom/oomd-manager.c; log_notice to the journal):

- 247 (Debian 11): no line names the victim: ``Memory pressure for %s is greater than %lu for more than %llu
  seconds and there was reclaim activity`` or ``Swap used (%llu) / total (%llu) is more than %u%%``, then
  PID 1's ``<unit>: systemd-oomd killed %llu process(es) in this unit.`` (core/cgroup.c, 247+; 252+ also
  ``... killed some process(es) in this unit.``)
- between 247 and 252 (the systemd tree the search index holds, before FORMAT_TIMESPAN of 250): ``Killed %s due to
  memory pressure for %s being %lu.%02lu%% > %lu.%02lu%% for > %s with reclaim activity`` and ``Killed %s due
  to swap used (%llu) / total (%llu) being more than %i.%02i%%``
- PID 1's line about a kill (252: ``... killed %llu process(es) in this unit.``) comes before or after oomd's own:
  src/oom/oomd-util.c oomd_cgroup_kill() increments the cgroup's user.oomd_ooms before its SIGKILLs and its caller
  logs "Killed ..." after them, while PID 1 logs when it reads the xattrs (core/cgroup.c unit_check_oomd_kill):
  oomd's line came first by 1.5 ms in one VM capture, PID 1's first by 70 ms in another. One kill either way
- 252-257 (Debian 12, 13): the same pressure line; ``Killed %s due to memory used (%llu) / total (%llu) and swap
  used (%llu) / total (%llu) being more than %i.%02i%%``
- after 257 (systemd main, with its kill hooks): ``Marked %s for killing due to ...`` with the same reasons
- ``oomd dry-run: Would have tried to kill %s with recurse=%s`` (252+, log_info): no kill

nohang (hakavlad/nohang src/nohang, v0.2.0 in Debian 11-13, v0.3.0; print() to stdout, one journal line per
line of a message): ``Victim status (found in %sms):`` then ``  PID:       %s, name: %s, state: ...``,
``  Vm, MiB:   Size: %s, RSS: %s...``, ``  cgroup_v2: %s``; then ``Implementing a corrective action:`` and
``  Sending SIGTERM to the victim`` (or SIGKILL; ``Executing the command: ...`` is a soft action, not a
kill); ``Selected process died before corrective action`` or ``Cannot send a signal: PermissionError``
take it back.
"""

import re

from ..units import MIB

_SIGNALS = {'9': 'SIGKILL', '15': 'SIGTERM'}

# ----------------------------------------------------------------- earlyoom
_EARLYOOM_SEND = re.compile(
    r'^sending (?P<signal>SIGTERM|SIGKILL) to process (?P<pid>\d{1,10})(?: uid (?P<uid>\d{1,10}))? "(?P<comm>.{0,64}?)": '
    r'(?:badness|oom_score) (?P<score>-?\d{1,10})(?:, oom_score_adj (?P<adj>-?\d{1,5}))?, VmRSS (?P<rss>\d{1,20}) MiB'
    r'(?:, cmdline "(?P<cmdline>.*)")?', re.ASCII)
_EARLYOOM_12 = re.compile(r"^Killing process '(?P<comm>.{0,64}?)' with signal (?P<signum>\d{1,2}), pid: (?P<pid>\d{1,10}), "
                          r'badness: (?P<score>-?\d{1,10}), VmRSS: (?P<rss>\d{1,20}) MiB', re.ASCII)
_EARLYOOM_11 = re.compile(r'^Killing process: (?P<comm>.{0,64}?), pid: (?P<pid>\d{1,10}), badness: (?P<score>-?\d{1,10}), '
                          r'VmRSS: (?P<rss>\d{1,20}) MiB', re.ASCII)
_EARLYOOM_09 = re.compile(r'^Killing process (?P<pid>\d{1,10}) (?P<comm>.{1,64})$', re.ASCII)
_EARLYOOM_EXITED = re.compile(r'^process (?:(?P<pid>\d{1,10}) )?exited after (?P<seconds>\d{1,10}(?:\.\d{1,6})?) seconds', re.ASCII)
_EARLYOOM_ESCALATED = re.compile(r'^escalating to SIGKILL after (?P<seconds>\d{1,10}(?:\.\d{1,6})?) seconds', re.ASCII)
_EARLYOOM_SURVIVED = re.compile(r'^process (?P<pid>\d{1,10}) did not exit', re.ASCII)
_EARLYOOM_FAILED = re.compile(r'^kill failed: (?P<why>.{0,200})', re.ASCII)
_EARLYOOM_DRYRUN = 'dryrun, not actually sending any signal'
_EARLYOOM_AVAIL = re.compile(r'^mem avail: +(?P<avail>\d{1,20}) of +(?P<total>\d{1,20}) MiB \( ?(?P<pct>\d{1,3}\.\d{2})%\), '
                             r'swap free: +(?P<swap>\d{1,20}) of +(?P<swap_total>\d{1,20}) MiB', re.ASCII)
_EARLYOOM_LOW = re.compile(r'^low memory! at or below (?P<signal>SIGTERM|SIGKILL|sigterm|sigkill) limits:? '
                           r'\(?mem:? +(?P<mem>\d{1,3}(?:\.\d{1,2})?) ?%,? swap:? +(?P<swap>\d{1,3}(?:\.\d{1,2})?) ?%',
                           re.ASCII | re.IGNORECASE)

# ----------------------------------------------------------------- systemd-oomd
_OOMD_KILLED = re.compile(
    r'^(?:Killed|Marked) (?P<cgroup>/\S{0,4096}) (?:for killing )?due to '
    r'(?:memory pressure for (?P<target>\S{1,4096}) being (?P<pressure>\d{1,3}\.\d{2})% > (?P<limit>\d{1,3}\.\d{2})%'
    r' for > (?P<duration>\S{1,40}) with reclaim activity'
    r'|memory used \((?P<mem_used>\d{1,20})\) / total \((?P<mem_total>\d{1,20})\) and swap used \((?P<swap_used>\d{1,20})\)'
    r' / total \((?P<swap_total>\d{1,20})\) being more than (?P<swap_limit>\d{1,3}\.\d{2})%'
    r'|swap used \((?P<swap_used_old>\d{1,20})\) / total \((?P<swap_total_old>\d{1,20})\) being more than '
    r'(?P<swap_limit_old>\d{1,3}\.\d{2})%)', re.ASCII)
_OOMD_247_PRESSURE = re.compile(r'^Memory pressure for (?P<target>\S{1,4096}) is greater than (?P<limit>\d{1,3}) for more than '
                                r'(?P<seconds>\d{1,10}) seconds and there was reclaim activity', re.ASCII)
_OOMD_247_SWAP = re.compile(r'^Swap used \((?P<swap_used>\d{1,20})\) / total \((?P<swap_total>\d{1,20})\) is more than '
                            r'(?P<swap_limit>\d{1,3})%', re.ASCII)
# PID 1 (core/cgroup.c unit_check_oomd_kill)
UNIT_OOMD = re.compile(r'^(?P<unit>\S{1,256}): systemd-oomd killed (?:(?P<count>\d{1,10})|some) process\(es\) in this unit\.',
                       re.ASCII)

# ----------------------------------------------------------------- nohang
_NOHANG_STATUS = re.compile(r'^Victim status \(found in \d{1,10}ms\):', re.ASCII)
_NOHANG_PID = re.compile(r'^\s*PID:\s+(?P<pid>\d{1,10}), name: (?P<comm>.{0,64}?), state: ', re.ASCII)
_NOHANG_VM = re.compile(r'^\s*Vm, MiB:\s+Size: (?P<size>\d{1,20}), RSS: (?P<rss>\d{1,20})', re.ASCII)
_NOHANG_SEND = re.compile(r'^\s*Sending (?P<signal>SIGTERM|SIGKILL) to the victim', re.ASCII)
_NOHANG_UNDONE = ('Selected process died before corrective action', 'Cannot send a signal')

# earlyoom 1.8+ prints its victim's command line as it is, newlines and quotes too (captured from 1.8.2: a
# "python3 -c" program's lines each became a journal line), and a victim's own arguments can read as more kill
# lines. journald stamps every line of one read of earlyoom's stderr with the same time (captured: the kill line,
# its command line and "dryrun, not actually sending" share one __REALTIME_TIMESTAMP), and earlyoom sleeps at
# least 100 ms between two kills (main.c sleep_time_ms: min_sleep): a kill line, or what leads to one, stamped
# like a kill line with a command line before it is that command line, not a kill. What follows a kill (its
# exit, a failure, a dry run) still counts: a victim's arguments can at most take back its own kill.
# how many of a daemon's lines after its kill line still speak of that kill (earlyoom waits for its
# victim up to 10 s, logging nothing else in between), and nohang's from its victim's status to its signal
# (v0.2.0 in the VM: 20 lines of status, memory and pressure between them)
_FOLLOW = 12
_NOHANG_FOLLOW = 60


def new_state():
    """What :func:`feed` remembers between lines: per daemon, the kill it is reporting and what led to it."""
    return {'earlyoom': {'trigger': None, 'last': None, 'lines': 0, 'avail': None},
            'systemd-oomd': {'trigger': None, 'last': None, 'last_folded': False, 'unit_only': None, 'lines': 0},
            'nohang': {'victim': None, 'lines': 0}}


def _event(new_event, time, uptime, trusted, killer, pid=None, comm=None):
    event = new_event(time, uptime, trusted)
    event.update(killer=killer, pid=pid, comm=comm, signal=None, rss=None, trigger=None, processes=None)
    event['source_lines'] = 1
    return event


def _mib(text):
    return int(text) * MIB if text is not None else None


def feed(events, state, writer, message, time, uptime, trusted, new_event, at=None):
    """Read one line of an early OOM killer (``writer``) or systemd's line about an oomd kill, into
    ``events`` (oom.parse_oom_log's list; ``new_event`` its constructor). True when the line was one of
    theirs. ``at``: the line's time in seconds, exact (the journal's), or None."""
    if writer == 'earlyoom':
        return _earlyoom(events, state['earlyoom'], message, time, uptime, trusted, new_event, at)
    if writer == 'systemd-oomd':
        return _oomd(events, state['systemd-oomd'], message, time, uptime, trusted, new_event)
    if writer == 'nohang':
        return _nohang(events, state['nohang'], message, time, uptime, trusted, new_event)
    if writer == 'systemd':
        match = UNIT_OOMD.match(message)
        if match:
            return _oomd_unit(events, state['systemd-oomd'], match, time, uptime, trusted, new_event)
    return False


def _drop(events, event):
    for index in range(len(events) - 1, max(-1, len(events) - 64), -1):
        if events[index] is event:
            del events[index]
            return


def _earlyoom(events, mine, message, time, uptime, trusted, new_event, at=None):
    message = message.strip()
    mine['lines'] += 1
    last = mine['last'] if mine['lines'] <= _FOLLOW else None
    match = (_EARLYOOM_SEND.match(message) or _EARLYOOM_12.match(message) or _EARLYOOM_11.match(message)
             or _EARLYOOM_09.match(message))
    in_cmdline = at is not None and at == mine.get('cmdline_at')
    if in_cmdline and (match or _EARLYOOM_LOW.match(message) or _EARLYOOM_AVAIL.match(message)):
        return True  # the victim's command line, read as lines
    if match:
        groups = match.groupdict()
        signal = groups.get('signal') or _SIGNALS.get(groups.get('signum') or '', None)
        if match.re is _EARLYOOM_12 and signal is None:
            return True  # signal 0: the self test
        event = _event(new_event, time, uptime, trusted, 'earlyoom', int(groups['pid']), groups['comm'])
        event.update(signal=signal, rss=_mib(groups.get('rss')), trigger=mine['trigger'],
                     uid=int(groups['uid']) if groups.get('uid') else None,
                     score=int(groups['score']) if groups.get('score') else None,
                     oom_score_adj=int(groups['adj']) if groups.get('adj') else None)
        if groups.get('cmdline'):
            event['cmdline'] = groups['cmdline'][:300]
        events.append(event)
        mine.update(last=event, lines=0, trigger=None, cmdline_at=at if ', cmdline "' in message else None)
        return True
    match = _EARLYOOM_AVAIL.match(message)
    if match:
        mine['avail'] = {'mem_available': _mib(match.group('avail')), 'mem_total': _mib(match.group('total')),
                         'mem_available_pct': float(match.group('pct')), 'swap_free': _mib(match.group('swap')),
                         'swap_total': _mib(match.group('swap_total'))}
        mine['avail_line'] = mine['lines']
        return True
    match = _EARLYOOM_LOW.match(message)
    if match:
        mine['trigger'] = {'limits': match.group('signal').upper(), 'mem_limit_pct': float(match.group('mem')),
                           'swap_limit_pct': float(match.group('swap'))}
        if mine['avail'] is not None and mine['lines'] - mine.get('avail_line', -99) <= 2:
            mine['trigger'].update(mine['avail'])  # what was left then: its report just before
        mine['avail'] = None
        return True
    if last is None:
        return False
    if message.startswith(_EARLYOOM_DRYRUN) or _EARLYOOM_FAILED.match(message):
        _drop(events, last)  # no signal sent, or none delivered: no kill
        mine['last'] = None
        return True
    match = _EARLYOOM_ESCALATED.match(message)
    if match:
        last['signal'] = 'SIGKILL'
        last['escalated_after'] = float(match.group('seconds'))
        last['source_lines'] += 1
        return True
    match = _EARLYOOM_EXITED.match(message)
    if match and (match.group('pid') is None or int(match.group('pid')) == last['pid']):
        last['exited_after'] = float(match.group('seconds'))
        last['source_lines'] += 1
        return True
    match = _EARLYOOM_SURVIVED.match(message)
    if match and int(match.group('pid')) == last['pid']:
        last['exited_after'] = None
        last['source_lines'] += 1
        return True
    return False


def _oomd(events, mine, message, time, uptime, trusted, new_event):
    message = message.strip()
    mine['lines'] += 1
    match = _OOMD_KILLED.match(message)
    if match:
        groups = match.groupdict()
        cgroup = groups['cgroup']
        unit = cgroup.rstrip('/').rsplit('/', 1)[-1] or None
        # PID 1's line about this kill may have come first (oomd sets the cgroup's xattrs, which PID 1 reports, before
        # it logs this line: 70 ms before it in the VM): that line's kill is this one, not another
        pending = mine.get('unit_only')
        if pending is not None and pending.get('unit') == unit and any(event is pending for event in events[-8:]):
            event = pending
            event['source_lines'] += 1
            folded = True
        else:
            event = _event(new_event, time, uptime, trusted, 'systemd-oomd')
            folded = False
        event.update(task_memcg=cgroup, memcg=groups['target'] or None, signal='SIGKILL', unit=unit)
        if groups['pressure']:
            event['trigger'] = {'pressure_pct': float(groups['pressure']), 'limit_pct': float(groups['limit']),
                                'for': groups['duration'], 'cgroup': groups['target']}
        else:
            used = groups['swap_used'] or groups['swap_used_old']
            total = groups['swap_total'] or groups['swap_total_old']
            event['trigger'] = {'swap_used': int(used), 'swap_total': int(total),
                                'limit_pct': float(groups['swap_limit'] or groups['swap_limit_old'])}
            if groups['mem_used']:
                event['trigger'].update(mem_used=int(groups['mem_used']), mem_total=int(groups['mem_total']))
        if not folded:
            events.append(event)
        mine.update(last=event, last_folded=folded, unit_only=None, lines=0, trigger=None)
        return True
    match = _OOMD_247_PRESSURE.match(message)
    if match:
        mine['trigger'] = {'pressure_pct': None, 'limit_pct': float(match.group('limit')),
                           'for': '%ss' % match.group('seconds'), 'cgroup': match.group('target')}
        mine['lines'] = 0
        return True
    match = _OOMD_247_SWAP.match(message)
    if match:
        mine['trigger'] = {'swap_used': int(match.group('swap_used')), 'swap_total': int(match.group('swap_total')),
                           'limit_pct': float(match.group('swap_limit'))}
        mine['lines'] = 0
        return True
    return False


def _oomd_unit(events, mine, match, time, uptime, trusted, new_event):
    """systemd's own line that systemd-oomd killed in a unit: the count to the daemon's kill of that
    unit's cgroup, or (systemd 247, whose oomd names no victim) the kill itself."""
    unit = match.group('unit')
    count = int(match.group('count')) if match.group('count') else None
    # the daemon's last kill, when PID 1 has not spoken of it yet: this line is about it (one line each per kill)
    last = mine.get('last')
    if (last is not None and not mine.get('last_folded') and any(event is last for event in events[-8:])
            and (last['task_memcg'] or '').rstrip('/').endswith('/' + unit)):
        last['processes'] = count
        last['unit'] = unit
        last['source_lines'] += 1
        mine['last_folded'] = True
        return True
    # systemd 247's oomd names no victim, and on 252 this line may come before oomd's own (_oomd folds it in then)
    event = _event(new_event, time, uptime, trusted, 'systemd-oomd')
    event.update(unit=unit, processes=count, signal='SIGKILL',
                 trigger=mine['trigger'] if mine['lines'] <= _FOLLOW else None)
    events.append(event)
    mine.update(trigger=None, unit_only=event)
    return True


# nohang's victim status (find_victim_info(), v0.2.0 and v0.3.0): its lines come in this order, one print();
# after them come the victim's ancestry, command line (when asked), exe and cwd paths, which the victim chooses:
# a path can hold newlines and read as more status lines. So the status is its fields in their order, each once,
# and it ends at the first line that is not the next of them (the query keeps only some: any may be missing).
_NOHANG_BADNESS = re.compile(r'^\s*badness:\s+-?\d{1,10}, oom_score:', re.ASCII)
_NOHANG_FIELDS = (('pid', _NOHANG_PID), ('badness', _NOHANG_BADNESS), ('vm', _NOHANG_VM),
                  ('cgroup_v1', re.compile(r'^\s*cgroup_v1:', re.ASCII)),
                  ('cgroup_v2', re.compile(r'^\s*cgroup_v2:\s*(?P<cgroup>\S{0,4096})\s*$', re.ASCII)))


def _nohang(events, mine, message, time, uptime, trusted, new_event):
    mine['lines'] += 1
    if _NOHANG_STATUS.match(message) and mine.get('field') is None:
        mine.update(victim={}, lines=0, last=None, field=-1)
        return True
    victim = mine['victim'] if mine['lines'] <= _NOHANG_FOLLOW else None
    if victim is not None and mine.get('field') is not None:
        for index, (name, pattern) in enumerate(_NOHANG_FIELDS[mine['field'] + 1:], mine['field'] + 1):
            match = pattern.match(message)
            if match:
                break
        else:
            match = None
        if match is None:
            mine['field'] = None  # the status is over: what follows is the victim's paths, then nohang's own lines
        else:
            mine['field'] = index if name != 'cgroup_v2' else None
            if name == 'pid':
                victim.update(pid=int(match.group('pid')), comm=match.group('comm'))
            elif name == 'vm':
                victim['rss'] = _mib(match.group('rss'))
            elif name == 'cgroup_v2' and match.group('cgroup'):
                victim['cgroup'] = match.group('cgroup')
            return True
    match = _NOHANG_SEND.match(message)
    if match:
        victim = victim or {}
        event = _event(new_event, time, uptime, trusted, 'nohang', victim.get('pid'), victim.get('comm'))
        cgroup = victim.get('cgroup')
        event.update(signal=match.group('signal'), rss=victim.get('rss'), task_memcg=cgroup,
                     unit=cgroup.rsplit('/', 1)[-1] if cgroup and cgroup.endswith('.service') else None)
        events.append(event)
        mine.update(victim=None, last=event, lines=0)
        return True
    if message.strip().startswith(_NOHANG_UNDONE) and mine.get('last') is not None and mine['lines'] <= _FOLLOW:
        _drop(events, mine['last'])
        mine['last'] = None
        return True
    return False
