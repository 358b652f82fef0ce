#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: keep an app server's unit running when the OOM killer takes one of its workers."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: oom_policy
short_description: Set OOMPolicy=continue (and a Restart= policy) on the units of app servers that respawn their workers
description:
  - On cgroup v2 systemd learns of every kernel OOM kill inside a unit and, by default (C(DefaultOOMPolicy=stop)),
    stops the whole unit. For gunicorn, uWSGI, Celery or php-fpm one worker killed then takes the master and every
    other worker down with it, although the master would have forked a new worker by itself.
  - For each unit named (I(units), or running a pid of I(pids)) this writes a systemd drop-in with
    C(OOMPolicy=continue), and C(Restart=) I(restart) where the unit's own files set no C(Restart=) (a policy the
    unit's author chose is kept). systemd then logs the kill and the unit runs on; a master killed itself, or a
    whole unit killed by systemd-oomd, is restarted.
  - Refuses, before it changes anything, a systemd older than 243 (which has no C(OOMPolicy=)) and, with
    I(servers_only), a unit that does not run such an app server (from its C(ExecStart=), else its main process).
  - Reloads systemd and reads every unit's values back with C(systemctl show). A value systemd did not take (a
    later drop-in overriding this one) fails the task, and everything this run wrote is put back as it was.
  - Restarts no unit. One run at a time on a host (a lock in C(/run/lock)).
version_added: "0.6.0"
options:
  state:
    description:
      - V(present) writes the drop-ins; a unit set by an earlier run and not named now keeps its drop-in.
      - V(absent) removes headroom's drop-in of each unit named, or of every unit when none is named.
    type: str
    choices: [present, absent]
    default: present
  units:
    description: Services to set (V(gunicorn) means V(gunicorn.service)). One not on the host is skipped and named in RV(left_alone).
    type: list
    elements: str
    default: []
  pids:
    description: Processes whose services to set, as the diagnosis found the app servers' masters.
    type: list
    elements: int
    default: []
  candidates:
    description:
      - Units the diagnosis proposes (those systemd stopped after an OOM kill, C(oom.unit_stops)). Unlike I(units), one
        that runs none of I(kinds), or that is no service (a scope has no C(OOMPolicy=) to set), is left alone and
        named in RV(left_alone), not refused.
    type: list
    elements: str
    default: []
  restart:
    description: The C(Restart=) written where the unit has none of its own.
    type: str
    choices: [on-failure, on-abnormal, always]
    default: on-failure
  kinds:
    description: The app servers whose master respawns its workers (as the diagnosis names them).
    type: list
    elements: str
    default: [gunicorn, uwsgi, celery, php-fpm]
  servers_only:
    description: Refuse a unit that does not run one of I(kinds).
    type: bool
    default: true
notes:
  - Needs systemd 243 or later as PID 1. On cgroup v1 systemd does not see the kernel's kills inside a unit, so
    C(OOMPolicy=) changes nothing there (the result says so); C(Restart=) still applies.
  - Supports check mode and diff mode (the drop-ins' text before and after).
seealso:
  - name: systemd.service(5), OOMPolicy=
    description: What continue, stop and kill do, and DefaultOOMPolicy=.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.service.html#OOMPolicy=
author: headroom contributors (@headroom)
extends_documentation_fragment:
  - headroom.memory.attributes
attributes:
  check_mode:
    details: Supported; decides, refuses and reports, writes nothing.
    support: full
  diff_mode:
    details: The text of every drop-in it would write or remove.
    support: full
'''

EXAMPLES = r'''
- name: Keep gunicorn serving when the kernel kills one of its workers
  headroom.memory.oom_policy:
    units: [gunicorn.service]

- name: Take headroom's drop-ins away again
  headroom.memory.oom_policy:
    state: absent
'''

RETURN = r'''
units:
  description: Each unit set (or, with state=absent, cleared), with what systemd said before and after.
  returned: always
  type: list
  elements: dict
  sample: [{"unit": "gunicorn.service", "kind": "gunicorn", "dropin": "/etc/systemd/system/gunicorn.service.d/50-headroom-oom-policy.conf",
            "before": {"OOMPolicy": "stop", "Restart": "no"}, "after": {"OOMPolicy": "continue", "Restart": "on-failure"},
            "restart_added": true}]
files:
  description: The drop-ins written or removed (in check mode, those that would be).
  returned: always
  type: list
  elements: str
left_alone:
  description: Units left as they were and why (not on the host, already so without headroom), and what the policy cannot do here.
  returned: always
  type: list
  elements: str
host:
  description: What the decision was made from.
  returned: always
  type: dict
  sample: {"systemd": 252, "cgroup2": true}
'''

import glob
import os

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.directory import make_parent
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.kernel import read_text
from ansible_collections.headroom.memory.plugins.module_utils.fix import oom_policy as plan
from ansible_collections.headroom.memory.plugins.module_utils.fix.lock import take_lock

UNITS_DIR = '/etc/systemd/system'
SHOWN = ('LoadState', 'Id', 'FragmentPath', 'DropInPaths', 'ExecStart', 'MainPID', 'OOMPolicy', 'Restart')


def _write(path, text):
    """Writes ``text`` whole (a temporary file renamed over it), or removes the file for None (and the
    drop-in directory, when that leaves it empty)."""
    if text is None:
        if os.path.lexists(path):
            os.unlink(path)
            directory = os.path.dirname(path)
            if directory.endswith('.d') and not os.listdir(directory):
                os.rmdir(directory)
        return
    make_parent(path, 0o755)
    temp = path + '.headroom-tmp'
    with open(temp, 'w') as handle:
        handle.write(text)
    os.chmod(temp, 0o644)
    os.rename(temp, path)


class Units(object):
    def __init__(self, module):
        self.module = module

    def systemctl(self, *args):
        return self.module.run_command(['systemctl'] + list(args), environ_update={'LC_ALL': 'C'})

    def show(self, unit):
        rc, out, dummy = self.systemctl('show', '-p', ','.join(SHOWN), '--', unit)
        return plan.parse_show(out) if rc == 0 else {}

    def version(self):
        if not os.path.isdir('/run/systemd/system'):
            return None
        rc, out, dummy = self.systemctl('--version')
        words = out.split() if rc == 0 else []
        return int(words[1]) if len(words) > 1 and words[1].isdigit() else None

    @staticmethod
    def unit_of(pid):
        """The service a process runs in, from /proc/PID/cgroup (its innermost .service), or None."""
        for line in (read_text('/proc/%d/cgroup' % pid) or '').splitlines():
            parts = line.split(':', 2)
            if len(parts) == 3 and parts[1] in ('name=systemd', ''):
                for part in reversed(parts[2].split('/')):
                    if part.endswith('.service'):
                        return part
        return None

    @staticmethod
    def main_process(show):
        """(comm, argv) of the unit's main process, or None."""
        pid = (show.get('MainPID') or ['0'])[-1]
        if not pid.isdigit() or pid == '0':
            return None
        comm = (read_text('/proc/%s/comm' % pid) or '').strip()
        argv = [arg for arg in (read_text('/proc/%s/cmdline' % pid) or '').split('\0') if arg]
        return (comm, argv) if comm else None


def _own_files(show, ours):
    """[(path, text)] of the unit's files in load order, headroom's drop-in left out."""
    paths = [p for p in (show.get('FragmentPath') or [''])[-1:] if p]
    paths += [p for p in (show.get('DropInPaths') or [''])[-1].split() if p]
    return [(path, read_text(path, 1048576) or '') for path in paths if path != ours]


def _values(show):
    """The two settings this module is about, as systemd shows them now."""
    return {'OOMPolicy': (show.get('OOMPolicy') or [None])[-1], 'Restart': (show.get('Restart') or [None])[-1]}


def main():
    module = HeadroomModule(
        argument_spec=dict(
            state=dict(type='str', default='present', choices=['present', 'absent']),
            units=dict(type='list', elements='str', default=[]),
            pids=dict(type='list', elements='int', default=[]),
            candidates=dict(type='list', elements='str', default=[]),
            restart=dict(type='str', default='on-failure', choices=list(plan.RESTARTS)),
            kinds=dict(type='list', elements='str', default=list(plan.RESPAWNING)),
            servers_only=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # One run at a time per host: a second run reading the first one's half-written drop-ins as "before", or
    # rolling back over them, would leave neither run's policy.
    take_lock(module, 'oom_policy', 'the units\' OOM policy of this host')
    units = Units(module)
    host = {'systemd': units.version(), 'cgroup2': os.path.exists('/sys/fs/cgroup/cgroup.controllers')}
    left_alone = []
    try:
        names = [plan.service_name(value, 'units') for value in p['units']]
        named = set(names)
        if p['state'] == 'present':
            for value in p['candidates']:
                # the diagnosis's stopped units (oom.unit_stops) may be scopes: OOMPolicy= is a service's setting, so
                # such a unit is left alone with the reason, where a unit the user names is refused
                try:
                    unit = plan.service_name(value, 'candidates')
                except ParseError as exc:
                    left_alone.append('%s: %s' % (value, str(exc).split(': ', 2)[-1]))
                    continue
                if unit not in names:
                    names.append(unit)
            plan.check_systemd(host['systemd'], host['cgroup2'])
            left_alone += plan.notes(host['cgroup2'])
            for pid in p['pids']:
                unit = units.unit_of(pid)
                if unit is None:
                    left_alone.append('pid %d: no process, or not in a service' % pid)
                elif unit not in names:
                    names.append(unit)
    except (plan.PolicyRefused, ParseError) as exc:
        module.fail_json(msg='%s; nothing changed' % exc, host=host)
    if p['state'] == 'absent' and not host['systemd']:
        module.exit_json(changed=False, units=[], files=[], left_alone=['systemd is not PID 1: no unit policy here'],
                         host=host)

    wanted = {}  # path -> (unit, text or None, restart added)
    records = {}
    if p['state'] == 'present':
        for unit in names:
            show = units.show(unit)
            unit = (show.get('Id') or [unit])[-1] or unit  # an alias (a symlinked name) is set under its own name
            path = os.path.join(UNITS_DIR, unit + '.d', plan.DROPIN)
            current = read_text(path)
            try:
                decided = plan.plan_unit(unit, show, _own_files(show, path), current if plan.ours(current) else None,
                                         p['restart'], p['kinds'], p['servers_only'], units.main_process(show),
                                         named=unit in named)
            except (plan.PolicyRefused, ParseError) as exc:
                module.fail_json(msg='%s; nothing changed' % exc, host=host)
            if decided['why']:
                left_alone.append(decided['why'])
            if decided['text'] is None:
                continue
            wanted[path] = (unit, decided['text'], decided['restart_own'] == 'no')
            now = _values(show)
            records[unit] = {'unit': unit, 'kind': decided['kind'], 'dropin': path, 'before': now, 'after': now,
                             'restart_added': decided['restart_own'] == 'no'}
    else:
        pattern = [os.path.join(UNITS_DIR, unit + '.d', plan.DROPIN) for unit in names] if names else \
            glob.glob(os.path.join(UNITS_DIR, '*.d', plan.DROPIN))
        for path in pattern:
            unit = os.path.basename(os.path.dirname(path))[:-2]
            wanted[path] = (unit, None, False)
            now = _values(units.show(unit))
            records[unit] = {'unit': unit, 'kind': None, 'dropin': path, 'before': now, 'after': now,
                             'restart_added': False}

    changes = {}
    for path, (unit, text, dummy) in sorted(wanted.items()):
        old = read_text(path)
        if old is not None and not plan.ours(old):
            if text is None:
                left_alone.append('%s: headroom did not write it, so it stays' % path)
                continue
            module.fail_json(msg='%s exists and headroom did not write it: refusing to replace it; nothing changed' % path,
                             host=host)
        if old != text:
            changes[path] = (old, text)
    result = dict(host=host, files=sorted(changes), left_alone=left_alone,
                  diff=[{'before_header': path, 'after_header': path, 'before': old or '', 'after': text or ''}
                        for path, (old, text) in sorted(changes.items())])
    if module.check_mode or not changes:
        module.exit_json(changed=bool(changes), units=[records[u] for u in sorted(records)], **result)

    undo = {}
    try:
        for path, (old, text) in sorted(changes.items()):
            undo[path] = old
            _write(path, text)
        rc, out, err = units.systemctl('daemon-reload')
        if rc != 0:
            raise RuntimeError('systemctl daemon-reload failed: %s' % (err or out).strip())
        for path, (unit, text, restart_added) in sorted(wanted.items()):
            show = units.show(unit)
            records[unit]['after'] = _values(show)
            if text is not None:
                problem = plan.check_read_back(unit, show, restart_added)
                if problem:
                    raise RuntimeError(problem)
            elif path in (show.get('DropInPaths') or [''])[-1].split():
                raise RuntimeError('%s: systemd still lists %s after it was removed' % (unit, path))
    except (RuntimeError, IOError, OSError) as exc:
        for path, old in undo.items():
            try:
                _write(path, old)
            except (IOError, OSError):
                pass
        units.systemctl('daemon-reload')
        module.fail_json(msg='%s; rolled back, as they were before this run: %s' % (exc, ', '.join(sorted(undo))),
                         host=host, left_alone=left_alone)
    module.exit_json(changed=True, units=[records[u] for u in sorted(records)], **result)


if __name__ == '__main__':
    main()
