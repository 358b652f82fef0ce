"""Kernel memory signals: /proc/meminfo, /proc/vmstat, PSI, cgroup memory, smaps_rollup.

Parsers take text and return plain data (bytes as int). Readers take ``root`` (a directory standing
for ``/``) so tests can point them at a captured tree. These run on hosts that are short of memory:
files are read line by line and nothing larger than one small file is held at once.
"""

import errno
import hashlib
import hmac
import os
import re

from ..parse_error import ParseError
from ..units import KIB, count, is_count

# cgroup v1 reports "no limit" as PAGE_COUNTER_MAX * page size (9223372036854771712 with 4 KiB pages,
# a little less with 64 KiB pages). No machine has 2**60 bytes (1 EiB) of memory, so anything at or
# above that reads as unlimited whatever the page size.
_V1_UNLIMITED = 1 << 60

_MEMINFO = re.compile(r'^([^:\s][^:]*):\s+(\d+)(?:\s+(kB))?\s*$', re.ASCII)
_VMSTAT = re.compile(r'^(\S+)\s+(-?\d+)\s*$', re.ASCII)
_PSI = re.compile(r'^(some|full)\s+avg10=(\d+(?:\.\d+)?)\s+avg60=(\d+(?:\.\d+)?)\s+'
                  r'avg300=(\d+(?:\.\d+)?)\s+total=(\d+)\s*$', re.ASCII)


def _lines(text):
    """Non-blank lines with their 1-based number, without building a list of them."""
    start = 0
    lineno = 0
    length = len(text)
    while start < length:
        end = text.find('\n', start)
        if end < 0:
            end = length
        lineno += 1
        line = text[start:end].rstrip('\r')
        start = end + 1
        if line.strip():
            yield lineno, line


def parse_meminfo(text, need=()):
    """Every key of /proc/meminfo: ``kB`` values as int bytes, unitless ones (HugePages_*) as ints.
    ``need``: the keys a caller cannot do without; a missing one is a ParseError naming it."""
    result = {}
    for lineno, line in _lines(text):
        match = _MEMINFO.match(line)
        if not match:
            raise ParseError('not a /proc/meminfo line ("Name:  value kB")', line, lineno)
        key, value, unit = match.groups()
        value = count(value, key, line, lineno)
        result[key] = value * KIB if unit else value
    if not result:
        raise ParseError('empty /proc/meminfo')
    for key in need:
        if key not in result:
            raise ParseError('/proc/meminfo has no %s line' % key)
    return result


# What the memory total and mem_available() read of /proc/meminfo: the keys every caller needs.
MEMINFO_NEEDS = ('MemTotal', 'MemFree')


def mem_available(meminfo):
    """MemAvailable, the kernel's estimate of what can be had without swapping (3.14 and later);
    before 3.14, MemFree + Buffers + Cached, the estimate free(1) itself made then."""
    if 'MemAvailable' in meminfo:
        return meminfo['MemAvailable']
    return meminfo['MemFree'] + meminfo.get('Buffers', 0) + meminfo.get('Cached', 0)


def parse_vmstat(text):
    """Every counter of /proc/vmstat as an int."""
    result = {}
    for lineno, line in _lines(text):
        match = _VMSTAT.match(line)
        if not match:
            raise ParseError('not a /proc/vmstat line ("name value")', line, lineno)
        value = match.group(2)
        result[match.group(1)] = -count(value[1:], match.group(1), line, lineno) if value[:1] == '-' \
            else count(value, match.group(1), line, lineno)
    if not result:
        raise ParseError('empty /proc/vmstat')
    return result


def parse_pressure(text):
    """A PSI file (/proc/pressure/memory, a cgroup's memory.pressure).

    Returns ``{'some': {'avg10', 'avg60', 'avg300': float percent, 'total': int µs}, 'full': same or
    None}``; ``full`` is None when the file has no such line (/proc/pressure/cpu before 5.13).
    """
    result = {'some': None, 'full': None}
    for lineno, line in _lines(text):
        match = _PSI.match(line)
        if not match:
            raise ParseError('not a PSI line ("some avg10=.. avg60=.. avg300=.. total=..")',
                             line, lineno)
        kind, avg10, avg60, avg300, total = match.groups()
        result[kind] = {'avg10': float(avg10), 'avg60': float(avg60), 'avg300': float(avg300),
                        'total': int(total)}
    if result['some'] is None:
        raise ParseError('PSI data without a "some" line')
    return result


def _path(root, *parts):
    return os.path.join(root, *[p.lstrip('/') for p in parts])


def read_text(path, limit=-1):
    """Text of a small file (at most ``limit`` bytes), or None when it is not there or not readable.
    Bytes that are not UTF-8 are replaced, not a failure: /proc and config files are anyone's text.
    The one helper of its kind: the reading, the modules and the fixes use it."""
    try:
        with open(path, 'rb') as handle:
            return handle.read(limit).decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def read_pressure(root='/'):
    """Memory PSI of the whole host, or ``{'unavailable': reason}``."""
    path = _path(root, 'proc/pressure/memory')
    try:
        with open(path) as handle:
            text = handle.read()
    except FileNotFoundError:
        return {'unavailable': 'no %s: kernel without PSI (needs Linux 4.20+ built with CONFIG_PSI)'
                               % '/proc/pressure/memory'}
    except OSError as exc:
        if exc.errno == errno.EOPNOTSUPP:
            return {'unavailable': 'PSI is compiled in but disabled: boot with psi=1'}
        return {'unavailable': 'cannot read /proc/pressure/memory: %s' % (exc.strerror or exc)}
    return parse_pressure(text)


_SMAPS_KEYS = {'Rss': 'rss', 'Pss': 'pss', 'Pss_Anon': 'pss_anon', 'Pss_File': 'pss_file',
               'Pss_Shmem': 'pss_shmem', 'Swap': 'swap', 'SwapPss': 'swap_pss',
               'Private_Clean': 'private_clean', 'Private_Dirty': 'private_dirty',
               'Shared_Clean': 'shared_clean', 'Shared_Dirty': 'shared_dirty'}


def read_smaps_rollup(pid, root='/'):
    """PSS and friends of one process in bytes, or None when it cannot be read.

    None covers a process that exited (processes come and go between listing and reading), one we may
    not read (another user's, without root), a kernel thread (empty file) and kernels before 4.14
    (no smaps_rollup). Keys the kernel does not print (Pss_Anon/File/Shmem before 5.0) are None.
    """
    path = _path(root, 'proc', str(int(pid)), 'smaps_rollup')
    result = dict.fromkeys(_SMAPS_KEYS.values())
    seen = False
    try:
        with open(path) as handle:
            for lineno, line in enumerate(handle, 1):
                if lineno == 1 and '[rollup]' in line:
                    continue
                key, sep, rest = line.partition(':')
                name = _SMAPS_KEYS.get(key)
                if not sep or name is None:
                    continue
                fields = rest.split()
                if len(fields) != 2 or fields[1] != 'kB' or not is_count(fields[0]):
                    raise ParseError('not a smaps_rollup line ("Name:  value kB")',
                                     line.rstrip('\n'), lineno)
                result[name] = int(fields[0]) * KIB
                seen = True
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    except OSError as exc:
        if exc.errno in (errno.ESRCH, errno.EACCES, errno.EPERM, errno.ENOENT):
            return None
        raise
    return result if seen else None


# ---------------------------------------------------------------- cgroups

def _parse_proc_cgroup(text):
    """``{'v1': {controller: path}, 'v2': path or None}`` from /proc/<pid>/cgroup."""
    v1 = {}
    v2 = None
    for lineno, line in _lines(text):
        parts = line.split(':', 2)
        if len(parts) != 3 or not is_count(parts[0]):
            raise ParseError('not a /proc/self/cgroup line ("id:controllers:path")', line, lineno)
        hid, controllers, path = parts
        if hid == '0' and controllers == '':
            v2 = path
        else:
            for controller in controllers.split(','):
                v1[controller] = path
    return {'v1': v1, 'v2': v2}


def _cgroup_mounts(root):
    """cgroup mounts of the calling process: list of (fstype, options set, mount root, mountpoint).

    mountinfo is read line by line: on container hosts it has thousands of lines.
    """
    mounts = []
    try:
        with open(_path(root, 'proc/self/mountinfo')) as handle:
            for line in handle:
                if 'cgroup' not in line:
                    continue
                head, sep, tail = line.partition(' - ')
                fields = head.split()
                rest = tail.split()
                if not sep or len(fields) < 5 or len(rest) < 3 or rest[0] not in ('cgroup', 'cgroup2'):
                    continue
                # mountinfo escapes blanks as octal (\040)
                mountpoint = re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), fields[4], flags=re.ASCII)
                mounts.append((rest[0], set(rest[2].split(',')), fields[3], mountpoint))
    except OSError:
        return None
    return mounts


def _locate(root, mounts, version, cgpath):
    """The directory under ``root`` holding the cgroup files, and the mountpoint it lies in."""
    mount_root, mountpoint = '/', None
    if mounts is not None:
        for fstype, options, mroot, mpoint in mounts:
            if version == 1 and fstype == 'cgroup' and 'memory' in options:
                mount_root, mountpoint = mroot, mpoint
                break
            if version == 2 and fstype == 'cgroup2':
                mount_root, mountpoint = mroot, mpoint
                if os.path.exists(_path(root, mpoint, 'cgroup.controllers')):
                    break
    else:
        # no mountinfo (a hand-made tree): the layouts systemd and Docker use
        if version == 1:
            mountpoint = '/sys/fs/cgroup/memory'
        elif os.path.exists(_path(root, '/sys/fs/cgroup/cgroup.controllers')):
            mountpoint = '/sys/fs/cgroup'
        else:
            mountpoint = '/sys/fs/cgroup/unified'
    if mountpoint is None or not os.path.isdir(_path(root, mountpoint)):
        return None, None
    # A container sees its own cgroup as the root of the mount: the mount root says which part of
    # the hierarchy is mounted, and /proc/self/cgroup may show a path outside of it (cgroupns).
    rel = cgpath
    if mount_root != '/':
        if cgpath == mount_root or cgpath.startswith(mount_root + '/'):
            rel = cgpath[len(mount_root):] or '/'
        else:
            rel = '/'
    if rel.startswith('/..'):
        rel = '/'
    directory = _path(root, mountpoint, rel)
    if not os.path.isdir(directory):
        directory = _path(root, mountpoint)
    return directory, _path(root, mountpoint)


def _int_file(directory, name, unlimited=None):
    """An integer cgroup file; None when absent; ``unlimited`` words/values read as None."""
    text = read_text(os.path.join(directory, name))
    if text is None:
        return None
    value = text.strip()
    if unlimited is not None and value == unlimited:
        return None
    if not is_count(value):
        raise ParseError('%s: expected a number%s' % (name, ' or %r' % unlimited if unlimited else ''),
                         value, 1)
    return int(value)


def _keyed_file(directory, name):
    """A ``key value`` cgroup file (memory.events, memory.stat, memory.oom_control) as ints."""
    text = read_text(os.path.join(directory, name))
    if text is None:
        return None
    result = {}
    for lineno, line in _lines(text):
        fields = line.split()
        if len(fields) != 2 or not is_count(fields[1].lstrip('-')):
            raise ParseError('%s: not a "key value" line' % name, line, lineno)
        result[fields[0]] = int(fields[1])
    return result


def _pressure_file(path):
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError:
        return None
    return parse_pressure(text) if text.strip() else None


def _v2(directory, top, machine_root=False):
    """The figures of one v2 cgroup. ``machine_root``: ``directory`` is the machine's root cgroup,
    which has no memory.current, memory.max, memory.peak, memory.swap.* nor memory.events (the kernel
    makes them CFTYPE_NOT_ON_ROOT: mm/memcontrol.c; cgroup-v2.rst: "exists on non-root cgroups"),
    only memory.stat and memory.pressure: its figures are those, and None for the others."""
    limit = _int_file(directory, 'memory.max', 'max')
    if not machine_root and limit is None and read_text(os.path.join(directory, 'memory.current')) is None:
        return None  # no memory controller in this cgroup
    # A parent's memory.max binds its children too: the effective limit is the smallest on the way up.
    limit_path = directory if limit is not None else None
    parent = os.path.dirname(directory)
    while directory != top and parent.startswith(top) and len(parent) >= len(top):
        above = _int_file(parent, 'memory.max', 'max')
        if above is not None and (limit is None or above < limit):
            limit, limit_path = above, parent
        if parent == top:
            break
        parent = os.path.dirname(parent)
    events = _keyed_file(directory, 'memory.events')
    stat = _keyed_file(directory, 'memory.stat') or {}
    return {
        'version': 2,
        # page cache the kernel can drop before the cgroup hits its limit (kubelet's working set
        # is current minus this)
        'reclaimable': stat.get('inactive_file'),
        'limit': limit,
        'limit_dir': limit_path,
        'high': _int_file(directory, 'memory.high', 'max'),
        'current': _int_file(directory, 'memory.current'),
        'peak': _int_file(directory, 'memory.peak'),
        'swap_limit': _int_file(directory, 'memory.swap.max', 'max'),
        'swap_current': _int_file(directory, 'memory.swap.current'),
        'events': None if events is None else {'oom': events.get('oom'),
                                               'oom_kill': events.get('oom_kill')},
        'pressure': _pressure_file(os.path.join(directory, 'memory.pressure')),
    }


def _v1_limit(value):
    return None if value is None or value >= _V1_UNLIMITED else value


def _v1(directory):
    usage = _int_file(directory, 'memory.usage_in_bytes')
    if usage is None:
        return None
    limit = _v1_limit(_int_file(directory, 'memory.limit_in_bytes'))
    limit_path = directory if limit is not None else None
    stat = _keyed_file(directory, 'memory.stat') or {}
    # with use_hierarchy the kernel folds the ancestors' limits into these two
    hier = _v1_limit(stat.get('hierarchical_memory_limit'))
    if hier is not None and (limit is None or hier < limit):
        limit, limit_path = hier, None
    memsw_limit = _v1_limit(_int_file(directory, 'memory.memsw.limit_in_bytes'))
    hier_sw = _v1_limit(stat.get('hierarchical_memsw_limit'))
    if hier_sw is not None and (memsw_limit is None or hier_sw < memsw_limit):
        memsw_limit = hier_sw
    memsw_usage = _int_file(directory, 'memory.memsw.usage_in_bytes')
    oom = _keyed_file(directory, 'memory.oom_control')
    return {
        'version': 1,
        'reclaimable': stat.get('total_inactive_file', stat.get('inactive_file')),
        'limit': limit,
        'limit_dir': limit_path,
        'high': None,
        'current': usage,
        'peak': _int_file(directory, 'memory.max_usage_in_bytes'),
        # v1 limits memory+swap together; the swap part is what is left above the memory limit
        'swap_limit': (max(memsw_limit - limit, 0)
                       if memsw_limit is not None and limit is not None else None),
        'swap_current': max(memsw_usage - usage, 0) if memsw_usage is not None else None,
        # v1 counts kills (4.13+) but not OOM events
        'events': None if oom is None else {'oom': None, 'oom_kill': oom.get('oom_kill')},
        'pressure': None,
    }


def _scope_path(reader, pid1):
    """The container's own cgroup as the kernel names it: PID 1's (systemd puts itself in
    ``init.scope`` below it), or what PID 1's and the reader's paths share."""
    if pid1 is None:
        return reader
    if pid1.endswith('/init.scope'):
        pid1 = pid1[:-len('/init.scope')] or '/'
    if reader == pid1 or reader.startswith(pid1.rstrip('/') + '/'):
        return pid1
    common = os.path.commonpath([reader, pid1]) if reader.startswith('/') and pid1.startswith('/') else '/'
    return common


# A container holds a few hundred cgroups at most; a walk stops here rather than cost a short host.
_WALK_LIMIT = 4096
# the cgroups with kills that a reading names (their total counts them all)
KILLED_CGROUPS = 100


def _subtree(directory):
    """The cgroup directories from ``directory`` down (it first), at most _WALK_LIMIT of them."""
    seen = 0
    for top, dirs, _files in os.walk(directory):
        seen += 1
        yield top
        if seen >= _WALK_LIMIT:
            return
        dirs.sort()


def _kills(directory, version):
    """OOM kills inside the cgroup ``directory``, whatever the layout below it.

    v2: ``memory.events`` is hierarchical, so the scope's own file counts every kill below it, also
    in cgroups since removed; ``memory.events.local`` (5.3+) says where. v1 counts a kill only in the
    victim's own cgroup (``memory.oom_control``): the subtree is summed, and a cgroup removed since
    (a unit that failed) took its count with it. Returns ``{'total', 'by_cgroup': [{'cgroup',
    'oom_kill'}], 'method'}``, or None when the kernel counts no kills (v1 before 4.13).
    """
    by_cgroup = []
    local_name = 'memory.events.local' if version == 2 else 'memory.oom_control'
    total = 0
    known = False
    for path in _subtree(directory):
        try:
            counts = _keyed_file(path, local_name)
        except ParseError:
            counts = None
        if not counts or 'oom_kill' not in counts:
            continue
        known = True
        total += counts['oom_kill']
        if counts['oom_kill']:
            rel = os.path.relpath(path, directory)
            by_cgroup.append({'cgroup': '/' if rel == '.' else '/' + rel, 'oom_kill': counts['oom_kill']})
    # the cgroups that lost the most, not every one of thousands
    by_cgroup = sorted(by_cgroup, key=lambda item: (-item['oom_kill'], item['cgroup']))[:KILLED_CGROUPS]
    if version == 2:
        events = _keyed_file(directory, 'memory.events') or {}
        if 'oom_kill' in events:
            return {'total': events['oom_kill'], 'by_cgroup': by_cgroup,
                    'method': 'memory.events of the scope (hierarchical)'}
    if not known:
        return None
    return {'total': total, 'by_cgroup': by_cgroup,
            'method': 'memory.oom_control summed over the scope\'s cgroups' if version == 1
            else 'memory.events.local summed over the scope\'s cgroups'}


def _limit_of(directory, version):
    """The limit set on this one cgroup (v2 memory.max, v1 memory.limit_in_bytes), or None."""
    if version == 2:
        return _int_file(directory, 'memory.max', 'max')
    return _v1_limit(_int_file(directory, 'memory.limit_in_bytes'))


def _tightest(directory, top, version):
    """The directory of the smallest limit from ``directory`` up to ``top`` (the mount), or None."""
    best = where = None
    current, top = os.path.normpath(directory), os.path.normpath(top)
    while True:
        limit = _limit_of(current, version)
        if limit is not None and (best is None or limit < best):
            best, where = limit, current
        if current == top or not current.startswith(top + os.sep):
            return where
        current = os.path.dirname(current)


# The processes whose cgroups say which limit binds a whole host's workload: the biggest listed.
WORKLOAD_PROCESSES = 50


def _workload_path(root, pid, version):
    """The cgroup of process ``pid`` in the hierarchy of ``version``, or None (gone, unreadable)."""
    text = read_text(_path(root, 'proc', str(int(pid)), 'cgroup'))
    try:
        groups = _parse_proc_cgroup(text) if text else None
    except ParseError:
        return None
    if groups is None:
        return None
    return groups['v1'].get('memory') if version == 1 else groups['v2']


def _hierarchy_path(directory, top, mount_root):
    """The cgroup of ``directory`` as /proc/PID/cgroup names it: its place below the mount, under the
    part of the hierarchy mounted there."""
    rel = os.path.relpath(directory, top)
    return os.path.normpath(os.path.join(mount_root, '' if rel == '.' else rel))


def read_cgroup_memory(root='/', proc_self_cgroup=None, container=False, workload=None):
    """Memory limit and use of a memory cgroup, or None when there is no memory cgroup. Which cgroup:

    - the calling process's own, by default;
    - with ``container``, the container's (a reader that came in by ssh sits in a leaf,
      ``/user.slice/...``, of a container whose limit, use and OOM kills belong to its root): PID 1's
      cgroup (``root``/proc/1/cgroup, without systemd's ``/init.scope``), and ``kills`` counts the
      OOM kills in every cgroup below it;
    - with ``workload`` (the pids of the processes that hold the memory: a whole host, not a
      container), the machine's: the reader's own cgroup (an SSH session's scope) is not the
      server's, and a limit on it (a user slice's MemoryMax=) binds that session, not the units the
      server runs. The figures are of the cgroup whose limit binds every one of those processes
      (the smallest limit from the cgroup they all lie in up to the root), else of the root: the
      machine. On cgroup v2 the root has only memory.stat and memory.pressure (cgroup-v2.rst: the
      other memory files "exist on non-root cgroups"), so its limit, use and events are None: the
      machine's memory is /proc/meminfo's and its kills /proc/vmstat's. On v1 a cgroup counts only
      the kills of its own processes (memcg_memory_event() stops at the first cgroup there), so
      ``events`` is None here: no v1 cgroup counts a whole host's kills.

    ``proc_self_cgroup`` is the text of /proc/self/cgroup (read from ``root`` when None). The mounts
    come from ``root``/proc/self/mountinfo when present (else the usual /sys/fs/cgroup layouts), so
    the same code finds the files inside a container (its cgroup is the mount's root) and on a host
    (the process's cgroup path below the mountpoint). The memory controller decides the version: on
    a hybrid host (v1 memory plus an empty cgroup2 at /sys/fs/cgroup/unified) it is v1.

    Returns ``{'version': 1|2, 'path' (the reader's cgroup), 'scope' (the cgroup the figures are of),
    'workload' (with ``workload``: the cgroup its processes all lie in, else None), 'dir',
    'limit' (effective bytes, None = not limited),
    'reclaimable' (inactive page cache in bytes, from memory.stat),
    'limit_cgroup' (where the binding limit is set, inside the mount; None when v1 only reports it
    as hierarchical), 'high' (v2 memory.high), 'current', 'peak', 'swap_limit', 'swap_current', 'events',
    'pressure', 'kills' (containers only: see ``_kills``)}``.
    """
    if proc_self_cgroup is None:
        proc_self_cgroup = read_text(_path(root, 'proc/self/cgroup'))
        if proc_self_cgroup is None:
            return None
    groups = _parse_proc_cgroup(proc_self_cgroup)
    machine = not container and workload is not None
    pid1 = {'v1': {}, 'v2': None}
    if container:
        text = read_text(_path(root, 'proc/1/cgroup'))
        try:
            pid1 = _parse_proc_cgroup(text) if text else pid1
        except ParseError:
            pass
    mounts = _cgroup_mounts(root)
    candidates = []
    if 'memory' in groups['v1']:
        candidates.append((1, groups['v1']['memory'], pid1['v1'].get('memory')))
    if groups['v2'] is not None:
        candidates.append((2, groups['v2'], pid1['v2']))
    for version, cgpath, pid1_path in candidates:
        common = None
        if machine:
            paths = [path for path in (_workload_path(root, pid, version) for pid in list(workload)[:WORKLOAD_PROCESSES])
                     if path and path.startswith('/')]
            common = os.path.commonpath(paths) if paths else '/'
            scope = common
        else:
            scope = _scope_path(cgpath, pid1_path) if container else cgpath
        directory, top = _locate(root, mounts, version, scope)
        if directory is None:
            continue
        if version == 2:
            controllers = read_text(os.path.join(top, 'cgroup.controllers'))
            if controllers is not None and 'memory' not in controllers.split():
                continue
        top = os.path.normpath(top)
        if machine:
            mount_root = '/'
            for fstype, _options, mroot, mpoint in mounts or ():
                if os.path.normpath(_path(root, mpoint)) == top and fstype == ('cgroup2' if version == 2 else 'cgroup'):
                    mount_root = mroot
            directory = _tightest(directory, top, version) or top
            scope = _hierarchy_path(directory, top, mount_root)
        if version == 2:
            info = _v2(directory, top, machine_root=machine and os.path.normpath(directory) == top)
        else:
            info = _v1(directory)
        if info is None:
            continue
        if machine and version == 1:
            info['events'] = None
        info['path'] = cgpath
        info['scope'] = scope
        info['workload'] = common
        info['dir'] = os.path.normpath(directory)
        info['kills'] = _kills(directory, version) if container else None
        where = info.pop('limit_dir')
        # where the binding limit is set, as a path inside the mounted hierarchy ('/' = its root)
        if where is None:
            info['limit_cgroup'] = None
        else:
            rel = os.path.relpath(where, top)
            info['limit_cgroup'] = '/' if rel == '.' else '/' + rel
        return info
    return None


_CONTAINER_ID = re.compile(r'/(?:docker/)?(?:overlay-)?containers/([0-9a-f]{64})/', re.ASCII)


def container_id(root='/'):
    """The runtime's id of this container (Docker's and podman's bind mounts name it), or None."""
    try:
        with open(_path(root, 'proc/self/mountinfo')) as handle:
            for line in handle:
                match = _CONTAINER_ID.search(line)
                if match:
                    return match.group(1)
    except OSError:
        return None
    return None


def stands_for_machine(scope, runtime_id):
    """Whether a container sees the machine's cgroups as its own: its cgroup scope is the root of the
    hierarchy and no runtime (Docker, podman) names it in its mounts. It then stands for the machine
    (a VM-like sandbox, an nspawn machine): every cgroup, kill and vm.* sysctl is its own."""
    return scope == '/' and not runtime_id


def boot_time(root='/'):
    """Seconds since the epoch at boot (``btime`` of /proc/stat), or None."""
    try:
        with open(_path(root, 'proc/stat')) as handle:
            for line in handle:
                if line.startswith('btime '):
                    value = line.split()[1]
                    return int(value) if is_count(value) else None
    except OSError:
        return None
    return None


def in_container(root='/'):
    """True when this process runs in a container, where /proc/vmstat and the kernel log are the machine's.

    Docker creates /.dockerenv, podman /run/.containerenv; systemd-nspawn, LXC and others put
    ``container=`` in PID 1's environment (readable by root).
    """
    for marker in ('.dockerenv', 'run/.containerenv'):
        if os.path.exists(_path(root, marker)):
            return True
    try:
        with open(_path(root, 'proc/1/environ'), 'rb') as handle:
            return any(item.startswith(b'container=') for item in handle.read().split(b'\0'))
    except (IOError, OSError):
        return False


def proc_stat(pid, proc='/proc'):
    """(command, parent pid, start time in clock ticks since boot, RSS in pages) of a process, from
    /proc/PID/stat (the command may hold spaces and parentheses: it ends at the last ')'), or None when
    the process is gone or the line is cut short."""
    try:
        with open(os.path.join(proc, str(pid), 'stat')) as handle:
            text = handle.read()
    except (IOError, OSError, ValueError, TypeError):
        return None
    head, _paren, tail = text.rpartition(')')
    fields = tail.split()
    if len(fields) < 22 or '(' not in head or not all(is_count(fields[i]) for i in (1, 19, 21)):
        return None
    return head.split('(', 1)[1], int(fields[1]), int(fields[19]), int(fields[21])


# What tells one machine, and one boot of it, from another: the history compares a host's counters
# (the kernel's oom_kill, a container's cgroup kills) with its previous run's only when both runs read
# the same boot of the same machine. The forms, each from its producer:
# - /etc/machine-id: "a single newline-terminated, hexadecimal, 32-character, lowercase ID ... may not
#   be all zeros" (systemd man/machine-id.xml). An image meant for many machines ships it empty
#   (headroom/debian bullseye, bookworm and trixie: 0 bytes, seen here), systemd >= 249 may leave
#   "uninitialized\n" on disk with a transient id mounted over it (src/shared/machine-id-setup.c),
#   and a container without systemd keeps whatever its image baked in: none of them tells machines apart.
# - /var/lib/dbus/machine-id: D-Bus's older file of the same format (systemd reads it first when it
#   makes /etc/machine-id; often a symlink to it).
# - /proc/sys/kernel/random/boot_id: a random UUID made once per boot, printed "%pU" (lowercase, with
#   dashes: drivers/char/random.c proc_do_uuid). Not namespaced: a container reads its machine's.
# - btime of /proc/stat (boot_time above): the boot's wall-clock second; it moves when the clock is stepped.
# - a container's runtime id (container_id above) and its cgroup scope; and when its PID 1 started
#   (field 22 of /proc/1/stat, clock ticks since the machine's boot): a restarted container keeps its
#   id but starts a new PID 1, and its cgroup, with its kill counts, is made anew.
_MACHINE_ID = re.compile(r'^([0-9a-fA-F]{32})\n?\Z', re.ASCII)
_BOOT_ID = re.compile(r'^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\n?\Z', re.ASCII)
# The machine id is confidential (machine-id(5): "must not be exposed in untrusted environments ...
# should be hashed with a cryptographic, keyed hash function, using a fixed, application-specific
# key"), and the report travels (mail, S3): the host sends only this keyed hash of it.
_MACHINE_KEY = b'headroom.memory history identity'


def machine_id(root='/'):
    """(the keyed hash of this machine's id, the file it came from), or (None, why) when no file holds one."""
    seen = []
    for name in ('etc/machine-id', 'var/lib/dbus/machine-id'):
        text = read_text(_path(root, name), 64)
        match = _MACHINE_ID.match(text) if text is not None else None
        if match and match.group(1).strip('0'):
            digest = hmac.new(_MACHINE_KEY, bytes.fromhex(match.group(1).lower()), hashlib.sha256).hexdigest()
            return digest[:32], '/' + name
        seen.append('/%s %s' % (name, 'missing' if text is None else 'empty' if not text.strip()
                                else 'holds no machine id'))
    return None, ', '.join(seen)


def machine_identity(container, btime=None, scope=None, root='/'):
    """What identifies this machine and its boot, for the history: ``machine`` (the keyed hash of
    the machine id) and ``machine_from``, ``boot_id``, ``btime``, ``container``, and in a container its
    ``container_id``, cgroup ``scope`` and ``init_ticks`` (when its PID 1 started, in clock ticks since
    boot). A piece that cannot be read is None (``machine_from`` then says why); never a guess."""
    machine, source = machine_id(root)
    text = read_text(_path(root, 'proc/sys/kernel/random/boot_id'), 64)
    boot = _BOOT_ID.match(text) if text is not None else None
    identity = {'machine': machine, 'machine_from': source, 'boot_id': boot.group(1) if boot else None,
                'btime': btime, 'container': bool(container), 'container_id': None, 'scope': None, 'init_ticks': None}
    if container:
        init = proc_stat(1, _path(root, 'proc'))
        # scope '/' is every container's own root under a cgroup namespace: it tells none apart
        identity.update(container_id=container_id(root), scope=scope if scope and scope != '/' else None,
                        init_ticks=init[2] if init else None)
    return identity
