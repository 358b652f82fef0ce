"""memory_facts without the I/O: its options, and from what collect.py read to the facts and verdict.

Used by the memory_facts module (on the host) and its action plugin (on the controller, where the
host sent what collect.py read): both return the same facts.
"""

import fnmatch
import math

from ..units import finite
from .identity import compare, read_at
from .verdict import audit, classify, effective_memory, merge_policy

ARGUMENT_SPEC = dict(
    thresholds=dict(type='dict', default={}),
    allow=dict(type='list', elements='str', default=[]),
    deny=dict(type='list', elements='str', default=[]),
    top_limit=dict(type='int', default=20),
    pss_limit=dict(type='int', default=200),
    sample_seconds=dict(type='float', default=1.0),
    top_samples=dict(type='int', default=1),
    instance_type=dict(type='str'),
    instance_sizes=dict(type='dict', default={}),
    oom_history=dict(type='bool', default=True),
    oom_since=dict(type='str'),
    oom_events_limit=dict(type='int', default=20),
    previous_run=dict(type='dict', default={}),
    redis=dict(type='dict', default={}),
    watch_seconds=dict(type='float', default=0.0),
    watch_interval=dict(type='float', default=1.0),
)
# The options the reading on the host uses (collect.collect); the others are the verdict's.
READ_OPTIONS = ('top_limit', 'pss_limit', 'top_samples', 'sample_seconds', 'oom_history', 'oom_since',
                'oom_events_limit', 'watch_seconds', 'watch_interval')


# What the reading may be asked for: it runs on a host short of memory, for a bounded time.
_BOUNDS = (('sample_seconds', 0, 600), ('top_samples', 1, 100), ('top_limit', 1, 100000), ('pss_limit', 0, 100000),
           ('oom_events_limit', 0, 100000), ('watch_seconds', 0, 3600), ('watch_interval', 0.1, 60))


def policy_of(params):
    """The thresholds and process lists merged with the defaults; ValueError names a bad option."""
    try:
        policy = merge_policy(dict(params['thresholds'], allow=params['allow'], deny=params['deny']))
    except ValueError as err:
        raise ValueError('thresholds: %s' % err)
    for name, mib in params['instance_sizes'].items():
        if isinstance(mib, bool) or not isinstance(mib, int) or mib <= 0:
            raise ValueError('instance_sizes: the memory of %s must be a positive number of MiB, got %r' % (name, mib))
    if params['top_samples'] < 1:
        raise ValueError('top_samples must be 1 or more, got %d' % params['top_samples'])
    for name, low, high in _BOUNDS:
        value = params[name]
        # 1e400 arrives as inf from -e, and time.sleep(inf) is a traceback on the host
        if not finite(value) or not low <= value <= high:
            raise ValueError('%s must be from %s to %s, got %r' % (name, low, high, value))
    return policy


def read_options(params, policy):
    """What collect() is given: the reading's own options, and ``app_since``, how far back the app
    servers' lines are searched (``oom_since`` where set, else the verdict's OOM window: their
    journal search scans every unit's lines, so it is bounded by what the verdict judges)."""
    options = dict((key, params[key]) for key in READ_OPTIONS)
    options['app_since'] = params['oom_since'] or '-%dh' % math.ceil(policy['oom_window_hours'])
    return options


def diagnose(collected, params, policy):
    """The facts memory_facts returns under ansible_facts.headroom, from collect()'s result."""
    gaps = list(collected['gaps'])
    cgroup = collected['cgroup']
    identity = dict(collected.get('identity') or {}, previous=compare(params.get('previous_run'), collected.get('identity')))
    previous = comparable_previous(params.get('previous_run'), identity['previous'])
    oom = oom_facts(collected, policy, previous)
    if oom['kills'] is None:
        gaps.append('OOM kills: not counted (no kernel counter for this scope and no kernel log)')
    groups = classify(collected['groups'], policy)
    limit = params['top_limit']
    facts = dict((key, collected[key]) for key in ('memory', 'free', 'top', 'meminfo', 'vmstat', 'rates',
                                                   'pressure', 'cgroup', 'overcommit_memory', 'container',
                                                   'growth'))
    since = judged_start(collected.get('now'), policy, oom['since_previous_run'])[0]
    facts.update({
        'oom': oom,
        'postmortem': postmortems(oom['events']),
        'app_deaths': app_deaths(collected, since),
        'data_stores': data_stores(oom['events'], collected.get('app_deaths') or [], since),
        'groups': groups[:limit],
        'gaps': gaps,
        'read_at': collected.get('now'),
        'watch': collected.get('watch'),
        'guard': collected.get('guard'),
        'identity': identity,
    })
    total, usable = effective_memory(facts['memory'], cgroup)
    facts['app_servers'] = budgets(collected.get('app_servers'), total, usable, policy, facts['watch'], facts['postmortem'],
                                   (previous or {}).get('peaks'))
    for event in oom['events'] + oom['unconfirmed']['events']:  # each kill's picture is in 'postmortem', once
        event.pop('postmortem', None)
    facts['audit'] = audit({'memory': facts['memory'], 'meminfo': facts['meminfo'], 'cgroup': cgroup,
                            'rates': facts['rates'], 'pressure': facts['pressure'], 'oom': oom,
                            'overcommit_memory': facts['overcommit_memory'], 'postmortem': facts['postmortem'],
                            'app_deaths': facts['app_deaths'], 'watch': facts['watch'],
                            'app_servers': facts['app_servers'], 'guard': facts['guard'],
                            'groups': groups, 'instance_type': params['instance_type'],
                            'instance_sizes': params['instance_sizes'],
                            'growth': facts['growth'], 'identity': identity, 'data_stores': facts['data_stores'],
                            'redis': params.get('redis') or None, 'previous_redis': (previous or {}).get('redis')}, policy)
    return facts


def oom_facts(collected, policy, previous=None):
    """The OOM kills of this host's scope: how many, whose, when, and how sure that is.

    On a host the kernel's counter (/proc/vmstat ``oom_kill``, since boot) and its log are its own. In a
    container both are the machine's: the kills are the container's cgroup's (collect read them from
    every cgroup below its root: a unit's worker killed in ``system.slice/gunicorn.service`` counts)
    and the log lines whose cgroup lies in it. ``recent`` counts the kills of the last
    ``oom_window_hours``; a kill the counter has but no log line dates is counted as recent, and said.
    With ``previous`` (this host's previous run from the history: its ``epoch`` and ``counted``), only
    the kills after that run count as recent, and undated ones only as far as the counter rose since.
    Kill lines from a source that cannot tell who wrote them (a syslog file: any user can write
    "kernel: Out of memory: Killed process 1 (sshd)") that the kernel's own record does not hold are
    ``unconfirmed``: shown with the sources' notes, never counted, never a victim.
    The early OOM killers' kills (earlyoom, systemd-oomd, nohang: their own lines, read from their own
    units) are kills too: counted in ``kills`` and ``recent`` beside the kernel's, and apart in
    ``by_killer`` (the kernel's counter never counts them); each event says its ``killer``.
    """
    cgroup, vmstat, container = collected['cgroup'], collected['vmstat'], collected['container']
    logged = collected['oom_events_count']
    by_cgroup = []
    if container:
        kills = (cgroup or {}).get('kills')
        counted = kills['total'] if kills else None
        by_cgroup = kills['by_cgroup'] if kills else []
        method = kills['method'] if kills else None
    else:
        counted = vmstat.get('oom_kill') if vmstat else None
        method = '/proc/vmstat oom_kill (since boot)' if counted is not None else None
    if counted is None and not collected['oom_sources']:
        total = None
    else:
        total = max(counted or 0, logged)
    incomplete = list(collected.get('oom_incomplete') or [])
    if container and counted is not None and cgroup and cgroup.get('version') == 1 and not collected['oom_sources']:
        incomplete.append('cgroup v1 counts a kill in the victim\'s own cgroup, which goes when its unit '
                          'fails and is removed; the kernel log, which would keep it, is not readable here')
    if collected.get('oom_unattributed'):
        incomplete.append('%d kill(s) in the machine\'s log name no cgroup: they may be this container\'s'
                          % collected['oom_unattributed'])
    epochs = collected.get('oom_epochs') or []
    now = collected.get('now')
    undated = max(0, (total or 0) - len(epochs))
    since, new_undated = previous_since(previous, counted, undated)
    start, by_run = judged_start(now, policy, since)
    recent = new_undated + (sum(1 for epoch in epochs if start is None or epoch >= start))
    early = collected.get('oom_early') or {}
    early_count = dict(early.get('count') or {})
    early_epochs = early.get('epochs') or []
    if early_count:  # every one of them dated by its journal line
        total = (total or 0) + sum(early_count.values())
        recent += sum(1 for epoch in early_epochs if start is None or epoch >= start)
    last = max(epochs[-1:] + early_epochs[-1:]) if epochs or early_epochs else None
    victims = list(collected['oom_victims'])
    for item in by_cgroup:
        unit = item['cgroup'].rsplit('/', 1)[-1]
        if unit and unit not in victims:
            victims.append(unit)
    return {
        'kills': total,
        'recent': recent if total is not None else None,
        'undated': undated,
        'window_hours': policy['oom_window_hours'],
        'since_previous_run': since,
        'judged_since_run': by_run,
        'last': last,
        'by_killer': dict(early_count, kernel=max(counted or 0, logged) if counted is not None or logged else 0),
        'counted': counted,
        'counted_by': method,
        'logged': logged,
        'victims': victims,
        'by_cgroup': by_cgroup,
        'scope': (cgroup or {}).get('scope') if container else None,
        'sources': collected['oom_sources'],
        'complete': not incomplete,
        'incomplete': incomplete,
        'events': collected['oom_events'],
        'judged_from': start,
        # units systemd stopped after an OOM kill (read/unit_stops.py), with what became of them
        'unit_stops': list(collected.get('unit_stops') or []),
        'unconfirmed': {'count': collected.get('oom_unconfirmed_count') or 0,
                        'events': list(collected.get('oom_unconfirmed') or []),
                        'sources': list(collected.get('oom_unverified') or [])},
    }


# The data stores a kill costs what they held in memory, by the name the kernel gives the process (its comm)
# and by their units (systemd's line about a unit's main process killed names the unit): what kind each is.
DATA_STORES = (('redis-server', 'redis'), ('valkey-server', 'redis'), ('keydb-server', 'redis'), ('memcached', 'memcached'),
               ('postgres', 'database'), ('postmaster', 'database'), ('mysqld', 'database'), ('mariadbd', 'database'),
               ('mongod', 'database'))
_STORE_UNITS = (('redis*.service', 'redis-server'), ('valkey*.service', 'valkey-server'), ('keydb*.service', 'keydb-server'),
                ('memcached*.service', 'memcached'), ('postgresql*.service', 'postgres'), ('mysql*.service', 'mysqld'),
                ('mariadb*.service', 'mariadbd'), ('mongod*.service', 'mongod'))


def data_stores(events, deaths, since):
    """The data stores killed since ``since`` (epoch; None: all), one entry per command, newest kill first:
    ``{command kind kills last pid unit by}`` - ``kills`` how many the kernel's OOM killer made (its log,
    ``events``), ``by`` ``kernel`` or ``sigkill`` (only systemd's line that the unit's main process died of
    SIGKILL: earlyoom, systemd-oomd or a kill the kernel log lost). A kill whose time no log gives is not
    placed after ``since``, and not here."""
    kinds = dict(DATA_STORES)
    found = {}

    def add(command, epoch, pid, unit, by):
        if epoch is None or (since is not None and epoch < since):
            return
        entry = found.setdefault(command, {'command': command, 'kind': kinds[command], 'kills': 0, 'last': None,
                                           'pid': None, 'unit': None, 'by': by})
        entry['kills'] += 1 if by == 'kernel' else 0
        if by == 'kernel':
            entry['by'] = 'kernel'
        if entry['last'] is None or epoch >= entry['last']:
            entry.update(last=epoch, pid=pid if pid is not None else entry['pid'], unit=unit or entry['unit'])
    for event in events or []:
        if event.get('comm') in kinds and event.get('pid') is not None:
            unit = (event.get('task_memcg') or event.get('unit') or '').rsplit('/', 1)[-1] or None
            add(event['comm'], event.get('epoch'), event['pid'], unit, 'kernel')
    for death in deaths or []:
        unit = death.get('worker') if death.get('server') == 'systemd' else None
        command = next((name for pattern, name in _STORE_UNITS if unit and fnmatch.fnmatchcase(unit, pattern)), None)
        if command and death.get('kernel_pid') is None:  # a death the kernel's log has is counted above
            add(command, death.get('epoch'), death.get('pid'), unit, 'sigkill')
    return sorted(found.values(), key=lambda entry: -entry['last'])


def postmortems(events):
    """One entry per kernel kill in ``events`` (the newest ``oom_events_limit``), worst first: what
    held memory at that moment, from the kill report's task dump and memory block.

    Worst: a system-wide OOM before a cgroup's, then the most memory in use (the cgroup's usage, or
    the listed tasks' RSS). Each: ``time``, ``epoch``, ``scope`` (global, cgroup, cpuset, mempolicy),
    ``cgroup`` (whose limit was hit), ``victim`` ({pid, command, rss, cgroup}), and from the dump
    ``tasks`` (per command: count, rss, swap, anon, pids; biggest first), ``other``, ``task_count``,
    ``rss``, ``swap`` and ``memory`` (anon, file, shmem, slab, free, usage, limit, swap: bytes, those
    the kernel printed); the dump's fields are None when the log kept only the kill's own lines.
    """
    entries = []
    for event in events:
        if event.get('pid') is None or event.get('killer', 'kernel') != 'kernel':
            continue  # an early OOM killer's kill has no kernel report
        dump = event.get('postmortem') or {}
        rss = [event.get(key) for key in ('anon_rss', 'file_rss', 'shmem_rss')]
        entries.append({
            'time': event.get('time'), 'epoch': event.get('epoch'), 'scope': event.get('constraint'),
            'cgroup': event.get('memcg'),
            'victim': {'pid': event['pid'], 'command': event.get('comm'),
                       'rss': sum(r for r in rss if r is not None) if any(r is not None for r in rss) else None,
                       'cgroup': event.get('task_memcg') or event.get('unit')},
            'tasks': dump.get('tasks'), 'other': dump.get('other'), 'task_count': dump.get('task_count'),
            'rss': dump.get('rss'), 'swap': dump.get('swap'), 'memory': dump.get('memory'),
        })

    def worst(entry):
        memory = entry['memory'] or {}
        return (entry['scope'] != 'global', -(memory.get('usage') or entry['rss'] or entry['victim']['rss'] or 0),
                -(entry['epoch'] or 0))
    return sorted(entries, key=worst)


def judged_start(now, policy, previous_run=None):
    """(since when kills and deaths are judged, whether that is the previous run): the later of the
    last ``oom_window_hours`` and the host's previous run; None when neither is known."""
    start = now - policy['oom_window_hours'] * 3600.0 if now is not None else None
    if previous_run is not None and (start is None or previous_run > start):
        return previous_run, True
    return start, False


def app_deaths(collected, since):
    """The app servers' workers killed by SIGKILL: ``services`` (per unit or log file: ``server service
    lost oom_killed recent first last``; ``recent`` after ``since``, as the OOM kills are judged:
    :func:`judged_start`), the ``deaths`` themselves (``server pid worker epoch dated unit source
    message kernel_pid``) and the ``sources``."""
    deaths = collected.get('app_deaths') or []
    return {'services': services(deaths, since), 'deaths': deaths, 'sources': collected.get('app_death_sources') or []}


def services(deaths, since=None):
    """Per service (unit, else server and log file): workers lost, how many the kernel's log shows
    killed, the first and last time, and those since ``since`` (epoch), biggest loss first."""
    grouped = {}
    for death in deaths:
        key = (death['server'], death['unit'] or death['source'])
        entry = grouped.setdefault(key, {'server': death['server'], 'service': death['unit'] or death['source'],
                                         'lost': 0, 'oom_killed': 0, 'recent': 0, 'first': None, 'last': None,
                                         'killers': []})
        entry['lost'] += 1
        entry['oom_killed'] += 1 if death['kernel_pid'] is not None else 0
        if death['kernel_pid'] is not None and (death.get('killer') or 'kernel') not in entry['killers']:
            entry['killers'].append(death.get('killer') or 'kernel')
        epoch = death['epoch']
        if epoch is None or since is None or epoch >= since:
            entry['recent'] += 1
        if epoch is not None:
            entry['first'] = epoch if entry['first'] is None else min(entry['first'], epoch)
            entry['last'] = epoch if entry['last'] is None else max(entry['last'], epoch)
    return sorted(grouped.values(), key=lambda e: (-e['lost'], e['service']))


def previous_since(previous, counted, undated):
    """(the previous run's time or None, the undated kills that are new since it). The time is when
    that run read the host (``at``; its report, ``epoch``, is written later, after every host: a kill
    in between is new). The kernel's counter (or the cgroup's) rose by the kills since; when it fell,
    the host rebooted or the container was made anew since, and every undated kill is new. Only a
    previous run of the same boot of the same machine carries ``counted``: comparable_previous()."""
    if not isinstance(previous, dict):
        return None, undated
    since = read_at(previous)
    if since is None:
        return None, undated
    before = previous.get('counted')
    if isinstance(before, int) and not isinstance(before, bool) and counted is not None and counted >= before:
        return since, min(undated, counted - before)
    return since, undated


def comparable_previous(previous, relation):
    """What of the previous run may judge this one, by ``relation`` (identity.compare()): all of it on
    the same boot of the same machine; its time but not its counter on the same machine after a
    reboot (its counters started again at 0); nothing from another machine, or when that cannot be
    told: its kills were never seen by that run, and this run is judged as a first run is."""
    if relation is None:
        return previous
    if relation['machine'] != 'same':
        return None
    if not relation['counters']:
        return dict((key, value) for key, value in previous.items() if key != 'counted')
    return previous


def _median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) // 2


def worker_peak(server, private, shared, watch=None, postmortem=None, history=None):
    """The biggest a worker of ``server`` was seen to cost, when that is more than ``private`` (its idle
    private memory, the median of the workers measured now), else None: ``{'bytes' (what one worker costs
    at that peak), 'measured' (the figure seen), 'measure' (rss, pss), 'source', 'at', 'pid', 'count'}``.

    Sources, each a size one process of the server's command reached: the watch window (the biggest RSS a
    worker of this master had, ``source`` watch), the post-mortems (the victim's RSS when the kernel killed
    a process of the command, ``kill``; the task dump's RSS of the command over its processes, ``dump``,
    an average), and the history (the biggest process of the command over the host's runs, ``history``).
    An RSS counts the pages a worker shares with the master and the others, which one more worker does not
    cost: what the workers share now (``shared``) is taken off it. A PSS (the history's measure where
    smaps_rollup was read) is counted as it is: it holds a share of those pages, not all of them."""
    command = server.get('command')
    shared = shared or 0
    seen = []
    for item in (watch or {}).get('workers') or []:
        if item.get('master_pid') == server.get('master_pid') and item.get('rss'):
            seen.append({'measured': item['rss'], 'measure': 'rss', 'source': 'watch', 'at': item.get('at'),
                         'pid': item.get('pid'), 'count': 1})
    for entry in postmortem or []:
        victim = entry.get('victim') or {}
        if command and victim.get('command') == command and victim.get('rss'):
            seen.append({'measured': victim['rss'], 'measure': 'rss', 'source': 'kill', 'at': entry.get('epoch'),
                         'pid': victim.get('pid'), 'count': 1})
        for task in entry.get('tasks') or []:
            if command and task.get('command') == command and task.get('rss') and task.get('count'):
                seen.append({'measured': task['rss'] // task['count'], 'measure': 'rss', 'source': 'dump',
                             'at': entry.get('epoch'), 'pid': None, 'count': task['count']})
    found = (history or {}).get(command) if command else None
    if isinstance(found, dict) and found.get('memory'):
        seen.append({'measured': found['memory'], 'measure': found.get('measure') or 'rss', 'source': 'history',
                     'at': found.get('at'), 'pid': found.get('pid'), 'count': 1})
    for item in seen:
        item['bytes'] = item['measured'] if item['measure'] == 'pss' else max(0, item['measured'] - shared)
    # the biggest; of equal ones a single process's size before an average, the newest first
    order = {'kill': 0, 'watch': 1, 'history': 2, 'dump': 3}
    best = min(seen, key=lambda item: (-item['bytes'], order[item['source']], -(item['at'] or 0)), default=None)
    return best if best and private and best['bytes'] > private else None


def budgets(servers, total, usable, policy, watch=None, postmortem=None, history=None):
    """Each app server's worker budget: ``kind master_pid workers private_per_worker shared preloaded
    preload_saves workers_that_fit peak workers_that_fit_at_peak settings``. A worker's private memory
    (smaps_rollup's Private_*) is what one more worker costs at rest; the workers that fit are those whose
    private memory the host (or its cgroup) holds once everything else in use stays and
    ``available_warning_pct`` is kept free. A worker costs more at its peak (a heavy request): ``peak``
    (:func:`worker_peak`, from the watch window, the post-mortems and the history's ``peaks``) and the
    workers that fit at that size. ``preload_saves`` (unpreloaded servers): the app's own pages, a worker's
    private memory less the master's (which has not loaded the app), once per worker but one."""
    result = []
    for server in servers or []:
        measured = server.get('measured') or []
        private = _median([w.get('private') for w in measured])
        shared = _median([w.get('shared') for w in measured])
        count = server.get('workers') or 0
        master = server.get('master') or {}
        config = server.get('settings') or {}
        preloaded = config.get('preload_app') if server.get('kind') == 'gunicorn' else None
        if preloaded is None and private and shared is not None and server.get('kind') in ('gunicorn', 'uwsgi'):
            preloaded = shared > private  # the app's pages are shared when the master loaded them
        saves = None
        if preloaded is False and private and master.get('private') is not None and count > 1:
            saves = max(0, private - master['private']) * (count - 1)
        fit = peak = at_peak = None
        if private and total:
            others = max(0, (total - usable) - private * count)
            room = total * (1 - policy['available_warning_pct'] / 100.0) - others
            fit = max(0, int(room // private))
            peak = worker_peak(server, private, shared, watch, postmortem, history)
            at_peak = max(0, int(room // peak['bytes'])) if peak else None
        result.append({'kind': server.get('kind'), 'command': server.get('command'), 'master_pid': server.get('master_pid'),
                       'workers': count,
                       'private_per_worker': private, 'shared': shared, 'preloaded': preloaded,
                       'preload_saves': saves, 'workers_that_fit': fit, 'peak': peak, 'workers_that_fit_at_peak': at_peak,
                       'settings': config, 'measured': measured[:8]})
    return result
