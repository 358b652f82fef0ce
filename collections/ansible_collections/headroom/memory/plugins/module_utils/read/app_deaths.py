"""Silent deaths of app-server workers: what gunicorn, uWSGI, Celery and php-fpm say when a worker dies
by SIGKILL (the OOM killer's signal), read from the journal and from their log files.

The master respawns the worker and the app's log says little; the kernel's kill report names the
worker's pid as the machine numbers it, the app's line as its own pid namespace does (the same on a
host, not in a container). :func:`link` joins each death to the kernel kill by pid, or else by the
unit and the time.

Line forms (each app's own words, matched anywhere in a line):

- gunicorn 20.1+: ``Worker (pid:N) was sent SIGKILL! Perhaps out of memory?``; 19.x to 20.1 (Debian 12):
  ``Worker with pid N was terminated due to signal 9``
- uWSGI: ``DAMN ! worker N (pid: N) died, killed by signal 9 :( trying respawn ...``
- Celery: ``Process 'ForkPoolWorker-1' pid:N exited with 'signal 9 (SIGKILL)'`` (billiard) and
  ``WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL) Job: N.')`` (no pid)
- php-fpm: ``WARNING: [pool www] child N exited on signal 9 (SIGKILL) after S seconds from start``
- systemd: ``<unit>: Main process exited, code=killed, status=9/KILL`` (the master itself; service.c
  service_sigchld_event, 230+). systemd writes it as itself: in the journal the entry's ``_SYSTEMD_UNIT`` is
  the unit systemd runs in (``init.scope``; ``user@UID.service`` for a user's manager), and the unit it is
  about is in ``UNIT=`` (``USER_UNIT=`` from a user's manager: core/manager.c unit_log_field), which
  log.c log_object_internalv() also writes before the message as ``<unit>: ``. Only systemd's own entry
  counts (``_PID=1``, or a user manager: ``_COMM=systemd`` in ``init.scope`` of ``user@UID.service``);
  the same words from any other process are not a unit's death.

Pure parsing here; :mod:`collect` runs the commands and reads the files.
"""

import calendar
import collections
import json
import re

from .oom import MONTHS, local_epoch

_SIGKILL = (
    ('gunicorn', re.compile(r'Worker \(pid:(?P<pid>\d{1,10})\) was sent SIGKILL', re.ASCII)),
    ('gunicorn', re.compile(r'Worker with pid (?P<pid>\d{1,10}) was terminated due to signal 9\b', re.ASCII)),
    ('uwsgi', re.compile(r'DAMN ! worker (?P<worker>\d{1,6}) \(pid: (?P<pid>\d{1,10})\) died, killed by signal 9\b',
                         re.ASCII)),
    ('celery', re.compile(r"Process '(?P<worker>[\w.-]{1,60})' pid:(?P<pid>\d{1,10}) exited with 'signal 9 \(SIGKILL\)'",
                          re.ASCII)),
    ('celery', re.compile(r'WorkerLostError\(.{0,40}signal 9 \(SIGKILL\)', re.ASCII)),
    ('php-fpm', re.compile(r'\[pool (?P<worker>[^\]\s]{1,60})\] child (?P<pid>\d{1,10}) exited on signal 9 \(SIGKILL\)',
                           re.ASCII)),
    ('systemd', re.compile(r'^(?P<worker>\S{1,256}\.service): Main process exited, code=killed, status=9/KILL', re.ASCII)),
)
# for journalctl --grep (PCRE2): the lines above, cheaply
JOURNAL_PATTERN = ('was sent SIGKILL|terminated due to signal 9|killed by signal 9|'
                   "exited with 'signal 9|WorkerLostError|exited on signal 9|status=9/KILL")
JOURNAL_FIELDS = ('MESSAGE,_SYSTEMD_UNIT,_SYSTEMD_USER_UNIT,UNIT,USER_UNIT,SYSLOG_IDENTIFIER,_PID,_COMM,_TRANSPORT,'
                  '__REALTIME_TIMESTAMP')
# where Debian's packages and common setups write the apps' own logs
LOG_GLOBS = ('/var/log/gunicorn/*.log', '/var/log/uwsgi/*.log', '/var/log/uwsgi/app/*.log',
             '/var/log/celery/*.log', '/var/log/php*-fpm.log', '/var/log/php-fpm/*.log')
# A WorkerLostError is Celery's second line for the same death. billiard waits LOST_WORKER_TIMEOUT (10 s,
# billiard/pool.py) for the lost job's result before it raises it: Debian 12's Celery 5.2.6 logged it 10.5 s
# after the pid line (tests/fixtures/apps/journal_celery_lost.json). Within this many seconds of a pid line
# it is that death; 5 s counted it again, as a new death after a run that fell between the two lines.
_SAME_DEATH = 30.0


def journal_command(since=None):
    """The journalctl that prints the apps' death lines, one JSON object a line, every unit."""
    return (['journalctl', '--no-pager', '-q', '-o', 'json', '--output-fields=' + JOURNAL_FIELDS]
            + (['--since', since] if since else []) + ['--grep', JOURNAL_PATTERN])


def match(message):
    """(server, pid or None, worker or None) when ``message`` reports a worker killed by SIGKILL."""
    if 'SIGKILL' not in message and 'signal 9' not in message and '9/KILL' not in message:
        return None
    for server, pattern in _SIGKILL:
        found = pattern.search(message)
        if found:
            groups = found.groupdict()
            pid = int(groups['pid']) if groups.get('pid') else None
            return server, pid, groups.get('worker')
    return None


# The newest deaths a source keeps: an app's log is anyone's to fill (the app writes it), and each death
# kept costs memory and the time of joining it to the kernel's kills. Without a bound, 20 logs of 4 MiB of
# one line repeated cost 450 MB.
DEATHS_KEPT = 1000


def parse_journal(text, limit=DEATHS_KEPT):
    """Deaths from ``journalctl -o json`` lines: time (epoch, exact), unit, pid of the logger; the newest
    ``limit`` + 1 at most (one more than ``limit`` says that older ones were left out)."""
    deaths = collections.deque(maxlen=limit + 1)
    for line in _lines(text):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get('MESSAGE') if isinstance(entry, dict) else None
        if not isinstance(message, str):  # journald keeps binary messages as arrays of bytes
            continue
        found = match(message)
        if not found:
            continue
        try:
            epoch = int(entry.get('__REALTIME_TIMESTAMP')) / 1e6
        except (TypeError, ValueError):
            epoch = None
        unit = entry_unit(entry, found[0] == 'systemd')
        if unit is False:
            continue  # systemd's words about a unit, written by someone else
        deaths.append(_death(found, epoch, unit, 'journal', message))
    return _merge_celery(list(deaths))


def _field(entry, name):
    value = entry.get(name)
    return value if isinstance(value, str) else None


def entry_unit(entry, manager):
    """The unit a journal entry is about: for a line of a service manager about a unit (``manager``), the
    unit it names (``UNIT=``, or ``USER_UNIT=`` from a user's manager), or False when no manager wrote it;
    for an app's own line, the unit it runs in (``_SYSTEMD_UNIT``, or its user unit under ``user@UID.service``)."""
    unit, user_unit = _field(entry, '_SYSTEMD_UNIT'), _field(entry, '_SYSTEMD_USER_UNIT')
    if manager:
        if _field(entry, '_PID') == '1' and _field(entry, 'UNIT'):
            return entry['UNIT']
        if (_field(entry, 'USER_UNIT') and _field(entry, '_COMM') == 'systemd' and user_unit == 'init.scope'
                and (unit or '').startswith('user@')):
            return entry['USER_UNIT']
        return False
    if user_unit and (unit or '').startswith('user@'):
        return user_unit
    return unit


# stamps the apps write at the start of their own log lines
_GUNICORN = re.compile(r'^\[(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) ([+-]\d{4})\]', re.ASCII)
_CELERY = re.compile(r'^\[(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),\d{1,6}: ', re.ASCII)
_PHP = re.compile(r'^\[(\d\d)-([A-Z][a-z]{2})-(\d{4}) (\d\d):(\d\d):(\d\d)\]', re.ASCII)
# uWSGI: with log-date, 'Thu Dec  3 06:44:02 2026 - ' first; by default only its request lines carry a time
_UWSGI = re.compile(r'^(?:[A-Z][a-z]{2}) ([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4}) - ', re.ASCII)
_UWSGI_REQUEST = re.compile(r'^\[pid: \d{1,10}\|.{0,400}?\} \[(?:[A-Z][a-z]{2}) ([A-Z][a-z]{2}) +(\d{1,2}) '
                            r'(\d\d):(\d\d):(\d\d) (\d{4})\] ', re.ASCII)


def line_epoch(line):
    """When an app's log line was written, from its own stamp (local time unless it has a zone), or None."""
    try:
        found = _GUNICORN.match(line)
        if found:
            fields = tuple(int(g) for g in found.groups()[:6])
            zone = found.group(7)
            offset = (1 if zone[0] == '+' else -1) * (int(zone[1:3]) * 3600 + int(zone[3:]) * 60)
            return calendar.timegm(fields + (0, 0, 0)) - offset
        found = _CELERY.match(line)
        if found:
            return local_epoch(*(int(g) for g in found.groups()))
        found = _PHP.match(line)
        if found and found.group(2) in MONTHS:
            day, month, year = int(found.group(1)), MONTHS[found.group(2)], int(found.group(3))
            return local_epoch(year, month, day, *(int(g) for g in found.groups()[3:]))
        found = _UWSGI.match(line) or _UWSGI_REQUEST.match(line)
        if found and found.group(1) in MONTHS:
            return local_epoch(int(found.group(6)), MONTHS[found.group(1)], int(found.group(2)),
                               *(int(g) for g in found.groups()[2:5]))
    except (OverflowError, ValueError):
        return None
    return None


def parse_log(lines, source, limit=DEATHS_KEPT):
    """Deaths from an app's log file (an iterable of lines); a line's time is its own stamp, or the
    time of the last stamped line before it (uWSGI stamps only its request lines by default). The
    newest ``limit`` + 1 at most, as :func:`parse_journal`."""
    deaths = collections.deque(maxlen=limit + 1)
    last = None
    for line in lines:
        epoch = line_epoch(line)
        if epoch is not None:
            last = epoch
        found = match(line)
        if found:
            deaths.append(_death(found, epoch if epoch is not None else last, None, source, line.strip(),
                                 dated=epoch is not None))
    return _merge_celery(list(deaths))


def _lines(text):
    """The lines of ``text`` one at a time, not a list of them all."""
    start = 0
    while start < len(text):
        end = text.find('\n', start)
        end = len(text) if end < 0 else end
        yield text[start:end]
        start = end + 1


def _death(found, epoch, unit, source, message, dated=True):
    server, pid, worker = found
    return {'server': server, 'pid': pid, 'worker': worker, 'epoch': epoch, 'dated': dated and epoch is not None,
            'unit': unit, 'source': source, 'message': message[:300], 'kernel_pid': None, 'killer': None}


def _merge_celery(deaths):
    """Celery says one death twice (the pool's pid line, then WorkerLostError): keep the pid line."""
    kept = []
    for death in deaths:
        if death['server'] == 'celery' and death['pid'] is None and any(
                other['server'] == 'celery' and other['pid'] is not None and other['unit'] == death['unit']
                and other['epoch'] is not None and death['epoch'] is not None
                and abs(other['epoch'] - death['epoch']) <= _SAME_DEATH for other in kept):
            continue
        kept.append(death)
    return kept


# the kernel's name (comm) for each server's worker: Celery's pool runs as python3 under Debian
_COMMS = {'gunicorn': ('gunicorn',), 'uwsgi': ('uwsgi',), 'celery': ('celery', 'python'), 'php-fpm': ('php-fpm', 'php'),
          'systemd': ()}


def link(deaths, kills, window=10.0):
    """Set each death's ``kernel_pid`` to the kernel kill it was: the same pid within ``window``
    seconds (a host), or else the kill closest in time within ``window`` whose victim's cgroup is the
    death's unit, or for a death read from a log file (no unit) whose victim's command is the
    server's (a container: the app and the kernel number pids apart). A kill links once."""
    used = set()
    for death in deaths:
        if death['epoch'] is None:
            continue
        best = None
        for index, kill in enumerate(kills):
            if index in used or kill.get('epoch') is None or kill.get('pid') is None:
                continue
            gap = abs(kill['epoch'] - death['epoch'])
            if gap > window:
                continue
            memcg = kill.get('task_memcg') or kill.get('memcg') or ''
            same = (kill['pid'] == death['pid'] or (death['unit'] and memcg.endswith('/' + death['unit']))
                    or (not death['unit'] and (kill.get('comm') or '').startswith(_COMMS[death['server']])))
            if same and (best is None or gap < best[0]):
                best = (gap, index)
        if best is not None:
            used.add(best[1])
            death['kernel_pid'] = kills[best[1]]['pid']
            death['killer'] = kills[best[1]].get('killer', 'kernel')  # an early OOM killer's SIGKILL too
    return deaths
