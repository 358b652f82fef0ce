"""An app server's unit that survives the OOM killer taking one of its workers: ``OOMPolicy=continue`` (and a
``Restart=`` policy where the unit has none) in a systemd drop-in. The decisions and the drop-in's text.

Pure: the oom_policy module reads the host, calls these and writes what they return.

Facts this stands on (systemd's own source and manual, tag v252.31; seen in the test VM, tests/vm):
- On cgroup v2 systemd reads each unit's ``memory.events``; when the kernel OOM-kills any process of a service,
  ``OOMPolicy=`` decides (src/core/service.c, service_notify_cgroup_oom_event): ``continue`` logs it and the
  unit runs on, ``stop`` stops the whole unit (result ``oom-kill``), ``kill`` kills every process left
  (``memory.oom.group`` 1). The default is ``DefaultOOMPolicy=`` of system.conf, ``stop`` unless changed
  (``continue`` for units with ``Delegate=``). So one gunicorn worker killed stops gunicorn.service, master
  and every other worker, although the master would have forked a new worker by itself.
- ``OOMPolicy=`` came with systemd 243 (its first tag holding it); an older systemd ignores the key with a
  warning ("Unknown key name").
- The policy applies to systemd-oomd's kills too (systemd.service(5), OOMPolicy=): systemd-oomd kills every
  process of the cgroup it chose, the master included, and only ``Restart=`` brings the unit back.
- ``Restart=on-failure`` restarts after any result but success (service_shall_restart: a main process killed
  by a signal, an ``oom-kill`` stop, a timeout); the default is ``no``. It is added only where the unit's own
  files set none: a policy the unit's author chose is kept.
- ``systemctl show`` prints an ``ExecStart=`` entry as ``{ path=P ; argv[]=A B C ; ignore_errors=no ; ... }``
  (src/systemctl/systemctl-show.c, print_property: the argv joined with single spaces, not quoted), one
  ``ExecStart=`` line per command.
- A unit file is read line by line (src/shared/conf-parser.c): ``#`` and ``;`` start a comment, ``[Name]`` a
  section, a line ending in a backslash goes on in the next, ``Key=value`` with blanks around both trimmed;
  a later assignment of a single-valued key replaces an earlier one, files in load order (the unit file, then
  its drop-ins sorted by name). An empty ``Restart=`` gives the default back.
"""

import os
import re

from ..parse_error import ParseError
from ..read.app_servers import kind_of

MARK = '# Managed by headroom (unit_policy): removed by its state=absent.'
DROPIN = '50-headroom-oom-policy.conf'
MIN_SYSTEMD = 243
# the app servers whose master forks a new worker when one dies: for them the unit must outlive a worker
RESPAWNING = ('gunicorn', 'uwsgi', 'celery', 'php-fpm')
RESTARTS = ('on-failure', 'on-abnormal', 'always')
_SERVICE = re.compile(r'^[A-Za-z0-9_.:@\\-]{1,250}\.service$')
_OTHER_TYPES = ('.socket', '.target', '.device', '.mount', '.automount', '.swap', '.timer', '.path', '.slice',
                '.scope')
_EXEC = re.compile(r'\{ path=(?P<path>.*?) ; argv\[\]=(?P<argv>.*?) ; (?:ignore_errors|flags)=')


class PolicyRefused(Exception):
    """The policy cannot be set on this host or unit; the message says why."""


def service_name(value, what):
    """A service's full name (``gunicorn`` is ``gunicorn.service``); anything else is refused by name: the
    policy is a service's setting (systemd.service(5)), a slice or a scope has none."""
    if not isinstance(value, str):
        raise ParseError('%s: %r is not a unit name' % (what, value))
    if value.endswith(_OTHER_TYPES):
        raise ParseError('%s: %r is not a service (OOMPolicy= is a setting of .service units)' % (what, value))
    full = value if value.endswith('.service') else value + '.service'
    if not _SERVICE.match(full):
        raise ParseError('%s: %r is not a systemd unit name' % (what, value))
    return full


def check_systemd(version, cgroup2):
    """None, or PolicyRefused when systemd (``version``, None when not PID 1) cannot take the policy. On cgroup
    v1 it is taken (``Restart=`` still helps) and :func:`notes` says what it cannot do there."""
    if not version:
        raise PolicyRefused('systemd is not PID 1 here: OOMPolicy= is a systemd unit setting (a container needs '
                            'systemd as its command)')
    if version < MIN_SYSTEMD:
        raise PolicyRefused('OOMPolicy= needs systemd %d or later; this host has %d, which would ignore the key: '
                            'give the unit Restart=on-failure yourself' % (MIN_SYSTEMD, version))
    return None


def notes(cgroup2):
    """What the policy cannot do on this host, for the result's ``left_alone``."""
    if cgroup2:
        return []
    return ['cgroup v1: systemd does not learn of the kernel\'s kills inside a unit there (it reads memory.events of '
            'cgroup v2), so no unit is stopped for one and OOMPolicy= changes nothing; Restart= still brings a unit '
            'back whose main process was killed']


def parse_show(text):
    """``systemctl show -p ...`` output as {key: [values]} (a key may come more than once: ExecStart=)."""
    found = {}
    for line in (text or '').splitlines():
        key, sep, value = line.partition('=')
        if sep and key and ' ' not in key:
            found.setdefault(key, []).append(value)
    return found


def exec_commands(values):
    """[(path, argv)] of ``systemctl show``'s ExecStart= values (see the module's docstring for the form)."""
    commands = []
    for value in values or ():
        for match in _EXEC.finditer(value):
            commands.append((match.group('path'), match.group('argv').split(' ')))
    return commands


def server_kind(commands, main=None):
    """The app server a unit runs: from its first ExecStart= command, else from its main process
    (``main``: (comm, argv) from /proc), as the diagnosis tells servers (read/app_servers.kind_of)."""
    for path, argv in commands[:1]:
        kind = kind_of(os.path.basename(path), argv)
        if kind:
            return kind
    if main:
        return kind_of(main[0], main[1])
    return None


def assignments(text, section, key):
    """Every value ``key`` is given in ``[section]`` of a unit file's ``text``, in order."""
    values = []
    current = None
    pending = ''
    for raw in (text or '').splitlines():
        line = raw.strip()
        if pending:
            if line.startswith(('#', ';')):
                continue  # a comment inside a continued line is skipped (conf-parser.c)
            line = pending + ' ' + line
            pending = ''
        elif not line or line.startswith(('#', ';')):
            continue
        if line.endswith('\\'):
            pending = line[:-1].rstrip()
            continue
        if line.startswith('[') and line.endswith(']'):
            current = line[1:-1]
            continue
        name, sep, value = line.partition('=')
        if sep and current == section and name.strip() == key:
            values.append(value.strip())
    return values


def own_restart(files):
    """The ``Restart=`` a unit has from its own files (``files``: [(path, text)] in load order, headroom's
    drop-in left out): the last one given, ``no`` when none is, or an empty one reset it."""
    value = 'no'
    for _path, text in files:
        for given in assignments(text, 'Service', 'Restart'):
            value = given or 'no'
    return value


def dropin(policy, restart):
    """The drop-in's text: ``OOMPolicy=`` ``policy`` and, when ``restart`` is not None, ``Restart=``."""
    if policy not in ('continue', 'stop', 'kill'):
        raise ParseError('OOMPolicy: %r is not continue, stop or kill' % (policy,))
    lines = [MARK, '[Service]', 'OOMPolicy=%s' % policy]
    if restart is not None:
        if restart not in RESTARTS:
            raise ParseError('restart: %r is not one of %s' % (restart, ', '.join(RESTARTS)))
        lines.append('Restart=%s' % restart)
    return '\n'.join(lines) + '\n'


def ours(text):
    """Whether a file's text is one headroom wrote (only those are replaced or removed)."""
    return text is not None and text.startswith(MARK)


def plan_unit(unit, show, files, current, restart, kinds, servers_only, main=None, named=True):
    """What one unit gets: ``{'unit', 'kind', 'text' (the drop-in, None: none wanted), 'why' (None, or what was
    left alone and why), 'oom_policy', 'restart_own'}``. With ``servers_only``, a unit that is no app server whose
    master respawns its workers is refused (PolicyRefused) when the user ``named`` it, and left alone with the
    reason when the diagnosis proposed it (a stopped unit of any kind).

    ``show``: parse_show of ``systemctl show -p LoadState,Id,ExecStart,OOMPolicy,Restart,...``; ``files``: the
    unit's files other than headroom's drop-in, in load order, with their text; ``current``: headroom's
    drop-in's text now (None: none); ``restart``: the Restart= to add where the unit has none."""
    def first(key):
        return (show.get(key) or [''])[-1]
    if first('LoadState') != 'loaded':
        return {'unit': unit, 'kind': None, 'text': None, 'why': '%s: not on this host (%s)' % (
            unit, first('LoadState') or 'unknown'), 'oom_policy': None, 'restart_own': None}
    kind = server_kind(exec_commands(show.get('ExecStart')), main)
    if servers_only and kind not in kinds:
        commands = exec_commands(show.get('ExecStart'))
        runs = kind or (' '.join(commands[0][1][:3]) if commands else 'no command systemd shows')
        if not named:
            return {'unit': unit, 'kind': kind, 'text': None, 'oom_policy': first('OOMPolicy') or None, 'restart_own': None,
                    'why': '%s: runs %s, not an app server whose master respawns its workers (%s): left as it is' % (
                        unit, runs, ', '.join(kinds))}
        raise PolicyRefused('%s runs %s, not an app server whose master forks a new worker when one dies (%s): '
                            'OOMPolicy=continue would keep it running without the process the kernel killed. Name '
                            'only such units, or set servers_only false' % (unit, runs, ', '.join(kinds)))
    restart_own = own_restart(files)
    text = dropin('continue', restart if restart_own == 'no' else None)
    why = None
    if current is None and first('OOMPolicy') == 'continue' and restart_own != 'no':
        text = None
        why = '%s: OOMPolicy=continue and Restart=%s already, without headroom' % (unit, restart_own)
    return {'unit': unit, 'kind': kind, 'text': text, 'why': why, 'oom_policy': first('OOMPolicy') or None,
            'restart_own': restart_own}


def check_read_back(unit, show, want_restart):
    """None when systemd took the drop-in (``show``: parse_show after daemon-reload), else what it says
    instead, naming the drop-ins that may override headroom's."""
    def first(key):
        return (show.get(key) or [''])[-1]
    problems = []
    if first('OOMPolicy') != 'continue':
        problems.append('OOMPolicy=%s' % (first('OOMPolicy') or '(none)'))
    if want_restart and first('Restart') in ('', 'no'):
        problems.append('Restart=%s' % (first('Restart') or '(none)'))
    if not problems:
        return None
    return '%s: systemd says %s after headroom\'s drop-in: a later drop-in overrides it (%s)' % (
        unit, ', '.join(problems), first('DropInPaths') or 'no drop-in listed')
