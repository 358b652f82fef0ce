"""The diagnosis over time: a compact record of each host at each run, kept on the controller, and
what the runs together say (the trend of available memory, when it runs out, which commands grow).

The store is one SQLite file (Python's sqlite3, no server) beside the reports. Each run's records go
in with one transaction, so a run killed mid-write leaves the file as it was (SQLite's own
journal), and two runs writing at once wait for each other (``timeout``) instead of failing.
Retention is bounded: runs older than ``days`` and beyond the newest ``runs`` of a host are deleted
by the run that writes.

Controller only; no Ansible import.
"""

import json
import os
import sqlite3

from ..directory import make_parent
from ..judge.identity import compare
from ..judge.verdict import when
from ..units import duration, human

SCHEMA = 1
# the newest runs of a host that the trend is fitted on and the report carries (with CHART_COMMANDS
# of each run's commands: a thousand hosts' report stays a few MB a run of history)
REPORT_RUNS = 30
CHART_COMMANDS = 4
# a trend needs this many runs; fewer is "not enough history", never a guess
MIN_RUNS = 3
# ... and this much time between its first and last run. Below an hour what a diagnosis sees is
# dominated by swings of minutes: the page cache filling and dropped, a garbage collector's cycle, a
# cron or batch job, a burst of requests. A rate per day taken from seconds multiplies that noise by
# thousands (three runs 4 s apart made "python grew 1.1 TiB a day"). An hour is 4 intervals of an AWX
# schedule every 15 minutes (5 runs); an hourly schedule's 3 runs span 2 h and a daily one's 2 days,
# so neither waits longer than MIN_RUNS makes it. Shorter is "not enough history", naming the span.
MIN_SPAN = 3600.0
# Runs closer than this read one moment (a run repeated by hand, a retried job): they count as one
# toward MIN_RUNS, which is there to see whether the points lie on a line, and two moments always do.
SAME_MOMENT = 300.0
# A rate is said per hour below a day of history and per day from a day on: a figure per day from a
# few hours would speak for a day nobody watched (a server's load has a daily cycle).
_DAY = 86400.0
# The memory a trend is of (RAM, or a cgroup's limit) changed by more than this share between two
# runs (a resized instance, a new limit): the runs before are another trend.
TOTAL_CHANGE = 0.01
# a time to exhaustion needs a steady fall: the line explains this much of the runs' variation
# (r squared), and it fell at least this share of the memory over the runs (less is a host's noise)
TREND_MIN_R2 = 0.8
TREND_MIN_FALL = 0.01
# a command whose memory grows this steadily (r squared) over at least MIN_RUNS runs of the same
# process is a leak suspect, when it grew at least LEAK_MIN_BYTES over them
LEAK_MIN_R2 = 0.8
LEAK_MIN_BYTES = 1 << 20
_TOP_COMMANDS = 8


class HistoryError(Exception):
    """The history file cannot be used; the message says why."""


def compact(record):
    """What a run keeps of a host's record (a few hundred bytes): memory, swap, kills, verdict and the
    biggest commands with their memory and their biggest process (pid and start time)."""
    oom = record.get('oom') or {}
    top = []
    for group in (record.get('groups') or [])[:_TOP_COMMANDS]:
        largest = group.get('largest') or {}
        top.append({'command': group.get('command'), 'memory': group.get('memory'), 'count': group.get('count'),
                    'pid': largest.get('pid'), 'started': largest.get('started'),
                    # its biggest process's size, by the group's measure (pss, else rss): what one process of
                    # the command reached, for a worker budget at its peak
                    'largest': largest.get('memory'), 'measure': group.get('measure')})
    identity = record.get('identity')
    return {'at': record.get('read_at'),  # when the host was read: the time its figures are of
            'verdict': record.get('verdict'), 'usable': record.get('usable'), 'total': record.get('effective_total'),
            'swap_used': record.get('swap_used'), 'swap_total': record.get('swap_total'),
            'kills': oom.get('kills'), 'counted': oom.get('counted'), 'last_kill': oom.get('last'), 'top': top,
            # which machine and boot the figures are of: the next run compares its counters only within one
            'identity': dict((key, value) for key, value in identity.items() if key != 'previous')
            if isinstance(identity, dict) else None,
            # what its Redis held and saved (headroom_redis): the next run tells what a kill of it lost
            'redis': redis_compact(record.get('redis'))}


# what a run keeps of its Redis (read/redis.py persistence_summary() and the report's redis): enough to
# tell the next run's Redis a restart and what it lost
_REDIS_KEPT = ('process_id', 'uptime_in_seconds', 'rdb_last_save_time', 'rdb_saves', 'rdb_changes_since_last_save',
               'rdb_last_load_keys_loaded', 'aof_enabled')


def redis_compact(redis):
    """``{'at', 'endpoint', 'keys', 'used_memory', process_id ... aof_enabled}`` of a record's ``redis`` (what
    redis_memory_facts read), or None without one."""
    if not isinstance(redis, dict) or not redis.get('endpoint'):
        return None
    persistence = redis.get('persistence') if isinstance(redis.get('persistence'), dict) else {}
    found = dict((key, persistence.get(key)) for key in _REDIS_KEPT)
    found.update(at=redis.get('read_at'), endpoint=redis.get('endpoint'), keys=redis.get('keys_total'),
                 used_memory=(redis.get('memory') or {}).get('used_memory'))
    return found


def _connect(path, timeout):
    make_parent(path)
    try:
        db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        db.execute('CREATE TABLE IF NOT EXISTS runs (host TEXT NOT NULL, epoch REAL NOT NULL, record TEXT NOT NULL, '
                   'PRIMARY KEY (host, epoch))')
        db.execute('CREATE INDEX IF NOT EXISTS runs_epoch ON runs (epoch)')
        version = db.execute('PRAGMA user_version').fetchone()[0]
        if version not in (0, SCHEMA):
            raise HistoryError('%s was written by a newer headroom (schema %d, this one reads %d)' % (path, version, SCHEMA))
        db.execute('PRAGMA user_version = %d' % SCHEMA)
    except sqlite3.DatabaseError as err:
        raise HistoryError('%s: %s' % (path, err))
    return db


def record_runs(path, epoch, records, days=90, runs=1000, timeout=60.0):
    """Add one run (``records``: the report's host records) at ``epoch``, then drop what retention
    allows no more. One transaction: all of the run or nothing. Hosts that failed are not kept (they
    have no figures; the report says they failed)."""
    rows = [(r['host'], float(epoch), json.dumps(compact(r), sort_keys=True, separators=(',', ':')))
            for r in records if r.get('verdict') != 'failed']
    db = _connect(path, timeout)
    try:
        db.execute('BEGIN IMMEDIATE')
        try:
            db.executemany('INSERT OR REPLACE INTO runs (host, epoch, record) VALUES (?, ?, ?)', rows)
            db.execute('DELETE FROM runs WHERE epoch < ?', (float(epoch) - days * 86400.0,))
            db.execute('DELETE FROM runs WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ROW_NUMBER() OVER '
                       '(PARTITION BY host ORDER BY epoch DESC) AS n FROM runs) WHERE n > ?)', (int(runs),))
            db.execute('COMMIT')
        except BaseException:
            db.execute('ROLLBACK')
            raise
    except sqlite3.DatabaseError as err:
        raise HistoryError('%s: %s' % (path, err))
    finally:
        db.close()
    return len(rows)


def load_runs(path, hosts, limit=REPORT_RUNS, timeout=60.0):
    """{host: [{'epoch', ...compact record}, oldest first]} of the newest ``limit`` runs of each host."""
    if not os.path.exists(path):
        return dict((host, []) for host in hosts)
    db = _connect(path, timeout)
    try:
        found = {}
        for host in hosts:
            rows = db.execute('SELECT epoch, record FROM runs WHERE host = ? ORDER BY epoch DESC LIMIT ?',
                              (host, int(limit))).fetchall()
            found[host] = [dict(json.loads(record), epoch=epoch) for epoch, record in reversed(rows)]
        return found
    except sqlite3.DatabaseError as err:
        raise HistoryError('%s: %s' % (path, err))
    finally:
        db.close()


def previous_run(path, host, timeout=60.0):
    """The host's newest run in the history, or {} (no file, or no run of that host yet), with ``peaks``:
    per command, the biggest process it had in the newest REPORT_RUNS runs of the machine that run read
    (:func:`peaks`)."""
    runs = load_runs(path, [host], limit=REPORT_RUNS, timeout=timeout)[host]
    if not runs:
        return {}
    return dict(runs[-1], peaks=peaks(runs))


def peaks(runs):
    """``{command: {'memory', 'measure', 'pid', 'at'}}``: the biggest single process of each command seen in
    ``runs`` (their ``top``, oldest first), of the machine the newest run read (stretch(): a run of another
    machine under the name says nothing of this one's processes); the newest of equal sizes."""
    found = {}
    for run in stretch(runs)[0]:
        for item in run.get('top') or []:
            size, command = item.get('largest'), item.get('command')
            if not command or isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                continue
            if command not in found or size >= found[command]['memory']:
                found[command] = {'memory': size, 'measure': item.get('measure'), 'pid': item.get('pid'),
                                  'at': when_read(run)}
    return found


def when_read(run):
    """When a run's figures were read on the host (the report is written later, after every host)."""
    return run.get('at') or run.get('epoch')


def fit(points):
    """Least squares line through ``points`` [(x, y)]: (slope, intercept, r squared); None for fewer
    than two distinct x. r squared is 1.0 for a flat series (it is exactly explained)."""
    if len(points) < 2:
        return None
    n = float(len(points))
    mean_x = sum(x for x, _y in points) / n
    mean_y = sum(y for _x, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _y in points)
    if sxx == 0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    syy = sum((y - mean_y) ** 2 for _x, y in points)
    slope = sxy / sxx
    r2 = 1.0 if syy == 0 else (sxy * sxy) / (sxx * syy)
    return slope, mean_y - slope * mean_x, r2


def rate(bytes_per_day, span):
    """A rate for a person, in the unit the history spans: an hour below a day of it, else a day."""
    if span < _DAY:
        return '%s an hour' % human(abs(bytes_per_day) / 24.0)
    return '%s a day' % human(abs(bytes_per_day))


def moments(times):
    """How many of ``times`` (oldest first) are moments of their own: SAME_MOMENT after the last counted."""
    count, last = 0, None
    for at in times:
        if last is None or at - last >= SAME_MOMENT:
            count, last = count + 1, at
    return count


def too_short(points):
    """Why ``points`` [(time, value)], oldest first, are not enough history for a line, or None."""
    if len(points) < MIN_RUNS:
        return 'not enough history: %d run(s), %d needed' % (len(points), MIN_RUNS)
    span = points[-1][0] - points[0][0]
    if span < MIN_SPAN:
        return 'not enough history: %d runs over %s, at least %s needed' % (len(points), duration(span), duration(MIN_SPAN))
    distinct = moments([x for x, _y in points])
    if distinct < MIN_RUNS:
        return ('not enough history: %d runs over %s but at %d moment(s) (runs within %s count as one), %d needed'
                % (len(points), duration(span), distinct, duration(SAME_MOMENT), MIN_RUNS))
    return None


def stretch(runs):
    """(the newest runs, oldest first, of the machine the newest run read, and why the stretch starts
    where it does, or None when it holds them all). It goes back while each run read the same machine
    as the next (over a reboot: identity.compare()) with the same memory (TOTAL_CHANGE)."""
    if not runs:
        return [], None
    kept = [runs[-1]]
    for older in reversed(runs[:-1]):
        newer = kept[0]
        relation = compare(older, newer.get('identity'))
        if relation['machine'] != 'same':
            return kept, 'the runs until %s are left out: %s (%s)' % (
                when_text(older), 'that run read another machine' if relation['machine'] == 'other'
                else 'that run cannot be told to be of this machine', relation['why'].replace('the last run', 'that run'))
        before, after = older.get('total'), newer.get('total')
        if before and after and abs(after - before) > TOTAL_CHANGE * max(before, after):
            return kept, 'the memory changed from %s to %s after the run of %s' % (human(before), human(after), when_text(older))
        kept.insert(0, older)
    return kept, None


def when_text(run):
    at = when_read(run)
    return when(at) if at is not None else 'an unknown time'


def trend(runs, now=None):
    """When available memory reaches zero at the current rate: a line fitted to the runs' ``usable``
    over time, of the machine the newest run read (stretch()). ``{'runs', 'span_seconds', 'since',
    'slope_bytes_per_day', 'r2', 'exhaustion_seconds', 'reason', 'machine'}``; the slope is None
    when the runs are too few or span too little time (too_short()), and the exhaustion is None, with
    the reason, then or when memory is not falling, not steadily (``TREND_MIN_R2``) or by no more than
    a host's noise (``TREND_MIN_FALL`` of its memory). ``machine`` says why older runs were left out."""
    runs, machine = stretch(runs)
    points = [(when_read(run), run['usable']) for run in runs if run.get('usable') is not None and when_read(run)]
    total = max([run.get('total') or 0 for run in runs] or [0])
    span = points[-1][0] - points[0][0] if points else 0.0
    result = {'runs': len(points), 'span_seconds': span, 'since': points[0][0] if points else None,
              'slope_bytes_per_day': None, 'r2': None, 'exhaustion_seconds': None, 'machine': machine}
    short = too_short(points)
    line = fit(points) if short is None else None
    if short is not None or line is None:
        result['reason'] = short or 'not enough history: the runs share one time'
        return result
    slope, intercept, r2 = line
    result.update(slope_bytes_per_day=slope * _DAY, r2=round(r2, 3))
    over = '%d runs over %s' % (len(points), duration(span))
    if slope >= 0:
        result['reason'] = 'available memory is not falling (%s)' % over
        return result
    fell = -slope * span
    if r2 < TREND_MIN_R2:
        result['reason'] = 'no steady trend: the runs fit a line poorly (r2 %.2f, %s)' % (r2, over)
        return result
    if total and fell < TREND_MIN_FALL * total:
        result['reason'] = 'no trend beyond noise: available memory fell %s over %s, %.1f%% of %s' % (
            human(fell), duration(span), 100.0 * fell / total, human(total))
        return result
    last = points[-1][0] if now is None else now
    remaining = (intercept + slope * last) / -slope  # the fitted line's zero, from the last run
    result['exhaustion_seconds'] = max(0.0, remaining)
    result['reason'] = 'available memory falls %s, from %s (r2 %.2f)' % (rate(slope * _DAY, span), over, r2)
    return result


def leaks(runs):
    """Commands whose memory grew run after run in the same process (its pid and start time), on the
    machine the newest run read: the newest unbroken stretch of each command's biggest process,
    fitted; a restart starts a new one. Each: ``command pid started runs from to grew since
    span_seconds r2 slope_bytes_per_day reason``. The slope (a rate) is given only from enough history
    (too_short()); a process that grew over less is listed with what it grew and in how long, and
    ``reason`` says why there is no rate. Rated ones first, fastest first; then the others, biggest growth first."""
    runs, _machine = stretch(runs)
    series = {}
    for run in runs:
        for item in run.get('top') or []:
            if item.get('memory') is None or not item.get('command') or when_read(run) is None:
                continue
            key = (item.get('pid'), item.get('started'))
            current = series.get(item['command'])
            if current is None or current['key'] != key:
                current = series[item['command']] = {'key': key, 'points': []}
            current['points'].append((when_read(run), item['memory']))
    found = []
    for command, current in series.items():
        points = current['points']
        if len(points) < MIN_RUNS:
            continue
        line = fit(points)
        if line is None:
            continue
        slope, _intercept, r2 = line
        grew = points[-1][1] - points[0][1]
        if slope > 0 and r2 >= LEAK_MIN_R2 and grew >= LEAK_MIN_BYTES:
            short = too_short(points)
            found.append({'command': command, 'pid': current['key'][0], 'started': current['key'][1],
                          'slope_bytes_per_day': None if short else slope * _DAY, 'r2': round(r2, 3),
                          'runs': len(points), 'from': points[0][1], 'to': points[-1][1], 'grew': grew,
                          'since': points[0][0], 'span_seconds': points[-1][0] - points[0][0],
                          'reason': short.replace('not enough history', 'not enough history for a rate') if short else None})
    return sorted(found, key=lambda leak: (leak['slope_bytes_per_day'] is None, -(leak['slope_bytes_per_day'] or leak['grew'])))


def fleet_trend(runs):
    """The fleet run by run, from every host's runs: ``[{'epoch', 'hosts', 'usable', 'total'}]``, oldest first."""
    by_epoch = {}
    for host_runs in runs.values():
        for run in host_runs:
            entry = by_epoch.setdefault(run['epoch'], {'epoch': run['epoch'], 'hosts': 0, 'usable': 0, 'total': 0})
            entry['hosts'] += 1
            entry['usable'] += run.get('usable') or 0
            entry['total'] += run.get('total') or 0
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]
