"""Swap decisions as pure functions: sizes, /proc/swaps, mountinfo, fstab lines and the plan.

Nothing here touches the system. ``library/swapfile.py`` reads the files, calls these
functions and carries out the plan they return, so every decision is testable without root.
"""

import os
import re

from ..parse_error import ParseError
from ..judge.verdict import effective_memory
from ..read.kernel import mem_available
from ..read.swapped import CGROUP_LIMIT
from ..units import GIB, KIB, MIB, human, plausible


# Sizing guidance: Red Hat's table for RHEL 7-9 systems that do not hibernate.
# Why this one: it is written for servers (Ubuntu's sqrt(RAM) FAQ targets desktops),
# it scales with RAM where small hosts need a real buffer (the 1-4 GB cloud VMs that hit
# the OOM killer most), and it stops at 4 GB above 8 GB of RAM: swap is an emergency
# buffer, and a big swap on a big host only lengthens the thrashing before the OOM
# killer acts. Each row: (RAM up to and including, rule name, function of RAM).
SIZING_GUIDANCE = "Red Hat (RHEL 7-9, no hibernation)"
SIZING_TABLE = (
    (2 * GIB, "twice RAM", lambda ram: 2 * ram),
    (8 * GIB, "equal to RAM", lambda ram: ram),
    (None, "4 GiB", lambda ram: 4 * GIB),
)
# Auto targets are rounded up to this step: MemTotal moves by a few KiB between kernels,
# and a swap file must not be rebuilt for that.
AUTO_STEP = 128 * MIB
# An existing file within this fraction of the auto target is kept as it is.
AUTO_TOLERANCE = 0.10
# After a swapoff, MemAvailable must stay above this share of MemTotal: earlyoom's
# SIGTERM line (10%). Below it the swapoff itself would invite the OOM killer.
SWAPOFF_RESERVE = 0.10
# mkswap needs at least 10 pages; refuse anything that small with a clear message.
MIN_SWAP_SIZE = 1 * MIB

# Filesystems known to hold swap files (swapon needs bmap/swap_activate).
SWAP_FILESYSTEMS = frozenset(('ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'f2fs', 'vfat'))
_NO_SWAP_REASON = {
    'overlay': 'overlayfs (a container layer) cannot hold swap',
    'tmpfs': 'tmpfs lives in memory: swap on it gives nothing back',
    'ramfs': 'ramfs lives in memory: swap on it gives nothing back',
    'nfs': 'swap over NFS is not supported here',
    'nfs4': 'swap over NFS is not supported here',
    'cifs': 'swap over CIFS/SMB is not supported',
    'smb3': 'swap over CIFS/SMB is not supported',
    'zfs': 'ZFS does not support swap files',
    'squashfs': 'squashfs is read-only',
    'fuse': 'FUSE filesystems cannot hold swap',
}

_SIZE_ARG = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?)(B?)\s*$', re.IGNORECASE | re.ASCII)
_POWER = {'': 0, 'K': 1, 'M': 2, 'G': 3, 'T': 4, 'P': 5}


def parse_size_arg(value):
    """Bytes for a size given by a user: an integer, or ``2G``, ``512MiB``, ``1.5G``, ``4GB``.

    Read as ``fallocate -l`` reads it: ``K M G T`` and ``KiB MiB GiB`` are powers of 1024,
    ``KB MB GB`` powers of 1000, a bare number is bytes. Raises ParseError otherwise.
    """
    if isinstance(value, bool):
        raise ParseError('not a size: %r' % (value,))
    if isinstance(value, int):
        return plausible(value, 'size')
    match = _SIZE_ARG.match(str(value)) if len(str(value)) <= 64 else None
    if not match:
        raise ParseError('not a size (expected bytes or a number with K/M/G/T, e.g. 2G): %r' % (value,))
    number, prefix, binary, byte = match.groups()
    prefix = prefix.upper()
    if binary and not prefix:
        raise ParseError('not a size (iB needs a prefix: KiB, MiB, GiB): %r' % (value,))
    base = 1000 if (prefix and byte and not binary) else 1024
    return int(round(plausible(float(number) * base ** _POWER[prefix], 'size %r' % (value,))))


def round_up(value, step):
    """The smallest multiple of ``step`` that is at least ``value``."""
    return -(-value // step) * step


def recommended_swap(mem_total):
    """(bytes, rule) that the sizing table gives for ``mem_total`` bytes of RAM."""
    if mem_total <= 0:
        raise ParseError('MemTotal must be positive, got %r' % (mem_total,))
    for limit, rule, size in SIZING_TABLE:
        if limit is None or mem_total <= limit:
            return int(size(mem_total)), rule
    raise AssertionError('the sizing table has no catch-all row')  # pragma: no cover


def memory_scope(meminfo, cgroup=None):
    """The memory swap is sized and guarded against: the RAM, or a container's cgroup limit when it is
    tighter (inside a container /proc/meminfo is the machine's, and a swapoff pages back into the
    cgroup that owns the pages: past its limit the kernel OOM-kills in it).

    Returns ``{'total', 'usable', 'scope'}``: ``usable`` is MemAvailable, or what the cgroup's limit
    leaves when that is less; ``scope`` says which, for messages.
    """
    total, usable = effective_memory({'total': meminfo['MemTotal'], 'available': mem_available(meminfo)}, cgroup)
    if total != meminfo['MemTotal']:
        return {'total': total, 'usable': usable,
                'scope': "the container's cgroup limit of %s (the machine has %s)" % (
                    human(total), human(meminfo['MemTotal']))}
    return {'total': total, 'usable': usable, 'scope': 'RAM'}


def auto_size(mem_total, areas, own_path):
    """What ``size: auto`` means on this host.

    Swap the host already has (partitions, zram, other files) counts toward the target,
    so nothing is doubled; only the shortfall becomes headroom's file. ``own_path`` is
    excluded from the count because it is the file being sized.
    Returns a dict: ``mem_total``, ``recommended``, ``rule``, ``guidance``, ``other_swap``,
    ``target`` (0 when existing swap already covers the recommendation).
    """
    recommended, rule = recommended_swap(mem_total)
    other = sum(a['size'] for a in areas if a['path'] != own_path)
    shortfall = recommended - other
    target = round_up(shortfall, AUTO_STEP) if shortfall >= MIN_SWAP_SIZE else 0
    return {
        'mem_total': mem_total,
        'recommended': recommended,
        'rule': rule,
        'guidance': SIZING_GUIDANCE,
        'other_swap': other,
        'target': target,
    }


def size_matches(current, wanted, auto):
    """Whether an existing file of ``current`` bytes satisfies ``wanted`` bytes.

    Explicit sizes compare exactly (as integers: the cause of the swap rebuilt on every
    run in string-comparing roles). Auto sizes keep a file within AUTO_TOLERANCE.
    """
    if not auto:
        return current == wanted
    return abs(current - wanted) <= wanted * AUTO_TOLERANCE


# --- /proc/swaps, /proc/meminfo, /proc/self/mountinfo -------------------------------------

def _unescape_octal(text):
    """Undo the kernel's \\040-style escaping of spaces, tabs, newlines and backslashes."""
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), text, flags=re.ASCII)


def parse_proc_swaps(text):
    """Swap areas from ``/proc/swaps``: a list of dicts, sizes in bytes.

    Keys: ``path``, ``type`` (file, partition), ``size``, ``used``, ``priority``,
    ``deleted`` (the file was unlinked while active: the kernel appends `` (deleted)``).
    """
    lines = text.splitlines()
    if not lines or not lines[0].startswith('Filename'):
        raise ParseError('/proc/swaps must start with its "Filename" header', lines[0] if lines else '', 1)
    areas = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        # The path may contain escaped blanks but never a raw tab; the last four fields
        # are always type, size, used, priority.
        fields = line.rsplit(None, 4)
        if len(fields) != 5:
            raise ParseError('expected "path type size used priority" in /proc/swaps', line, lineno)
        path, kind, size, used, prio = fields
        try:
            size, used, prio = int(size), int(used), int(prio)
        except ValueError:
            raise ParseError('size, used and priority must be integers in /proc/swaps', line, lineno)
        path = path.rstrip()
        deleted = path.endswith(' (deleted)')
        if deleted:
            path = path[:-len(' (deleted)')]
        areas.append({
            'path': _unescape_octal(path),
            'type': kind,
            'size': size * KIB,
            'used': used * KIB,
            'priority': prio,
            'deleted': deleted,
        })
    return areas


def parse_mountinfo(text):
    """Mounts from ``/proc/self/mountinfo``: list of dicts ``mount_point``, ``fstype``, ``source``."""
    mounts = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        left, sep, right = line.partition(' - ')
        left_fields = left.split()
        right_fields = right.split()
        if not sep or len(left_fields) < 6 or len(right_fields) < 2:
            raise ParseError('expected "id parent major:minor root mount_point options ... - fstype source"'
                             ' in mountinfo', line, lineno)
        mounts.append({
            'mount_point': _unescape_octal(left_fields[4]),
            'fstype': right_fields[0],
            'source': _unescape_octal(right_fields[1]),
        })
    return mounts


def mount_of(mounts, path):
    """The mount that holds absolute, symlink-free ``path``: the last, longest matching mount point.

    The last one wins among equal mount points because a later mount hides an earlier one.
    """
    best = None
    for mount in mounts:
        point = mount['mount_point']
        inside = path == point or point == '/' or path.startswith(point.rstrip('/') + '/')
        if inside and (best is None or len(point) >= len(best['mount_point'])):
            best = mount
    if best is None:
        raise ParseError('no mount in mountinfo holds %s' % path)
    return best


def swap_capable(fstype):
    """(True, '') when swap files work on ``fstype``, else (False, why)."""
    if fstype in SWAP_FILESYSTEMS:
        return True, ''
    base = fstype.split('.')[0]
    reason = _NO_SWAP_REASON.get(fstype) or _NO_SWAP_REASON.get(base)
    if reason is not None:
        reason = '%s: %s' % (fstype, reason)
    else:
        reason = 'headroom does not know %s to support swap files (known: %s)' % (
            fstype, ', '.join(sorted(SWAP_FILESYSTEMS)))
    return False, reason


def _kernel_version(release):
    match = re.match(r'^(\d+)\.(\d+)', release, flags=re.ASCII)
    if not match:
        raise ParseError('not a kernel release: %r' % release)
    return int(match.group(1)), int(match.group(2))


def allocation(fstype, kernel_release, method='auto'):
    """How to allocate the file: dict ``method`` (fallocate or dd) and ``nocow`` (btrfs).

    fallocate leaves unwritten extents, which swapon accepts on ext4, on xfs from kernel
    4.18 and on btrfs (which also needs the file NOCOW: ``chattr +C`` while it is empty,
    5.0+). Elsewhere, and for xfs before 4.18, every block is written with dd.
    """
    nocow = fstype == 'btrfs'
    if nocow and _kernel_version(kernel_release) < (5, 0):
        raise ParseError('btrfs supports swap files from kernel 5.0; this is %s' % kernel_release)
    if method != 'auto':
        return {'method': method, 'nocow': nocow}
    if fstype in ('ext4', 'btrfs'):
        chosen = 'fallocate'
    elif fstype == 'xfs':
        chosen = 'fallocate' if _kernel_version(kernel_release) >= (4, 18) else 'dd'
    else:
        chosen = 'dd'
    return {'method': chosen, 'nocow': nocow}


def has_swap_signature(head):
    """Whether the first bytes of a file carry mkswap's signature at the end of the first page.

    The page size is not known from the file, so 4 KiB, 16 KiB and 64 KiB pages are tried.
    """
    for page in (4096, 16384, 65536):
        if len(head) >= page and head[page - 10:page] in (b'SWAPSPACE2', b'SWAP-SPACE'):
            return True
    return False


# --- guards ------------------------------------------------------------------------------

_PERCENT = re.compile(r'^[0-9]{1,3}(?:\.[0-9]{1,6})?%$', re.ASCII)


def parse_reserve(spec, total, option='min_free_disk'):
    """Bytes that ``spec`` asks to keep: a size (``2G``) or a share (``10%``) of ``total``."""
    text = str(spec).strip()
    if text.endswith('%'):
        # float() would take '９', '1_0' and 'nan': a share is plain ASCII digits
        if not _PERCENT.match(text):
            raise ParseError('%s: not a percentage: %r' % (option, spec))
        share = float(text[:-1])
        if not 0 <= share <= 100:
            raise ParseError('%s: a percentage must be between 0 and 100: %r' % (option, spec))
        return int(total * share / 100)
    try:
        return parse_size_arg(spec)
    except ParseError as err:
        raise ParseError('%s: %s' % (option, err))


def parse_min_free(spec, fs_size):
    """Bytes that ``min_free_disk`` asks to keep on a filesystem of ``fs_size`` bytes."""
    return parse_reserve(spec, fs_size, 'min_free_disk')


def disk_guard(free, fs_size, needed, min_free_spec, where):
    """None when ``needed`` bytes fit on a filesystem with ``free`` bytes and still leave
    ``min_free_spec``; otherwise the refusal message.
    """
    keep = parse_min_free(min_free_spec, fs_size)
    if free - needed >= keep:
        return None
    return ('refusing to allocate %s on %s: %s free, and at least %s (min_free_disk=%s) must stay free;'
            ' filling that disk would be a second outage' % (
                human(needed), where, human(free), human(keep), min_free_spec))


def swapoff_reason(used, mem_available, mem_total, reserve_spec=None, scope='RAM'):
    """None when ``used`` bytes swapped out can come back into memory and leave the reserve, else why
    not (the middle of a refusal: swapoff_refusal words the whole).

    ``reserve_spec`` (a size or a share of ``mem_total``, default SWAPOFF_RESERVE) must stay available
    after the swapoff. Nothing swapped out means nothing to bring back: always safe.
    """
    if used <= 0:
        return None
    if reserve_spec is None:
        reserve_spec = '%d%%' % int(SWAPOFF_RESERVE * 100)
    reserve = parse_reserve(reserve_spec, mem_total, 'swapoff_min_available')
    if mem_available - used >= reserve:
        return None
    return ('%s is swapped out to it and only %s of memory is available (of %s);'
            ' at least %s (swapoff_min_available=%s) must stay available after swapoff, or the OOM'
            ' killer steps in' % (human(used), human(mem_available), scope, human(reserve), reserve_spec))


# Why a cgroup's pages in swap matter, said once after the cgroups a refusal names.
CGROUP_WHY = ('swapoff charges each page it brings back to the memory cgroup that swapped it out, and past'
              ' a cgroup\'s limit the kernel OOM-kills in it, whatever the machine has free')


def swapoff_refusal(path, reasons, cgroups=False):
    """The one wording of a refused swapoff: every reason (with ``cgroups``, why a cgroup's pages in
    swap matter), and that nothing was switched off."""
    return 'refusing to swapoff %s: %s.%s The current swap was left working' % (
        path, '; and '.join(reasons), (' ' + CGROUP_WHY[0].upper() + CGROUP_WHY[1:] + '.') if cgroups else '')


def swapoff_guard(used, mem_available, mem_total, path, reserve_spec=None, scope='RAM'):
    """None when ``used`` bytes swapped out to ``path`` can come back into RAM safely, else the
    refusal (swapoff_reason, worded)."""
    reason = swapoff_reason(used, mem_available, mem_total, reserve_spec, scope)
    return None if reason is None else swapoff_refusal(path, [reason])


# Cgroups named in one refusal; the rest are counted.
_NAMED_CGROUPS = 5


def cgroup_room(group):
    """What a memory-limited cgroup can take back before the kernel must OOM-kill in it: its limit,
    less what it uses, plus the inactive page cache the kernel drops first (kubelet's working set is
    use less that cache). Negative when it is already over (a v2 memory.max or memory.high lowered
    below its use)."""
    usage = group['usage'] or 0
    reclaimable = min(group.get('reclaimable') or 0, usage)
    return group['limit'] - usage + reclaimable


def cgroup_swapoff_guard(reading, used, path):
    """None when every memory-limited cgroup can take back what it may have on the area ``path``
    being switched off, else the refusal (cgroup_swapoff_reasons, worded)."""
    reasons = cgroup_swapoff_reasons(reading, used)
    return swapoff_refusal(path, reasons, cgroups=True) if reasons else None


def cgroup_swapoff_reasons(reading, used):
    """Why a swapoff of an area with ``used`` bytes on it would make the kernel OOM-kill in a
    memory-limited cgroup: one reason per such cgroup (the worst first, at most _NAMED_CGROUPS and a
    count of the rest), or [] when every one can take its pages back. ``reading`` is read/swapped.py's
    ``read_swapped``.

    Attribution: the kernel counts a cgroup's pages in swap over all areas together, and no file says
    which area holds which (per-page swap entries are only in /proc/PID/pagemap, whose type bits index
    the kernel's swap table, which /proc/swaps does not print, at 8 bytes per virtual page to read).
    So every cgroup is assumed to have all of its pages in swap on this area, up to what the area
    holds: ``min(swapped, used)`` must fit in ``cgroup_room``. Swap left on other areas is not counted
    as room either: the machine-wide check does not count it, and whether reclaim would move the
    pages there before the cgroup's OOM killer acts is not something to promise.

    Each limited cgroup is judged with its own figures: the kernel's counters are hierarchical, so a
    parent with a limit is judged with its children's pages and use, and the smallest limit on the way
    up binds through it; a cgroup is also held to the smallest limit above it (v1
    hierarchical_memory_limit, v2 memory.max of its ancestors) when its parents are not visible here.
    """
    if used <= 0:
        return []
    problems = []
    for group in reading['cgroups']:
        back = min(group['swapped'] or 0, used)
        if back <= 0:
            continue
        room = cgroup_room(group)
        if back > room:
            problems.append((back - room, group, back, room))
    if not reading['complete'] and not problems:
        return ['this host has more than %d memory cgroups and the ones past them were not read: whether each'
                ' can take its pages in swap back within its limit is unknown' % CGROUP_LIMIT]
    problems.sort(key=lambda item: (-item[0], item[1]['cgroup']))
    reasons = [_cgroup_problem(group, back, room) for _short, group, back, room in problems[:_NAMED_CGROUPS]]
    more = len(problems) - _NAMED_CGROUPS
    if more > 0:
        reasons.append('%d more memory cgroup(s) cannot take their pages in swap back either' % more)
    return reasons


def _cgroup_problem(group, back, room):
    usage = group['usage'] or 0
    reclaimable = min(group.get('reclaimable') or 0, usage)
    if group['swapped_source'] == 'VmSwap':
        source = "its processes' VmSwap (this kernel keeps no swap count per cgroup, so tmpfs pages in swap are not seen)"
    else:
        source = group['swapped_source']
    text = ('memory cgroup %s has %s in swap (%s)%s, more than the %s its limit of %s (%s) leaves'
            ' (%s in use, %s of it page cache the kernel can drop' % (
                group['cgroup'], human(group['swapped'] or 0), source,
                '' if back >= (group['swapped'] or 0) else ', of which up to %s on this area' % human(back),
                human(max(room, 0)), human(group['limit']), group['limit_file'], human(usage), human(reclaimable)))
    if group.get('pids'):
        text += '; in swap there: %s' % ', '.join(
            'pid %d %s VmSwap %s' % (pid, name, human(swap)) for pid, name, swap in group['pids'])
        if group.get('vmswap_count', 0) > len(group['pids']):
            text += ' and %d more process(es)' % (group['vmswap_count'] - len(group['pids']))
    return text + ')'


# --- fstab -------------------------------------------------------------------------------

def fstab_escape(path):
    """A path as fstab spells it: blanks and backslashes as octal escapes."""
    return ''.join('\\%03o' % ord(c) if c in ' \t\n\\' else c for c in path)


def swap_options(priority=None):
    """fstab options: ``sw,nofail`` (a missing file never blocks the boot) and ``pri=N``."""
    return 'sw,nofail' + ('' if priority is None else ',pri=%d' % priority)


def fstab_line(path, priority=None):
    """The fstab line headroom writes for a swap file."""
    return '%s none swap %s 0 0' % (fstab_escape(path), swap_options(priority))


def _fields(line):
    stripped = line.strip()
    if not stripped or stripped.startswith('#'):
        return None
    return stripped.split()


def same_file_name(path):
    """``path`` spelled one way: ``//swap/./f``, ``/swap//f`` and ``/swap/x/../f`` are ``/swap/f``.

    POSIX lets a path start with exactly two slashes mean something else; Linux does not, and fstab
    is read by Linux. ``..`` is taken lexically, which is what mount and swapon do with an fstab
    path whose directories are not symlinks; ``resolve`` in fstab_entries covers those that are.
    """
    return os.path.normpath('/' + path.lstrip('/')) if path.startswith('/') else os.path.normpath(path)


def fstab_entries(text, path, resolve=None):
    """Indexes (0-based) of the lines that declare ``path`` as swap, however the line spells it.

    ``resolve`` (os.path.realpath on the host) maps a path to the file it names, so a line through a
    symlinked directory counts too; without it the spellings are compared only.
    """
    resolve = resolve or (lambda name: name)
    wanted = (same_file_name(path), same_file_name(resolve(path)))
    found = []
    for index, line in enumerate(text.splitlines()):
        fields = _fields(line)
        if not fields or len(fields) < 3 or fields[2] != 'swap' or not fields[0].startswith('/'):
            continue
        name = same_file_name(_unescape_octal(fields[0]))
        if name in wanted or same_file_name(resolve(name)) in wanted:
            found.append(index)
    return found


def fstab_ensure(text, path, priority=None, resolve=None):
    """fstab text with exactly one swap line for ``path``, everything else byte for byte.

    An existing line whose fields already match is kept as it is (spacing included); a
    different one is replaced in place; duplicates are dropped; a missing one is appended.
    """
    wanted = fstab_line(path, priority)
    lines = text.splitlines(True)
    indexes = fstab_entries(text, path, resolve)
    if not indexes:
        prefix = text if (not text or text.endswith('\n')) else text + '\n'
        return prefix + wanted + '\n'
    first = indexes[0]
    fields = _fields(lines[first])
    # the same file under another spelling (``//swap/./f``) keeps the user's line as it is
    if [fstab_escape(same_file_name(_unescape_octal(fields[0])))] + fields[1:] != \
            [fstab_escape(same_file_name(path))] + wanted.split()[1:]:
        ending = '\n' if lines[first].endswith('\n') else ''
        lines[first] = wanted + ending
    for index in reversed(indexes[1:]):
        del lines[index]
    return ''.join(lines)


def fstab_remove(text, path, resolve=None):
    """fstab text without the swap lines for ``path``, everything else byte for byte."""
    lines = text.splitlines(True)
    for index in reversed(fstab_entries(text, path, resolve)):
        del lines[index]
    return ''.join(lines)


# --- sysctl ------------------------------------------------------------------------------

def sysctl_settings(text):
    """``key = value`` settings of a sysctl.conf-style text, as a dict (last one wins).

    Keys are normalised to dots (``vm/swappiness`` is ``vm.swappiness``); a leading ``-``
    (ignore errors) is dropped.
    """
    settings = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in '#;':
            continue
        key, sep, value = stripped.partition('=')
        if not sep:
            raise ParseError('expected "key = value" in a sysctl file', line, lineno)
        key = key.strip().lstrip('-').replace('/', '.')
        settings[key] = value.strip()
    return settings


# Ranges the kernel enforces (or that invite the OOM killer), by key: (lowest, highest or None).
_SYSCTL_RANGES = {
    'vm.swappiness': (0, 200),          # 0-100 before Linux 5.8
    'vm.vfs_cache_pressure': (1, None),  # 0 makes the kernel keep dentries and inodes until OOM
    'vm.overcommit_memory': (0, 2),
    'vm.overcommit_ratio': (0, None),
    'vm.min_free_kbytes': (1, None),
    'vm.watermark_scale_factor': (1, 3000),
    'vm.page-cluster': (0, None),
}


def sysctl_value_problem(key, value, kernel_release=None):
    """Why ``value`` cannot be set as ``key``, or None. Every vm.* setting is one or more integers;
    the ones in _SYSCTL_RANGES are bounded as the kernel bounds them."""
    text = str(value).strip()
    if not text or '\n' in text:
        return 'sysctl %s: %r is not a value' % (key, value)
    if not key.startswith('vm.'):
        return None
    words = text.split()
    if not all(word.lstrip('-').isascii() and word.lstrip('-').isdigit() and len(word) <= 20 for word in words):
        return 'sysctl %s takes integers, got %r' % (key, value)
    if key not in _SYSCTL_RANGES:
        return None
    low, high = _SYSCTL_RANGES[key]
    if key == 'vm.swappiness' and kernel_release and _kernel_version(kernel_release) < (5, 8):
        high = 100
    number = int(words[0])
    if number < low or (high is not None and number > high):
        return 'sysctl %s must be %s, got %s' % (key, '%d to %d' % (low, high) if high is not None
                                                 else 'at least %d' % low, text)
    return None


def sysctl_overrides(own_path, files, keys):
    """Settings of ``keys`` that the boot would apply after headroom's drop-in.

    ``files`` is a list of (path, text) in the order systemd-sysctl and ``sysctl --system``
    read them (by file name across the sysctl.d directories, /etc/sysctl.conf last on
    distributions that still read it). Returns a list of dicts ``file``, ``key``, ``value``.
    """
    seen_own = False
    found = []
    for path, text in files:
        if path == own_path:
            seen_own = True
            continue
        if not seen_own:
            continue
        for key, value in sysctl_settings(text).items():
            if key in keys:
                found.append({'file': path, 'key': key, 'value': value})
    return found


# --- the plan ----------------------------------------------------------------------------

def plan(state, wanted, auto, priority, current, fstab_text, path, resolve=None):
    """Steps that bring ``path`` to ``state``: a dict ``steps`` (ordered names) and ``fstab``
    (the new fstab text).

    ``current`` describes the file: ``exists``, ``regular``, ``size``, ``signature``,
    ``mode``, ``uid``, ``active`` (the /proc/swaps area dict or None). Raises ParseError
    with the refusal when the path holds something headroom must not touch.
    Step names: create (allocate a new file and mkswap it), replace (resize: a new file
    takes the old one's place), fix_mode, swapoff, swapon, remove, fstab.
    """
    steps = []
    active = current.get('active')
    if current['exists'] and not current['regular']:
        raise ParseError('%s exists and is not a regular file (a symlink, directory or device):'
                         ' headroom only manages swap files it can own' % path)
    if current['exists'] and not current['signature'] and not active:
        raise ParseError('%s exists and is not a swap file (no mkswap signature): refusing to'
                         ' overwrite or delete what may be data' % path)
    if state == 'absent':
        if active:
            steps.append('swapoff')
        if current['exists']:
            steps.append('remove')
        new_fstab = fstab_remove(fstab_text, path, resolve)
        if new_fstab != fstab_text:
            steps.append('fstab')
        return {'steps': steps, 'fstab': new_fstab}

    if wanted == 0:
        # Auto found enough swap already: headroom's file is not needed.
        return plan('absent', 0, auto, priority, current, fstab_text, path, resolve)
    if not current['exists']:
        steps += ['create', 'swapon']
    elif not size_matches(current['size'], wanted, auto):
        steps += ['replace', 'swapon']
    else:
        if current['mode'] & 0o7777 != 0o600 or current['uid'] != 0:
            steps.append('fix_mode')
        if not active:
            steps.append('swapon')
        elif priority is not None and active['priority'] != priority:
            steps += ['swapoff', 'swapon']
    new_fstab = fstab_ensure(fstab_text, path, priority, resolve)
    if new_fstab != fstab_text:
        steps.append('fstab')
    return {'steps': steps, 'fstab': new_fstab}


# --- zram --------------------------------------------------------------------------------

# zram-generator's default size: half of RAM, at most 4 GiB. zram holds compressed pages in
# RAM, so its size is a ceiling on uncompressed data, not memory taken up front.
ZRAM_MAX_AUTO = 4 * GIB
# Preferred compressors, best ratio first (zstd), then speed (lz4); lzo-rle is the kernel's default.
ZRAM_ALGORITHMS = ('zstd', 'lz4', 'lzo-rle', 'lzo')
ZRAM_PRIORITY = 100


def zram_auto_size(mem_total):
    """zram-generator's default, ``min(RAM / 2, 4 GiB)``, rounded down to a whole MiB."""
    if mem_total <= 0:
        raise ParseError('MemTotal must be positive, got %r' % (mem_total,))
    return min(mem_total // 2, ZRAM_MAX_AUTO) // MIB * MIB


def parse_comp_algorithms(text):
    """``/sys/block/zramN/comp_algorithm`` (``lzo [lz4] zstd``): (available list, current or None)."""
    names = text.split()
    if not names:
        raise ParseError('comp_algorithm lists no compressor', text, 1)
    current = None
    available = []
    for name in names:
        if name.startswith('[') and name.endswith(']'):
            name = name[1:-1]
            current = name
        if not re.match(r'^[a-z0-9-]+$', name, flags=re.ASCII):
            raise ParseError('not a compressor name in comp_algorithm: %r' % name, text, 1)
        available.append(name)
    return available, current


def pick_algorithm(available, wanted='auto'):
    """The compressor to use: ``wanted`` if the kernel has it, or the best known one for auto."""
    if wanted != 'auto':
        if wanted not in available:
            raise ParseError('zram compressor %r is not available; this kernel has: %s'
                             % (wanted, ' '.join(available)))
        return wanted
    for name in ZRAM_ALGORITHMS:
        if name in available:
            return name
    return available[0]


def zram_plan(state, size, algorithm, priority, current):
    """Steps for headroom's zram device. ``current`` is None (no device of ours) or a dict
    ``disksize``, ``algorithm``, ``active`` (the /proc/swaps area or None).

    Step names: create (hot_add, configure, mkswap), rebuild (reset and configure again:
    disksize and compressor only change on a reset device), mkswap, swapoff, swapon, remove.
    """
    active = current.get('active') if current else None
    if state == 'absent':
        if current is None:
            return []
        return (['swapoff'] if active else []) + ['remove']
    if current is None:
        return ['create', 'swapon']
    if current['disksize'] != size or current['algorithm'] != algorithm:
        return (['swapoff'] if active else []) + ['rebuild', 'swapon']
    if not active:
        return ['mkswap', 'swapon']
    if active['priority'] != priority:
        return ['swapoff', 'swapon']
    return []


def zram_config_text(size, algorithm, priority):
    """The file the boot unit reads to build the same device again (zram lives in RAM only)."""
    return ('# Managed by headroom (swapfile module, backend zram): read at boot by\n'
            '# headroom-zram.service to rebuild the device.\n'
            'ZRAM_SIZE=%d\nZRAM_ALGORITHM=%s\nZRAM_PRIORITY=%d\n' % (size, algorithm, priority))
