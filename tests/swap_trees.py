"""Trees of /proc and memory cgroup files for the swapoff guard's tests (read/swapped.py): a host as
the kernel would show it, built from a short description, the forms taken from real files.

Forms: v1 (the memory.* files, /proc/PID/status and /proc/PID/cgroup) are the REAL ones captured on
this machine in fixtures/kernel/swapped_v1 (kernel 6.18, by capture-swapped.sh), with the figures
replaced. v2 is NOT captured (this machine's memory controller is bound to v1): its files follow
Documentation/admin-guide/cgroup-v2.rst (memory.max and memory.high hold bytes or ``max``,
memory.current and memory.swap.current bytes, memory.stat ``key value`` lines with ``inactive_file``;
memory.swap.current is absent from the root cgroup) and its mountinfo line is systemd's on Debian 12.

The kernel's counters are hierarchical: a cgroup's use, page cache and swap are its own plus its
children's, as ``build`` computes them.
"""

import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
CAPTURED = os.path.join(FIXTURES, 'kernel', 'swapped_v1', 'tree')
HOG_PID = 21888       # the python3 with pages in swap in the capture (fixtures/kernel/swapped_v1/README.capture)
V1_UNLIMITED = 9223372036854771712

V1_MOUNTINFO = open(os.path.join(CAPTURED, 'proc', 'self', 'mountinfo')).read()
V2_MOUNTINFO = ('30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2'
                ' rw,nsdelegate,memory_recursiveprot\n')
V1_STAT = open(os.path.join(CAPTURED, 'sys/fs/cgroup/memory/headroom_swapcap_21853/app/memory.stat')).read()
STATUS = open(os.path.join(CAPTURED, 'proc', str(HOG_PID), 'status')).read()
V1_CGROUP = open(os.path.join(CAPTURED, 'proc', str(HOG_PID), 'cgroup')).read()


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
        return V1_CGROUP.replace('4:memory:/headroom_swapcap_21853/app', '4:memory:%s' % path)
    return '0::%s\n' % path


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


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
            _write(os.path.join(directory, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n')
            _write(os.path.join(directory, 'memory.stat'), 'anon 0\nfile 0\ninactive_file %d\n' % t['cache'])
        else:
            _write(os.path.join(directory, 'memory.max'), 'max\n' if t['limit'] is None else '%d\n' % t['limit'])
            _write(os.path.join(directory, 'memory.high'), 'max\n' if t['high'] is None else '%d\n' % t['high'])
            _write(os.path.join(directory, 'memory.current'), '%d\n' % t['usage'])
            _write(os.path.join(directory, 'memory.swap.current'), '%d\n' % t['swap'])
            _write(os.path.join(directory, 'memory.swap.max'), 'max\n')
            _write(os.path.join(directory, 'memory.stat'), 'anon %d\nfile %d\ninactive_file %d\n'
                   % (t['usage'] - t['cache'], t['cache'], t['cache']))
            _write(os.path.join(directory, 'memory.events'), 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n')
    proc = os.path.join(root, 'proc')
    _write(os.path.join(proc, 'self', 'cgroup'), cgroup_text(version, reader))
    _write(os.path.join(proc, 'self', 'mountinfo'), V1_MOUNTINFO if version == 1 else V2_MOUNTINFO)
    for pid, name, path, vmswap_kb in processes:
        _write(os.path.join(proc, str(pid), 'status'), status_text(name, vmswap_kb))
        _write(os.path.join(proc, str(pid), 'cgroup'), cgroup_text(version, path))
    return totals
