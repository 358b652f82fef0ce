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
from ..units import human

SCHEMA = 1
# the newest runs of a host that the trend is fitted on and the report carries (with CHART_COMMANDS
# of each run's commands: a thousand hosts' report stays a few MB a run of history)
REPORT_RUNS = 30
CHART_COMMANDS = 4
# a trend needs this many runs; fewer is "not enough history", never a guess
MIN_RUNS = 3
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
                    'pid': largest.get('pid'), 'started': largest.get('started')})
    identity = record.get('identity')
    return {'at': record.get('read_at'),  # when the host was read: the time its figures are of
            'verdict': record.get('verdict'), 'usable': record.get('usable'), 'total': record.get('effective_total'),
            'swap_used': record.get('swap_used'), 'swap_total': record.get('swap_total'),
            'kills': oom.get('kills'), 'counted': oom.get('counted'), 'last_kill': oom.get('last'), 'top': top,
            # which machine and boot the figures are of: the next run compares its counters only within one
            'identity': dict((key, value) for key, value in identity.items() if key != 'previous')
            if isinstance(identity, dict) else None}


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
    """The host's newest run in the history, or {} (no file, or no run of that host yet)."""
    runs = load_runs(path, [host], limit=1, timeout=timeout)[host]
    return runs[-1] if runs else {}


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


def trend(runs, now=None):
    """When available memory reaches zero at the current rate: a line fitted to the runs' ``usable``
    over time. ``{'runs', 'slope_bytes_per_day', 'r2', 'exhaustion_seconds', 'reason'}``; the
    exhaustion is None, with the reason, when the history is too short, memory is not falling, or
    not steadily (``TREND_MIN_R2``) and by more than a host's noise (``TREND_MIN_FALL`` of its memory)."""
    points = [(when_read(run), run['usable']) for run in runs if run.get('usable') is not None and when_read(run)]
    total = max([run.get('total') or 0 for run in runs] or [0])
    result = {'runs': len(points), 'slope_bytes_per_day': None, 'r2': None, 'exhaustion_seconds': None}
    if len(points) < MIN_RUNS:
        result['reason'] = 'not enough history: %d run(s), %d needed' % (len(points), MIN_RUNS)
        return result
    line = fit(points)
    if line is None:
        result['reason'] = 'not enough history: the runs share one time'
        return result
    slope, intercept, r2 = line
    result.update(slope_bytes_per_day=slope * 86400.0, r2=round(r2, 3))
    if slope >= 0:
        result['reason'] = 'available memory is not falling'
        return result
    fell = -slope * (points[-1][0] - points[0][0])
    if r2 < TREND_MIN_R2:
        result['reason'] = 'no steady trend: the runs fit a line poorly (r2 %.2f over %d runs)' % (r2, len(points))
        return result
    if total and fell < TREND_MIN_FALL * total:
        result['reason'] = 'no trend beyond noise: available memory fell %s over the runs, %.1f%% of %s' % (
            human(fell), 100.0 * fell / total, human(total))
        return result
    last = points[-1][0] if now is None else now
    remaining = (intercept + slope * last) / -slope  # the fitted line's zero, from the last run
    result['exhaustion_seconds'] = max(0.0, remaining)
    result['reason'] = 'available memory falls %s a day (r2 %.2f over %d runs)' % (
        human(-slope * 86400.0), r2, len(points))
    return result


def leaks(runs):
    """Commands whose memory grew run after run in the same process (its pid and start time): the
    newest unbroken stretch of each command's biggest process, fitted; a restart starts a new one."""
    series = {}
    for run in runs:
        for item in run.get('top') or []:
            if item.get('memory') is None or not item.get('command'):
                continue
            key = (item.get('pid'), item.get('started'))
            stretch = series.get(item['command'])
            if stretch is None or stretch['key'] != key:
                stretch = series[item['command']] = {'key': key, 'points': []}
            stretch['points'].append((when_read(run), item['memory']))
    found = []
    for command, stretch in series.items():
        points = stretch['points']
        if len(points) < MIN_RUNS:
            continue
        line = fit(points)
        if line is None:
            continue
        slope, _intercept, r2 = line
        grew = points[-1][1] - points[0][1]
        if slope > 0 and r2 >= LEAK_MIN_R2 and grew >= LEAK_MIN_BYTES:
            found.append({'command': command, 'pid': stretch['key'][0], 'started': stretch['key'][1],
                          'slope_bytes_per_day': slope * 86400.0, 'r2': round(r2, 3), 'runs': len(points),
                          'from': points[0][1], 'to': points[-1][1], 'since': points[0][0]})
    return sorted(found, key=lambda leak: -leak['slope_bytes_per_day'])


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
