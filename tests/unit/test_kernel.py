"""Kernel memory signals, tested on files captured from this machine (see tests/fixtures/kernel/README.md)."""
import errno
import os
import re
import shutil

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.read import kernel
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError

FIX = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'kernel')


def fixture(*parts):
    with open(os.path.join(FIX, *parts)) as handle:
        return handle.read()


# ------------------------------------------------------------ /proc/meminfo

def test_meminfo_real_every_line_becomes_a_key():
    text = fixture('host', 'meminfo')
    info = kernel.parse_meminfo(text)
    assert len(info) == len(text.strip().splitlines())
    raw = dict(re.findall(r'^(\S+):\s+(\d+)', text, re.M))
    for key, value in raw.items():
        with_unit = re.search(r'^%s:\s+\d+ kB$' % re.escape(key), text, re.M)
        assert info[key] == int(value) * (1024 if with_unit else 1)


def test_meminfo_real_units_and_consistency():
    info = kernel.parse_meminfo(fixture('host', 'meminfo'))
    assert isinstance(info['HugePages_Total'], int)  # a count, not KiB
    assert info['Hugepagesize'] == 2048 * 1024
    assert 0 < info['MemAvailable'] <= info['MemTotal']
    assert 'Active(anon)' in info and 'CommitLimit' in info and 'SUnreclaim' in info


@pytest.mark.parametrize('bad', ['MemTotal 1234 kB', 'MemTotal:  12x34 kB', 'MemTotal:  1234 MB'])
def test_meminfo_bad_line_is_quoted(bad):
    text = 'MemFree:  10 kB\n' + bad + '\n'
    with pytest.raises(ParseError) as err:
        kernel.parse_meminfo(text)
    assert bad in str(err.value) and 'line 2' in str(err.value)


def test_meminfo_empty():
    with pytest.raises(ParseError, match='empty'):
        kernel.parse_meminfo('\n \n')


# ------------------------------------------------------------ /proc/vmstat

def test_vmstat_real():
    text = fixture('host', 'vmstat')
    stats = kernel.parse_vmstat(text)
    assert len(stats) == len(text.strip().splitlines())
    for key in ('pswpin', 'pswpout', 'oom_kill', 'pgmajfault', 'allocstall_normal'):
        assert stats[key] == int(re.search(r'^%s (\d+)$' % key, text, re.M).group(1))
    # the capture killed a process in a cgroup right after: before it, one OOM kill at most here
    assert stats['oom_kill'] >= 0


def test_vmstat_bad_line():
    with pytest.raises(ParseError, match="'pswpin'"):
        kernel.parse_vmstat('pgfault 12\npswpin\n')


# ------------------------------------------------------------ PSI

def test_pressure_real():
    text = fixture('host', 'pressure_memory')
    psi = kernel.parse_pressure(text)
    some_total = int(re.search(r'^some .*total=(\d+)$', text, re.M).group(1))
    assert psi['some']['total'] == some_total
    assert isinstance(psi['some']['avg10'], float)
    assert psi['full']['total'] <= psi['some']['total']  # full stalls are a subset of some


def test_pressure_without_full_line():
    psi = kernel.parse_pressure('some avg10=2.04 avg60=0.75 avg300=0.40 total=157622356\n')
    assert psi['full'] is None
    assert psi['some'] == {'avg10': 2.04, 'avg60': 0.75, 'avg300': 0.40, 'total': 157622356}


@pytest.mark.parametrize('text', ['', 'full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
                                  'some avg10=0.00 avg60=0.00 total=0\n'])
def test_pressure_bad(text):
    with pytest.raises(ParseError):
        kernel.parse_pressure(text)


def test_read_pressure_from_tree(tmp_path):
    (tmp_path / 'proc' / 'pressure').mkdir(parents=True)
    shutil.copy(os.path.join(FIX, 'host', 'pressure_memory'), tmp_path / 'proc' / 'pressure' / 'memory')
    assert kernel.read_pressure(str(tmp_path)) == kernel.parse_pressure(fixture('host', 'pressure_memory'))


def test_read_pressure_missing_file_means_no_psi(tmp_path):
    result = kernel.read_pressure(str(tmp_path))
    assert set(result) == {'unavailable'} and 'without PSI' in result['unavailable']


def test_read_pressure_disabled_says_psi_1(tmp_path, monkeypatch):
    # Mock: a kernel with CONFIG_PSI but booted without psi=1 (RHEL 8) answers EOPNOTSUPP on read;
    # this machine's kernel has PSI on and its boot options are not ours to change.
    def refuse(path, *args, **kwargs):
        raise OSError(errno.EOPNOTSUPP, 'Operation not supported', path)
    monkeypatch.setattr('builtins.open', refuse)
    assert kernel.read_pressure(str(tmp_path)) == {
        'unavailable': 'PSI is compiled in but disabled: boot with psi=1'}


# ------------------------------------------------------------ smaps_rollup

def _proc_tree(tmp_path, pid, content):
    directory = tmp_path / 'proc' / str(pid)
    directory.mkdir(parents=True)
    (directory / 'smaps_rollup').write_text(content)
    return str(tmp_path)


def test_smaps_rollup_real(tmp_path):
    text = fixture('host', 'smaps_rollup')
    result = kernel.read_smaps_rollup(4242, _proc_tree(tmp_path, 4242, text))
    for key, name in (('Rss', 'rss'), ('Pss', 'pss'), ('Pss_Anon', 'pss_anon'), ('Swap', 'swap'),
                      ('SwapPss', 'swap_pss'), ('Pss_File', 'pss_file'), ('Pss_Shmem', 'pss_shmem'),
                      ('Private_Clean', 'private_clean'), ('Private_Dirty', 'private_dirty'),
                      ('Shared_Clean', 'shared_clean'), ('Shared_Dirty', 'shared_dirty')):
        assert result[name] == int(re.search(r'^%s:\s+(\d+) kB' % key, text, re.M).group(1)) * 1024
    # the process held 20 MiB of its own anonymous memory
    assert result['pss_anon'] >= 20 * 1024 * 1024
    assert result['pss'] == result['pss_anon'] + result['pss_file'] + result['pss_shmem']
    assert result['rss'] == (result['private_clean'] + result['private_dirty'] + result['shared_clean']
                             + result['shared_dirty'])


def test_smaps_rollup_live_self():
    result = kernel.read_smaps_rollup(os.getpid())
    assert 0 < result['pss'] <= result['rss']


def test_smaps_rollup_vanished_process(tmp_path):
    assert kernel.read_smaps_rollup(999999, str(tmp_path)) is None


def test_smaps_rollup_kernel_thread_is_empty(tmp_path):
    assert kernel.read_smaps_rollup(2, _proc_tree(tmp_path, 2, '')) is None


def test_smaps_rollup_old_kernel_without_pss_split(tmp_path):
    # 4.14-4.19 print no Pss_Anon/Pss_File/Pss_Shmem lines
    text = ('55d0c0000000-7ffd00000000 ---p 00000000 00:00 0  [rollup]\n'
            'Rss:  1704 kB\nPss:  230 kB\nSwap:  0 kB\nSwapPss:  0 kB\n')
    result = kernel.read_smaps_rollup(7, _proc_tree(tmp_path, 7, text))
    assert result['pss'] == 230 * 1024 and result['pss_anon'] is None


def test_smaps_rollup_permission_denied(tmp_path):
    root = _proc_tree(tmp_path, 9, fixture('host', 'smaps_rollup'))
    path = os.path.join(root, 'proc', '9', 'smaps_rollup')
    os.chmod(path, 0)
    if os.access(path, os.R_OK):
        pytest.skip('this user reads mode-0 files (root with CAP_DAC_OVERRIDE)')
    assert kernel.read_smaps_rollup(9, root) is None


def test_smaps_rollup_garbage_is_an_error(tmp_path):
    with pytest.raises(ParseError, match='Pss'):
        kernel.read_smaps_rollup(5, _proc_tree(tmp_path, 5, 'Rss:  10 kB\nPss:  lots\n'))


# ------------------------------------------------------------ cgroups

def _victim_cgroup():
    return re.search(r'^\d+:memory:(\S+)$', fixture('tree_v1_limited', 'proc', 'self', 'cgroup'),
                     re.M).group(1)


def test_cgroup_v1_real_limited():
    info = kernel.read_cgroup_memory(os.path.join(FIX, 'tree_v1_limited'))
    assert info['version'] == 1
    assert info['path'] == _victim_cgroup()
    assert info['limit'] == 50 * 1024 * 1024
    assert info['limit_cgroup'] == _victim_cgroup()
    assert info['swap_limit'] == 0  # memsw limit = memory limit: no swap allowed
    # the process held 20 MiB of anonymous memory; the python interpreter adds a few more
    assert 20 * 1024 * 1024 <= info['current'] <= info['limit']
    assert info['peak'] >= info['current']
    assert info['events'] == {'oom': None, 'oom_kill': 0}
    assert info['pressure'] is None


def test_cgroup_v1_real_unlimited_host_process():
    info = kernel.read_cgroup_memory(os.path.join(FIX, 'tree_host_unlimited'))
    cgpath = re.search(r'^\d+:memory:(\S+)$',
                       fixture('tree_host_unlimited', 'proc', 'self', 'cgroup'), re.M).group(1)
    assert info['version'] == 1 and info['path'] == cgpath
    assert info['dir'].endswith(os.path.join('sys/fs/cgroup/memory', cgpath.lstrip('/')))
    raw = int(fixture('tree_host_unlimited', 'sys/fs/cgroup/memory', cgpath.lstrip('/'),
                      'memory.limit_in_bytes'))
    assert raw > 2 ** 60  # the kernel's "no limit" number
    assert info['limit'] is None and info['swap_limit'] is None
    assert info['current'] > 0


def test_cgroup_hybrid_host_ignores_empty_unified_hierarchy():
    # this host: 0::/ on a cgroup2 without the memory controller, memory on v1
    tree = os.path.join(FIX, 'tree_host_unlimited')
    assert '0::/' in fixture('tree_host_unlimited', 'proc', 'self', 'cgroup')
    assert kernel.read_cgroup_memory(tree)['version'] == 1


def test_cgroup_proc_self_cgroup_given_as_text():
    tree = os.path.join(FIX, 'tree_v1_limited')
    text = fixture('tree_v1_limited', 'proc', 'self', 'cgroup')
    assert kernel.read_cgroup_memory(tree, proc_self_cgroup=text)['limit'] == 50 * 1024 * 1024
    # only a v2 line: this tree has no v2 memory controller
    assert kernel.read_cgroup_memory(tree, proc_self_cgroup='0::/\n') is None


def test_cgroup_derived_v2_container():
    info = kernel.read_cgroup_memory(os.path.join(FIX, 'derived', 'v2_container'))
    assert info['version'] == 2 and info['path'] == '/'
    assert info['limit'] == 200 * 1024 * 1024 and info['limit_cgroup'] == '/'
    assert info['high'] is None
    assert info['swap_limit'] == 700 * 1024 * 1024 and info['swap_current'] == 50 * 1024 * 1024
    assert info['events'] == {'oom': 3, 'oom_kill': 2}
    assert info['pressure']['full']['avg10'] == 0.90


def test_cgroup_derived_v2_parent_limit_binds():
    info = kernel.read_cgroup_memory(os.path.join(FIX, 'derived', 'v2_host_service'))
    assert info['path'] == '/system.slice/gunicorn.service'
    assert info['limit'] == 4 * 1024 ** 3 and info['limit_cgroup'] == '/system.slice'
    assert info['high'] == 6 * 1024 ** 3
    assert info['peak'] is None and info['swap_limit'] is None


def test_cgroup_derived_v1_container_mount_root():
    info = kernel.read_cgroup_memory(os.path.join(FIX, 'derived', 'v1_container'))
    assert info['version'] == 1 and info['path'] == '/docker/4f1c0de5a3b2'
    assert info['dir'].endswith('sys/fs/cgroup/memory')
    assert info['limit'] == 50 * 1024 * 1024


def test_cgroup_without_mountinfo_uses_usual_layout(tmp_path):
    tree = tmp_path / 'tree'
    shutil.copytree(os.path.join(FIX, 'derived', 'v2_container'), tree)
    os.remove(tree / 'proc' / 'self' / 'mountinfo')
    assert kernel.read_cgroup_memory(str(tree))['limit'] == 200 * 1024 * 1024


def test_cgroup_none_when_no_cgroup_files(tmp_path):
    assert kernel.read_cgroup_memory(str(tmp_path)) is None


def test_cgroup_bad_proc_self_cgroup():
    with pytest.raises(ParseError, match='memory/docker'):
        kernel.read_cgroup_memory(os.path.join(FIX, 'tree_v1_limited'),
                                  proc_self_cgroup='memory/docker\n')


def test_cgroup_bad_memory_max(tmp_path):
    tree = tmp_path / 'tree'
    shutil.copytree(os.path.join(FIX, 'derived', 'v2_container'), tree)
    (tree / 'sys' / 'fs' / 'cgroup' / 'memory.max').write_text('unlimited\n')
    with pytest.raises(ParseError, match="memory.max.*'unlimited'"):
        kernel.read_cgroup_memory(str(tree))


def test_cgroup_live_this_process():
    info = kernel.read_cgroup_memory()
    if info is None:
        pytest.skip('no memory cgroup visible to this process')
    assert info['version'] in (1, 2) and info['current'] > 0
    assert os.path.isdir(info['dir'])


# ------------------------------------------------------------ nothing but ParseError escapes

from hypothesis import given, settings, strategies as st  # noqa: E402


def _mutations(text):
    lines = text.splitlines()
    return st.lists(st.one_of(st.sampled_from(lines), st.text(max_size=60),
                              st.sampled_from(lines).flatmap(
                                  lambda line: st.integers(0, len(line)).map(lambda cut: line[:cut]))),
                    max_size=20).map('\n'.join)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_parsers_raise_only_parse_error(data):
    for parser, name in ((kernel.parse_meminfo, 'meminfo'), (kernel.parse_vmstat, 'vmstat'),
                         (kernel.parse_pressure, 'pressure_memory')):
        text = data.draw(_mutations(fixture('host', name)))
        try:
            result = parser(text)
        except ParseError:
            continue
        assert isinstance(result, dict) and result


def test_cgroup_reclaimable_page_cache_from_memory_stat():
    # v1, real: the killed process held anonymous memory only
    tree = os.path.join(FIX, 'tree_v1_limited')
    assert kernel.read_cgroup_memory(tree)['reclaimable'] == 0
    host = kernel.read_cgroup_memory(os.path.join(FIX, 'tree_host_unlimited'))
    stat = fixture('tree_host_unlimited', 'sys/fs/cgroup/memory', host['path'].lstrip('/'), 'memory.stat')
    assert host['reclaimable'] == int(re.search(r'^total_inactive_file (\d+)$', stat, re.M).group(1))
    # v2 without memory.stat: unknown, not zero
    assert kernel.read_cgroup_memory(os.path.join(FIX, 'derived', 'v2_container'))['reclaimable'] is None


# ------------------------------------------------------------ a systemd container's own scope (REAL)

SYSTEMD_CONTAINER = os.path.join(FIX, 'systemd_container')


def _container_id():
    return fixture('systemd_container', 'container_id').strip()


@pytest.mark.parametrize('reader', ['docker exec', 'a unit (as ssh puts a session)'])
def test_cgroup_v1_systemd_container_counts_every_kill_below_its_root(reader):
    """Captured: respawner.service's workers OOM-killed 3 times; v1 counted them only in that unit's
    cgroup, none at the container's root. Wherever the reader sits, the container's figures come."""
    tree = os.path.join(SYSTEMD_CONTAINER, 'tree')
    text = fixture('systemd_container', 'unit_reader_cgroup') if reader.startswith('a unit') else None
    info = kernel.read_cgroup_memory(tree, proc_self_cgroup=text, container=True)
    scope = '/docker/' + _container_id()
    assert info['version'] == 1 and info['scope'] == scope
    assert info['dir'].endswith('sys/fs/cgroup/memory' + scope)
    assert info['limit'] == 200 * 1024 * 1024
    assert info['kills']['total'] == 3
    assert info['kills']['by_cgroup'] == [{'cgroup': '/system.slice/respawner.service', 'oom_kill': 3}]
    root_count = fixture('systemd_container', 'tree', 'sys/fs/cgroup/memory' + scope, 'memory.oom_control')
    assert 'oom_kill 0' in root_count  # what the reader's own (or the root's) cgroup alone would say
    if text is None:  # without container=True: the reader's cgroup, as before (no kill counted there)
        plain = kernel.read_cgroup_memory(tree)
        assert plain['kills'] is None and plain['events']['oom_kill'] == 0


def test_cgroup_v2_container_kills_hierarchical_and_where(tmp_path):
    """v2 (derived: this machine has no v2 memory controller): the root's memory.events counts kills in
    cgroups since removed; memory.events.local says where the living ones were."""
    tree = tmp_path / 'tree'
    shutil.copytree(os.path.join(FIX, 'derived', 'v2_container'), tree)
    unit = tree / 'sys' / 'fs' / 'cgroup' / 'system.slice' / 'gunicorn.service'
    unit.mkdir(parents=True)
    (unit / 'memory.events.local').write_text('low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n')
    (tree / 'proc' / '1').mkdir()
    (tree / 'proc' / '1' / 'cgroup').write_text('0::/init.scope\n')
    info = kernel.read_cgroup_memory(str(tree), container=True)
    assert info['scope'] == '/' and info['kills']['total'] == 2  # memory.events of the root: oom_kill 2
    assert info['kills']['by_cgroup'] == [{'cgroup': '/system.slice/gunicorn.service', 'oom_kill': 1}]


def test_container_id_from_mountinfo():
    assert kernel.container_id(os.path.join(SYSTEMD_CONTAINER, 'tree')) is None  # only cgroup lines kept
    assert kernel.container_id(os.path.join(FIX, 'tree_host_unlimited')) is None


def test_container_id_docker_and_podman(tmp_path):
    cid = 'a' * 64
    for line in ('90 72 254:0 /var/lib/docker/containers/%s/hostname /etc/hostname rw - ext4 /dev/vda rw' % cid,
                 '91 72 0:50 /overlay-containers/%s/userdata/hosts /etc/hosts rw - tmpfs tmpfs rw' % cid):
        (tmp_path / 'proc' / 'self').mkdir(parents=True, exist_ok=True)
        (tmp_path / 'proc' / 'self' / 'mountinfo').write_text(line + '\n')
        assert kernel.container_id(str(tmp_path)) == cid


# ------------------------------------------------------------ a whole host: the machine, not the SSH session

def _v2_tree(tmp_path, cgroups, reader, processes, mount_root='/'):
    """A cgroup v2 tree as cgroup-v2.rst describes it: ``cgroups`` {path: {file: text}} (the root's
    only memory files are memory.stat and memory.pressure), the reader's /proc/self/cgroup, and
    /proc/PID/cgroup of each of ``processes`` {pid: path}. DERIVED, not captured."""
    tree = tmp_path / 'tree'
    base = tree / 'sys' / 'fs' / 'cgroup'
    for path, files in cgroups.items():
        where = base / path.strip('/') if path != '/' else base
        where.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (where / name).write_text(text)
    (tree / 'proc' / 'self').mkdir(parents=True)
    (tree / 'proc' / 'self' / 'cgroup').write_text('0::%s\n' % reader)
    (tree / 'proc' / 'self' / 'mountinfo').write_text(
        '35 24 0:30 %s /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n' % mount_root)
    for pid, path in processes.items():
        (tree / 'proc' / str(pid)).mkdir(parents=True)
        (tree / 'proc' / str(pid) / 'cgroup').write_text('0::%s\n' % path)
    return str(tree)


_ROOT_V2 = {'cgroup.controllers': 'cpuset cpu io memory pids\n', 'memory.stat': 'anon 104857600\ninactive_file 52428800\n',
            'memory.pressure': 'some avg10=0.00 avg60=0.00 avg300=0.00 total=10\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n'}


def _unit(current, limit='max', kills=0):
    return {'memory.current': '%d\n' % current, 'memory.max': limit + '\n', 'memory.high': 'max\n',
            'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill %d\noom_group_kill 0\n' % kills,
            'memory.stat': 'inactive_file 0\n'}


def test_whole_host_v2_the_machine_not_the_session_limited_by_its_slice(tmp_path):
    """An SSH session in user-0.slice, which has MemoryMax=400M: that limit binds the session, not the
    server's units in system.slice. The figures are the root's: no limit, no events (the root has no
    memory.events), its page cache; the reader's own cgroup is still named as 'path'."""
    session = '/user.slice/user-0.slice/session-1.scope'
    tree = _v2_tree(tmp_path, {
        '/': _ROOT_V2, '/user.slice': _unit(30 << 20), '/user.slice/user-0.slice': _unit(30 << 20, str(400 << 20)),
        session: _unit(20 << 20), '/system.slice': _unit(600 << 20, kills=1),
        '/system.slice/gunicorn.service': _unit(400 << 20), '/system.slice/redis-server.service': _unit(150 << 20),
        '/init.scope': _unit(10 << 20)},
        session, {1: '/init.scope', 500: '/system.slice/gunicorn.service', 501: '/system.slice/gunicorn.service',
                  600: '/system.slice/redis-server.service', 700: session})
    reader = kernel.read_cgroup_memory(tree)  # what the reader alone would say: its session's limit
    assert reader['limit'] == 400 << 20 and reader['scope'] == session
    info = kernel.read_cgroup_memory(tree, workload=[500, 501, 600, 1, 700])
    assert info['scope'] == '/' and info['workload'] == '/' and info['path'] == session
    assert info['limit'] is None and info['limit_cgroup'] is None and info['current'] is None
    assert info['events'] is None  # the machine's kills are /proc/vmstat's
    assert info['reclaimable'] == 50 << 20 and info['pressure']['full']['total'] == 5
    assert info['dir'].endswith(os.path.join('sys', 'fs', 'cgroup'))
    # the server's units only (no process of the session among the biggest): still not the session's limit
    info = kernel.read_cgroup_memory(tree, workload=[500, 600])
    assert info['scope'] == '/' and info['workload'] == '/system.slice' and info['limit'] is None


def test_whole_host_v2_a_limit_that_binds_every_process_holding_memory(tmp_path):
    """Every big process in app.slice, which has MemoryMax=2G (its services have none, or a bigger one):
    that limit is the workload's, with app.slice's own use and kills."""
    tree = _v2_tree(tmp_path, {
        '/': _ROOT_V2, '/app.slice': _unit(1500 << 20, str(2 << 30), kills=2),
        '/app.slice/web.service': _unit(1000 << 20, str(3 << 30)), '/app.slice/worker.service': _unit(500 << 20),
        '/user.slice/user-0.slice/session-1.scope': _unit(5 << 20)},
        '/user.slice/user-0.slice/session-1.scope', {10: '/app.slice/web.service', 11: '/app.slice/worker.service'})
    info = kernel.read_cgroup_memory(tree, workload=[10, 11])
    assert info['workload'] == '/app.slice' and info['scope'] == '/app.slice'
    assert info['limit'] == 2 << 30 and info['limit_cgroup'] == '/app.slice'
    assert info['current'] == 1500 << 20 and info['events']['oom_kill'] == 2
    assert info['dir'].endswith(os.path.join('sys', 'fs', 'cgroup', 'app.slice'))
    # one big process elsewhere: the limit no longer binds the whole workload
    (tmp_path / 'tree' / 'proc' / '12').mkdir()
    (tmp_path / 'tree' / 'proc' / '12' / 'cgroup').write_text('0::/system.slice/postgresql.service\n')
    assert kernel.read_cgroup_memory(tree, workload=[10, 11, 12])['limit'] is None


def test_whole_host_v2_a_container_not_known_as_one_has_its_limit(tmp_path):
    """A container no marker names (containerd, CRI-O: no /.dockerenv, no container= in PID 1's
    environment) with its own cgroup namespace: its root is the mount's, with memory.max and
    memory.current; every process's cgroup is '/'. Its limit binds."""
    tree = _v2_tree(tmp_path, {'/': dict(_unit(300 << 20, str(512 << 20), kills=3), **{'cgroup.controllers': 'memory pids\n'})},
                    '/', {1: '/', 7: '/'})
    info = kernel.read_cgroup_memory(tree, workload=[1, 7])
    assert info['scope'] == '/' and info['limit'] == 512 << 20 and info['current'] == 300 << 20
    assert info['events']['oom_kill'] == 3


def test_whole_host_v2_nothing_known_of_the_workload_is_the_machine(tmp_path):
    tree = _v2_tree(tmp_path, {'/': _ROOT_V2, '/user.slice': _unit(1 << 20, str(100 << 20))}, '/user.slice', {})
    for workload in ([], [4242]):  # no process listed, or one gone meanwhile
        info = kernel.read_cgroup_memory(tree, workload=workload)
        assert info['scope'] == '/' and info['limit'] is None and info['workload'] == '/'


def test_whole_host_v1_real_root_without_its_local_kill_count():
    """This machine (v1 memory, REAL): the root's figures; v1's root counts only its own processes'
    kills, so no count is given as the machine's."""
    tree = os.path.join(FIX, 'tree_host_unlimited')
    info = kernel.read_cgroup_memory(tree, workload=[])
    assert info['version'] == 1 and info['scope'] == '/' and info['limit'] is None
    assert info['dir'].endswith(os.path.join('sys', 'fs', 'cgroup', 'memory'))
    assert info['current'] == int(fixture('tree_host_unlimited', 'sys/fs/cgroup/memory/memory.usage_in_bytes'))
    assert info['events'] is None
    assert kernel.read_cgroup_memory(tree)['events'] is not None  # the reader's own cgroup has its count


# ------------------------------------------------------------ a whole machine, REAL (the test VM: Debian 12, 6.1, cgroup v2)

VM_HOST = os.path.join(os.path.dirname(FIX), 'vm', 'bookworm-6.1.0-57-amd64', 'whole-host')
SESSION = '/user.slice/user-0.slice/session-1.scope'


def _vm_workload(state):
    """The pids of the processes the capture listed with memory (ps.txt: the 20 with the most RSS), as top
    lists them: the ones whose /proc/PID/cgroup it kept."""
    with open(os.path.join(VM_HOST, state, 'ps.txt')) as handle:
        rows = [line.split() for line in handle if line.strip()]
    return [int(pid) for pid, rss, _comm in rows if int(rss) and os.path.exists(os.path.join(VM_HOST, state, 'proc', pid))]


def test_vm_the_root_cgroup_has_only_memory_stat_and_pressure():
    """What cgroup-v2.rst says of the root ("exists on non-root cgroups"), as the VM's kernel shows it."""
    with open(os.path.join(VM_HOST, 'booted', 'root-files.txt')) as handle:
        files = handle.read().split()
    assert [name for name in files if name.startswith('memory.')] == ['memory.numa_stat', 'memory.pressure',
                                                                      'memory.reclaim', 'memory.stat']


@pytest.mark.parametrize('state', ['booted', 'session-limited', 'after-kill'])
def test_vm_a_whole_machine_is_read_as_the_machine_not_the_ssh_session(state):
    """Before: the SSH session's scope, with user-0.slice's MemoryMax=400M as the host's limit and
    oom_kill 0 after the machine's kill. Now: the root, no limit, no events, its page cache and PSI."""
    tree = os.path.join(VM_HOST, state)
    reader = kernel.read_cgroup_memory(tree)
    assert reader['scope'] == reader['path'] == SESSION
    info = kernel.read_cgroup_memory(tree, workload=_vm_workload(state))
    assert info['version'] == 2 and info['path'] == SESSION
    assert (info['scope'], info['workload']) == ('/', '/')
    assert info['limit'] is None and info['limit_cgroup'] is None and info['current'] is None and info['events'] is None
    stat = fixture(os.path.join(VM_HOST, state, 'sys', 'fs', 'cgroup', 'memory.stat'))
    assert info['reclaimable'] == int(re.search(r'^inactive_file (\d+)$', stat, re.M).group(1))
    assert info['pressure']['some']['total'] >= 0
    if state == 'session-limited':
        assert reader['limit'] == 400 << 20 and reader['limit_cgroup'] == '/user.slice/user-0.slice'
    if state == 'after-kill':
        assert reader['events']['oom_kill'] == 0  # the session's own count, after the machine's kill
        assert 'oom_kill 1' in fixture(os.path.join(VM_HOST, state, 'vmstat-oom_kill.txt'))
        assert 'oom_kill 1\n' in fixture(os.path.join(VM_HOST, state, 'sys', 'fs', 'cgroup', 'system.slice', 'memory.events'))


def test_vm_the_verdict_judges_the_machine_s_ram_not_the_session_s_limit():
    """effective_memory agrees with the reading: the session's 400M is not what the host has."""
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import effective_memory
    tree = os.path.join(VM_HOST, 'session-limited')
    memory = {'total': 1000 << 20, 'available': 700 << 20}
    assert effective_memory(memory, kernel.read_cgroup_memory(tree, workload=_vm_workload('session-limited'))) == \
        (1000 << 20, 700 << 20)
    assert effective_memory(memory, kernel.read_cgroup_memory(tree))[0] == 400 << 20  # what it said before
