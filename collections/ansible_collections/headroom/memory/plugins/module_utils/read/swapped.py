"""Who holds pages in swap, and what every memory-limited cgroup could take back: what the swapoff
guard (fix/swap.py ``cgroup_swapoff_guard``) decides on.

A swapoff brings every page of the area back into RAM, and the kernel charges each page to the memory
cgroup that swapped it out (mm/memcontrol.c ``mem_cgroup_swapin_charge_folio``: the cgroup recorded with
the swap entry, the faulting mm's only when that cgroup is gone). A cgroup that cannot take its pages
back within its limit is OOM-killed in, whatever the machine has free. So the reading is per cgroup:

- the cgroup's own count of its pages in swap where the kernel keeps one: v2 ``memory.swap.current``
  ("the total amount of swap currently being used by the cgroup and its descendants",
  Documentation/admin-guide/cgroup-v2.rst), v1 ``memory.memsw.usage_in_bytes`` minus
  ``memory.usage_in_bytes`` (memory+swap minus memory; both hierarchical, Documentation/admin-guide/
  cgroup-v1/memory.rst). These count what is charged, tmpfs and shmem pages included;
- otherwise (v1 without swap accounting: ``swapaccount=0``, which Debian and Ubuntu kernels long
  shipped as the default) the sum of ``VmSwap`` of the processes in the cgroup and below it.
  ``VmSwap`` is "amount of swap used by anonymous private data (shmem swap usage is not included)"
  (Documentation/filesystems/proc.rst; fs/proc/task_mmu.c ``task_mem``: ``MM_SWAPENTS``, printed as
  ``VmSwap:\\t%8lu kB``, since 2.6.34): pages in swap of a tmpfs file belong to no process and are
  missed there, which the result says.

Every process is scanned either way: its ``VmSwap`` names who would be hurt, and is the fallback. The
scan reads one small file per process (``/proc/PID/status``, about 1.5 KiB, which takes no lock on
the process's memory map: fs/proc/array.c ``proc_pid_status``, ``task_mem`` reads counters) and
``/proc/PID/cgroup`` only for processes with pages in swap; it holds one entry per cgroup, not per process. The cgroup tree is walked once, reading
one or two files per cgroup and the figures only of those with a limit; at most ``CGROUP_LIMIT``
cgroups, beyond which the reading says it is incomplete rather than pass an unchecked cgroup.

Readers take ``root`` (a directory standing for ``/``) so tests can point them at a captured tree.
The cgroup files are found as ``kernel.read_cgroup_memory`` finds them, with its helpers.
"""

import os
import re

from ..parse_error import ParseError
from ..units import KIB, count, is_count, plausible
from . import kernel

# Far more memory cgroups than any host runs (a Kubernetes node with 110 pods has a few hundred);
# a walk stops there and says so: the guard then refuses rather than pass cgroups it did not read.
CGROUP_LIMIT = 100000
# Processes named per cgroup (the ones with the most in swap): enough for a message, bounded.
NAMED = 3

_VMSWAP = re.compile(r'^VmSwap:(.*)$', re.ASCII | re.MULTILINE)
_VMSWAP_VALUE = re.compile(r'\s*(\d+) kB', re.ASCII)


def parse_status(text):
    """``(name, swap bytes or None)`` from the text of /proc/PID/status.

    ``name`` is the ``Name:`` field, the first line, as the kernel escapes it (fs/proc/array.c
    ``proc_task_name``: ``\\n`` and ``\\\\`` escaped), cut to 64 characters. ``swap`` is None when the
    file has no ``VmSwap`` line: a kernel thread or a zombie, which have no memory of their own. A
    ``VmSwap`` line in another form is a ParseError naming it.
    """
    name = text[5:text.find('\n')].strip('\t')[:64] if text.startswith('Name:') else None
    match = _VMSWAP.search(text)
    if match is None:
        return name, None
    value = _VMSWAP_VALUE.fullmatch(match.group(1))
    line, lineno = match.group(0), text.count('\n', 0, match.start()) + 1
    if value is None:
        raise ParseError('not a /proc/PID/status VmSwap line ("VmSwap:  N kB")', line, lineno)
    return name, plausible(count(value.group(1), 'VmSwap', line, lineno) * KIB, 'VmSwap', line, lineno)


def _status(proc, pid):
    """parse_status of one process, or None when it is gone (processes exit while the scan runs).

    The kernel makes the whole file at the first read (fs/proc/array.c ``proc_pid_status``, a
    single_open seq_file: about 1.5 KiB, more only with thousands of supplementary groups), so it is
    read whole; nothing in it takes a lock on the process's memory map."""
    try:
        with open(os.path.join(proc, pid, 'status'), 'rb') as handle:
            text = handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None
    try:
        return parse_status(text)
    except ParseError as err:
        raise ParseError('%s/%s/status: %s' % (proc, pid, err))


def memory_hierarchy(root='/'):
    """Where the memory controller's hierarchy is mounted, as kernel.read_cgroup_memory decides it
    (v1 when the memory controller is bound there, as on a hybrid host; else v2 with ``memory`` in
    its cgroup.controllers): ``{'version', 'top' (the mount under root), 'mount_root' (the part of
    the hierarchy mounted there, '/' on a host; a container's own cgroup without a cgroup namespace),
    'mounts'}``, or None when no memory cgroup is visible here."""
    text = kernel.read_text(os.path.join(root, 'proc/self/cgroup'))
    if text is None:
        return None
    groups = kernel._parse_proc_cgroup(text)
    mounts = kernel._cgroup_mounts(root)
    for version, path in ((1, groups['v1'].get('memory')), (2, groups['v2'])):
        if path is None:
            continue
        _directory, top = kernel._locate(root, mounts, version, path)
        if top is None:
            continue
        if version == 2:
            controllers = kernel.read_text(os.path.join(top, 'cgroup.controllers'))
            if controllers is not None and 'memory' not in controllers.split():
                continue
        top = os.path.normpath(top)
        mount_root = '/'
        for _fstype, _options, mroot, mpoint in mounts or ():
            if os.path.normpath(kernel._path(root, mpoint)) == top:
                mount_root = mroot
        return {'version': version, 'top': top, 'mount_root': mount_root, 'mounts': mounts}
    return None


def _cgroup_name(hierarchy, directory):
    """The cgroup of ``directory`` as the kernel names it (its path in the whole hierarchy)."""
    rel = os.path.relpath(directory, hierarchy['top'])
    return os.path.normpath(os.path.join(hierarchy['mount_root'], '' if rel == '.' else rel))


def scan_processes(root='/', hierarchy=None):
    """Every process's pages in swap (``VmSwap``), summed per memory cgroup directory.

    Returns ``{'scanned': processes read, 'swapped': processes with pages in swap, 'swap': their
    VmSwap summed, 'groups': {directory: {'swap', 'count', 'top': [(swap, pid, name)] largest
    first, at most NAMED}}}``; a process whose memory cgroup is not visible here counts in ``swap``
    but in no group.
    """
    proc = os.path.join(root, 'proc')
    result = {'scanned': 0, 'swapped': 0, 'swap': 0, 'groups': {}}
    located = {}
    with os.scandir(proc) as entries:  # streamed: no list of every pid is held
        for entry in entries:
            pid = entry.name
            if not is_count(pid):
                continue
            status = _status(proc, pid)
            if status is None:
                continue
            result['scanned'] += 1
            name, swap = status
            if not swap:
                continue
            result['swapped'] += 1
            result['swap'] += swap
            directory = _process_cgroup(root, proc, pid, hierarchy, located)
            if directory is None:
                continue
            group = result['groups'].setdefault(directory, {'swap': 0, 'count': 0, 'top': []})
            group['swap'] += swap
            group['count'] += 1
            group['top'].append((swap, int(pid), name))
            group['top'].sort(key=lambda item: (-item[0], item[1]))
            del group['top'][NAMED:]
    return result


def _process_cgroup(root, proc, pid, hierarchy, located):
    """The memory cgroup directory of a process (None when gone or not visible), found through the
    mount as kernel.read_cgroup_memory finds its own; ``located`` caches /proc/PID/cgroup text ->
    directory (bounded by the number of cgroups)."""
    if hierarchy is None:
        return None
    text = kernel.read_text(os.path.join(proc, pid, 'cgroup'))
    if not text:
        return None
    # most processes share a handful of cgroups: the same text is parsed and located once
    if text not in located:
        try:
            groups = kernel._parse_proc_cgroup(text)
        except ParseError as err:
            raise ParseError('%s/%s/cgroup: %s' % (proc, pid, err))
        path = groups['v1'].get('memory') if hierarchy['version'] == 1 else groups['v2']
        directory = None
        if path is not None:
            directory, _top = kernel._locate(root, hierarchy['mounts'], hierarchy['version'], path)
        located[text] = None if directory is None else os.path.normpath(directory)
    return located[text]


def _walk(top):
    """The cgroup directories from ``top`` down (it first), and whether the walk was cut at CGROUP_LIMIT."""
    found = []
    pending = [top]
    while pending:
        directory = pending.pop()
        found.append(directory)
        if len(found) >= CGROUP_LIMIT:
            return found, True
        try:
            with os.scandir(directory) as entries:
                below = sorted(entry.path for entry in entries if entry.is_dir(follow_symlinks=False))
        except OSError:
            continue  # removed while we walk: its processes are gone with it
        pending.extend(reversed(below))
    return found, False


def _own_limit(version, directory):
    """Whether the cgroup sets a limit of its own: v1 ``memory.limit_in_bytes``, v2 ``memory.max`` or
    ``memory.high`` (read as kernel.py reads them: v1's "no limit" is 2**63 less a page)."""
    if version == 1:
        return kernel._v1_limit(kernel._int_file(directory, 'memory.limit_in_bytes')) is not None
    return kernel._int_file(directory, 'memory.max', 'max') is not None or \
        kernel._int_file(directory, 'memory.high', 'max') is not None


def _figures(hierarchy, directory):
    """What the guard needs of one limited cgroup, from kernel.py's own reading of its files."""
    version = hierarchy['version']
    info = kernel._v1(directory) if version == 1 else kernel._v2(directory, hierarchy['top'])
    if info is None:
        return None
    limit, high, where = info['limit'], info['high'], info.get('limit_dir')
    if where != directory and directory != hierarchy['top']:
        # a smaller limit above binds this cgroup: that cgroup is judged itself, with its own use and
        # pages in swap (its children's included), which is the stricter test
        limit = None
    if limit is None and high is None:
        return None
    if version == 1:
        limit_file = 'memory.limit_in_bytes' if where else \
            'hierarchical_memory_limit in memory.stat: a limit set above what is visible here'
        swap_source = 'memory.memsw.usage_in_bytes - memory.usage_in_bytes'
    else:
        limit_file = 'memory.max'
        swap_source = 'memory.swap.current'
    if high is not None and (limit is None or high < limit):
        # above memory.high the kernel throttles every process of the cgroup and reclaims it hard;
        # with the swap gone there is nowhere to put its anonymous pages: it stalls
        limit, limit_file = high, 'memory.high'
    for what, value in (('limit', limit), ('use', info['current']), ('page cache', info['reclaimable']),
                        ('swap', info['swap_current'])):
        if value is not None:
            plausible(value, 'memory cgroup %s: its %s' % (_cgroup_name(hierarchy, directory), what))
    return {
        'cgroup': _cgroup_name(hierarchy, directory),
        'directory': directory,
        'limit': limit,
        'limit_file': limit_file,
        'usage': info['current'],
        'reclaimable': info['reclaimable'],
        'swapped': info['swap_current'],
        'swapped_source': swap_source if info['swap_current'] is not None else None,
    }


def _subtrees(groups, top):
    """The processes' VmSwap per cgroup directory summed over its subtree: each cgroup's sum added to
    it and to every directory above it up to ``top`` (a few levels; one entry per directory)."""
    subtrees = {}
    for where, group in groups.items():
        directory = where
        while True:
            acc = subtrees.setdefault(directory, {'swap': 0, 'count': 0, 'top': []})
            acc['swap'] += group['swap']
            acc['count'] += group['count']
            acc['top'] = sorted(acc['top'] + group['top'], key=lambda item: (-item[0], item[1]))[:NAMED]
            parent = os.path.dirname(directory)
            if directory == top or parent == directory or not parent.startswith(top):
                break
            directory = parent
    return subtrees


def read_swapped(root='/'):
    """The swapoff guard's reading: every memory-limited cgroup with its limit, use, droppable page
    cache and pages in swap, and every process with pages in swap.

    Returns ``{'hierarchy': 'v1 /sys/fs/cgroup/memory' or None, 'complete': bool, 'cgroups': [...],
    'processes': {'scanned', 'swapped', 'swap'}}``. Each cgroup: ``cgroup`` (its path in the
    hierarchy), ``limit``, ``limit_file``, ``usage``, ``reclaimable`` (inactive page cache the kernel
    drops before it OOM-kills), ``swapped`` and ``swapped_source`` (the cgroup's own swap counter;
    without one, its processes' VmSwap summed, source ``VmSwap``), ``vmswap``, ``vmswap_count`` and
    ``pids`` (``[[pid, name, VmSwap]]``, largest first) of the processes in it and below it.
    ``complete`` is False when the walk stopped at CGROUP_LIMIT.
    """
    hierarchy = memory_hierarchy(root)
    scan = scan_processes(root, hierarchy)
    result = {'hierarchy': None, 'complete': True, 'cgroups': [],
              'processes': {key: scan[key] for key in ('scanned', 'swapped', 'swap')}}
    if hierarchy is None:
        return result
    result['hierarchy'] = 'v%d %s' % (hierarchy['version'], '/' + os.path.relpath(hierarchy['top'], root))
    directories, cut = _walk(hierarchy['top'])
    result['complete'] = not cut
    subtrees = _subtrees(scan['groups'], hierarchy['top'])
    for directory in directories:
        if directory != hierarchy['top'] and not _own_limit(hierarchy['version'], directory):
            continue
        figures = _figures(hierarchy, directory)
        if figures is None:
            continue
        below = subtrees.get(directory, {'swap': 0, 'count': 0, 'top': []})
        figures.update(vmswap=below['swap'], vmswap_count=below['count'],
                       pids=[[pid, name, swap] for swap, pid, name in below['top']])
        if figures['swapped'] is None:
            figures.update(swapped=figures['vmswap'], swapped_source='VmSwap')
        del figures['directory']
        result['cgroups'].append(figures)
    return result
