"""Pure swap logic: sizing, /proc parsers, fstab editing, guards and the plan."""
import os

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.fix import swap
from ansible_collections.headroom.memory.plugins.module_utils.read import kernel
from ansible_collections.headroom.memory.plugins.module_utils.units import GIB, MIB

# `cat /proc/swaps` on this project's Debian 12 host (kernel 6.18) with a zram device at
# priority 100, a file whose name has a space, and a file at priority 5.
PROC_SWAPS = (
    "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    "/dev/zram1                              partition\t65532\t\t0\t\t100\n"
    "/var/tmp/swcap.r8Fb/my\\040swap          file\t\t32764\t\t0\t\t-2\n"
    "/var/tmp/swcap.r8Fb/f2                  file\t\t8188\t\t0\t\t5\n"
)
# `cat /proc/swaps` with no swap at all (same host).
PROC_SWAPS_EMPTY = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"

# `head -3 /proc/meminfo` plus MemAvailable from the same host.
MEMINFO = (
    "MemTotal:       24684084 kB\n"
    "MemFree:        22511020 kB\n"
    "MemAvailable:   24095360 kB\n"
    "HugePages_Total:       0\n"
)

# `grep` of /proc/self/mountinfo on the same host, plus a docker bind mount of a path
# with a space (escaped as \040 by the kernel) and an overlay root.
MOUNTINFO = (
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "40 27 0:50 / /var/lib/docker/x rw - overlay overlay rw,lowerdir=/a\n"
    "41 27 254:0 /srv/swap /my\\040swap rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "42 27 0:60 / /tmp/t rw - tmpfs tmpfs rw,size=65536k\n"
)


# --- sizes ------------------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('2G', 2 * GIB), ('2g', 2 * GIB), ('2GiB', 2 * GIB), ('512M', 512 * MIB), ('512MiB', 512 * MIB),
    ('1.5G', 3 * GIB // 2), ('4GB', 4 * 10 ** 9), ('100KB', 100000), ('1073741824', GIB),
    (1073741824, GIB), ('64K', 65536), (' 1T ', 1024 ** 4),
])
def test_parse_size_arg_reads_fallocate_style(text, expected):
    assert swap.parse_size_arg(text) == expected


@pytest.mark.parametrize('bad', ['two gigs', '2X', '', '-1G', 'iB', '5iB', True, -5, '2 G B'])
def test_parse_size_arg_rejects_with_the_value(bad):
    with pytest.raises(ParseError) as err:
        swap.parse_size_arg(bad)
    assert repr(bad) in str(err.value) or str(bad) in str(err.value)


@pytest.mark.parametrize('ram, expected, rule', [
    (1 * GIB, 2 * GIB, 'twice RAM'),
    (2 * GIB, 4 * GIB, 'twice RAM'),
    (2 * GIB + 1, 2 * GIB + 1, 'equal to RAM'),
    (8 * GIB, 8 * GIB, 'equal to RAM'),
    (8 * GIB + 1, 4 * GIB, '4 GiB'),
    (512 * GIB, 4 * GIB, '4 GiB'),
])
def test_recommended_swap_follows_the_table(ram, expected, rule):
    assert swap.recommended_swap(ram) == (expected, rule)


def test_recommended_swap_rejects_zero_ram():
    with pytest.raises(ParseError):
        swap.recommended_swap(0)


def test_auto_size_counts_existing_swap_and_skips_own_file():
    areas = swap.parse_proc_swaps(PROC_SWAPS)
    # 4 GiB host: Red Hat says 4 GiB; zram (64 MiB) and 'my swap' (32 MiB) count, f2 is ours.
    sizing = swap.auto_size(4 * GIB, areas, '/var/tmp/swcap.r8Fb/f2')
    other = (65532 + 32764) * 1024
    assert sizing['other_swap'] == other
    assert sizing['recommended'] == 4 * GIB
    assert sizing['target'] == swap.round_up(4 * GIB - other, swap.AUTO_STEP)
    assert sizing['target'] % swap.AUTO_STEP == 0
    assert sizing['guidance'] == swap.SIZING_GUIDANCE


def test_auto_size_is_zero_when_existing_swap_covers_the_target():
    areas = [{'path': '/dev/vda2', 'size': 5 * GIB}]
    assert swap.auto_size(16 * GIB, areas, '/swapfile')['target'] == 0


def test_auto_size_is_stable_across_small_memtotal_changes():
    # MemTotal moves by a few hundred KiB between kernel versions on the same VM.
    first = swap.auto_size(4 * GIB - 180 * 1024 * 1024, [], '/swapfile')['target']
    second = swap.auto_size(4 * GIB - 181 * 1024 * 1024, [], '/swapfile')['target']
    assert swap.size_matches(first, second, auto=True)


def test_size_matches_is_exact_for_explicit_sizes():
    assert swap.size_matches(GIB, GIB, auto=False)
    assert not swap.size_matches(GIB + 4096, GIB, auto=False)
    assert swap.size_matches(int(GIB * 1.05), GIB, auto=True)
    assert not swap.size_matches(int(GIB * 1.2), GIB, auto=True)


# --- /proc parsers ----------------------------------------------------------------------

def test_parse_proc_swaps_real_capture():
    areas = swap.parse_proc_swaps(PROC_SWAPS)
    assert [a['path'] for a in areas] == ['/dev/zram1', '/var/tmp/swcap.r8Fb/my swap', '/var/tmp/swcap.r8Fb/f2']
    assert areas[0] == {'path': '/dev/zram1', 'type': 'partition', 'size': 65532 * 1024, 'used': 0,
                        'priority': 100, 'deleted': False}
    assert areas[1]['priority'] == -2
    assert areas[2]['size'] == 8188 * 1024


def test_parse_proc_swaps_empty_and_deleted():
    assert swap.parse_proc_swaps(PROC_SWAPS_EMPTY) == []
    text = PROC_SWAPS_EMPTY + "/swapfile (deleted)                     file\t\t1048572\t\t1024\t\t-2\n"
    (area,) = swap.parse_proc_swaps(text)
    assert area['path'] == '/swapfile' and area['deleted'] and area['used'] == 1024 * 1024


@pytest.mark.parametrize('text', ['', 'garbage\n', PROC_SWAPS_EMPTY + '/swapfile file big 0 -2\n',
                                  PROC_SWAPS_EMPTY + '/swapfile file 12\n'])
def test_parse_proc_swaps_rejects_bad_input(text):
    with pytest.raises(ParseError):
        swap.parse_proc_swaps(text)


def test_parse_proc_swaps_quotes_the_bad_line():
    with pytest.raises(ParseError) as err:
        swap.parse_proc_swaps(PROC_SWAPS_EMPTY + '/swapfile file big 0 -2\n')
    assert '/swapfile file big 0 -2' in str(err.value) and 'line 2' in str(err.value)


def parse_meminfo(text):
    return kernel.parse_meminfo(text, need=kernel.MEMINFO_NEEDS)


def test_parse_meminfo():
    info = parse_meminfo(MEMINFO)
    assert info['MemTotal'] == 24684084 * 1024
    assert info['MemAvailable'] == 24095360 * 1024
    assert info['HugePages_Total'] == 0


def test_parse_meminfo_needs_memfree_and_a_before_3_14_kernel_gets_the_estimate():
    """One meminfo parser for the whole tool: a kernel before 3.14 has no MemAvailable, and the swap
    decisions use the estimate free(1) made there (MemFree + Buffers + Cached), as the page cache
    ones do; a meminfo without MemFree is refused, naming it."""
    with pytest.raises(ParseError, match='MemFree'):
        parse_meminfo("MemTotal:       24684084 kB\n")
    with pytest.raises(ParseError, match='MemFree'):
        parse_meminfo("MemTotal: 1 kB\nMemFree: lots\n")
    old = parse_meminfo('MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 300 kB\n')
    assert 'MemAvailable' not in old
    assert swap.memory_scope(old, None)['usable'] == 420 * 1024


def test_mount_of_finds_the_longest_mount_point():
    mounts = swap.parse_mountinfo(MOUNTINFO)
    assert swap.mount_of(mounts, '/swapfile')['fstype'] == 'ext4'
    assert swap.mount_of(mounts, '/my swap/swapfile')['mount_point'] == '/my swap'
    assert swap.mount_of(mounts, '/tmp/t/swapfile')['fstype'] == 'tmpfs'
    assert swap.mount_of(mounts, '/tmp/tt/swapfile')['fstype'] == 'ext4'
    assert swap.mount_of(mounts, '/var/lib/docker/x/swapfile')['fstype'] == 'overlay'


def test_mount_of_prefers_the_later_of_two_equal_mount_points():
    text = MOUNTINFO + "43 27 0:61 / /tmp/t rw - ext4 /dev/loop0 rw\n"
    assert swap.mount_of(swap.parse_mountinfo(text), '/tmp/t/swapfile')['fstype'] == 'ext4'


def test_parse_mountinfo_rejects_lines_without_separator():
    with pytest.raises(ParseError, match='mountinfo'):
        swap.parse_mountinfo("27 1 254:0 / / rw,relatime ext4 /dev/vda rw\n")


@pytest.mark.parametrize('fstype, ok', [('ext4', True), ('xfs', True), ('btrfs', True), ('overlay', False),
                                        ('tmpfs', False), ('nfs4', False), ('fuse.sshfs', False),
                                        ('zfs', False), ('weirdfs', False)])
def test_swap_capable(fstype, ok):
    capable, why = swap.swap_capable(fstype)
    assert capable is ok
    assert (why == '') is ok
    if not ok:
        assert fstype.split('.')[0] in why or 'FUSE' in why or 'NFS' in why


@pytest.mark.parametrize('fstype, release, method, nocow', [
    ('ext4', '6.1.0-13-amd64', 'fallocate', False),
    ('xfs', '4.18.0-553.el8.x86_64', 'fallocate', False),
    ('xfs', '3.10.0-1160.el7.x86_64', 'dd', False),
    ('btrfs', '6.18.44-fc-v669', 'fallocate', True),
    ('f2fs', '6.1.0', 'dd', False),
])
def test_allocation_method(fstype, release, method, nocow):
    assert swap.allocation(fstype, release) == {'method': method, 'nocow': nocow}


def test_allocation_refuses_btrfs_before_5_0():
    with pytest.raises(ParseError, match='btrfs'):
        swap.allocation('btrfs', '4.19.0-21-amd64')


def test_swap_signature():
    page = bytearray(4096)
    assert not swap.has_swap_signature(bytes(page))
    page[4086:4096] = b'SWAPSPACE2'
    assert swap.has_swap_signature(bytes(page))
    big = bytearray(65536)
    big[65526:] = b'SWAPSPACE2'
    assert swap.has_swap_signature(bytes(big))
    assert not swap.has_swap_signature(b'SWAPSPACE2')


# --- guards -----------------------------------------------------------------------------

def test_disk_guard():
    assert swap.disk_guard(10 * GIB, 100 * GIB, 2 * GIB, '5%', '/') is None
    msg = swap.disk_guard(10 * GIB, 100 * GIB, 2 * GIB, '10%', '/')
    assert 'refusing' in msg and '10%' in msg and '/' in msg
    assert swap.disk_guard(3 * GIB, 100 * GIB, 2 * GIB, '1G', '/') is None
    assert swap.disk_guard(3 * GIB, 100 * GIB, 2 * GIB, '1.5G', '/') is not None
    assert swap.disk_guard(GIB, 100 * GIB, 2 * GIB, 0, '/') is not None


@pytest.mark.parametrize('bad', ['120%', 'x%', 'lots'])
def test_min_free_rejects_bad_values(bad):
    with pytest.raises(ParseError):
        swap.parse_min_free(bad, GIB)


def test_swapoff_guard():
    assert swap.swapoff_guard(GIB, 8 * GIB, 16 * GIB, '/swapfile') is None
    msg = swap.swapoff_guard(GIB, 2 * GIB, 16 * GIB, '/swapfile')
    assert 'refusing to swapoff /swapfile' in msg and 'left working' in msg and '10%' in msg
    # Nothing swapped out: nothing to bring back, whatever the reserve.
    assert swap.swapoff_guard(0, 1 * GIB, 16 * GIB, '/swapfile', '99%') is None
    assert swap.swapoff_guard(GIB, 8 * GIB, 16 * GIB, '/swapfile', '7G') is None
    assert 'swapoff_min_available=8G' in swap.swapoff_guard(GIB, 8 * GIB, 16 * GIB, '/swapfile', '8G')


def test_swapoff_guard_rejects_a_bad_reserve():
    with pytest.raises(ParseError, match='swapoff_min_available'):
        swap.swapoff_guard(GIB, 8 * GIB, 16 * GIB, '/swapfile', 'most')


# --- fstab ------------------------------------------------------------------------------

# /etc/fstab as Debian 12's installer writes it (shortened UUIDs).
FSTAB = (
    "# /etc/fstab: static file system information.\n"
    "#\n"
    "# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
    "UUID=0a1b / ext4 errors=remount-ro 0 1\n"
    "UUID=9f8e none swap sw 0 0\n"
)


def test_fstab_ensure_appends_and_keeps_the_rest():
    new = swap.fstab_ensure(FSTAB, '/swapfile', 10)
    assert new == FSTAB + "/swapfile none swap sw,nofail,pri=10 0 0\n"
    assert swap.fstab_ensure(new, '/swapfile', 10) == new


def test_fstab_ensure_adds_a_missing_final_newline():
    assert swap.fstab_ensure("UUID=1 / ext4 defaults 0 1", '/swapfile') == \
        "UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw,nofail 0 0\n"
    assert swap.fstab_ensure("", '/swapfile') == "/swapfile none swap sw,nofail 0 0\n"


def test_fstab_ensure_keeps_a_matching_line_with_other_spacing():
    text = FSTAB + "/swapfile\tnone\tswap\tsw,nofail\t0\t0\n"
    assert swap.fstab_ensure(text, '/swapfile') == text


def test_fstab_ensure_replaces_in_place_and_drops_duplicates():
    text = ("/swapfile none swap sw 0 0\n" + FSTAB + "/swapfile none swap defaults 0 0\n")
    new = swap.fstab_ensure(text, '/swapfile', 5)
    assert new == "/swapfile none swap sw,nofail,pri=5 0 0\n" + FSTAB


def test_fstab_ignores_comments_and_other_paths():
    text = "#/swapfile none swap sw 0 0\n/swapfile2 none swap sw 0 0\n"
    assert swap.fstab_entries(text, '/swapfile') == []
    assert swap.fstab_remove(text, '/swapfile') == text


def test_fstab_escapes_spaces():
    new = swap.fstab_ensure(FSTAB, '/my swap/file')
    assert new.endswith("/my\\040swap/file none swap sw,nofail 0 0\n")
    assert swap.fstab_entries(new, '/my swap/file') == [5]
    assert swap.fstab_remove(new, '/my swap/file') == FSTAB


def test_fstab_remove_only_touches_its_own_line():
    text = swap.fstab_ensure(FSTAB, '/swapfile')
    assert swap.fstab_remove(text, '/swapfile') == FSTAB
    assert swap.fstab_remove(FSTAB, '/swapfile') == FSTAB


# --- sysctl -----------------------------------------------------------------------------

def test_sysctl_overrides_lists_later_files_only():
    files = [
        ('/usr/lib/sysctl.d/50-default.conf', 'vm.swappiness = 60\nkernel.x=1\n'),
        ('/etc/sysctl.d/60-headroom-swap.conf', 'vm.swappiness = 10\n'),
        ('/etc/sysctl.d/70-tuning.conf', '# comment\n-vm/swappiness=80\nvm.other=1\n'),
        ('/etc/sysctl.conf', ';x\nvm.vfs_cache_pressure=50\n'),
    ]
    found = swap.sysctl_overrides('/etc/sysctl.d/60-headroom-swap.conf', files,
                                  {'vm.swappiness', 'vm.vfs_cache_pressure'})
    assert found == [
        {'file': '/etc/sysctl.d/70-tuning.conf', 'key': 'vm.swappiness', 'value': '80'},
        {'file': '/etc/sysctl.conf', 'key': 'vm.vfs_cache_pressure', 'value': '50'},
    ]


def test_sysctl_settings_rejects_lines_without_equals():
    with pytest.raises(ParseError, match='vm.swappiness 10'):
        swap.sysctl_settings('vm.swappiness 10\n')


# --- plan -------------------------------------------------------------------------------

def _file(**over):
    base = {'exists': True, 'regular': True, 'size': GIB, 'signature': True, 'mode': 0o100600,
            'uid': 0, 'active': {'priority': -2, 'used': 0, 'size': GIB - 4096}}
    base.update(over)
    return base


ABSENT = {'exists': False, 'regular': False, 'size': 0, 'signature': False, 'mode': 0, 'uid': 0, 'active': None}
LINE = "/swapfile none swap sw,nofail 0 0\n"


def test_plan_create_from_nothing():
    result = swap.plan('present', GIB, False, None, ABSENT, FSTAB, '/swapfile')
    assert result['steps'] == ['create', 'swapon', 'fstab']
    assert result['fstab'] == FSTAB + LINE


def test_plan_nothing_to_do():
    assert swap.plan('present', GIB, False, None, _file(), FSTAB + LINE, '/swapfile')['steps'] == []


def test_plan_resize_and_priority():
    assert swap.plan('present', 2 * GIB, False, None, _file(), FSTAB + LINE, '/swapfile')['steps'] == \
        ['replace', 'swapon']
    steps = swap.plan('present', GIB, False, 7, _file(), FSTAB + LINE, '/swapfile')['steps']
    assert steps == ['swapoff', 'swapon', 'fstab']


def test_plan_reactivates_and_fixes_mode():
    steps = swap.plan('present', GIB, False, None, _file(active=None, mode=0o100644), FSTAB + LINE,
                      '/swapfile')['steps']
    assert steps == ['fix_mode', 'swapon']


def test_plan_absent():
    assert swap.plan('absent', 0, False, None, _file(), FSTAB + LINE, '/swapfile') == \
        {'steps': ['swapoff', 'remove', 'fstab'], 'fstab': FSTAB}
    assert swap.plan('absent', 0, False, None, ABSENT, FSTAB, '/swapfile')['steps'] == []


def test_plan_auto_zero_removes_headroom_file():
    assert swap.plan('present', 0, True, None, _file(), FSTAB + LINE, '/swapfile')['steps'] == \
        ['swapoff', 'remove', 'fstab']


@pytest.mark.parametrize('state', ['present', 'absent'])
def test_plan_refuses_data_files_and_devices(state):
    with pytest.raises(ParseError, match='not a swap file'):
        swap.plan(state, GIB, False, None, _file(signature=False, active=None), FSTAB, '/swapfile')
    with pytest.raises(ParseError, match='not a regular file'):
        swap.plan(state, GIB, False, None, _file(regular=False), FSTAB, '/swapfile')


# --- zram -------------------------------------------------------------------------------

@pytest.mark.parametrize('ram, expected', [(GIB, GIB // 2), (6 * GIB, 3 * GIB), (64 * GIB, 4 * GIB),
                                           (1000 * MIB + 12345, 500 * MIB)])
def test_zram_auto_size(ram, expected):
    assert swap.zram_auto_size(ram) == expected


def test_parse_comp_algorithms_real_capture():
    # `cat /sys/block/zram0/comp_algorithm` on this project's host (kernel 6.18).
    assert swap.parse_comp_algorithms('[lzo-rle] lzo lz4 \n') == (['lzo-rle', 'lzo', 'lz4'], 'lzo-rle')
    assert swap.parse_comp_algorithms('lzo lzo-rle lz4 lz4hc 842 [zstd]\n')[1] == 'zstd'


@pytest.mark.parametrize('bad', ['', '   \n', 'lzo [l z4]', 'lzo; rm'])
def test_parse_comp_algorithms_rejects(bad):
    with pytest.raises(ParseError):
        swap.parse_comp_algorithms(bad)


def test_pick_algorithm():
    assert swap.pick_algorithm(['lzo-rle', 'lzo', 'lz4']) == 'lz4'
    assert swap.pick_algorithm(['lzo', 'lz4', 'zstd']) == 'zstd'
    assert swap.pick_algorithm(['842']) == '842'
    assert swap.pick_algorithm(['lzo', 'lz4'], 'lzo') == 'lzo'
    with pytest.raises(ParseError, match='zstd.*lzo lz4'):
        swap.pick_algorithm(['lzo', 'lz4'], 'zstd')


def test_zram_plan():
    area = {'priority': 100, 'used': 0}
    dev = {'disksize': GIB, 'algorithm': 'lz4', 'active': area}
    assert swap.zram_plan('present', GIB, 'lz4', 100, None) == ['create', 'swapon']
    assert swap.zram_plan('present', GIB, 'lz4', 100, dev) == []
    assert swap.zram_plan('present', 2 * GIB, 'lz4', 100, dev) == ['swapoff', 'rebuild', 'swapon']
    assert swap.zram_plan('present', GIB, 'zstd', 100, dev) == ['swapoff', 'rebuild', 'swapon']
    assert swap.zram_plan('present', GIB, 'lz4', 50, dev) == ['swapoff', 'swapon']
    assert swap.zram_plan('present', GIB, 'lz4', 100, dict(dev, active=None)) == ['mkswap', 'swapon']
    assert swap.zram_plan('absent', 0, None, None, dev) == ['swapoff', 'remove']
    assert swap.zram_plan('absent', 0, None, None, None) == []


def test_zram_config_text():
    text = swap.zram_config_text(GIB, 'lz4', 100)
    assert 'ZRAM_SIZE=1073741824\nZRAM_ALGORITHM=lz4\nZRAM_PRIORITY=100\n' in text


# ---- one file, many spellings ----------------------------------------------------------------

@pytest.mark.parametrize('spelled', ['//swap/./f', '/swap//f', '/swap/x/../f', '/swap/f/', '///swap/f',
                                     '/swap/./././f'])
def test_fstab_knows_the_file_under_any_spelling(spelled):
    text = 'UUID=1 / ext4 defaults 0 1\n%s none swap sw,nofail 0 0\n' % spelled
    assert swap.fstab_entries(text, '/swap/f') == [1]
    # no second line for the same file, the user's own line kept as it is
    assert swap.fstab_ensure(text, '/swap/f') == text
    assert swap.fstab_remove(text, '/swap/f') == 'UUID=1 / ext4 defaults 0 1\n'


def test_fstab_through_a_symlinked_directory(tmp_path):
    (tmp_path / 'real').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'real')
    text = '%s/link/f none swap sw,nofail 0 0\n' % tmp_path
    path = '%s/real/f' % tmp_path
    assert swap.fstab_entries(text, path) == []  # spelling alone cannot tell
    assert swap.fstab_entries(text, path, os.path.realpath) == [0]
    assert swap.fstab_remove(text, path, os.path.realpath) == ''


def test_fstab_other_files_and_relative_names_untouched():
    text = '/swap/g none swap sw 0 0\nswap/f none swap sw 0 0\nLABEL=swap none swap sw 0 0\n'
    assert swap.fstab_entries(text, '/swap/f') == []


@pytest.mark.parametrize('key, value, release, problem', [
    ('vm.swappiness', 500, '6.1.0', 'must be 0 to 200, got 500'),
    ('vm.swappiness', 150, '5.4.0', 'must be 0 to 100, got 150'),
    ('vm.swappiness', 150, '6.1.0', None),
    ('vm.swappiness', 'ten', '6.1.0', 'takes integers'),
    ('vm.swappiness', '１０', '6.1.0', 'takes integers'),
    ('vm.vfs_cache_pressure', 0, '6.1.0', 'at least 1'),
    ('vm.overcommit_memory', 3, '6.1.0', 'must be 0 to 2'),
    ('vm.lowmem_reserve_ratio', '256 256 32 0', '6.1.0', None),
    ('vm.swappiness', '10\nkernel.panic = 1', '6.1.0', 'is not a value'),
    ('kernel.hostname', 'box', '6.1.0', None),
])
def test_sysctl_values_checked_before_anything_changes(key, value, release, problem):
    found = swap.sysctl_value_problem(key, value, release)
    assert (found is None) if problem is None else (problem in found), found
