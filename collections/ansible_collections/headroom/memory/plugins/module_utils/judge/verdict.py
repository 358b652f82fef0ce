"""The verdict: from a host's memory facts to its verdict and ranked recommendations (the judging
half of a diagnosis; judge/memory_facts.py puts the reading and this together).

Pure functions, no I/O. ``audit(facts, policy)`` takes the facts memory_facts
collects (see ``audit`` for their shape) and a policy (thresholds and process
lists, ``DEFAULT_POLICY`` merged with the user's) and returns

    {'verdict': 'ok' | 'warning' | 'critical',
     'reasons': [{'level', 'signal', 'message'}],
     'recommendations': [{'rank', 'step', 'title', 'detail', 'role', 'bytes'}],
     'effective_total', 'usable', 'usable_pct', 'limited_by_cgroup',
     (``usable`` is what the workload can still have: MemAvailable, capped by the cgroup's limit when
     that is tighter, of ``effective_total``; the facts' ``memory.available`` stays free's, the
     machine's MemAvailable)
     'swap_total', 'swap_used' (the swap the workload may use: a cgroup's swap limit caps the machine's),
     'summary', 'lines'}

Recommendations follow the order an operator would try them, cheapest first:
processes, caches, code, swap, guard (kill early rather than stall), refactor, scale.
"""

import fnmatch
import re
import time

from .ec2 import next_size
from ..read.guard import mglru_on
from ..units import GIB, duration, finite, human

STEPS = ('processes', 'caches', 'code', 'swap', 'guard', 'refactor', 'scale')
# what the OOM killer should take last (process names, as the kernel's kill lines give them)
PROTECTED = ('sshd', 'postgres', 'mysqld', 'mariadbd', 'redis-server', 'mongod', 'systemd', 'systemd-journal')

DEFAULT_POLICY = {
    # MemAvailable as a share of the memory the host (or its cgroup) may use
    'available_warning_pct': 20.0,
    'available_critical_pct': 10.0,
    # share of swap in use (systemd-oomd acts at 90)
    'swap_used_warning_pct': 50.0,
    'swap_used_critical_pct': 90.0,
    # swap traffic, bytes/s in + out: the thrash signal
    'swap_rate_warning_bytes': 1048576,
    'swap_rate_critical_bytes': 16777216,
    # direct reclaim, pages scanned per second by allocating tasks
    'direct_scan_warning_pages': 1000,
    # PSI averages over 10 s, percent of time stalled
    'psi_some_warning': 10.0,
    'psi_full_critical': 20.0,
    # a host that stalls instead of killing: PSI full over the last minute (sustained), or major
    # faults per second (the working set read back from disk) beside direct reclaim, and no OOM kill
    'psi_full_stall_pct': 5.0,
    'majfault_stall_rate': 1000,
    # OOM kills in the last oom_window_hours before it is a warning (older ones are reported, not judged)
    'oom_kills_warning': 1,
    'oom_window_hours': 24,
    # one command holding this share of memory is a runaway candidate
    'runaway_pct': 40.0,
    # unreclaimable kernel slab above this share points at the kernel, not a process
    'slab_unreclaimable_warning_pct': 10.0,
    # a command not on the allow list is reported as unknown from this size on
    'unknown_min_bytes': 52428800,
    # a process whose RSS grows this much across top's samples is a leak or a heavy code path
    'growth_warning_bytes': 52428800,
    # fnmatch patterns on the command name
    'allow': [],
    'deny': [],
}

# (warning, critical, whether the warning threshold is the higher number)
_ORDERED = (('available_warning_pct', 'available_critical_pct', True),
            ('swap_used_warning_pct', 'swap_used_critical_pct', False),
            ('swap_rate_warning_bytes', 'swap_rate_critical_bytes', False))
_REDIS_LIKE = ('redis-server', 'redis', 'valkey-server', 'keydb-server')
_CACHE_SERVERS = _REDIS_LIKE + ('memcached',)
_APP_SERVERS = ('gunicorn', 'uwsgi', 'celery', 'python', 'python3', 'python2', 'php-fpm*',
                'puma', 'unicorn', 'node', 'java', 'ruby', 'daphne', 'uvicorn', 'dotnet')
_LEVELS = ('ok', 'warning', 'critical')
# Signals that say memory is short now (an OOM kill in the history says it was, once).
_SHORT_SIGNALS = ('available', 'swap_used', 'swap_rate', 'direct_reclaim', 'pressure', 'commit')


def merge_policy(user=None):
    """DEFAULT_POLICY updated with ``user``; an unknown key or a wrong type raises ValueError."""
    policy = dict(DEFAULT_POLICY)
    for key, value in (user or {}).items():
        if key not in DEFAULT_POLICY:
            raise ValueError('unknown threshold %r; known: %s' % (key, ', '.join(sorted(DEFAULT_POLICY))))
        default = DEFAULT_POLICY[key]
        if isinstance(default, list):
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ValueError('%s must be a list of patterns, got %r' % (key, value))
        else:
            value = _number(key, value)
        policy[key] = value
    for warning, critical, higher in _ORDERED:
        # a host must reach the warning before the critical level: a critical available share above
        # the warning one, or a critical swap share below the warning one, would skip the warning
        if (policy[warning] < policy[critical]) if higher else (policy[warning] > policy[critical]):
            raise ValueError('%s (%s) must be %s %s (%s): a host is a warning before it is critical'
                             % (warning, policy[warning], 'at least' if higher else 'at most', critical,
                                policy[critical]))
    if policy['oom_window_hours'] <= 0:
        raise ValueError('oom_window_hours must be more than 0, got %r' % policy['oom_window_hours'])
    return policy


def _matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


_NUMERIC = re.compile(r'^-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$', re.ASCII)


def _number(key, value):
    """A threshold as a number: ``-e`` and templating hand over ``'25'`` as often as 25. Finite, not
    negative, and no bool; ValueError naming the key otherwise."""
    if isinstance(value, str):
        # int() and float() would also take '２５', '2_5' and 'nan': a number is plain ASCII
        if len(value) > 40 or not _NUMERIC.match(value.strip()):
            raise ValueError('%s must be a number, got %r' % (key, value[:40]))
        text = value.strip()
        value = float(text) if any(c in text for c in '.eE') else int(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError('%s must be a number, got %r' % (key, value))
    if not finite(value) or abs(value) > 1e18:
        raise ValueError('%s must be a finite number, got %r' % (key, value))
    if value < 0:
        raise ValueError('%s must not be negative, got %r' % (key, value))
    return value


def classify(groups, policy):
    """Mark each group 'denied', 'allowed', 'unknown' (big and not allowed) or None."""
    for group in groups:
        if _matches(group['command'], policy['deny']):
            group['status'] = 'denied'
        elif _matches(group['command'], policy['allow']):
            group['status'] = 'allowed'
        elif policy['allow'] and group['memory'] >= policy['unknown_min_bytes']:
            group['status'] = 'unknown'
        else:
            group['status'] = None
    return groups


def effective_swap(memory, cgroup):
    """(total, used) of the swap the workload may really use: a cgroup's swap limit caps the machine's.

    Inside a container `free` shows the machine's swap; memory.swap.max (v2) or memsw minus mem (v1)
    says how much of it the container's processes may use: 0 means they cannot swap at all.
    """
    total, used = memory.get('swap_total') or 0, memory.get('swap_used') or 0
    if cgroup and cgroup.get('swap_limit') is not None and cgroup['swap_limit'] < total:
        current = cgroup.get('swap_current')
        return cgroup['swap_limit'], min(used, current if current is not None else used, cgroup['swap_limit'])
    return total, used


def effective_memory(memory, cgroup):
    """(total, usable) the workload really has: the cgroup's limit and what it leaves when it is tighter
    than the machine, else RAM and MemAvailable."""
    total, available = memory['total'], memory['available']
    if cgroup and cgroup.get('limit') and cgroup['limit'] < total:
        cg_available = cgroup['limit'] - (cgroup.get('current') or 0) + (cgroup.get('reclaimable') or 0)
        return cgroup['limit'], max(0, min(available, cg_available))
    return total, available


def audit(facts, policy=None):
    """Judge one host.

    ``facts``: {'memory': {total, available, swap_total, swap_used, shared} bytes,
    'meminfo': parsed /proc/meminfo or None, 'cgroup': {limit, current, ...} or None,
    'rates': {'swap_bytes', 'pgscan_direct'} per second or None,
    'pressure': {'some': {'avg10'}, 'full': {...}} or None, 'oom_kills': int,
    'oom_events': [...] or only their victims' names ('oom_victims'), 'overcommit_memory': int or None,
    'groups': group_processes()}
    """
    policy = policy if policy is not None else dict(DEFAULT_POLICY)
    memory = facts['memory']
    total, usable = effective_memory(memory, facts.get('cgroup'))
    usable_pct = 100.0 * usable / total if total else 0.0
    reasons = []

    def reason(level, signal, message):
        reasons.append({'level': level, 'signal': signal, 'message': message})

    limited = total != memory['total']
    scope = 'of the cgroup limit' if limited else 'of RAM'
    if usable_pct <= policy['available_critical_pct']:
        reason('critical', 'available', '%.1f%% available (%s %s %s)'
               % (usable_pct, human(usable), scope, human(total)))
    elif usable_pct <= policy['available_warning_pct']:
        reason('warning', 'available', '%.1f%% available (%s %s %s)'
               % (usable_pct, human(usable), scope, human(total)))

    watched = (facts.get('watch') or {}).get('lowest')
    if watched and total:
        pct = 100.0 * watched['available'] / total
        level = ('critical' if pct <= policy['available_critical_pct'] else
                 'warning' if pct <= policy['available_warning_pct'] else None)
        if level:
            held = ', '.join(_held(c['command'], c['count'], c['rss']) for c in (watched.get('commands') or [])[:3])
            reason(level, 'watch', 'during the %s s watch, available memory fell to %.1f%% (%s %s %s) at %s%s'
                   % (_num(facts['watch']['seconds']), pct, human(watched['available']), scope, human(total),
                      when(watched['at']), '; the biggest then: %s (RSS)' % held if held else ''))

    swap_total, swap_used = effective_swap(memory, facts.get('cgroup'))
    swap_pct = 100.0 * swap_used / swap_total if swap_total else 0.0
    if swap_total and swap_pct >= policy['swap_used_critical_pct']:
        reason('critical', 'swap_used', 'swap %.0f%% used (%s of %s)' % (swap_pct, human(swap_used), human(swap_total)))
    elif swap_total and swap_pct >= policy['swap_used_warning_pct']:
        reason('warning', 'swap_used', 'swap %.0f%% used (%s of %s)' % (swap_pct, human(swap_used), human(swap_total)))

    rates = facts.get('rates') or {}
    swap_rate = rates.get('swap_bytes')
    if swap_rate is not None and swap_rate >= policy['swap_rate_critical_bytes']:
        reason('critical', 'swap_rate', 'swapping %s/s: the host is thrashing' % human(swap_rate))
    elif swap_rate is not None and swap_rate >= policy['swap_rate_warning_bytes']:
        reason('warning', 'swap_rate', 'swapping %s/s' % human(swap_rate))
    scan = rates.get('pgscan_direct')
    if scan is not None and scan >= policy['direct_scan_warning_pages']:
        reason('warning', 'direct_reclaim', 'processes stall reclaiming memory themselves (%d pages/s scanned): '
               'the CPU spike of a host running out of memory' % scan)

    pressure = facts.get('pressure') or {}
    some = (pressure.get('some') or {}).get('avg10')
    full = (pressure.get('full') or {}).get('avg10')
    if full is not None and full >= policy['psi_full_critical']:
        reason('critical', 'pressure', 'all tasks stalled on memory %.1f%% of the last 10 s (PSI full)' % full)
    elif some is not None and some >= policy['psi_some_warning']:
        reason('warning', 'pressure', 'tasks stalled on memory %.1f%% of the last 10 s (PSI some)' % some)

    said = same_machine(facts.get('identity'), facts.get('oom'))
    if said:
        reason('ok', 'identity', said)

    oom = oom_summary(facts)
    oom_kills = oom['recent'] or 0
    victims = ' (%s)' % ', '.join(oom['victims']) if oom['victims'] else ''
    last = ', the last at %s' % when(oom['last']) if oom['last'] else ''
    # kills since the previous run when the history has one within the window, else in the window
    judged = ('since the last run (%s)' % when(oom['since_previous_run']) if oom.get('judged_since_run')
              else 'in the last %s h' % _num(oom['window_hours']))
    # the early OOM killers' kills beside the kernel's: who killed, since the fix differs (a guard too eager)
    early = sorted((killer, count) for killer, count in (oom.get('by_killer') or {}).items() if killer != 'kernel' and count)
    killers = ('; by killer: %s' % ', '.join(['the kernel %d' % (oom['by_killer'].get('kernel') or 0)]
                                             + ['%s %d' % item for item in early]) if early else '')
    if oom_kills >= policy['oom_kills_warning']:
        undated = ' (%d with no time: no kernel log line dates them)' % oom['undated'] if oom['undated'] else ''
        reason('warning', 'oom_kills', '%s %d process(es) %s%s%s%s%s'
               % ('the OOM killers have killed' if early else 'the OOM killer has killed', oom_kills, judged, victims,
                  last, undated, killers))
    elif oom['kills']:
        reason('ok', 'oom_kills_past', 'no OOM kill %s; %d before%s%s' % (judged, oom['kills'], victims, last))
    if oom['kills'] is not None and oom['incomplete']:
        reason('ok', 'oom_history', 'the kill history may be incomplete: %s' % '; '.join(oom['incomplete']))
    unconfirmed = oom.get('unconfirmed') or {}
    if unconfirmed.get('count'):
        # no name from them: a line any user can write must not name a victim nor pick the guard
        reason('ok', 'oom_unconfirmed', '%d kill line(s) not judged: no kernel record holds them, and %s'
               % (unconfirmed['count'], '; '.join(source['note'] for source in unconfirmed.get('sources') or [])
                  or 'their source cannot tell who wrote them'))
    held = last_picture(facts.get('postmortem'))
    if held:
        reason('ok', 'oom_postmortem', held)
    for service in (facts.get('app_deaths') or {}).get('services') or []:
        if service['recent']:
            linked = service['oom_killed']
            # systemd's own line is about the unit's main process, not a worker its master respawns
            lost = ('the main process of %s was killed by SIGKILL %d time(s)' % (service['service'], service['recent'])
                    if service['server'] == 'systemd' else
                    '%s lost %d %s worker(s) to SIGKILL' % (service['service'], service['recent'], service['server']))
            reason('warning', 'app_deaths', '%s %s%s%s' % (
                lost, judged,
                ', the last at %s' % when(service['last']) if service['last'] else '',
                (' (%d of %d seen in the kernel\'s OOM log)' % (linked, service['lost'])
                 if (service.get('killers') or ['kernel']) == ['kernel'] else
                 ' (%d of %d seen in the OOM killers\' logs: %s)' % (linked, service['lost'], ', '.join(service['killers'])))
                if linked else
                ' (none in the kernel\'s OOM log: killed by something else, or the log is incomplete)'))

    for level, signal, message in data_store_reasons(facts):
        reason(level, signal, message)

    for stop in oom.get('unit_stops') or []:
        level = unit_stop_level(stop, oom.get('judged_from'))
        if level:
            reason(level, 'unit_stopped', unit_stop_words(stop))

    meminfo = facts.get('meminfo') or {}
    sunreclaim = meminfo.get('SUnreclaim')
    if sunreclaim and total and 100.0 * sunreclaim / memory['total'] >= policy['slab_unreclaimable_warning_pct']:
        reason('warning', 'slab', 'the kernel holds %s of unreclaimable slab: look at drivers and kernel '
               'objects, not processes' % human(sunreclaim))
    committed, limit = meminfo.get('Committed_AS'), meminfo.get('CommitLimit')
    if committed and limit and facts.get('overcommit_memory') == 2 and committed >= limit:
        reason('critical', 'commit', 'commit limit reached (%s of %s, vm.overcommit_memory=2): allocations fail'
               % (human(committed), human(limit)))

    groups = facts.get('groups') or []
    for group in groups:
        if group.get('status') == 'denied':
            reason('warning', 'denied_process', '%s is running (%d process(es), %s) but is on the deny list'
                   % (group['command'], group['count'], human(group['memory'])))
    # One process holding that share is a runaway; a pool of workers that does (a normal 4-worker
    # gunicorn) is a question of how many fit, which the code step answers. A pool that grows is
    # the growth signal below.
    runaway = [g for g in groups if total and 100.0 * _largest(g)['memory'] / total >= policy['runaway_pct']]
    for group in runaway:
        largest = _largest(group)
        reason('warning', 'runaway', '%s (pid %s) holds %.0f%% of memory (%s)'
               % (group['command'], largest['pid'], 100.0 * largest['memory'] / total, human(largest['memory'])))

    growing = [g for g in facts.get('growth') or [] if g['grew'] >= policy['growth_warning_bytes']]
    for item in growing:
        reason('warning', 'growth', '%s (pid %s) grew by %s%s while it was watched'
               % (item['command'], item['pid'], human(item['grew']), _within(item.get('seconds'))))

    stall = stalling(rates, pressure, oom_kills, policy)
    if stall['stalling']:
        reason('critical', 'stall', 'the host stalls instead of killing: %s, and no OOM kill %s: the kernel '
               'keeps reclaiming (the server answers slowly or not at all) rather than freeing memory'
               % (', '.join(stall['signals']), judged))

    verdict = max((r['level'] for r in reasons), key=_LEVELS.index, default='ok')
    short = any(r['signal'] in _SHORT_SIGNALS for r in reasons)
    # kills of what should go last (sshd, the database, Redis): the guard step ranks them
    protected = sorted(set(oom['victims']) & set(PROTECTED)) if oom_kills else []
    recommendations = _recommend(short, total, usable, memory, meminfo, groups, runaway, rates,
                                 oom_kills, policy, facts.get('instance_type'), growing,
                                 swap_total, facts.get('cgroup'), stall, facts.get('app_servers'), facts.get('guard'),
                                 protected, facts.get('instance_sizes'))
    recommendations = _with_unit_policy(recommendations, [stop for stop in oom.get('unit_stops') or []
                                                          if unit_stop_level(stop, oom.get('judged_from'))])
    result = {
        'verdict': verdict,
        'reasons': reasons,
        'recommendations': recommendations,
        'effective_total': total,
        'usable': usable,
        'swap_total': swap_total,
        'swap_used': swap_used,
        'usable_pct': round(usable_pct, 1),
        'limited_by_cgroup': limited,
        'stall': stall,
        'summary': summary(verdict, usable, total, swap_used, swap_total, oom_kills),
    }
    result['lines'] = lines(result)
    return result


def unit_stop_level(stop, judged_from):
    """'critical' for a unit still down after systemd stopped it on an OOM kill (the site is gone), 'warning'
    for one stopped since the judged start (``judged_from``: the previous run or the OOM window), else None. A
    transient unit (systemd-run: a job, not a service someone relies on) still down is judged as a stop."""
    if stop.get('still_down') and (stop.get('state') or {}).get('Transient') != 'yes':
        return 'critical'
    if judged_from is None or (stop.get('at') or 0) >= judged_from:
        return 'warning'
    return None


def _span(seconds):
    """'12 s', '4.5 min', '3.2 h'."""
    if seconds < 120:
        return '%s s' % _num(round(seconds, 1))
    if seconds < 7200:
        return '%s min' % _num(round(seconds / 60.0, 1))
    return '%s h' % _num(round(seconds / 3600.0, 1))


def unit_stop_words(stop):
    """'gunicorn.service was stopped by systemd at T after the OOM killer took one of its processes (gunicorn,
    pid N; OOMPolicy=stop); it was down 10.4 s (restarted at T) ...'."""
    state = stop.get('state') or {}
    who = 'systemd-oomd' if stop.get('killer') == 'systemd-oomd' else 'the OOM killer'
    victim = stop.get('victim') or {}
    took = ('its main process' if stop.get('main_killed') else
            'its processes' if who == 'systemd-oomd' else 'one of its processes')
    named = '%s, pid %s' % (victim['command'], victim['pid']) if victim.get('pid') else ''
    policy = '' if stop.get('main_killed') else 'OOMPolicy=%s' % (state.get('OOMPolicy') or 'stop, the default')
    detail = '; '.join(part for part in (named, policy) if part)
    text = '%s was stopped by systemd at %s after %s took %s%s' % (
        stop['unit'], when(stop['at']), who, took, ' (%s)' % detail if detail else '')
    if stop.get('still_down'):
        text += '; it is still down%s (%s)' % (
            ' (%s)' % _span(stop['down_seconds']) if stop.get('down_seconds') is not None else '',
            ', '.join('%s=%s' % (key, state[key]) for key in ('ActiveState', 'Result', 'NRestarts', 'Restart') if key in state)
            or 'systemd says nothing more')
    elif stop.get('restarted_at') is not None:
        text += '; it was down %s (restarted at %s%s)' % (
            _span(stop['down_seconds']), when(stop['restarted_at']),
            ', restart counter %s' % stop['restarts'] if stop.get('restarts') else '')
    else:
        text += '; whether it was restarted is not known (no journal line and no state of it)'
    return text + '. Its memory.events went with its cgroup: its kills are counted from the log'


def _with_unit_policy(recommendations, stops):
    """The recommendation for units systemd stopped on an OOM kill (role ``unit_policy``), after the guard step:
    for an app server whose master respawns its workers, OOMPolicy=continue with a Restart= policy; where the
    unit's main process itself was killed, a Restart= policy."""
    if not stops:
        return recommendations
    units = []
    for stop in stops:
        if stop['unit'] not in [unit for unit, _main, _state in units]:
            units.append((stop['unit'], stop.get('main_killed'), stop.get('state') or {}))
    workers = [unit for unit, main, _state in units if not main]
    mains = [unit for unit, main, _state in units if main]
    unrestarted = [unit for unit, _main, state in units if state.get('Restart') in (None, 'no')]
    parts = []
    if workers:
        parts.append('%s: systemd stopped the whole unit when the kernel killed one of its processes (OOMPolicy=stop, '
                     'the default): for an app server whose master respawns its workers (gunicorn, uWSGI, Celery, '
                     'php-fpm), set OOMPolicy=continue so that the master stays and replaces the worker'
                     % ', '.join(workers))
    if mains:
        parts.append('%s: its main process was killed, so no OOMPolicy keeps it' % ', '.join(mains))
    parts.append('give %s a Restart= policy (Restart=on-failure) so that a stop brings it back in seconds, not when '
                 'someone notices' % (', '.join(unrestarted) if unrestarted else 'each of them'))
    rec = {'step': 'guard', 'title': 'Keep %s up after an OOM kill' % ', '.join(unit for unit, _main, _state in units),
           'detail': '; '.join(parts), 'role': 'unit_policy', 'bytes': None}
    after = max([index for index, other in enumerate(recommendations) if STEPS.index(other['step']) <= STEPS.index('guard')]
                or [-1])
    recommendations = recommendations[:after + 1] + [rec] + recommendations[after + 1:]
    for rank, item in enumerate(recommendations, 1):
        item['rank'] = rank
    return recommendations


def stalling(rates, pressure, oom_kills, policy):
    """Whether the host stalls instead of killing: ``{'stalling', 'signals', 'killing'}``. Stalling
    is PSI full sustained over the last minute, or major faults and direct reclaim together over the
    sample window, while the OOM killer did not act (``oom_kills``, those judged)."""
    signals = []
    full60 = ((pressure or {}).get('full') or {}).get('avg60')
    if full60 is not None and full60 >= policy['psi_full_stall_pct']:
        signals.append('all tasks waited on memory %.1f%% of the last minute (PSI full avg60)' % full60)
    scan = (rates or {}).get('pgscan_direct')
    majfault = (rates or {}).get('pgmajfault')
    if (scan is not None and scan >= policy['direct_scan_warning_pages'] and majfault is not None
            and majfault >= policy['majfault_stall_rate']):
        signals.append('%d major faults/s while allocations reclaim %d pages/s themselves' % (majfault, scan))
    killing = oom_kills >= policy['oom_kills_warning']
    return {'stalling': bool(signals) and not killing, 'signals': signals, 'killing': killing}


def last_picture(postmortem, commands=3):
    """What held memory at the newest kill whose report kept its task dump, in words; None without one."""
    dumped = [entry for entry in postmortem or [] if entry.get('tasks')]
    if not dumped:
        return None
    entry = max(dumped, key=lambda e: e.get('epoch') or 0)
    victim = entry['victim']
    # RSS counts the pages forked workers share once per worker; the anonymous part (6.8+ kernels
    # print it) is what they hold apart, and what an OOM is about
    anon = all(task.get('anon') is not None for task in entry['tasks'])
    measure = 'anon' if anon else 'rss'
    tasks = sorted(entry['tasks'], key=lambda task: -task[measure])[:commands]
    held = ', '.join(_held(task['command'], task['count'], task[measure])
                     + (' (killed)' if victim['pid'] in task['pids'] else '') for task in tasks)
    at = ' at %s' % when(entry['epoch']) if entry.get('epoch') else ''
    within = entry['cgroup'] if entry.get('scope') == 'cgroup' and entry.get('cgroup') else 'the host'
    swapped = swap_words(entry.get('memory')) if entry.get('scope') == 'global' else None
    return 'when the OOM killer last struck%s, in %s, the most %s was held by %s (%d task(s) listed)%s' % (
        at, within, 'anonymous memory' if anon else 'memory (RSS)', held, entry['task_count'],
        '; %s' % swapped if swapped else '')


def swap_words(memory):
    """The machine's swap at a system-wide kill, from the report's own lines (Free swap, Total swap, pages in
    swap cache), in words: 'swap 4.0 GiB of 4.0 GiB used (full), 12.0 MiB in the swap cache', 'no swap'; None
    when the report did not say (a cgroup's report, or a log that kept only the kill's lines)."""
    total, free = (memory or {}).get('swap_total'), (memory or {}).get('swap_free')
    if total is None or free is None:
        return None
    if not total:
        return 'no swap'
    used = max(0, total - free)
    cache = memory.get('swap_cache')
    full = ' (full)' if 100.0 * free / total < 1 else ''
    return 'swap %s of %s used%s%s' % (human(used), human(total), full, ', %s in the swap cache' % human(cache) if cache else '')


def _held(command, count, size):
    """'gunicorn x4 278.7 MiB': a command, how many processes, what they hold."""
    return '%s%s %s' % (command, ' x%d' % count if count > 1 else '', human(size))


def oom_summary(facts):
    """The kills facts say: ``facts['oom']`` (diagnosis.oom_facts), or a bare count and victims."""
    if facts.get('oom') is not None:
        return facts['oom']
    kills = facts.get('oom_kills') or 0
    victims = facts.get('oom_victims')
    if victims is None:
        victims = sorted(set(e.get('comm') for e in facts.get('oom_events') or [] if e.get('comm')))
    return {'kills': kills, 'recent': kills, 'undated': 0, 'window_hours': DEFAULT_POLICY['oom_window_hours'],
            'last': None, 'victims': victims, 'incomplete': []}


def same_machine(identity, oom):
    """What the report must say when this run's machine or boot is not the previous run's
    (identity.compare()), or None: which kills are judged then, and why counters are not compared."""
    relation = (identity or {}).get('previous')
    if not relation or relation['counters']:
        return None
    window = 'in the last %s h' % _num((oom or {}).get('window_hours') or DEFAULT_POLICY['oom_window_hours'])
    if relation['machine'] == 'other':
        return ('a different machine than the last run (%s): its kill counter is not compared with that run\'s; '
                'every kill since its boot is judged (those the log dates: %s)' % (relation['why'], window))
    if relation['machine'] == 'same' and relation['boot'] == 'new':
        return ('the same machine as the last run, started anew since (%s): its kill counter started again at 0 and '
                'is not compared with that run\'s; every kill since the start is judged' % relation['why'])
    if relation['machine'] == 'same':
        return ('the same machine as the last run, but whether it restarted since cannot be told (%s): its kill '
                'counter is not compared with that run\'s; every kill it counts is judged' % relation['why'])
    return ('cannot tell whether this is the machine the last run read (%s): kill counters are not compared, and '
            'the kills are judged %s, not since that run' % (relation['why'], window))


# Within this many seconds of a kill a start is its restart (systemd's RestartSec= is 100 ms by default;
# Debian's redis-server.service leaves it so), beyond the clocks of the log and of Redis apart.
_RESTART_SLACK = 5.0


def data_store_reasons(facts):
    """A data store the OOM killer (or a SIGKILL systemd saw) hit, as its own critical reason with what it lost
    where that can be known (``facts['data_stores']``: judge/memory_facts.py data_stores()). A Redis is told by
    its own figures (``redis``: what redis_memory_facts read in this run, with ``headroom_redis``) against the
    previous run's (``previous_redis``, the history's): whether the Redis answering now started after the kill,
    its keys now and then, and its last save before the kill. Without them: that what it held since its last
    save is gone. A cache held only in memory (memcached) loses everything; a database keeps what it committed."""
    found = []
    for store in facts.get('data_stores') or []:
        how = ('was OOM-killed' if store['by'] == 'kernel' else
               'was killed by SIGKILL (systemd saw its main process end so; the kernel\'s OOM log does not have it)')
        pid = ' (pid %s)' % store['pid'] if store.get('pid') else ''
        kills = ' (%d OOM kills)' % store['kills'] if store['kills'] > 1 else ''
        what = '%s%s %s at %s%s' % (store['command'], pid, how, when(store['last']), kills)
        if store['kind'] == 'redis':
            what += _redis_loss(store, facts.get('redis'), facts.get('previous_redis'))
        elif store['kind'] == 'memcached':
            what += ': a cache held only in memory: every item it held is gone, and the app reads it all from its database again'
        else:
            what += (': a database: what it had committed is on disk and comes back with its crash recovery, but every '
                     'connection and transaction in flight was lost')
        found.append(('critical', 'data_store', what))
    return found


def _redis_loss(store, now, before):
    """What a killed Redis lost, in words, from what it says now (``now``: redis_memory_facts) and what it said at
    the last run (``before``: report/history.py redis_compact()); see data_store_reasons()."""
    kill = store['last']
    figures = (now or {}).get('persistence') or {}
    read_at, uptime = (now or {}).get('read_at'), figures.get('uptime_in_seconds')
    if not now or read_at is None or uptime is None:
        return (': a data store, and a restarted Redis has only what its last save (a snapshot, or its append-only '
                'file) held: what it took since then is gone (headroom_redis=true reads what it holds and lost)')
    started = read_at - uptime
    if started < kill - _RESTART_SLACK:
        return ('; the Redis at %s has run since %s, before the kill (pid %s): the process killed was another one'
                % (now.get('endpoint'), when(started), figures.get('process_id')))
    keys = now.get('keys_total')
    text = ' and restarted%s at %s: %s key(s) now' % (' empty' if keys == 0 else '', when(started), _count(keys))
    same = bool(before) and before.get('at') is not None and before.get('uptime_in_seconds') is not None \
        and before['at'] < kill and before.get('endpoint') == now.get('endpoint')
    if same:
        text += ', %s at the last run (%s)' % (_count(before.get('keys')), when(before['at']))
        if before.get('used_memory') is not None and (now.get('memory') or {}).get('used_memory') is not None:
            text += '; used_memory %s now, %s then' % (human(now['memory']['used_memory']), human(before['used_memory']))
    loaded = figures.get('rdb_last_load_keys_loaded')
    if loaded is not None:
        text += '; it loaded %s key(s) from disk at the restart' % _count(loaded)
    if figures.get('aof_enabled') or (same and before.get('aof_enabled')):
        return text + '; its append-only file is on (aof_enabled): the restart replayed the writes it had logged'
    if not same:
        return text + '; what it took since its last save before the kill is gone (the last run read no Redis figures to say when that was)'
    prior_start = before['at'] - before['uptime_in_seconds']
    last_save = before.get('rdb_last_save_time')
    never = before.get('rdb_saves') == 0 or (last_save is not None and last_save <= prior_start + 1)
    if never:
        return text + ('; its last save was never: none since it started at %s, as the last run read it, so all it took '
                       'since then is gone' % when(prior_start))
    if last_save is None:
        return text + '; what it took since its last save before the kill is gone'
    return text + ('; its last save was %s before the kill (%s, as the last run read it): what it took since then is gone'
                   % (duration(max(0.0, kill - last_save)), when(last_save)))


def _count(value):
    """A count for a person: '48,210'; '?' when not known."""
    return '{:,}'.format(value) if isinstance(value, int) and not isinstance(value, bool) else '?'


def when(epoch):
    """A kill's time for a message: UTC, to the second."""
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(epoch))


def _within(seconds):
    """' in N s': the time a growth was seen over, said with it (a growth is no rate: it is not
    extrapolated); '' when that time is not known."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not finite(seconds) or seconds <= 0:
        return ''
    return ' in %s s' % (_num(round(seconds, 1)) if seconds >= 1 else '%.2g' % seconds)


def _num(value):
    return ('%d' % value) if float(value).is_integer() else ('%g' % value)


def lines(result):
    """The verdict as a few lines for a person: summary, reasons, ranked recommendations."""
    out = [result['summary']]
    out.extend('  %s: %s' % (r['level'], r['message']) for r in result['reasons'])
    out.extend('  %d. [%s] %s: %s%s' % (rec['rank'], rec['step'], rec['title'], rec['detail'],
                                        ' (role %s)' % rec['role'] if rec['role'] else '')
               for rec in result['recommendations'])
    return out


# what each server calls its worker count, and its recycling setting (and what to set it to)
_WORKER_SETTING = {'gunicorn': 'workers', 'uwsgi': 'processes', 'celery': '--concurrency', 'php-fpm': 'pm.max_children',
                   'puma': 'workers', 'unicorn': 'worker_processes'}
_RECYCLE = {'gunicorn': ('max_requests', 'max_requests 1000, max_requests_jitter 100'),
            'uwsgi': ('max_requests', 'max-requests 1000'), 'celery': ('max_tasks_per_child', '--max-tasks-per-child 100'),
            'php-fpm': ('max_requests', 'pm.max_requests 500')}


_LRU_GEN = '/sys/kernel/mm/lru_gen'


def mglru_said(lru, stalls=True):
    """What the guard step says of the kernel's own thrash protection, exactly as the host has it (read/guard.py
    mglru(); the kernel's Documentation/admin-guide/mm/multigen_lru.rst): MGLRU absent, present but off (its
    ``enabled`` mask without the main switch 0x0001: min_ttl_ms then does nothing), on without min_ttl_ms, or
    on with it. None when there is nothing to say (no MGLRU, and the step is not about a stall)."""
    if lru is None:
        return ('this kernel has no MGLRU (no %s: Linux 6.1 or later built with CONFIG_LRU_GEN), so no min_ttl_ms '
                'thrash protection' % _LRU_GEN) if stalls else None
    enabled, ttl = lru.get('enabled'), lru.get('min_ttl_ms')
    on = mglru_on(enabled)
    if on is None:
        return 'MGLRU\'s state could not be read (%s/enabled: %r)' % (_LRU_GEN, (enabled or '')[:40])
    if not on:
        return ('this kernel has MGLRU but it is off (%s/enabled is %s)%s: its min_ttl_ms makes the kernel kill instead '
                'of thrashing only while MGLRU is on. Turning it on takes y written to %s/enabled, at every boot: '
                'oom_guard does that when asked (oom_guard_mglru_enable=true, with min_ttl_ms 1000)'
                % (_LRU_GEN, enabled, ', and min_ttl_ms %d does nothing until then' % ttl if ttl else '', _LRU_GEN))
    if not ttl:
        return ('MGLRU is on (enabled %s) but its thrash protection is off (min_ttl_ms 0): min_ttl_ms 1000 makes the '
                'kernel kill instead of thrashing (oom_guard sets it)' % enabled)
    return ('MGLRU is on (enabled %s) with min_ttl_ms %d: the kernel kills when it cannot keep the working set of the '
            'last %d ms' % (enabled, ttl, ttl))


def peak_basis(server, peak):
    """What a worker budget at the peak is based on, in words: where that size was seen, when, and how it
    was measured (judge/memory_facts.py worker_peak())."""
    command = server.get('command') or server.get('kind')
    pid = ' (pid %s)' % peak['pid'] if peak.get('pid') is not None else ''
    at = when(peak['at']) if peak.get('at') else 'an unknown time'
    where = {'kill': 'the size a %s process%s reached when the kernel killed it at %s' % (command, pid, at),
             'watch': 'the size a %s worker%s reached during the watch, at %s' % (command, pid, at),
             'dump': 'the size of a %s process on average (%d of them) in the kernel\'s task dump of the kill at %s'
                     % (command, peak.get('count') or 0, at),
             'history': 'the size a %s process%s had at the run of %s' % (command, pid, at)}[peak['source']]
    if peak['measure'] == 'pss':
        return where + ' (its PSS)'
    if peak['measured'] != peak['bytes']:
        shared = peak['measured'] - peak['bytes']
        return where + ' (its RSS %s less the %s the workers share)' % (human(peak['measured']), human(shared))
    return where + ' (its RSS)'


def _heap_advice(server, total, cgroup):
    """A JVM's -Xmx or Node's --max-old-space-size against the memory the process may have (the cgroup
    limit when tighter than RAM): unset in a container, or above three quarters of it."""
    kind, config = server.get('kind'), server.get('settings') or {}
    if kind not in ('jvm', 'node') or not total:
        return None
    cap = int(total * 0.75)
    limited = bool(cgroup and cgroup.get('limit') and cgroup['limit'] <= total)
    heap = config.get('max_heap') if kind == 'jvm' else config.get('max_old_space')
    flag = '-Xmx%dm' % (cap >> 20) if kind == 'jvm' else '--max-old-space-size=%d' % (cap >> 20)
    if heap is None and limited:
        extra = ' (or -XX:MaxRAMPercentage=75)' if kind == 'jvm' else ''
        return 'pid %s has no heap limit of its own in a cgroup of %s: set %s%s' % (
            server.get('master_pid'), human(total), flag, extra)
    if heap is not None and heap > cap:
        return 'pid %s may grow its heap to %s of the %s it has: lower it to %s, three quarters' % (
            server.get('master_pid'), human(heap), human(total), flag)
    return None


def _recommend(short, total, available, memory, meminfo, groups, runaway, rates, oom_kills, policy,
               instance_type=None, growing=(), swap_total=0, cgroup=None, stall=None, app_servers=None, guard=None,
               protected=(), instance_sizes=None):
    recs = []

    def add(step, title, detail, role=None, size=None):
        recs.append({'step': step, 'title': title, 'detail': detail, 'role': role, 'bytes': size})

    reclaimable = 0
    # 1. processes
    for group in groups:
        if group.get('status') == 'denied':
            reclaimable += group['memory']
            add('processes', 'Stop %s' % group['command'],
                '%d process(es) on the deny list hold %s (%s); pids %s'
                % (group['count'], human(group['memory']), group['measure'].upper(), _pids(group)),
                size=group['memory'])
        elif group.get('status') == 'unknown':
            add('processes', 'Identify %s' % group['command'],
                'not on the allow list, %d process(es) hold %s; users %s, pids %s'
                % (group['count'], human(group['memory']), ', '.join(group['users']) or '?', _pids(group)),
                size=group['memory'])
    for group in runaway:
        largest = _largest(group)
        add('processes', 'Check %s for a runaway' % group['command'],
            'pid %s holds %.0f%% of memory (%s; %d process(es) of it hold %s)'
            % (largest['pid'], 100.0 * largest['memory'] / total, human(largest['memory']), group['count'],
               human(group['memory'])), size=largest['memory'])
    # 2. caches
    for group in groups:
        big = group['memory'] >= (0.01 if short else 0.1) * total
        if _matches(group['command'], _CACHE_SERVERS) and big:
            redis = _matches(group['command'], _REDIS_LIKE)
            add('caches', 'Trim %s' % group['command'],
                '%s holds %s: cap it (%s) and delete disposable keys'
                % (group['command'], human(group['memory']),
                   'maxmemory and an evicting policy' if redis else 'its memory limit'),
                role='cache_flush' if redis else None, size=group['memory'])
    shmem = meminfo.get('Shmem') or memory.get('shared') or 0
    if short and shmem >= 0.1 * total:
        add('caches', 'Clean shared memory and tmpfs',
            '%s sits in tmpfs or shared memory (/dev/shm, /run, /tmp on tmpfs), which the kernel cannot '
            'reclaim: delete what nobody needs' % human(shmem), size=shmem)
    # 3. code
    apps = [g for g in groups if _matches(g['command'], _APP_SERVERS) and g['memory'] >= 0.05 * total]
    for group in apps if short else []:
        per = group['memory'] // max(1, group['count'])
        add('code', 'Slim %s' % group['command'],
            '%d process(es), %s each (%s): unload what the app does not use (one team freed ~200 MB by '
            'dropping an unused Django admin), fewer workers, or recycle them (max-requests)'
            % (group['count'], human(per), group['measure'].upper()), size=group['memory'])
    for server in app_servers or []:
        fit, count, private = server.get('workers_that_fit'), server.get('workers') or 0, server.get('private_per_worker')
        peak, at_peak = server.get('peak'), server.get('workers_that_fit_at_peak')
        setting = _WORKER_SETTING.get(server['kind'], 'its workers')
        shared = ' (+%s shared)' % human(server['shared']) if server.get('shared') else ''
        if peak and at_peak is not None and count > 1 and at_peak < count:
            # a worker's idle size fits more than a heavy request leaves room for: the budget is the peak's
            detail = '%d workers x %s private%s; %d fit at %s idle, %d at %s, %s, with %s%% kept free: set %s to %d' % (
                count, human(private), shared, fit, human(private), at_peak, human(peak['bytes']),
                peak_basis(server, peak), _num(policy['available_warning_pct']), setting, max(1, at_peak))
            fit, private = at_peak, peak['bytes']
        elif fit is not None and count > 1 and fit < count:
            detail = '%d workers x %s private%s; %d fit with %s%% kept free: set %s to %d' % (
                count, human(private), shared, fit, _num(policy['available_warning_pct']), setting, max(1, fit))
        else:
            fit = None
        if fit is not None:
            if server.get('preload_saves'):
                detail += '; preloading the app would share about %s' % human(server['preload_saves'])
            recycle = _RECYCLE.get(server['kind'])
            if recycle and not (server.get('settings') or {}).get(recycle[0]):
                detail += '; recycle workers (%s) so a leak cannot grow without bound' % recycle[1]
            add('code', 'Fit %s\'s workers in memory' % server['kind'], detail, size=(count - fit) * private)
        heap = _heap_advice(server, total, cgroup)
        if heap:
            add('code', 'Cap the %s heap' % ('JVM' if server['kind'] == 'jvm' else 'Node'), heap)
    # 4. swap
    if swap_total == 0 and (short or oom_kills >= policy['oom_kills_warning']):
        if cgroup and cgroup.get('swap_limit') == 0:
            add('swap', 'Let the cgroup swap',
                'its swap limit is 0 (memory.swap.max, or a container run with --memory-swap equal to '
                '--memory), so a swap file would not help it: raise that limit, or the memory limit')
        else:
            add('swap', 'Add swap as an emergency buffer',
                'the host has no swap: a swap file absorbs a spike that would otherwise wake the OOM killer '
                '(frequent swapping is itself a symptom)', role='swap_setup')
    # 5. guard: a host that stalls should kill early, and a kill should take the right process
    stalls = bool(stall and stall['stalling'])
    if stalls or protected:
        running = (guard or {}).get('running') or []
        if not stalls:
            detail = ('the OOM killer took %s, which should go last: rank the units (OOMScoreAdjust=, the app\'s '
                      'workers first) so that it takes a worker instead' % ', '.join(protected))
        elif running:
            found = running[0]
            said = ', '.join('%s %s' % (key, value) for key, value in sorted(found['settings'].items()))
            detail = ('%s runs (pid %s%s) and the host still stalls: make it act sooner (a higher threshold, '
                      'or memory pressure rather than free memory)' % (found['kind'], found['pid'], ': ' + said if said else ''))
        else:
            detail = ('no early OOM killer runs: run one (earlyoom, or systemd-oomd on cgroup v2) that acts at a '
                      'threshold and prefers the app\'s workers over sshd and the database')
        said = mglru_said((guard or {}).get('mglru'), stalls)
        if said:
            detail += '; ' + said
        add('guard', 'Kill early instead of stalling' if stalls else 'Protect %s from the OOM killer' % ', '.join(protected),
            detail, role='oom_guard')
    # 6. refactor
    for item in growing:
        add('refactor', 'Look into %s (pid %s) for a leak or a heavy request' % (item['command'], item['pid']),
            'its RSS grew by %s (%s to %s)%s while the host was watched' % (
                human(item['grew']), human(item['from']), human(item['to']), _within(item.get('seconds'))),
            size=item['grew'])
    swap_rate = rates.get('swap_bytes') or 0
    seen = []
    if swap_rate >= policy['swap_rate_warning_bytes']:
        seen.append('swap traffic of %s/s' % human(swap_rate))
    if oom_kills >= policy['oom_kills_warning']:
        seen.append('%d OOM kill(s)' % oom_kills)
    if seen:
        add('refactor', 'Find the code paths that spike memory',
            '%s: some requests need far more memory than usual; profile them (whole querysets or files '
            'read into memory, unbounded in-process caches)' % ' and '.join(seen))
    # 7. scale
    target = policy['available_warning_pct'] / 100.0 * total
    missing = target - available - reclaimable
    if short and missing > 0:
        need = int(-(-missing // GIB)) * GIB
        detail = ('after the fixes above the host still lacks %s to keep %.0f%% available: scale up (more RAM) '
                  'or out (more hosts)' % (human(missing), policy['available_warning_pct']))
        bigger = next_size(instance_type, memory['total'] + missing, instance_sizes) if instance_type else None
        if bigger:
            detail += '; on EC2 the next size with that headroom is %s (%s, now %s)' % (
                bigger['type'], human(bigger['memory']), human(bigger['current_memory']))
        elif instance_type:
            detail += '; no bigger %s size in its family has that: another family, or more hosts' % instance_type
        add('scale', 'Add about %s of memory' % human(need), detail, size=need)
    for rank, rec in enumerate(recs, 1):
        rec['rank'] = rank
    return recs


def _largest(group):
    """A group's biggest process; a group from before ``largest`` existed counts as one process."""
    return group.get('largest') or {'pid': (group.get('pids') or ['?'])[0], 'memory': group['memory']}


def _pids(group):
    pids = ', '.join(str(pid) for pid in group['pids'])
    return pids + (' ...' if group['count'] > len(group['pids']) else '')


def summary(verdict, available, total, swap_used, swap_total, oom_kills):
    text = '%s: %s of %s available' % (verdict, human(available), human(total))
    if swap_total:
        text += ', swap %s of %s used' % (human(swap_used), human(swap_total))
    else:
        text += ', no swap'
    if oom_kills:
        text += ', %d OOM kill(s)' % oom_kills
    return text
