"""The swapoff guard (issue 20, class 6): a swap area holds pages of processes in other memory-limited
cgroups (containers, systemd units with MemoryMax=), and swapoff charges each page back to its cgroup,
where past the limit the kernel OOM-kills whatever the machine has free. The guard reads every
memory-limited cgroup's limit, use and pages in swap (read/swapped.py) and refuses, naming the cgroup
and the figures, when one cannot take its pages back (fix/swap.py).

The v1 and v2 trees are REAL, with pages really in swap, captured by capture-swapped.sh: v1 on this
machine (fixtures/kernel/swapped_v1, kernel 6.18), v2 in a Debian 12 VM (fixtures/kernel/swapped_v2,
kernel 6.1, systemd 252, with a unit of MemoryMax=64M); the other layouts are built by swap_trees.py
from those forms."""
import os
import shutil

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.fix import swap
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read import swapped
from swap_trees import CAPTURED, CAPTURED_V2, HOG_PID, build, status_text

MIB = 1 << 20
KIB = 1 << 10
CAPTURED_CGROUP = '/headroom_swapcap_17501'
TMPFS_CGROUP = '/headroom_swapcap_17501_tmpfs'


def captured(*parts):
    with open(os.path.join(CAPTURED, *parts)) as handle:
        return handle.read()


def figure(*parts):
    return int(captured(*parts).split()[0])


def area_used():
    """What /proc/swaps said of the capture's swap file."""
    return int(captured('proc', 'swaps').splitlines()[1].split()[3]) * KIB


def by_name(reading):
    return {group['cgroup']: group for group in reading['cgroups']}


# --- /proc/PID/status --------------------------------------------------------------------

def test_status_of_a_process_with_pages_in_swap():
    name, swap_bytes = swapped.parse_status(captured('proc', str(HOG_PID), 'status'))
    assert name == 'python3'
    assert swap_bytes == int(captured('proc', str(HOG_PID), 'status').split('VmSwap:')[1].split()[0]) * KIB
    assert swap_bytes > 64 * MIB


@pytest.mark.parametrize('pid', ['2', 'zombie'])
def test_kernel_threads_and_zombies_have_no_vmswap(pid):
    if pid == 'zombie':
        pid = next(p for p in os.listdir(os.path.join(CAPTURED, 'proc'))
                   if p.isdigit() and 'State:\tZ' in captured('proc', p, 'status'))
    name, swap_bytes = swapped.parse_status(captured('proc', pid, 'status'))
    assert swap_bytes is None and name


@pytest.mark.parametrize('line', ['VmSwap:\t  12.5 kB', 'VmSwap:\t  -4 kB', 'VmSwap:\t 12 MB', 'VmSwap:\t',
                                  'VmSwap:\t ١٢ kB', 'VmSwap:\t%s kB' % ('9' * 30)])
def test_a_vmswap_line_in_another_form_is_refused_with_the_line(line):
    text = status_text('x', 0).replace('VmSwap:\t       0 kB', line)
    with pytest.raises(ParseError) as err:
        swapped.parse_status(text)
    assert 'VmSwap' in str(err.value) and err.value.line == line and err.value.lineno == 32


def test_a_status_with_thousands_of_groups_is_read_whole():
    """A process with 65536 supplementary groups has a Groups line of ~450 KB before VmSwap."""
    text = status_text('x', 8).replace('Groups:\t \n', 'Groups:\t%s\n' % ' '.join(str(g) for g in range(65536)))
    assert swapped.parse_status(text) == ('x', 8 * KIB)


# --- the captured v1 host ----------------------------------------------------------------

def test_the_captured_host_every_limited_cgroup_with_its_own_counters():
    reading = swapped.read_swapped(CAPTURED)
    assert reading['hierarchy'] == 'v1 /sys/fs/cgroup/memory' and reading['complete']
    groups = by_name(reading)
    # the child app/ sets no limit of its own: its parent's binds it and counts its pages
    assert sorted(groups) == [CAPTURED_CGROUP, TMPFS_CGROUP]
    hog = groups[CAPTURED_CGROUP]
    base = ('sys', 'fs', 'cgroup', 'memory', CAPTURED_CGROUP.lstrip('/'))
    assert hog['limit'] == figure(*base + ('memory.limit_in_bytes',)) == 64 * MIB
    assert hog['usage'] == figure(*base + ('memory.usage_in_bytes',))
    assert hog['swapped'] == figure(*base + ('memory.memsw.usage_in_bytes',)) - hog['usage']
    assert hog['swapped_source'] == 'memory.memsw.usage_in_bytes - memory.usage_in_bytes'
    assert hog['pids'] == [[HOG_PID, 'python3', hog['vmswap']]] and hog['vmswap_count'] == 1


def test_tmpfs_pages_in_swap_belong_to_no_process_but_the_cgroup_counts_them():
    """dd wrote 96 MiB to tmpfs from a 32 MiB cgroup and exited: no process has VmSwap there, and the
    cgroup's own counter still says what swapoff would charge back to it."""
    tmpfs = by_name(swapped.read_swapped(CAPTURED))[TMPFS_CGROUP]
    assert tmpfs['vmswap'] == 0 and tmpfs['pids'] == []
    assert tmpfs['swapped'] > 60 * MIB and tmpfs['swapped_source'].startswith('memory.memsw')


def test_the_guard_refuses_naming_each_cgroup_and_its_figures():
    reading = swapped.read_swapped(CAPTURED)
    refusal = swap.cgroup_swapoff_guard(reading, area_used(), '/var/tmp/swap')
    assert refusal.startswith('refusing to swapoff /var/tmp/swap: memory cgroup %s has ' % CAPTURED_CGROUP)
    assert 'its limit of 64.0 MiB (memory.limit_in_bytes)' in refusal
    assert 'pid %d python3 VmSwap ' % HOG_PID in refusal
    assert 'memory cgroup %s has' % TMPFS_CGROUP in refusal and 'limit of 32.0 MiB' in refusal
    assert refusal.endswith('The current swap was left working')


def test_nothing_on_the_area_nothing_to_refuse():
    reading = swapped.read_swapped(CAPTURED)
    assert swap.cgroup_swapoff_guard(reading, 0, '/var/tmp/swap') is None


def test_attribution_a_cgroup_gets_back_at_most_what_the_area_holds():
    """The kernel does not say which area holds a cgroup's pages: all of them may be on this one,
    but no more than the area holds."""
    reading = swapped.read_swapped(CAPTURED)
    tmpfs = by_name(reading)[TMPFS_CGROUP]
    room = swap.cgroup_room(tmpfs)
    assert 0 < room < tmpfs['swapped']
    assert TMPFS_CGROUP not in (swap.cgroup_swapoff_guard(reading, room, '/s') or '')
    refusal = swap.cgroup_swapoff_guard(reading, room + 4 * KIB, '/s')
    assert 'memory cgroup %s has %s in swap' % (TMPFS_CGROUP, swap.human(tmpfs['swapped'])) in refusal
    assert 'of which up to %s on this area' % swap.human(room + 4 * KIB) in refusal


def test_without_swap_accounting_the_processes_vmswap_is_summed(tmp_path):
    """swapaccount=0 (the v1 default of Debian and Ubuntu kernels for years): no memory.memsw files and
    no swap lines in memory.stat. The tree is the captured one with those removed."""
    root = str(tmp_path / 'tree')
    shutil.copytree(CAPTURED, root)
    for top, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(top, name)
            if name.startswith('memory.memsw.'):
                os.unlink(path)
            elif name == 'memory.stat':
                lines = [line for line in open(path) if line.split()[0] not in (
                    'swap', 'total_swap', 'swapcached', 'total_swapcached', 'hierarchical_memsw_limit')]
                open(path, 'w').write(''.join(lines))
    groups = by_name(swapped.read_swapped(root))
    hog = groups[CAPTURED_CGROUP]
    assert hog['swapped_source'] == 'VmSwap' and hog['swapped'] == hog['vmswap'] > 64 * MIB
    # what no process counts is not seen: the reason says so
    assert groups[TMPFS_CGROUP]['swapped'] == 0
    refusal = swap.cgroup_swapoff_guard(swapped.read_swapped(root), area_used(), '/s')
    assert "its processes' VmSwap (this kernel keeps no swap count per cgroup, so tmpfs pages" in refusal


# --- the captured v2 host: a Debian 12 VM with systemd ---------------------------------------

V2_UNIT = '/system.slice/headroom-swapcap-347.service'


def test_the_captured_v2_host_a_systemd_unit_with_memorymax():
    reading = swapped.read_swapped(CAPTURED_V2)
    assert reading['hierarchy'] == 'v2 /sys/fs/cgroup' and reading['complete']
    groups = by_name(reading)
    # app/ (no memory.max of its own), system.slice and user.slice (none) are not judged themselves
    assert sorted(groups) == ['/headroom_swapcap_347', '/headroom_swapcap_347_tmpfs', V2_UNIT]
    unit = groups[V2_UNIT]
    base = (CAPTURED_V2, 'sys/fs/cgroup', V2_UNIT.lstrip('/'))
    assert unit['limit'] == int(open(os.path.join(*base + ('memory.max',))).read()) == 64 * MIB
    assert unit['limit_file'] == 'memory.max' and unit['swapped_source'] == 'memory.swap.current'
    assert unit['swapped'] == int(open(os.path.join(*base + ('memory.swap.current',))).read()) > 64 * MIB
    assert unit['usage'] == int(open(os.path.join(*base + ('memory.current',))).read())
    assert unit['pids'] == [[485, 'python3', unit['vmswap']]]
    tmpfs = groups['/headroom_swapcap_347_tmpfs']
    assert tmpfs['pids'] == [] and tmpfs['swapped'] > 60 * MIB


def test_the_captured_v2_host_refusal_names_the_unit():
    used = int(open(os.path.join(CAPTURED_V2, 'proc', 'swaps')).read().splitlines()[1].split()[3]) * KIB
    refusal = swap.cgroup_swapoff_guard(swapped.read_swapped(CAPTURED_V2), used, '/root/swap')
    assert 'memory cgroup %s has 101.2 MiB in swap (memory.swap.current)' % V2_UNIT in refusal
    assert 'its limit of 64.0 MiB (memory.max) leaves (63.9 MiB in use' in refusal
    assert 'pid 485 python3 VmSwap 100.7 MiB' in refusal
    assert 'memory cgroup /headroom_swapcap_347_tmpfs has 66.0 MiB in swap' in refusal


# --- layouts built from those forms --------------------------------------------------------

def test_v2_systemd_unit_with_memorymax(tmp_path):
    """A unit with MemoryMax= beside the reader, on cgroup v2: memory.swap.current is its own count."""
    build(str(tmp_path), 2, {
        '/system.slice/worker.service': {'limit': 256 * MIB, 'own': 250 * MIB, 'cache': 2 * MIB, 'swap': 300 * MIB},
        '/user.slice/user-0.slice/session-1.scope': {'own': 10 * MIB},
    }, [(4242, 'worker', '/system.slice/worker.service', 300 * 1024)],
        reader='/user.slice/user-0.slice/session-1.scope')
    reading = swapped.read_swapped(str(tmp_path))
    assert reading['hierarchy'] == 'v2 /sys/fs/cgroup'
    group = by_name(reading)['/system.slice/worker.service']
    assert (group['limit'], group['limit_file'], group['swapped_source']) == (256 * MIB, 'memory.max', 'memory.swap.current')
    refusal = swap.cgroup_swapoff_guard(reading, GIB, '/swapfile')
    assert 'memory cgroup /system.slice/worker.service has 300.0 MiB in swap (memory.swap.current)' in refusal
    assert 'more than the 8.0 MiB its limit of 256.0 MiB (memory.max) leaves (250.0 MiB in use, 2.0 MiB' in refusal
    assert 'pid 4242 worker VmSwap 300.0 MiB' in refusal


GIB = 1 << 30


def test_v2_a_parent_slice_limit_binds_its_children(tmp_path):
    """The units fit their own limits, but the slice above them (MemoryMax= on a slice) does not fit
    both: the parent is judged with its own hierarchical figures and named."""
    build(str(tmp_path), 2, {
        '/apps.slice': {'limit': 512 * MIB},
        '/apps.slice/a.service': {'limit': 400 * MIB, 'own': 200 * MIB, 'swap': 100 * MIB},
        '/apps.slice/b.service': {'limit': 400 * MIB, 'own': 200 * MIB, 'swap': 100 * MIB},
    }, [(11, 'a', '/apps.slice/a.service', 100 * 1024), (12, 'b', '/apps.slice/b.service', 100 * 1024)])
    reading = swapped.read_swapped(str(tmp_path))
    reasons = swap.cgroup_swapoff_reasons(reading, GIB)
    assert len(reasons) == 1 and reasons[0].startswith('memory cgroup /apps.slice has 200.0 MiB in swap')
    assert 'limit of 512.0 MiB (memory.max)' in reasons[0]
    assert 'pid 11 a VmSwap 100.0 MiB, pid 12 b VmSwap 100.0 MiB' in reasons[0]


def test_v2_memory_high_counts_as_the_limit(tmp_path):
    """Above memory.high the kernel throttles every process of the cgroup (cgroup-v2.rst: "breach of
    the high limit doesn't trigger the OOM killer but throttles"); with the swap gone its anonymous
    pages have nowhere to go: a stall, refused like a kill."""
    build(str(tmp_path), 2, {'/system.slice/cache.service': {'high': 128 * MIB, 'own': 120 * MIB, 'swap': 64 * MIB}}, [])
    refusal = swap.cgroup_swapoff_guard(swapped.read_swapped(str(tmp_path)), GIB, '/swapfile')
    assert 'its limit of 128.0 MiB (memory.high)' in refusal


def test_page_cache_the_kernel_drops_is_room(tmp_path):
    """A cache-heavy container sits at its limit all the time: its inactive page cache is dropped
    before the kernel OOM-kills, so it counts as room."""
    build(str(tmp_path), 1, {'/docker/web': {'limit': 256 * MIB, 'own': 250 * MIB, 'cache': 120 * MIB, 'swap': 100 * MIB}},
          [(7, 'nginx', '/docker/web', 100 * 1024)])
    assert swap.cgroup_swapoff_guard(swapped.read_swapped(str(tmp_path)), GIB, '/swapfile') is None


def test_v1_docker_container_without_cgroupns_seen_from_inside(tmp_path):
    """Inside a v1 Docker container the mount root is /docker/<id>: the container's own cgroup is the
    top of what can be seen, its processes name host paths, and it is named as the kernel names it."""
    build(str(tmp_path), 1, {'/': {'limit': 64 * MIB, 'own': 63 * MIB, 'swap': 96 * MIB}},
          [(1, 'python3', '/docker/abc', 96 * 1024)], reader='/docker/abc')
    mountinfo = tmp_path / 'proc' / 'self' / 'mountinfo'
    mountinfo.write_text(mountinfo.read_text().replace('0:32 / /sys/fs/cgroup/memory', '0:32 /docker/abc /sys/fs/cgroup/memory'))
    reading = swapped.read_swapped(str(tmp_path))
    group = by_name(reading)['/docker/abc']
    assert group['limit'] == 64 * MIB and group['pids'] == [[1, 'python3', 96 * MIB]]
    assert 'memory cgroup /docker/abc has 96.0 MiB in swap' in swap.cgroup_swapoff_guard(reading, GIB, '/swap/file')


def test_a_host_without_memory_cgroups_has_no_cgroup_to_check(tmp_path):
    (tmp_path / 'proc' / '1').mkdir(parents=True)
    (tmp_path / 'proc' / '1' / 'status').write_text(status_text('init', 4))
    reading = swapped.read_swapped(str(tmp_path))
    assert reading['hierarchy'] is None and reading['cgroups'] == []
    assert reading['processes'] == {'scanned': 1, 'swapped': 1, 'swap': 4 * KIB}


def test_a_walk_cut_short_refuses_rather_than_pass_what_it_did_not_read(tmp_path, monkeypatch):
    build(str(tmp_path), 2, {'/a': {'limit': GIB, 'own': MIB}, '/b': {}, '/c': {}}, [])
    monkeypatch.setattr(swapped, 'CGROUP_LIMIT', 2)
    monkeypatch.setattr(swap, 'CGROUP_LIMIT', 2)
    reading = swapped.read_swapped(str(tmp_path))
    assert reading['complete'] is False
    assert 'more than 2 memory cgroups' in swap.cgroup_swapoff_guard(reading, MIB, '/swapfile')


def test_a_cgroup_file_in_another_form_is_refused_not_guessed(tmp_path):
    build(str(tmp_path), 2, {'/a': {'limit': GIB, 'own': MIB, 'swap': MIB}}, [])
    (tmp_path / 'sys/fs/cgroup/a/memory.swap.current').write_text('lots\n')
    with pytest.raises(ParseError, match='memory.swap.current'):
        swapped.read_swapped(str(tmp_path))


def test_a_process_that_exits_during_the_scan_is_skipped(tmp_path, monkeypatch):
    build(str(tmp_path), 2, {'/a': {'limit': GIB, 'own': MIB}}, [(5, 'gone', '/a', 40), (6, 'here', '/a', 8)])
    real = swapped._status

    def vanishing(proc, pid):
        if pid == '5':
            shutil.rmtree(os.path.join(proc, pid))
        return real(proc, pid)
    monkeypatch.setattr(swapped, '_status', vanishing)
    reading = swapped.read_swapped(str(tmp_path))
    assert reading['processes'] == {'scanned': 1, 'swapped': 1, 'swap': 8 * KIB}


def test_the_result_holds_one_entry_per_cgroup_not_per_process(tmp_path):
    build(str(tmp_path), 2, {'/a': {'limit': GIB, 'own': MIB, 'swap': 500 * KIB}},
          [(pid, 'w%d' % pid, '/a', 1) for pid in range(100, 600)])
    group = by_name(swapped.read_swapped(str(tmp_path)))['/a']
    assert group['vmswap_count'] == 500 and len(group['pids']) == swapped.NAMED
