"""The OOM guard's decisions and the text of its files: which guard a host gets, earlyoom's command line,
the systemd drop-ins that rank the units for the kernel's OOM killer (``OOMScoreAdjust=``) and for
systemd-oomd, and MGLRU's persisted ``min_ttl_ms``.

Pure: the oom_guard module reads the host, calls these and writes what they return.

Facts this stands on (checked on Debian 11, 12 and 13 in containers, kernel 6.18):
- earlyoom reads /proc/meminfo. Inside a container that is the machine's memory, not the cgroup's limit: in a
  container limited below the machine, earlyoom would never act before the kernel's cgroup OOM killer does.
- Debian's earlyoom.service sandboxes itself (DynamicUser, ProtectSystem, ...): that needs mount namespaces,
  which an unprivileged container refuses (status 226/NAMESPACE, restarted until systemd gives up).
- systemd ignores a failed ``OOMScoreAdjust=`` "assuming containerized execution": without CAP_SYS_RESOURCE a
  negative value is silently dropped (the process keeps 0). The module reads every value back.
- systemd-oomd acts on cgroup v2 only, from systemd 248 (``ManagedOOMPreference=``); Debian 12 and later
  ship it as its own package, systemd-oomd.
"""

import re

from ..parse_error import ParseError

BACKENDS = ('earlyoom', 'systemd-oomd', 'kernel')
MARK = '# Managed by headroom (oom_guard): removed by its state=absent.'
DROPIN = '50-headroom-oom.conf'
EARLYOOM_UNIT = 'earlyoom.service'
EARLYOOM_BIN = '/usr/bin/earlyoom'
OOMD_UNIT = 'systemd-oomd.service'
OOMD_CONF = '/etc/systemd/oomd.conf.d/50-headroom.conf'
TMPFILES = '/etc/tmpfiles.d/50-headroom-mglru.conf'
MIN_TTL = '/sys/kernel/mm/lru_gen/min_ttl_ms'
# MGLRU's switches (read/guard.py): "y" turns every component on (multigen_lru.rst); min_ttl_ms acts only
# while the main switch is on
LRU_GEN_ENABLED = '/sys/kernel/mm/lru_gen/enabled'
OOMD_MIN_SYSTEMD = 248
# a process name as earlyoom matches it (the kernel's comm, 15 characters, or a longer name): no character
# that means something to a regex or to systemd's command line, so none needs escaping but '.' and '+'
_NAME = re.compile(r'^[A-Za-z0-9_.:@+-]{1,64}$')
_UNIT = re.compile(r'^[A-Za-z0-9_.:@*-]{1,200}\.(service|scope|slice)$')  # '*': a pattern of loaded units
# what a sandboxed earlyoom.service needs that an unprivileged container cannot give (mount namespaces)
_SANDBOX_OFF = ('DynamicUser=no', 'ProtectSystem=no', 'ProtectHome=no', 'PrivateDevices=no', 'PrivateTmp=no',
                'PrivateNetwork=no', 'ProtectKernelLogs=no', 'ProtectKernelModules=no', 'ProtectKernelTunables=no',
                'ProtectControlGroups=no', 'ProtectClock=no', 'ProtectHostname=no')


class GuardRefused(Exception):
    """The guard asked for cannot work on this host; the message says why and what would."""


def choose(wanted, host):
    """The guard for ``host``: ``wanted`` (auto or one of BACKENDS), or GuardRefused.

    ``host``: ``systemd`` (its version, None when systemd is not PID 1), ``cgroup2`` (the unified
    hierarchy), ``limit`` and ``total`` (the memory cgroup's limit, None when unlimited, and the machine's
    RAM, bytes), ``running`` (the guards running now). auto keeps a running systemd-oomd, takes the kernel
    itself inside a container limited below the machine (earlyoom cannot see that limit), else earlyoom.
    """
    if not host.get('systemd'):
        raise GuardRefused('systemd is not PID 1 here: every guard of this role is set through systemd units and '
                           'drop-ins (a container needs systemd as its command)')
    limited = bool(host.get('limit')) and host['limit'] < host.get('total', 0)
    if wanted == 'auto':
        if 'systemd-oomd' in host.get('running', ()):
            return 'systemd-oomd'
        return 'kernel' if limited else 'earlyoom'
    if wanted not in BACKENDS:
        raise GuardRefused('backend %r: expected auto or one of %s' % (wanted, ', '.join(BACKENDS)))
    if wanted == 'systemd-oomd':
        if not host.get('cgroup2'):
            raise GuardRefused('systemd-oomd acts on cgroup v2 only, and this host mounts cgroup v1 at /sys/fs/cgroup: '
                               'use backend earlyoom or kernel, or boot with systemd.unified_cgroup_hierarchy=1')
        if host['systemd'] < OOMD_MIN_SYSTEMD:
            raise GuardRefused('systemd-oomd needs systemd %d or later (ManagedOOMPreference=); this host has %d: '
                               'use backend earlyoom or kernel' % (OOMD_MIN_SYSTEMD, host['systemd']))
    if wanted == 'earlyoom' and limited:
        raise GuardRefused('earlyoom reads /proc/meminfo, which here is the machine\'s (%d MiB), not this cgroup\'s '
                           'limit (%d MiB): it would never act before the kernel\'s OOM killer. Use backend kernel '
                           '(OOMScoreAdjust= decides whom the kernel kills at the limit)'
                           % (host['total'] // 1048576, host['limit'] // 1048576))
    return wanted


def names(values, what):
    """``values`` checked as process names (list of str), duplicates dropped, order kept."""
    seen = []
    for value in values or ():
        if not isinstance(value, str) or not _NAME.match(value):
            raise ParseError('%s: %r is not a process name (letters, digits and _ . : @ + -, at most 64)' % (what, value))
        if value not in seen:
            seen.append(value)
    return seen


def unit_name(value, what):
    """A unit's full name: ``gunicorn`` is ``gunicorn.service``; anything else than a plain name is refused."""
    full = value if isinstance(value, str) and value.endswith(('.service', '.scope', '.slice')) else '%s.service' % value
    if not isinstance(value, str) or not _UNIT.match(full):
        raise ParseError('%s: %r is not a systemd unit name' % (what, value))
    return full


def name_regex(values):
    """earlyoom's --prefer/--avoid regex matching exactly these names: ``^(gunicorn|celery)$``."""
    return '^(%s)$' % '|'.join(value.replace('.', '[.]').replace('+', '[+]') for value in values)


def earlyoom_args(mem_pct, swap_pct, prefer, avoid):
    """earlyoom's options: SIGTERM at ``mem_pct``% available and ``swap_pct``% free swap, SIGKILL at half of
    each (earlyoom's own rule), the preferences, and Debian's hourly report instead of one a second."""
    for label, value in (('min_available_pct', mem_pct), ('min_swap_free_pct', swap_pct)):
        if not 0 < value <= 50:
            raise ParseError('%s: %r is not a percentage above 0 and at most 50' % (label, value))
    args = ['-m', '%g,%g' % (mem_pct, mem_pct / 2.0), '-s', '%g,%g' % (swap_pct, swap_pct / 2.0), '-r', '3600']
    if prefer:
        args += ['--prefer', name_regex(prefer)]
    if avoid:
        args += ['--avoid', name_regex(avoid)]
    return args


def exec_line(argv):
    """``argv`` as systemd's ExecStart= reads it back: quoted where needed, ``$`` and ``%`` doubled."""
    words = []
    for arg in argv:
        text = arg.replace('%', '%%').replace('$', '$$')
        words.append("'%s'" % text if re.search(r'[^A-Za-z0-9_./,:=@+-]', arg) else text)
    return ' '.join(words)


def earlyoom_dropin(argv, container):
    """The drop-in that starts earlyoom with ``argv`` (the package's /etc/default file is left as it is);
    inside a container, without the sandboxing that needs mount namespaces."""
    lines = [MARK, '[Service]', 'ExecStart=', 'ExecStart=%s' % exec_line([EARLYOOM_BIN] + list(argv))]
    if container:
        lines += ['# a container refuses mount namespaces (status 226/NAMESPACE): no sandbox here'] + list(_SANDBOX_OFF)
    return '\n'.join(lines) + '\n'


def unit_dropin(adjust, oomd=None, pressure=None):
    """A unit's drop-in: its ``OOMScoreAdjust=`` (None: none) and, for systemd-oomd, ``prefer`` (kill this
    unit's cgroup under ``pressure``: (percent, seconds)) or ``avoid``."""
    lines = [MARK, '[Service]'] + (['OOMScoreAdjust=%d' % adjust] if adjust is not None else [])
    if oomd == 'prefer':
        lines += ['ManagedOOMMemoryPressure=kill', 'ManagedOOMMemoryPressureLimit=%g%%' % pressure[0]]
    elif oomd == 'avoid':
        lines += ['ManagedOOMPreference=avoid']
    return '\n'.join(lines) + '\n'


def oomd_conf(swap_used_pct, pressure_pct, pressure_seconds):
    """systemd-oomd's drop-in: when it acts on swap, and the default pressure limit and its duration."""
    return '\n'.join([MARK, '[OOM]', 'SwapUsedLimit=%g%%' % swap_used_pct,
                      'DefaultMemoryPressureLimit=%g%%' % pressure_pct,
                      'DefaultMemoryPressureDurationSec=%ds' % pressure_seconds]) + '\n'


def tmpfiles(min_ttl_ms, previous, enable=False, previous_enabled=None):
    """The tmpfiles.d lines that write ``min_ttl_ms`` at every boot (0: none) and, with ``enable``, turn MGLRU
    on first (``y`` into its ``enabled``: min_ttl_ms does nothing while it is off); the values before
    headroom (``previous``, ``previous_enabled``) are kept in comments, for state=absent to write back."""
    text = MARK + '\n'
    if enable:
        text += '# previous enabled: %s\nw %s - - - - y\n' % (previous_enabled, LRU_GEN_ENABLED)
    if min_ttl_ms:
        text += '# previous: %s\nw %s - - - - %d\n' % (previous, MIN_TTL, min_ttl_ms)
    return text


def previous_min_ttl(text):
    """The ``previous`` value a tmpfiles() text recorded, or None."""
    match = re.search(r'^# previous: (\d+)$', text or '', re.M)
    return int(match.group(1)) if match else None


def live_value(role, current, value):
    """The oom_score_adj to write to a running process of a ranked unit (``current``: its /proc/PID/oom_score_adj
    text), or None to leave it. A protected unit's process that protects itself more already keeps its value:
    OpenSSH's sshd sets its listener to -1000 (OOM_SCORE_ADJ_MIN) itself at start (openbsd-compat/port-linux.c,
    oom_adjust_setup; seen in the test VM, Debian 12), below systemd's OOMScoreAdjust=, and writing the unit's -900
    over it would make sshd easier to kill. A process gone (empty text) is left too."""
    text = (current or '').strip()
    if not text or not re.match(r'^-?\d{1,5}$', text):
        return None
    if int(text) == value or (role == 'protect' and int(text) < value):
        return None
    return value


def previous_enabled(text):
    """The ``previous enabled`` value (MGLRU's mask before headroom turned it on) a tmpfiles() text
    recorded, or None when headroom did not turn it on."""
    match = re.search(r'^# previous enabled: (0x[0-9a-fA-F]{1,8})$', text or '', re.M | re.ASCII)
    return match.group(1) if match else None


def can_lower(status):
    """Whether a process (its /proc/PID/status text) may lower an oom_score_adj: CAP_SYS_RESOURCE (bit 24)
    in its effective set. Without it, a container's systemd drops a negative OOMScoreAdjust= silently."""
    match = re.search(r'^CapEff:\s*([0-9a-fA-F]+)$', status or '', re.M)
    return bool(match) and bool(int(match.group(1), 16) >> 24 & 1)


def ours(text):
    """Whether a file's text is one headroom wrote (only those are replaced or removed)."""
    return text is not None and text.startswith(MARK)


def in_unit(proc_cgroup, control_group):
    """Whether a process (its /proc/PID/cgroup text) runs in the unit whose ControlGroup (as systemctl shows
    it, from systemd's own root: inside a container the machine's path has a prefix) is ``control_group``."""
    if not control_group:
        return False
    for line in proc_cgroup.splitlines():
        parts = line.split(':', 2)
        if len(parts) != 3 or parts[1] not in ('name=systemd', ''):
            continue
        if (control_group.rstrip('/') + '/') in parts[2] + '/':
            return True
    return False
