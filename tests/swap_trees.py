"""Trees of /proc and memory cgroup files for the swapoff guard's tests (read/swapped.py): a host as
the kernel would show it, built from a short description, the forms taken from real files.

Forms: the REAL ones, with the figures replaced. v1 (the memory.* files, /proc/PID/status and
/proc/PID/cgroup) from fixtures/kernel/swapped_v1 (this machine, kernel 6.18); v2 (memory.max and
memory.high holding bytes or ``max``, memory.current, memory.swap.current, memory.stat, the root with
cgroup.controllers and memory.stat but no memory.max or memory.swap.current, systemd's cgroup2 line of
mountinfo) from fixtures/kernel/swapped_v2 (a Debian 12 VM, kernel 6.1, systemd 252), both captured by
fixtures/kernel/capture-swapped.sh.

The kernel's counters are hierarchical: a cgroup's use, page cache and swap are its own plus its
children's, as ``build`` computes them.
"""

import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
CAPTURED = os.path.join(FIXTURES, 'kernel', 'swapped_v1', 'tree')
CAPTURED_V2 = os.path.join(FIXTURES, 'kernel', 'swapped_v2', 'tree')
HOG_PID = 17513       # the python3 with pages in swap in the capture (fixtures/kernel/swapped_v1/README.capture)
V1_UNLIMITED = 9223372036854771712


def _read(*parts):
    with open(os.path.join(*parts)) as handle:
        return handle.read()


V1_MOUNTINFO = _read(CAPTURED, 'proc', 'self', 'mountinfo')
V2_MOUNTINFO = _read(CAPTURED_V2, 'proc', 'self', 'mountinfo')
V1_STAT = _read(CAPTURED, 'sys/fs/cgroup/memory/headroom_swapcap_17501/app/memory.stat')
V2_STAT = _read(CAPTURED_V2, 'sys/fs/cgroup/system.slice/headroom-swapcap-347.service/memory.stat')
V2_CONTROLLERS = _read(CAPTURED_V2, 'sys/fs/cgroup/cgroup.controllers')
STATUS = _read(CAPTURED, 'proc', str(HOG_PID), 'status')
V1_CGROUP = _read(CAPTURED, 'proc', str(HOG_PID), 'cgroup')


def status_text(name, vmswap_kb):
    """The captured hog's /proc/PID/status with another name and VmSwap (None: no Vm lines, a kernel
    thread or a zombie)."""
    lines = []
    for line in STATUS.splitlines(True):
        if line.startswith('Name:'):
            line = 'Name:\t%s\n' % name
        elif line.startswith('Vm') or line.startswith('Rss'):
            if vmswap_kb is None:
                continue
            if line.startswith('VmSwap:'):
                line = 'VmSwap:\t%8d kB\n' % vmswap_kb
        lines.append(line)
    return ''.join(lines)


def cgroup_text(version, path):
    if version == 1:
        return V1_CGROUP.replace('4:memory:/headroom_swapcap_17501/app', '4:memory:%s' % path)
    return '0::%s\n' % path


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


def _v2_stat(usage, cache):
    """The captured unit's memory.stat with its anon, file and inactive_file replaced."""
    values = {'anon': usage - cache, 'file': cache, 'inactive_file': cache, 'active_file': 0}
    return ''.join('%s %d\n' % (line.split()[0], values[line.split()[0]]) if line.split()[0] in values else line + '\n'
                   for line in V2_STAT.splitlines())


def _v1_stat(total_inactive_file, hier_limit, swap, accounting):
    lines = []
    for line in V1_STAT.splitlines():
        key = line.split()[0]
        if key in ('inactive_file', 'total_inactive_file'):
            line = '%s %d' % (key, total_inactive_file)
        elif key == 'hierarchical_memory_limit':
            line = '%s %d' % (key, hier_limit)
        elif key in ('swap', 'total_swap', 'swapcached', 'total_swapcached', 'hierarchical_memsw_limit'):
            if not accounting:
                continue  # swapaccount=0: no swap lines (mm/memcontrol.c memcg_stat_show: "MEMCG_SWAP && !do_memsw_account()")
            if key in ('swap', 'total_swap'):
                line = '%s %d' % (key, swap)
        lines.append(line)
    return '\n'.join(lines) + '\n'


def build(root, version, cgroups, processes, reader='/', accounting=True):
    """Write a host under ``root``.

    ``cgroups``: {path: {'limit': bytes or None, 'high': bytes or None (v2), 'own': bytes the cgroup's
    own pages use in RAM, 'cache': of which inactive page cache, 'swap': its own pages in swap}};
    parents are made as needed. ``processes``: [(pid, name, cgroup path, VmSwap kB or None)].
    ``reader``: the cgroup of the reading process (/proc/self). ``accounting``: v1 memsw files.
    Returns {path: {'usage', 'cache', 'swap', 'limit'}}: the hierarchical figures written.
    """
    paths = set(['/'])
    for path in cgroups:
        while path not in paths:
            paths.add(path)
            path = os.path.dirname(path)
    totals = {}
    for path in sorted(paths, key=lambda p: -p.count('/') if p != '/' else 1):
        own = cgroups.get(path, {})
        below = [p for p in paths if p != path and os.path.dirname(p) == path]
        totals[path] = {key: own.get(src, 0) + sum(totals[p][key] for p in below)
                        for key, src in (('usage', 'own'), ('cache', 'cache'), ('swap', 'swap'))}
        totals[path]['limit'] = own.get('limit')
        totals[path]['high'] = own.get('high')
    mount = '/sys/fs/cgroup/memory' if version == 1 else '/sys/fs/cgroup'
    for path in paths:
        t = totals[path]
        directory = os.path.join(root, mount.lstrip('/'), path.lstrip('/'))
        os.makedirs(directory, exist_ok=True)
        if version == 1:
            limits = [totals[p]['limit'] for p in paths if (path + '/').startswith(p.rstrip('/') + '/')
                      and totals[p]['limit'] is not None]
            _write(os.path.join(directory, 'memory.limit_in_bytes'),
                   '%d\n' % (t['limit'] if t['limit'] is not None else V1_UNLIMITED))
            _write(os.path.join(directory, 'memory.usage_in_bytes'), '%d\n' % t['usage'])
            _write(os.path.join(directory, 'memory.max_usage_in_bytes'), '%d\n' % t['usage'])
            _write(os.path.join(directory, 'memory.stat'),
                   _v1_stat(t['cache'], min(limits) if limits else V1_UNLIMITED, t['swap'], accounting))
            _write(os.path.join(directory, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n')
            if accounting:
                _write(os.path.join(directory, 'memory.memsw.usage_in_bytes'), '%d\n' % (t['usage'] + t['swap']))
                _write(os.path.join(directory, 'memory.memsw.limit_in_bytes'), '%d\n' % V1_UNLIMITED)
        elif path == '/':
            _write(os.path.join(directory, 'cgroup.controllers'), V2_CONTROLLERS)
            _write(os.path.join(directory, 'memory.stat'), _v2_stat(t['usage'], t['cache']))
        else:
            _write(os.path.join(directory, 'memory.max'), 'max\n' if t['limit'] is None else '%d\n' % t['limit'])
            _write(os.path.join(directory, 'memory.high'), 'max\n' if t['high'] is None else '%d\n' % t['high'])
            _write(os.path.join(directory, 'memory.current'), '%d\n' % t['usage'])
            _write(os.path.join(directory, 'memory.swap.current'), '%d\n' % t['swap'])
            _write(os.path.join(directory, 'memory.swap.max'), 'max\n')
            _write(os.path.join(directory, 'memory.stat'), _v2_stat(t['usage'], t['cache']))
            _write(os.path.join(directory, 'memory.events'), 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n')
    proc = os.path.join(root, 'proc')
    _write(os.path.join(proc, 'self', 'cgroup'), cgroup_text(version, reader))
    _write(os.path.join(proc, 'self', 'mountinfo'), V1_MOUNTINFO if version == 1 else V2_MOUNTINFO)
    for pid, name, path, vmswap_kb in processes:
        _write(os.path.join(proc, str(pid), 'status'), status_text(name, vmswap_kb))
        _write(os.path.join(proc, str(pid), 'cgroup'), cgroup_text(version, path))
    return totals
