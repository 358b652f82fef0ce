#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: make the host kill the right process early when memory runs out."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: oom_guard
short_description: Rank the units for the OOM killer and configure earlyoom, systemd-oomd or the kernel's own guard
description:
  - Chooses the guard (I(backend)) from what the host can run, or refuses and says why, before it changes anything.
  - Writes systemd drop-ins, never the packages' own files. Every unit named in I(protect_units) gets
    C(OOMScoreAdjust=) I(protect_adjust), every one in I(prefer_units) (or running a pid of I(prefer_pids))
    I(prefer_adjust). The new value is also written to the unit's running processes, so nothing restarts.
  - C(earlyoom) gets a drop-in for C(earlyoom.service) with its thresholds and the I(prefer)/I(avoid) names.
    C(systemd-oomd) gets an C(oomd.conf.d) drop-in; the preferred units get C(ManagedOOMMemoryPressure=kill)
    and the protected ones C(ManagedOOMPreference=avoid).
  - Where the kernel has MGLRU, it writes I(min_ttl_ms) live and persists it in C(tmpfiles.d). MGLRU may be built
    in but off (C(/sys/kernel/mm/lru_gen/enabled) C(0x0000), as in Debian 12's kernel), and I(min_ttl_ms) acts only
    while it is on; I(mglru_enable) turns it on, live and at every boot.
  - Every value is read back after the write. A value the host ignored (a negative C(OOMScoreAdjust=) in a
    container without CAP_SYS_RESOURCE, a later drop-in overriding this one) fails the task, and everything
    this run wrote is put back as it was.
  - One run at a time on a host. A second run while one is working (a lock in C(/run/lock)) fails at once
    and changes nothing.
  - It installs, starts and restarts nothing; the oom_guard role does that, with the packages and
    the service states this module names.
version_added: "0.6.0"
options:
  state:
    description: V(present) writes the guard's files; V(absent) removes every file it wrote and restores the values.
    type: str
    choices: [present, absent]
    default: present
  backend:
    description:
      - V(auto) keeps a running systemd-oomd. Inside a container limited below the machine it takes V(kernel),
        since earlyoom cannot see that limit. Otherwise it takes V(earlyoom).
      - V(kernel) only ranks the units for the kernel's own OOM killer.
    type: str
    choices: [auto, earlyoom, systemd-oomd, kernel]
    default: auto
  prefer:
    description: Process names earlyoom kills first (its C(--prefer), matched whole).
    type: list
    elements: str
    default: []
  avoid:
    description: Process names earlyoom kills last (its C(--avoid), matched whole).
    type: list
    elements: str
    default: []
  prefer_units:
    description: Units killed first (V(gunicorn) means V(gunicorn.service); C(*) patterns match loaded units).
    type: list
    elements: str
    default: []
  prefer_pids:
    description: Processes whose units are killed first, as the diagnosis found the app servers' masters.
    type: list
    elements: int
    default: []
  protect_units:
    description:
      - Units killed last. A unit not on the host is skipped and named in RV(left_alone).
      - A unit named both here and in I(prefer_units) is an error.
    type: list
    elements: str
    default: []
  prefer_adjust:
    description: C(OOMScoreAdjust=) of the preferred units, 1 to 1000.
    type: int
    default: 500
  protect_adjust:
    description: C(OOMScoreAdjust=) of the protected units, -1000 to -1 (-1000 is never killed at all).
    type: int
    default: -900
  min_available_pct:
    description: earlyoom sends SIGTERM at this share of available memory (SIGKILL at half of it).
    type: float
    default: 10
  min_swap_free_pct:
    description: earlyoom acts only when free swap is also below this share (SIGKILL at half of it).
    type: float
    default: 10
  swap_used_limit_pct:
    description: systemd-oomd's C(SwapUsedLimit=).
    type: float
    default: 90
  pressure_limit_pct:
    description: systemd-oomd's memory pressure limit for the preferred units.
    type: float
    default: 50
  pressure_seconds:
    description: How long that pressure must last before systemd-oomd acts.
    type: int
    default: 20
  min_ttl_ms:
    description:
      - MGLRU's thrash protection, milliseconds; 0 leaves it alone. Skipped on a kernel without MGLRU.
    type: int
    default: 1000
  mglru_enable:
    description:
      - Turn MGLRU on (C(y) into C(/sys/kernel/mm/lru_gen/enabled), live and in the C(tmpfiles.d) file at every boot)
        where the kernel has it but it is off; the value before is kept for V(absent). Skipped on a kernel without
        MGLRU. It changes how the whole machine reclaims memory (the kernel's multi-gen LRU instead of its
        active/inactive lists).
      - Without it, I(min_ttl_ms) on a kernel whose MGLRU is off is written but does nothing, and RV(left_alone) says so.
    type: bool
    default: false
  machine_wide:
    description:
      - Inside a container, set I(min_ttl_ms) (and I(mglru_enable)) anyway. It is the whole machine's, shared by every container,
        so it is skipped there by default.
    type: bool
    default: false
  undo:
    description:
      - RV(undo) of an earlier run. Given alone, the module puts back what that run changed. The role
        does this when a later step fails, so that no half-applied guard remains.
    type: dict
notes:
  - Needs systemd as PID 1.
  - Supports check mode and diff mode (the drop-ins' text before and after).
author: headroom contributors (@headroom)
extends_documentation_fragment:
  - headroom.memory.attributes
attributes:
  check_mode:
    details: Supported; decides, refuses and reports, writes nothing.
    support: full
  diff_mode:
    details: The text of every file it would write or remove.
    support: full
'''

EXAMPLES = r'''
- name: Kill gunicorn's workers before sshd or PostgreSQL when memory runs out
  headroom.memory.oom_guard:
    backend: auto
    prefer: [gunicorn, celery]
    avoid: [sshd, postgres, redis-server]
    prefer_units: [gunicorn.service]
    protect_units: [ssh.service, "postgresql@*.service", redis-server.service]
'''

RETURN = r'''
backend:
  description: The guard chosen (V(earlyoom), V(systemd-oomd) or V(kernel)); null with state=absent.
  returned: always
  type: str
host:
  description: What the choice was made from.
  returned: always
  type: dict
  sample: {"systemd": 252, "cgroup2": false, "container": true, "limit": 314572800, "total": 25276465152,
           "running": [], "mglru": false, "mglru_enabled": null}
units:
  description: The units ranked, with their new value, role (prefer or protect) and the pids adjusted live.
  returned: always
  type: list
  elements: dict
  sample: [{"unit": "ssh.service", "adjust": -900, "role": "protect", "pids": [97]}]
files:
  description: The files written (or, with state=absent, removed); in check mode, those that would be.
  returned: always
  type: list
  elements: str
restart:
  description: The services to restart for a changed configuration to act (earlyoom, systemd-oomd).
  returned: always
  type: list
  elements: str
package:
  description: The package the chosen guard needs (earlyoom or systemd-oomd), null for the kernel.
  returned: always
  type: str
left_alone:
  description: What was left alone and why (units not on the host, MGLRU absent or machine-wide).
  returned: always
  type: list
  elements: str
undo:
  description: What this run replaced (files' old text, null for a file that did not exist, pids' old values),
    to hand back as I(undo).
  returned: always
  type: dict
'''

import glob
import os

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.directory import make_parent
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.guard import mglru_on
from ansible_collections.headroom.memory.plugins.module_utils.read.kernel import (
    in_container, parse_meminfo, read_cgroup_memory, read_text)
from ansible_collections.headroom.memory.plugins.module_utils.fix import oom_guard as plan
from ansible_collections.headroom.memory.plugins.module_utils.fix.lock import take_lock

UNITS_DIR = '/etc/systemd/system'


def _write(path, text):
    """Writes ``text`` whole (a temporary file renamed over it), or removes the file for None."""
    if text is None:
        if os.path.lexists(path):
            os.unlink(path)
            directory = os.path.dirname(path)
            if directory.endswith('.d') and not os.listdir(directory):
                os.rmdir(directory)  # the drop-in directory headroom made for it
        return
    make_parent(path, 0o755)
    temp = path + '.headroom-tmp'
    with open(temp, 'w') as handle:
        handle.write(text)
    os.chmod(temp, 0o644)
    os.rename(temp, path)


def _write_knob(path, text):
    """Writes a kernel knob (a sysfs file: MGLRU's enabled, min_ttl_ms) in place. Not as _write does: sysfs
    has no room for a temporary file beside it (the first real run, on Debian 12's 6.1, failed so)."""
    with open(path, 'w') as handle:
        handle.write(text)


class Guard(object):
    def __init__(self, module):
        self.module = module
        self.undo = {'files': {}, 'pids': {}, 'min_ttl_ms': None, 'lru_gen_enabled': None}
        self._cgroups = None  # pid -> /proc/PID/cgroup, read at the first pids()

    def systemctl(self, *args):
        rc, out, err = self.module.run_command(['systemctl'] + list(args), environ_update={'LC_ALL': 'C'})
        return rc, out, err

    def show(self, unit, *props):
        rc, out, dummy = self.systemctl('show', '-p', ','.join(props), '--', unit)
        found = {}
        for line in out.splitlines() if rc == 0 else ():
            key, sep, value = line.partition('=')
            if sep:
                found[key] = value
        return found

    def host(self):
        version = None
        if os.path.isdir('/run/systemd/system'):
            rc, out, dummy = self.systemctl('--version')
            words = out.split() if rc == 0 else []
            version = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
        container = in_container()
        # on a whole host the machine's (an SSH session's own limit is not the one the guard works within)
        cgroup = read_cgroup_memory(container=container, workload=None if container else ()) or {}
        meminfo = parse_meminfo(read_text('/proc/meminfo') or '')
        running = []
        if version:
            for unit in (plan.EARLYOOM_UNIT, plan.OOMD_UNIT):
                if self.show(unit, 'ActiveState').get('ActiveState') == 'active':
                    running.append(unit.rsplit('.', 1)[0])
        return {'systemd': version, 'cgroup2': os.path.exists('/sys/fs/cgroup/cgroup.controllers'),
                'container': container, 'limit': cgroup.get('limit'), 'total': meminfo.get('MemTotal', 0),
                'running': running, 'mglru': os.path.isdir(os.path.dirname(plan.MIN_TTL)),
                'mglru_enabled': (read_text(plan.LRU_GEN_ENABLED) or '').strip() or None,
                'lower': plan.can_lower(read_text('/proc/self/status'))}

    def expand(self, pattern):
        """Loaded units matching a ``*`` pattern, or the unit itself."""
        if '*' not in pattern:
            return [pattern]
        rc, out, dummy = self.systemctl('list-units', '--all', '--plain', '--no-legend', '--', pattern)
        return [line.split()[0] for line in out.splitlines() if rc == 0 and line.split()]

    def unit_of(self, pid):
        text = read_text('/proc/%d/cgroup' % pid) or ''
        for line in text.splitlines():
            parts = line.split(':', 2)
            if len(parts) == 3 and parts[1] in ('name=systemd', ''):
                for part in reversed(parts[2].split('/')):
                    if part.endswith('.service'):
                        return part
        return None

    def pids(self, control_group):
        """The processes of a unit's control group; every /proc/PID/cgroup is read once per run, not per unit."""
        if self._cgroups is None:
            self._cgroups = dict((int(entry), read_text('/proc/%s/cgroup' % entry) or '')
                                 for entry in os.listdir('/proc') if entry.isdigit())
        return sorted(pid for pid, text in self._cgroups.items() if plan.in_unit(text, control_group))

    def adjust(self, pid, value):
        """Writes a live oom_score_adj, remembering the old one; returns what the kernel kept (None: gone)."""
        path = '/proc/%d/oom_score_adj' % pid
        old = read_text(path)
        if old is None:
            return None
        self.undo['pids'].setdefault(str(pid), int(old))
        try:
            with open(path, 'w') as handle:
                handle.write('%d\n' % value)
        except (IOError, OSError):
            pass
        kept = read_text(path)
        return int(kept) if kept is not None else None

    def put(self, path, text):
        self.undo['files'].setdefault(path, read_text(path))
        _write(path, text)

    def rollback(self, undo):
        """Puts back what ``undo`` recorded: the files, then (after systemd reread them) pids and min_ttl_ms."""
        for path, text in (undo.get('files') or {}).items():
            _write(path, text)
        if undo.get('files'):
            self.systemctl('daemon-reload')
        for pid, value in (undo.get('pids') or {}).items():
            try:
                with open('/proc/%s/oom_score_adj' % int(pid), 'w') as handle:
                    handle.write('%d\n' % int(value))
            except (IOError, OSError, ValueError):
                pass
        for path, value in ((plan.MIN_TTL, undo.get('min_ttl_ms')), (plan.LRU_GEN_ENABLED, undo.get('lru_gen_enabled'))):
            if value is not None:
                try:
                    _write_knob(path, '%s\n' % value)
                except (IOError, OSError):
                    pass  # as a pid gone meanwhile: the rest is still put back


def _units(guard, params, host, skipped):
    """{unit: ('prefer'|'protect', adjust)} for the units on the host; adjust None where the host cannot
    lower a value (no CAP_SYS_RESOURCE): a drop-in systemd would silently drop is not written."""
    wanted = {}
    protect = [plan.unit_name(value, 'protect_units') for value in params['protect_units']]
    prefer = [plan.unit_name(value, 'prefer_units') for value in params['prefer_units']]
    both = sorted(set(protect) & set(prefer))
    if both:
        raise ParseError('%s: both in prefer_units and protect_units' % ', '.join(both))
    for pid in params['prefer_pids']:
        unit = guard.unit_of(pid)
        if unit is None:
            skipped.append('pid %d: no process, or not in a service unit' % pid)
        elif unit not in protect:
            prefer.append(unit)
    lowered = params['protect_adjust'] if host['lower'] else None
    for role, names, value in (('protect', protect, lowered), ('prefer', prefer, params['prefer_adjust'])):
        for pattern in names:
            matched = guard.expand(pattern)
            if not matched:
                skipped.append('%s: no loaded unit matches' % pattern)
            for unit in matched:
                props = guard.show(unit, 'LoadState', 'Id')
                if props.get('LoadState') != 'loaded':
                    skipped.append('%s: not on this host' % unit)
                    continue
                unit = props.get('Id') or unit  # sshd.service is an alias of Debian's ssh.service
                if value is None:
                    skipped.append('%s: kept at its own OOMScoreAdjust=, since lowering it needs CAP_SYS_RESOURCE and '
                                   'this host (a container?) lacks it; the preferred units still go first' % unit)
                wanted.setdefault(unit, (role, value))
    return wanted


def _files(params, backend, host, units, skipped):
    """({path: text, or None to remove} of every file the guard owns, the min_ttl_ms to write, and what to write
    into MGLRU's ``enabled``: ``y``, the value before headroom turned it on, or None to leave it)."""
    present = params['state'] == 'present'
    earlyoom = os.path.join(UNITS_DIR, plan.EARLYOOM_UNIT + '.d', plan.DROPIN)
    files = {earlyoom: None, plan.OOMD_CONF: None, plan.TMPFILES: None}
    for path in glob.glob(os.path.join(UNITS_DIR, '*.d', plan.DROPIN)):
        files[path] = None  # an earlier run's unit no longer listed: its drop-in goes
    pressure = (params['pressure_limit_pct'], params['pressure_seconds'])
    for unit, (role, value) in units.items() if present else ():
        oomd = ('prefer' if role == 'prefer' else 'avoid') if backend == 'systemd-oomd' else None
        if value is None and oomd is None:
            continue
        files[os.path.join(UNITS_DIR, unit + '.d', plan.DROPIN)] = plan.unit_dropin(value, oomd, pressure)
    if present and backend == 'earlyoom':
        args = plan.earlyoom_args(params['min_available_pct'], params['min_swap_free_pct'],
                                  plan.names(params['prefer'], 'prefer'), plan.names(params['avoid'], 'avoid'))
        files[earlyoom] = plan.earlyoom_dropin(args, host['container'])
    if present and backend == 'systemd-oomd':
        files[plan.OOMD_CONF] = plan.oomd_conf(params['swap_used_limit_pct'], params['pressure_limit_pct'],
                                               params['pressure_seconds'])
    ttl = enabled = None
    old = read_text(plan.TMPFILES)
    earlier = plan.previous_enabled(old) if plan.ours(old) else None  # MGLRU's mask before headroom turned it on
    wanted = present and (params['min_ttl_ms'] > 0 or params['mglru_enable'])
    names = ' and '.join(name for name, on in (('min_ttl_ms', params['min_ttl_ms'] > 0), ('mglru_enable', params['mglru_enable'])) if on)
    if wanted and not host['mglru']:
        skipped.append('%s: this kernel has no MGLRU (%s)' % (names, os.path.dirname(plan.MIN_TTL)))
    elif wanted and host['container'] and not params['machine_wide']:
        skipped.append('%s: the whole machine\'s, and this is a container (machine_wide=true sets it)' % names)
    elif wanted:
        on = mglru_on(host.get('mglru_enabled'))
        enable = params['mglru_enable']
        if params['min_ttl_ms'] > 0 and on is False and not enable:
            skipped.append('min_ttl_ms: written, but MGLRU is off on this kernel (%s is %s) and min_ttl_ms acts only while it '
                           'is on: mglru_enable=true turns it on' % (plan.LRU_GEN_ENABLED, host['mglru_enabled']))
        current = (read_text(plan.MIN_TTL) or '0').strip()
        previous = plan.previous_min_ttl(old) if plan.ours(old) else None
        previous = previous if previous is not None else int(current) if current.isdigit() else 0
        files[plan.TMPFILES] = plan.tmpfiles(params['min_ttl_ms'], previous, enable,
                                             earlier or host.get('mglru_enabled') if enable else None)
        ttl = params['min_ttl_ms'] or (plan.previous_min_ttl(old) if plan.ours(old) else None)
        enabled = 'y' if enable else earlier
    elif plan.ours(old) and host['mglru']:
        ttl = plan.previous_min_ttl(old)
        enabled = earlier
    return files, ttl, enabled


def main():
    module = HeadroomModule(
        argument_spec=dict(
            state=dict(type='str', default='present', choices=['present', 'absent']),
            backend=dict(type='str', default='auto', choices=['auto'] + list(plan.BACKENDS)),
            prefer=dict(type='list', elements='str', default=[]),
            avoid=dict(type='list', elements='str', default=[]),
            prefer_units=dict(type='list', elements='str', default=[]),
            prefer_pids=dict(type='list', elements='int', default=[]),
            protect_units=dict(type='list', elements='str', default=[]),
            prefer_adjust=dict(type='int', default=500),
            protect_adjust=dict(type='int', default=-900),
            min_available_pct=dict(type='float', default=10.0),
            min_swap_free_pct=dict(type='float', default=10.0),
            swap_used_limit_pct=dict(type='float', default=90.0),
            pressure_limit_pct=dict(type='float', default=50.0),
            pressure_seconds=dict(type='int', default=20),
            min_ttl_ms=dict(type='int', default=1000),
            mglru_enable=dict(type='bool', default=False),
            machine_wide=dict(type='bool', default=False),
            undo=dict(type='dict'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    # One run at a time per host: a second run (another AWX job) reading the first one's half-written drop-ins
    # as "before", or rolling back over them, would leave neither run's guard.
    take_lock(module, 'oom_guard', 'the OOM guard of this host')
    guard = Guard(module)
    if p['undo'] is not None:
        changed = any((p['undo'].get(key) or None) is not None for key in ('files', 'pids', 'min_ttl_ms', 'lru_gen_enabled'))
        if changed and not module.check_mode:
            guard.rollback(p['undo'])
        module.exit_json(changed=changed, backend=None, host={}, units=[], files=sorted(p['undo'].get('files') or {}),
                         restart=[], package=None, left_alone=[], undo={})
    for label, value, low, high in (('prefer_adjust', p['prefer_adjust'], 1, 1000),
                                    ('protect_adjust', p['protect_adjust'], -1000, -1),
                                    ('min_ttl_ms', p['min_ttl_ms'], 0, 600000),
                                    ('pressure_seconds', p['pressure_seconds'], 1, 3600)):
        if not low <= value <= high:
            module.fail_json(msg='%s: %d is outside %d..%d; nothing changed' % (label, value, low, high))
    for label in ('swap_used_limit_pct', 'pressure_limit_pct'):
        if not 0 < p[label] <= 100:
            module.fail_json(msg='%s: %g is not a percentage above 0; nothing changed' % (label, p[label]))

    host = guard.host()
    skipped = []
    try:
        backend = plan.choose(p['backend'], host) if p['state'] == 'present' else None
        units = _units(guard, p, host, skipped) if p['state'] == 'present' else {}
        files, ttl, enabled = _files(p, backend, host, units, skipped)
    except (plan.GuardRefused, ParseError) as exc:
        module.fail_json(msg='%s; nothing changed' % exc, host=host)
    if p['state'] == 'absent' and not host['systemd'] and not any(read_text(path) for path in files):
        module.exit_json(changed=False, backend=None, host=host, units=[], files=[], restart=[], package=None,
                         left_alone=['systemd is not PID 1: nothing of the guard here'], undo={})

    changes = {}
    for path, text in sorted(files.items()):
        old = read_text(path)
        if old is not None and not plan.ours(old):
            if text is None:
                continue  # someone else's file at one of our paths: never removed
            module.fail_json(msg='%s exists and headroom did not write it: refusing to replace it; nothing changed' % path)
        if old != text:
            changes[path] = (old, text)
    current_ttl = (read_text(plan.MIN_TTL) or '').strip() if ttl is not None else None
    ttl_change = ttl is not None and current_ttl != str(ttl)
    current_enabled = host.get('mglru_enabled')
    # 'y' asks for the main switch on (the kernel prints a mask); a value before headroom is written back as it was
    lru_change = enabled is not None and (not mglru_on(current_enabled) if enabled == 'y' else current_enabled != enabled)
    restart = []
    for unit, path in ((plan.EARLYOOM_UNIT, os.path.join(UNITS_DIR, plan.EARLYOOM_UNIT + '.d', plan.DROPIN)),
                       (plan.OOMD_UNIT, plan.OOMD_CONF)):
        if path in changes:
            restart.append(unit)
    package = {'earlyoom': 'earlyoom', 'systemd-oomd': 'systemd-oomd'}.get(backend)
    live = dict((unit, value) for unit, (role, value) in units.items() if value is not None)
    result = dict(backend=backend, host=host, files=sorted(changes), restart=restart, package=package, left_alone=skipped,
                  units=[{'unit': unit, 'role': role, 'adjust': value, 'pids': []} for unit, (role, value) in sorted(units.items())],
                  diff=[{'before_header': path, 'after_header': path, 'before': old or '', 'after': text or ''}
                        for path, (old, text) in sorted(changes.items())])
    unit_paths = [path for path in changes if path.startswith(UNITS_DIR + '/')]
    removed = [os.path.basename(os.path.dirname(path))[:-2] for path, (old, text) in changes.items()
               if text is None and path.startswith(UNITS_DIR + '/') and not path.startswith(
                   os.path.join(UNITS_DIR, plan.EARLYOOM_UNIT + '.d'))]
    for line in skipped:
        if 'CAP_SYS_RESOURCE' in line:
            module.warn(line)
    if module.check_mode:
        pending = [unit for unit, value in live.items() if _stale(guard, unit, value, units[unit][0])]
        module.exit_json(changed=bool(changes or ttl_change or lru_change or pending), undo={}, **result)

    try:
        for path, (old, text) in sorted(changes.items()):
            guard.put(path, text)
        if unit_paths:
            rc, out, err = guard.systemctl('daemon-reload')
            if rc != 0:
                raise RuntimeError('systemctl daemon-reload failed: %s' % (err or out).strip())
        changed_live = _apply_live(guard, live, removed, result, dict((unit, role) for unit, (role, value) in units.items()))
        if lru_change:  # before min_ttl_ms, which acts only while MGLRU is on
            guard.undo['lru_gen_enabled'] = current_enabled
            _write_knob(plan.LRU_GEN_ENABLED, '%s\n' % enabled)
            kept = (read_text(plan.LRU_GEN_ENABLED) or '').strip()
            if (not mglru_on(kept)) if enabled == 'y' else kept != enabled:
                raise RuntimeError('%s kept %s after writing %s' % (plan.LRU_GEN_ENABLED, kept, enabled))
        if ttl_change:
            guard.undo['min_ttl_ms'] = int(current_ttl) if current_ttl.isdigit() else 0
            _write_knob(plan.MIN_TTL, '%d\n' % ttl)
            kept = (read_text(plan.MIN_TTL) or '').strip()
            if kept != str(ttl):
                raise RuntimeError('%s kept %s after writing %d' % (plan.MIN_TTL, kept, ttl))
    except (RuntimeError, IOError, OSError) as exc:
        guard.rollback(guard.undo)
        module.fail_json(msg='%s; rolled back, as they were before this run: %s' % (
            exc, ', '.join(sorted(guard.undo['files'])) or 'no file written yet'), host=host, left_alone=skipped)
    module.exit_json(changed=bool(changes or ttl_change or lru_change or changed_live), undo=guard.undo, **result)


def _stale(guard, unit, value, role):
    """Whether the unit or one of its running processes does not have ``value`` yet (a protected process that
    protects itself more already, as sshd does, has it)."""
    props = guard.show(unit, 'OOMScoreAdjust', 'ControlGroup')
    if props.get('OOMScoreAdjust') != str(value):
        return True
    return any(plan.live_value(role, (read_text('/proc/%d/oom_score_adj' % pid) or '').strip(), value) is not None
               for pid in guard.pids(props.get('ControlGroup')))


def _apply_live(guard, live, removed, result, roles=None):
    """Checks systemd took each unit's value, writes it to the unit's running processes and reads it back;
    for the units whose drop-in went, writes back the unit's own value. A protected unit's process that protects
    itself more already (sshd sets its listener to -1000) keeps its own value. Returns whether a process changed."""
    changed = False
    wanted = dict(live)
    for unit in removed:
        wanted.setdefault(unit, None)
    for unit, value in sorted(wanted.items()):
        props = guard.show(unit, 'OOMScoreAdjust', 'ControlGroup', 'DropInPaths')
        if value is None:
            value = int(props.get('OOMScoreAdjust') or 0)
        elif props.get('OOMScoreAdjust') != str(value):
            raise RuntimeError('%s: systemd says OOMScoreAdjust=%s after the drop-in set %d: a later drop-in overrides '
                               'it (%s)' % (unit, props.get('OOMScoreAdjust'), value, props.get('DropInPaths')))
        adjusted = []
        role = (roles or {}).get(unit)
        for pid in guard.pids(props.get('ControlGroup')):
            before = (read_text('/proc/%d/oom_score_adj' % pid) or '').strip()
            if plan.live_value(role, before, value) is None:
                continue
            kept = guard.adjust(pid, value)
            if kept is None:
                continue  # the process ended meanwhile
            if kept != value:
                raise RuntimeError(
                    '%s: pid %d kept oom_score_adj %d when %d was written; a negative value needs CAP_SYS_RESOURCE '
                    '(a container: --cap-add SYS_RESOURCE), and systemd drops OOMScoreAdjust= silently there too'
                    % (unit, pid, kept, value))
            adjusted.append(pid)
            changed = True
        for entry in result['units']:
            if entry['unit'] == unit:
                entry['pids'] = adjusted
    return changed


if __name__ == '__main__':
    main()
