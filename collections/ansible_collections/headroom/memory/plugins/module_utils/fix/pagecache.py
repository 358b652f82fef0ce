"""Kernel page cache: when dropping it is warranted, and how much it gave back.

Dropping clean caches frees nothing a process holds; it only makes MemFree look better
and costs re-reads later. So it is done only when the diagnosis says memory is short.
"""

from ..parse_error import ParseError
from ..read.kernel import mem_available

# What each vm.drop_caches level releases (Documentation/admin-guide/sysctl/vm.rst):
# 1 page cache, 2 reclaimable slab (dentries and inodes), 3 both.
LEVELS = {1: 'page cache', 2: 'dentries and inodes', 3: 'page cache, dentries and inodes'}


def available_percent(meminfo):
    """MemAvailable as a percentage of MemTotal (kernels before 3.14 lack it: estimate it)."""
    total = meminfo['MemTotal']
    if total <= 0:
        raise ParseError('MemTotal is 0')
    return round(100.0 * mem_available(meminfo) / total, 2)


def decide(available, threshold):
    """``(drop, reason)``: drop only when available memory is below the threshold."""
    if not 0 <= threshold <= 100:
        raise ParseError('the threshold must be a percentage 0-100, got %r' % (threshold,))
    if available < threshold:
        return True, ('MemAvailable is %.1f%% of RAM, below the %.1f%% threshold: memory is short, '
                      'dropping clean caches' % (available, threshold))
    return False, ('MemAvailable is %.1f%% of RAM, at or above the %.1f%% threshold: memory is not short, '
                   'caches left alone' % (available, threshold))


def on_a_shared_kernel(drop, reason, container, machine_wide):
    """``(drop, reason, left_alone)`` once it is known whether the caches are this host's own.

    vm.drop_caches drops the page cache of the whole kernel (fs/drop_caches.c drop_caches_sysctl_handler:
    iterate_supers(drop_pagecache_sb, NULL), every superblock, in the 3.x to 6.x sources read),
    so inside a container it empties every other container's cache too. There it is left alone, and
    said so, unless ``machine_wide`` says the whole machine is meant: a drop nobody asked for must not
    hit the neighbours, nor block the fixes asked for when /proc/sys is read-only.
    """
    if not drop or not container or machine_wide:
        return drop, reason, []
    note = ('vm.drop_caches drops the machine\'s page cache, not this container\'s: set machine_wide=true to drop '
            'it for every container on the machine')
    return False, '%s; %s' % (reason.replace(', dropping clean caches', ''), note), [note]


def cache_bytes(meminfo, level=1):
    """What the given drop level can release, as /proc/meminfo counts it."""
    page = meminfo.get('Cached', 0) + meminfo.get('Buffers', 0)
    slab = meminfo.get('SReclaimable', 0)
    if level == 1:
        return page
    if level == 2:
        return slab
    if level == 3:
        return page + slab
    raise ParseError('vm.drop_caches level must be 1, 2 or 3, got %r' % (level,))


def regained(before, after, level=1):
    """Bytes the drop gave back: the fall of the caches it targets and the rise of MemFree."""
    return {
        'cache_bytes_before': cache_bytes(before, level),
        'cache_bytes_after': cache_bytes(after, level),
        'cache_bytes_dropped': cache_bytes(before, level) - cache_bytes(after, level),
        'mem_free_gained': after['MemFree'] - before['MemFree'],
        'mem_available_before': before.get('MemAvailable'),
        'mem_available_after': after.get('MemAvailable'),
    }
