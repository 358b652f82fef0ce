"""Whether the host has an early OOM killer, and how it is set: earlyoom or systemd-oomd running, and
the kernel's own thrash protection (MGLRU's ``min_ttl_ms``).

A host that stalls instead of killing needs one; a host that has one and still stalls needs it set
tighter. Read from the running processes (their command line, for earlyoom's options), systemd-oomd's
configuration file and /sys/kernel/mm/lru_gen.
"""

import os
import re

from ..units import is_count

GUARDS = ('earlyoom', 'systemd-oomd')
# earlyoom's options that say when and whom it kills (its -h); the values are kept as given
_EARLYOOM = {'-m': 'mem_percent', '-s': 'swap_percent', '-M': 'mem_kib', '-S': 'swap_kib', '--prefer': 'prefer',
             '--avoid': 'avoid', '--ignore': 'ignore'}
_OOMD_KEYS = ('SwapUsedLimit', 'DefaultMemoryPressureLimit', 'DefaultMemoryPressureDurationSec')


def earlyoom_settings(argv):
    """earlyoom's thresholds and victim preferences from its command line (``-m 10,5 --prefer '^x$'``)."""
    found = {}
    for index, arg in enumerate(argv[1:], 1):
        for flag, key in _EARLYOOM.items():
            if arg == flag and index + 1 < len(argv):
                found[key] = argv[index + 1][:200]
            elif flag.startswith('--') and arg.startswith(flag + '='):
                found[key] = arg[len(flag) + 1:][:200]
            elif not flag.startswith('--') and arg.startswith(flag) and len(arg) > len(flag) and arg[len(flag)].isdigit():
                found[key] = arg[len(flag):][:200]
    return found


def oomd_settings(root='/'):
    """systemd-oomd's [OOM] settings from /etc/systemd/oomd.conf and its drop-ins (later files win)."""
    found = {}
    base = os.path.join(root, 'etc/systemd')
    paths = [os.path.join(base, 'oomd.conf')]
    dropins = os.path.join(base, 'oomd.conf.d')
    if os.path.isdir(dropins):
        paths += sorted(os.path.join(dropins, name) for name in os.listdir(dropins) if name.endswith('.conf'))
    for path in paths:
        try:
            with open(path) as handle:
                text = handle.read(65536)
        except (IOError, OSError):
            continue
        for key in _OOMD_KEYS:
            match = re.search(r'^\s*%s\s*=\s*(\S{1,40})\s*$' % key, text, re.M | re.ASCII)
            if match:
                found[key] = match.group(1)
    return found


# MGLRU's switches, as the kernel's Documentation/admin-guide/mm/multigen_lru.rst gives them: ``enabled``
# reads back as a hex mask ("0x0007" after ``echo y``, "0x0005" after ``echo 5``; mm/vmscan.c show_enabled()
# prints "0x%04x"), whose bit 0x0001 is "the main switch for the multi-gen LRU"; its default is the kernel's
# CONFIG_LRU_GEN_ENABLED (Debian 12's 6.1 builds CONFIG_LRU_GEN without it: 0x0000, seen in the test VM).
# ``min_ttl_ms`` (0: off) keeps the working set of that many ms and OOM-kills when it cannot: it is read in
# lru_gen_age_node(), which kswapd runs only while lru_gen_enabled(), the main switch, is on.
MGLRU_MAIN_SWITCH = 0x0001
_MASK = re.compile(r'^0x([0-9a-fA-F]{1,8})$', re.ASCII)


def mglru_on(enabled):
    """Whether MGLRU's main switch is on, from ``enabled`` as the kernel prints it; None when that is
    not its form (unreadable, or another kernel's text): never a guess."""
    match = _MASK.match((enabled or '').strip())
    return bool(int(match.group(1), 16) & MGLRU_MAIN_SWITCH) if match else None


def mglru(root='/'):
    """MGLRU's state (``enabled``, a bit mask as the kernel prints it, and ``min_ttl_ms``), or None on a
    kernel without it."""
    base = os.path.join(root, 'sys/kernel/mm/lru_gen')
    if not os.path.isdir(base):
        return None
    state = {}
    for name in ('enabled', 'min_ttl_ms'):
        try:
            with open(os.path.join(base, name)) as handle:
                value = handle.read(64).strip()
        except (IOError, OSError):
            value = None
        state[name] = int(value) if name == 'min_ttl_ms' and value and is_count(value) else value
    return state


def read_guard(pids, stat, command_line, root='/'):
    """``{'running': [{'kind', 'pid', 'settings'}], 'mglru': {...} or None}``: the guards among
    ``pids`` (``stat``/``command_line`` as for app_servers.find) and the kernel's own protection."""
    running = []
    for pid in pids:
        details = stat(pid)
        if details is None or details[0] not in GUARDS:
            continue
        kind = details[0]
        settings = earlyoom_settings(command_line(pid)[0]) if kind == 'earlyoom' else oomd_settings(root)
        running.append({'kind': kind, 'pid': pid, 'settings': settings})
    return {'running': running, 'mglru': mglru(root)}
