"""The swapfile module run through Ansible on this host, as root, with real swapon.

Fault injection uses real filesystems: a 64 MiB loop-mounted ext4 that fills up, and a
tmpfs where swapon is refused. Every fixture turns off the swap it turned on, unmounts
what it mounted and detaches its loop device, also when a test fails. Each test also
checks that the host's own swap and /etc/fstab are exactly as before.
"""
import json
import os
import shutil
import stat
import subprocess
import time

import pytest

from conftest import run_dir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE = os.path.join(ROOT, '.venv', 'bin', 'ansible')
MIB = 1024 ** 2
GIB = 1024 ** 3


def _swapon_works():
    if os.geteuid() != 0:
        return 'needs root'
    if not os.path.exists('/proc/swaps'):
        return 'no /proc/swaps'
    return None


pytestmark = pytest.mark.skipif(_swapon_works() is not None, reason=str(_swapon_works()))


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw).stdout


def swaps():
    """Active swap areas as {path: (size KiB, priority)}."""
    with open('/proc/swaps') as handle:
        rows = handle.read().splitlines()[1:]
    result = {}
    for row in rows:
        path, _kind, size, _used, prio = row.rsplit(None, 4)
        result[path.strip().replace('\\040', ' ')] = (int(size), int(prio))
    return result


def swapoff_under(directory):
    for path in swaps():
        if path.startswith(directory.rstrip('/') + '/'):
            subprocess.run(['swapoff', path], check=False)


def run(args, check=False, diff=False, env_path=None):
    """Run the module through `ansible localhost -m swapfile`; return the host's result dict."""
    argv = [ANSIBLE, 'localhost', '-m', 'headroom.memory.swapfile', '-a', json.dumps(args)]
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_DEPRECATION_WARNINGS='false')
    if env_path:
        env['PATH'] = env_path + os.pathsep + env['PATH']
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('ansible printed no JSON (rc=%d): %s %s' % (proc.returncode, proc.stdout, proc.stderr))
    return out['plays'][0]['tasks'][0]['hosts']['localhost']


@pytest.fixture(autouse=True)
def host_unchanged():
    """Whatever a test does, /etc/fstab ends as it started, and swap areas that were active
    before and still are keep their size and priority. (Other suites, molecule scenarios
    among them, may add or remove swap of their own meanwhile, so an area that vanished is
    not blamed on the test; tests that make swap of their own check it survives.)"""
    before_swaps = swaps()
    with open('/etc/fstab') as handle:
        before_fstab = handle.read()
    yield
    with open('/etc/fstab') as handle:
        assert handle.read() == before_fstab
    after = swaps()
    assert {p: after[p] for p in before_swaps if p in after} == \
        {p: v for p, v in before_swaps.items() if p in after}


@pytest.fixture
def workdir():
    """A directory on the host's ext4 root, with an empty private fstab."""
    directory = run_dir('swap')
    fstab = os.path.join(directory, 'fstab')
    with open(fstab, 'w') as handle:
        handle.write('# test fstab\nUUID=1234 / ext4 defaults 0 1\n')
    try:
        yield directory
        # Tests switch off what they turn on; anything still active here is a leak.
        leaked = [p for p in swaps() if p.startswith(directory + '/')]
        assert leaked == [], 'swap left active: %s' % leaked
    finally:
        swapoff_under(directory)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def loopfs(workdir):
    """A 64 MiB ext4 on a loop device, mounted at workdir/mnt; torn down in all cases."""
    image = os.path.join(workdir, 'disk.img')
    mnt = os.path.join(workdir, 'mnt')
    os.mkdir(mnt)
    with open(image, 'wb') as handle:
        handle.truncate(64 * MIB)
    device = sh('losetup', '--find', '--show', image).strip()
    mounted = False
    try:
        sh('mkfs.ext4', '-q', '-F', device)
        sh('mount', device, mnt)
        mounted = True
        yield mnt
    finally:
        swapoff_under(mnt)
        if mounted:
            subprocess.run(['umount', mnt], check=True)
        subprocess.run(['losetup', '-d', device], check=True)


@pytest.fixture
def tmpfs(workdir):
    mnt = os.path.join(workdir, 'tmpfs')
    os.mkdir(mnt)
    sh('mount', '-t', 'tmpfs', '-o', 'size=128m', 'tmpfs', mnt)
    try:
        yield mnt
    finally:
        swapoff_under(mnt)
        subprocess.run(['umount', mnt], check=True)


def fstab_of(workdir):
    with open(os.path.join(workdir, 'fstab')) as handle:
        return handle.read()


def args_for(workdir, path, **extra):
    base = {'path': path, 'fstab': os.path.join(workdir, 'fstab'),
            'sysctl_file': os.path.join(workdir, '60-headroom-swap.conf')}
    base.update(extra)
    return base


def leftovers(directory):
    return sorted(name for name in os.listdir(directory) if 'headroom' in name or 'swap' in name)


# --- the life of a swap file -------------------------------------------------------------

def test_check_mode_from_nothing_changes_nothing(workdir):
    path = os.path.join(workdir, 'swap')
    before = fstab_of(workdir)
    result = run(args_for(workdir, path, size='64M', min_free_disk='1G'), check=True, diff=True)
    assert result['changed'] is True
    assert result['actions'] == ['create', 'swapon', 'fstab']
    assert result['after']['size'] == 64 * MIB and result['after']['mode'] == '0600'
    assert result['diff'][0]['after'] == before + '%s none swap sw,nofail 0 0\n' % path
    assert not os.path.exists(path)
    assert fstab_of(workdir) == before
    assert path not in swaps()


def test_create_idempotent_resize_priority_remove(workdir):
    path = os.path.join(workdir, 'swap')
    base = fstab_of(workdir)
    args = args_for(workdir, path, size='64M', min_free_disk='1G')

    created = run(args)
    assert created['changed'] is True, created
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0 and st.st_gid == 0
    assert st.st_size == 64 * MIB
    # /proc/swaps counts the size without the header page.
    assert swaps()[path][0] == 64 * 1024 - 4
    assert fstab_of(workdir) == base + '%s none swap sw,nofail 0 0\n' % path
    assert created['after']['active'] is True and created['before']['exists'] is False

    again = run(dict(args, size=str(64 * MIB)))
    assert again['changed'] is False and again['actions'] == []

    # Check mode for a resize reports it and leaves the active file alone.
    preview = run(dict(args, size='96M'), check=True)
    assert preview['changed'] is True and preview['actions'] == ['replace', 'swapon']
    assert os.stat(path).st_size == 64 * MIB and swaps()[path][0] == 64 * 1024 - 4

    resized = run(dict(args, size='96M', priority=7))
    assert resized['changed'] is True and resized['actions'] == ['replace', 'swapon', 'fstab']
    assert os.stat(path).st_size == 96 * MIB
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert swaps()[path] == (96 * 1024 - 4, 7)
    assert fstab_of(workdir) == base + '%s none swap sw,nofail,pri=7 0 0\n' % path
    assert leftovers(workdir) == ['60-headroom-swap.conf', 'swap'] or leftovers(workdir) == ['swap']

    reprio = run(dict(args, size='96M', priority=9))
    assert reprio['actions'] == ['swapoff', 'swapon', 'fstab']
    assert swaps()[path] == (96 * 1024 - 4, 9)

    removed = run(dict(args, state='absent'))
    assert removed['changed'] is True and removed['actions'] == ['swapoff', 'remove', 'fstab']
    assert not os.path.exists(path) and path not in swaps()
    assert fstab_of(workdir) == base
    assert run(dict(args, state='absent'))['changed'] is False


def test_reactivates_an_inactive_file_and_fixes_its_mode(workdir):
    path = os.path.join(workdir, 'swap')
    args = args_for(workdir, path, size='32M', min_free_disk='1G')
    assert run(args)['changed'] is True
    sh('swapoff', path)
    os.chmod(path, 0o644)
    fixed = run(args)
    assert fixed['actions'] == ['fix_mode', 'swapon']
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path in swaps()
    run(dict(args, state='absent'))


def test_auto_counts_swap_the_host_already_has_and_never_touches_it(workdir):
    meminfo = dict(line.split(':') for line in open('/proc/meminfo').read().splitlines())
    mem_total = int(meminfo['MemTotal'].split()[0]) * 1024
    # Red Hat's table, as the module applies it: the test host decides which row.
    recommended = 2 * mem_total if mem_total <= 2 * GIB else mem_total if mem_total <= 8 * GIB else 4 * GIB
    other = os.path.join(workdir, 'other-swap')
    other_size = recommended - 512 * MIB
    sh('fallocate', '-l', str(other_size), other)
    os.chmod(other, 0o600)
    sh('mkswap', other)
    sh('swapon', other)
    path = os.path.join(workdir, 'swap')
    args = args_for(workdir, path, size='auto', min_free_disk='5%')

    result = run(args)
    counted = swaps()[other][0] * 1024
    assert result['sizing']['other_swap'] == counted
    assert result['sizing']['recommended'] == recommended
    expected = -(-(recommended - counted) // (128 * MIB)) * 128 * MIB
    assert result['size'] == expected == os.stat(path).st_size
    assert run(args)['changed'] is False

    removed = run(dict(args, state='absent'))
    assert removed['actions'] == ['swapoff', 'remove', 'fstab']
    assert other in swaps(), 'removing headroom swap must not touch other swap'
    sh('swapoff', other)


def test_auto_creates_nothing_when_existing_swap_covers_the_target(workdir):
    meminfo = dict(line.split(':') for line in open('/proc/meminfo').read().splitlines())
    mem_total = int(meminfo['MemTotal'].split()[0]) * 1024
    recommended = 2 * mem_total if mem_total <= 2 * GIB else mem_total if mem_total <= 8 * GIB else 4 * GIB
    other = os.path.join(workdir, 'other-swap')
    sh('fallocate', '-l', str(recommended + 64 * MIB), other)
    os.chmod(other, 0o600)
    sh('mkswap', other)
    sh('swapon', other)
    path = os.path.join(workdir, 'swap')
    result = run(args_for(workdir, path, size='auto'))
    assert result['changed'] is False and result['size'] == 0
    assert result['sizing']['target'] == 0
    assert not os.path.exists(path)
    sh('swapoff', other)


# --- refusals ----------------------------------------------------------------------------

def test_refuses_tmpfs_before_touching_anything(workdir, tmpfs):
    path = os.path.join(tmpfs, 'swap')
    result = run(args_for(workdir, path, size='16M', min_free_disk='0'))
    assert result.get('failed') is True
    assert 'tmpfs' in result['msg'] and 'refusing' in result['msg']
    assert os.listdir(tmpfs) == []
    assert fstab_of(workdir).count('swap') == 0


def test_refuses_to_fill_the_disk(workdir, loopfs):
    path = os.path.join(loopfs, 'swap')
    result = run(args_for(workdir, path, size='48M', min_free_disk='32M'))
    assert result.get('failed') is True
    assert 'refusing to allocate' in result['msg'] and 'min_free_disk=32M' in result['msg']
    assert leftovers(loopfs) == []


def test_refuses_to_overwrite_a_data_file(workdir):
    path = os.path.join(workdir, 'swap')
    with open(path, 'w') as handle:
        handle.write('precious data\n')
    for state in ('present', 'absent'):
        result = run(args_for(workdir, path, size='16M', state=state))
        assert result.get('failed') is True and 'not a swap file' in result['msg']
    assert open(path).read() == 'precious data\n'


def test_refuses_bad_size_with_the_value(workdir):
    result = run(args_for(workdir, os.path.join(workdir, 'swap'), size='two gigs'))
    assert result.get('failed') is True and "'two gigs'" in result['msg']


# --- faults: the host ends as it started --------------------------------------------------

def test_swapon_refused_rolls_everything_back(workdir, tmpfs):
    path = os.path.join(tmpfs, 'swap')
    before = fstab_of(workdir)
    result = run(args_for(workdir, path, size='16M', min_free_disk='0', check_filesystem=False))
    assert result.get('failed') is True
    assert 'swapon' in result['msg'] and 'rolled back' in result['msg'], result['msg']
    assert os.listdir(tmpfs) == []
    assert fstab_of(workdir) == before
    assert path not in swaps()


def _filler(bindir, tool):
    """A `tool` on PATH that first fills the filesystem of its target with a real file,
    as a concurrent writer would, then runs the real tool: its ENOSPC is genuine."""
    os.makedirs(bindir, exist_ok=True)
    real = shutil.which(tool)
    real_dd = shutil.which('dd')
    script = os.path.join(bindir, tool)
    with open(script, 'w') as handle:
        handle.write('#!/bin/sh\n'
                     'for a in "$@"; do case "$a" in of=*) t="${a#of=}";; /*) t="$a";; esac; done\n'
                     'd=$(dirname "$t")\n'
                     '%s if=/dev/zero of="$d/filler" bs=1M 2>/dev/null\n'
                     'exec %s "$@"\n' % (real_dd, real))
    os.chmod(script, 0o755)
    return bindir


@pytest.mark.parametrize('method', ['fallocate', 'dd'])
def test_disk_filling_up_during_allocation_rolls_back(workdir, loopfs, method):
    path = os.path.join(loopfs, 'swap')
    before = fstab_of(workdir)
    tool = 'fallocate' if method == 'fallocate' else 'dd'
    bindir = _filler(os.path.join(workdir, 'bin'), tool)
    result = run(args_for(workdir, path, size='24M', min_free_disk='0', method=method), env_path=bindir)
    assert result.get('failed') is True
    assert 'No space left' in result['msg'] and 'rolled back' in result['msg'], result['msg']
    assert os.path.exists(os.path.join(loopfs, 'filler'))
    assert leftovers(loopfs) == []
    assert fstab_of(workdir) == before
    assert path not in swaps()


def test_failed_resize_keeps_the_old_swap_working(workdir, loopfs):
    path = os.path.join(loopfs, 'swap')
    args = args_for(workdir, path, size='8M', min_free_disk='0', priority=4)
    assert run(args)['changed'] is True
    line = fstab_of(workdir)
    area = swaps()[path]
    assert area[1] == 4
    bindir = _filler(os.path.join(workdir, 'bin'), 'fallocate')
    result = run(dict(args, size='16M'), env_path=bindir)
    assert result.get('failed') is True and 'rolled back' in result['msg'], result['msg']
    assert swaps()[path] == area
    assert os.stat(path).st_size == 8 * MIB
    assert leftovers(loopfs) == ['swap']
    assert fstab_of(workdir) == line
    os.unlink(os.path.join(loopfs, 'filler'))
    assert run(dict(args, state='absent'))['changed'] is True


# --- sysctl ------------------------------------------------------------------------------

@pytest.fixture
def swappiness():
    with open('/proc/sys/vm/swappiness') as handle:
        original = handle.read().strip()
    try:
        yield int(original)
    finally:
        with open('/proc/sys/vm/swappiness', 'w') as handle:
            handle.write(original)


@pytest.fixture
def later_dropin():
    path = '/etc/sysctl.d/99-zz-headroom-test.conf'
    assert not os.path.exists(path)
    try:
        yield path
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_sysctl_dropin_applied_live_and_override_reported(workdir, swappiness, later_dropin):
    wanted = 13 if swappiness != 13 else 14
    dropin = os.path.join(workdir, '60-headroom-swap.conf')
    args = {'path': os.path.join(workdir, 'swap'), 'fstab': os.path.join(workdir, 'fstab'),
            'size': '16M', 'min_free_disk': '1G', 'sysctl_file': dropin,
            'sysctl': {'vm.swappiness': wanted}}
    preview = run(args, check=True, diff=True)
    assert 'sysctl_file' in preview['actions'] and 'sysctl_live' in preview['actions']
    assert int(open('/proc/sys/vm/swappiness').read()) == swappiness
    assert preview['diff'][-1]['after'].endswith('vm.swappiness = %d\n' % wanted)

    applied = run(args)
    assert applied['changed'] is True
    assert int(open('/proc/sys/vm/swappiness').read()) == wanted
    assert 'vm.swappiness = %d' % wanted in open(dropin).read()
    assert applied['sysctl']['overrides'] == []
    assert run(args)['changed'] is False

    with open(later_dropin, 'w') as handle:
        handle.write('vm.swappiness = 77\n')
    reported = run(args)
    assert reported['changed'] is False
    assert reported['sysctl']['overrides'] == [{'file': later_dropin, 'key': 'vm.swappiness', 'value': '77'}]
    assert any(later_dropin in w for w in reported.get('warnings', []))

    removed = run(dict(args, state='absent'))
    assert 'sysctl_file' in removed['actions'] and not os.path.exists(dropin)


# --- swapoff with real pages swapped out ------------------------------------------------

def _memory_cgroup():
    for root in ('/sys/fs/cgroup/memory', '/sys/fs/cgroup'):
        if os.path.exists(os.path.join(root, 'memory.limit_in_bytes')) or \
                os.path.exists(os.path.join(root, 'cgroup.subtree_control')):
            return root
    return None


HOG = r'''
import os, sys, time
size = int(sys.argv[1]) << 20
b = bytearray(size)
for i in range(0, size, 4096):
    b[i] = (i // 4096) % 251 + 1
print('ready', flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.1)
ok = all(b[i] == (i // 4096) % 251 + 1 for i in range(0, size, 4096))
print('intact' if ok else 'CORRUPT', flush=True)
'''


@pytest.fixture
def swapped_out(workdir):
    """A process whose memory sits in a swap file: 160 MiB touched in a 64 MiB cgroup.

    Yields (swap path, used bytes, check) where check() asks the process to re-read every
    page and returns 'intact' or 'CORRUPT'. The cgroup limit is lifted once the pages are
    out, so that a later swapoff can bring them back without the cgroup OOM-killing it.
    """
    root = _memory_cgroup()
    if root is None or not os.path.exists(os.path.join(root, 'memory.limit_in_bytes')):
        pytest.skip('needs a cgroup v1 memory controller (this host has one)')
    path = os.path.join(workdir, 'swap')
    # Created through the module itself, at the highest priority, so the pages go to it.
    args = args_for(workdir, path, size='256M', min_free_disk='1G', priority=32000)
    assert run(args)['changed'] is True
    group = os.path.join(root, 'headroom-swaptest-%d' % os.getpid())
    os.mkdir(group)
    proc = None
    flag = os.path.join(workdir, 'verify')
    try:
        with open(os.path.join(group, 'memory.limit_in_bytes'), 'w') as handle:
            handle.write(str(64 * MIB))
        with open(os.path.join(group, 'memory.swappiness'), 'w') as handle:
            handle.write('100')
        proc = subprocess.Popen(
            ['sh', '-c', 'echo $$ > %s/tasks && exec python3 -c "$0" 160 %s' % (group, flag), HOG],
            stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == 'ready'
        with open(os.path.join(group, 'memory.limit_in_bytes'), 'w') as handle:
            handle.write('-1')
        used = [a for p, a in _areas_used().items() if p == path][0]
        assert used >= 64 * MIB, 'expected the hog to be swapped out, /proc/swaps says %d' % used

        def check():
            open(flag, 'w').close()
            line = proc.stdout.readline().strip()
            proc.wait(timeout=30)
            return line

        yield path, used, check, args
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        os.rmdir(group)
        subprocess.run(['swapoff', path], check=False)


def _areas_used():
    with open('/proc/swaps') as handle:
        rows = handle.read().splitlines()[1:]
    return {r.rsplit(None, 4)[0].strip(): int(r.rsplit(None, 4)[3]) * 1024 for r in rows}


def test_swapoff_refused_when_memory_cannot_take_the_pages_back(workdir, swapped_out):
    path, used, check, args = swapped_out
    fstab = fstab_of(workdir)
    # This host has far more RAM than the hog, so demand that 99% stay available.
    for change in (dict(size='320M'), dict(priority=31000), dict(state='absent')):
        result = run(dict(args, swapoff_min_available='99%', **change))
        assert result.get('failed') is True, change
        assert 'refusing to swapoff %s' % path in result['msg'] and 'left working' in result['msg']
        assert swaps()[path][1] == 32000 and _areas_used()[path] > 0
        assert os.stat(path).st_size == 256 * MIB and fstab_of(workdir) == fstab
        assert leftovers(workdir) == ['60-headroom-swap.conf', 'swap'] or leftovers(workdir) == ['swap']
    assert check() == 'intact'
    run(dict(args, state='absent'))


def test_resize_with_pages_swapped_out_keeps_the_data(workdir, swapped_out):
    path, used, check, args = swapped_out
    resized = run(dict(args, size='320M'))
    assert resized['changed'] is True and resized['before']['used'] > 0
    assert resized['actions'] == ['replace', 'swapon']
    assert os.stat(path).st_size == 320 * MIB and swaps()[path][1] == 32000
    assert check() == 'intact'
    assert run(dict(args, state='absent'))['changed'] is True


# --- filesystems -------------------------------------------------------------------------

@pytest.fixture(params=['ext4', 'xfs', 'btrfs'])
def anyfs(request, workdir):
    """A loop-mounted filesystem of each kind the module allocates differently on."""
    fstype = request.param
    mkfs = shutil.which('mkfs.' + fstype)
    if mkfs is None:
        pytest.skip('mkfs.%s missing (scripts/deps/swap_setup.txt lists its package)' % fstype)
    image = os.path.join(workdir, '%s.img' % fstype)
    mnt = os.path.join(workdir, 'mnt-' + fstype)
    os.mkdir(mnt)
    with open(image, 'wb') as handle:
        handle.truncate(512 * MIB)     # sparse: xfs wants at least 300 MiB
    device = sh('losetup', '--find', '--show', image).strip()
    mounted = False
    try:
        sh(mkfs, '-q', '-f', device) if fstype != 'ext4' else sh(mkfs, '-q', '-F', device)
        sh('mount', device, mnt)
        mounted = True
        yield fstype, mnt
    finally:
        swapoff_under(mnt)
        if mounted:
            subprocess.run(['umount', mnt], check=True)
        subprocess.run(['losetup', '-d', device], check=True)


def test_each_filesystem_gets_a_working_swap_file(workdir, anyfs):
    fstype, mnt = anyfs
    path = os.path.join(mnt, 'swap')
    args = args_for(workdir, path, size='48M', min_free_disk='10%')
    created = run(args)
    assert created['changed'] is True, created
    assert created['filesystem'] == {'fstype': fstype, 'mount_point': mnt, 'method': 'fallocate'}
    assert swaps()[path][0] > 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and os.stat(path).st_size == 48 * MIB
    if fstype == 'btrfs':
        # NOCOW, set while the file was empty: btrfs refuses swapon otherwise.
        assert 'C' in sh('lsattr', path).split()[0]
    assert run(args)['changed'] is False
    resized = run(dict(args, size='64M'))
    assert resized['actions'] == ['replace', 'swapon'] and os.stat(path).st_size == 64 * MIB
    assert run(dict(args, state='absent'))['changed'] is True
    assert os.listdir(mnt) in ([], ['lost+found'])


def test_dd_method_works_too(workdir):
    path = os.path.join(workdir, 'swap')
    args = args_for(workdir, path, size='24M', min_free_disk='1G', method='dd')
    created = run(args)
    assert created['filesystem']['method'] == 'dd' and swaps()[path][0] > 0
    assert run(dict(args, state='absent'))['changed'] is True


# --- what is not the module's, and two runs at once ----------------------------------------------

def test_a_data_file_at_a_temporary_name_is_never_deleted(workdir):
    """A data file named like the module's temporary files, for a swap file that never existed."""
    path = os.path.join(workdir, 'swap')
    for name in ('.swap.headroom-old', '.swap.headroom-new'):
        data = os.path.join(workdir, name)
        with open(data, 'w') as handle:
            handle.write('precious data\n')
        for state in ('absent', 'present'):
            result = run(args_for(workdir, path, size='16M', state=state))
            assert result.get('failed') is True and 'not a leftover of headroom' in result['msg'], result
            assert open(data).read() == 'precious data\n'
        os.unlink(data)
    assert not os.path.exists(path)


def test_a_leftover_of_an_interrupted_run_is_cleaned(workdir):
    path = os.path.join(workdir, 'swap')
    leftover = os.path.join(workdir, '.swap.headroom-new')
    fd = os.open(leftover, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b'\0' * 4096)  # allocated, not yet mkswap'd
    os.close(fd)
    result = run(args_for(workdir, path, state='absent'))
    assert result['changed'] is True and result['actions'] == ['cleanup']
    assert not os.path.exists(leftover)


def test_two_runs_at_once_one_waits_its_turn(workdir):
    """The second run on the same path fails at once, names the lock, and changes nothing; the first
    one's temporary file is untouched and its swap file is made."""
    path = os.path.join(workdir, 'swap')
    slow_bin = os.path.join(workdir, 'slowbin')
    os.mkdir(slow_bin)
    real = shutil.which('mkswap')
    # the first run's mkswap waits until this test has made both other runs (at most 120 s): a fixed
    # sleep raced against the start-up of two ansible processes on a busy or freshly installed machine
    with open(os.path.join(slow_bin, 'mkswap'), 'w') as handle:
        handle.write('#!/bin/sh\ntouch %s/mkswap-started\ni=0\nwhile [ ! -e %s/mkswap-go ] && [ $i -lt 1200 ]; do'
                     ' sleep 0.1; i=$((i+1)); done\nexec %s "$@"\n' % (workdir, workdir, real))
    os.chmod(os.path.join(slow_bin, 'mkswap'), 0o755)
    first = subprocess.Popen([ANSIBLE, 'localhost', '-m', 'headroom.memory.swapfile', '-a',
                              json.dumps(args_for(workdir, path, size='16M', min_free_disk='1M'))],
                             cwd=ROOT, env=dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
                                                ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
                                                PATH=slow_bin + os.pathsep + os.environ['PATH']),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            if os.path.exists(os.path.join(workdir, 'mkswap-started')):
                break
            time.sleep(0.1)
        assert os.path.exists(os.path.join(workdir, '.swap.headroom-new'))
        for state in ('present', 'absent'):
            second = run(args_for(workdir, path, size='16M', min_free_disk='1M', state=state))
            assert second.get('failed') is True and 'is working on %s right now' % path in second['msg'], second
            assert os.path.exists(os.path.join(workdir, '.swap.headroom-new'))
        open(os.path.join(workdir, 'mkswap-go'), 'w').close()
        out, err = first.communicate(timeout=180)
    finally:
        # never leave the first run waiting: it finishes, and the fixture switches its swap off
        open(os.path.join(workdir, 'mkswap-go'), 'w').close()
        if first.poll() is None:
            try:
                first.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                first.kill()
    done = json.loads(out)['plays'][0]['tasks'][0]['hosts']['localhost']
    assert done['changed'] is True and path in swaps(), done
    assert run(args_for(workdir, path, state='absent'))['changed'] is True


@pytest.mark.parametrize('spelled', ['{dir}/./swap', '/{dir}/swap', '{dir}//swap', '{dir}/nowhere/../swap'])
def test_fstab_line_under_another_spelling_is_the_same_file(workdir, spelled):
    path = os.path.join(workdir, 'swap')
    other = spelled.format(dir=workdir)
    with open(os.path.join(workdir, 'fstab'), 'a') as handle:
        handle.write('%s none swap sw,nofail 0 0\n' % other)
    before = fstab_of(workdir)
    result = run(args_for(workdir, path, size='16M', min_free_disk='1M'))
    assert result['changed'] is True and fstab_of(workdir) == before  # no second line
    result = run(args_for(workdir, path, state='absent'))
    assert result['changed'] is True and other not in fstab_of(workdir) and not os.path.exists(path)


def test_an_fstab_option_that_is_a_symlink_edits_its_target(workdir):
    path = os.path.join(workdir, 'swap')
    target = os.path.join(workdir, 'fstab')
    link = os.path.join(workdir, 'fstab-link')
    os.symlink(target, link)
    result = run(args_for(workdir, path, size='16M', min_free_disk='1M', fstab=link))
    assert result['changed'] is True
    assert os.path.islink(link) and os.readlink(link) == target
    assert '%s none swap' % path in fstab_of(workdir)
    assert run(args_for(workdir, path, state='absent', fstab=link))['changed'] is True
    assert os.path.islink(link) and '%s none swap' % path not in fstab_of(workdir)


def test_a_path_in_a_missing_directory_is_refused_also_in_check_mode(workdir):
    path = os.path.join(workdir, 'no', 'such', 'dir', 'swap')
    for check in (True, False):
        result = run(args_for(workdir, path, size='16M'), check=check)
        assert result.get('failed') is True and 'does not exist' in result['msg'], result
        assert 'Traceback' not in json.dumps(result)
    assert not os.path.exists(os.path.join(workdir, 'no'))


# --- never half-made: refusals before the first change, a real failure after it ------------------

@pytest.mark.parametrize('sysctl, sysctl_dir, message', [
    ({'vm.no_such_setting': 1}, None, 'sysctl vm.no_such_setting does not exist on this kernel'),
    ({'vm.swappiness': 500}, None, 'vm.swappiness must be 0 to 200, got 500'),
    ({'vm.swappiness': 10}, 'missing', 'the directory of sysctl_file'),
])
def test_a_sysctl_that_cannot_be_set_is_refused_before_the_file_is_made(workdir, sysctl, sysctl_dir, message):
    path = os.path.join(workdir, 'swap')
    dropin = os.path.join(workdir, sysctl_dir or '', '60-headroom-swap.conf')
    before = fstab_of(workdir)
    for check in (True, False):
        result = run(args_for(workdir, path, size='16M', min_free_disk='1M', sysctl=sysctl, sysctl_file=dropin),
                     check=check)
        assert result.get('failed') is True and message in result['msg'] and 'nothing was changed' in result['msg']
        assert result.get('changed') is False
        assert not os.path.exists(path) and fstab_of(workdir) == before and not os.path.exists(dropin)
        assert path not in swaps()


def test_a_step_the_kernel_refuses_late_undoes_the_whole_operation(workdir, swappiness):
    """vm.unprivileged_userfaultfd takes 0 or 1: the kernel refuses 5 at write time (EINVAL), after the
    swap file, its fstab line, the drop-in and vm.swappiness were set. Everything goes back, and the
    result says so only because it was checked."""
    path = os.path.join(workdir, 'swap')
    dropin = os.path.join(workdir, '60-headroom-swap.conf')
    before = fstab_of(workdir)
    other = 13 if swappiness != 13 else 14
    userfault = open('/proc/sys/vm/unprivileged_userfaultfd').read().strip()
    result = run(args_for(workdir, path, size='16M', min_free_disk='1M', sysctl_file=dropin,
                          sysctl={'vm.swappiness': other, 'vm.unprivileged_userfaultfd': 5}))
    assert result.get('failed') is True, result
    assert 'unprivileged_userfaultfd' in result['msg']
    assert 'rolled back: the host is as it was before this run' in result['msg'] and result['changed'] is False
    assert result['actions'][:3] == ['create', 'swapon', 'fstab']  # what was done, then undone
    assert not os.path.exists(path) and path not in swaps() and fstab_of(workdir) == before
    assert not os.path.exists(dropin)
    assert int(open('/proc/sys/vm/swappiness').read()) == swappiness
    assert open('/proc/sys/vm/unprivileged_userfaultfd').read().strip() == userfault
    assert leftovers(workdir) == []


def test_an_odd_spelling_of_the_path_is_the_same_file(workdir):
    path = os.path.join(workdir, 'swap')
    odd = '/' + workdir + '/./nowhere/../swap'
    result = run(args_for(workdir, odd, size='16M', min_free_disk='1M'))
    assert result['changed'] is True and result['file'] == path and path in swaps()
    assert '%s none swap' % path in fstab_of(workdir)
    assert run(args_for(workdir, path, size='16M', min_free_disk='1M'))['changed'] is False
    assert run(args_for(workdir, odd, state='absent'))['changed'] is True and path not in swaps()
