"""The swapoff guard for other memory-limited cgroups (issue 20, class 6), for real on this host.

A process in a memory-limited cgroup (one made by hand; a Docker container with --memory 64m
--memory-swap 512m) touches more than its limit, so the rest of its pages sit in headroom's swap. The
machine has GiBs available, the cgroup nothing: removing the swap, resizing it, changing its priority
(each a swapoff) must be refused naming the cgroup and its figures, with the swap left on and the
process alive; once the process is gone the removal goes through. Both backends (file, zram).

Needs root and a memory cgroup controller this test may create cgroups in (v1 here; v2 works too).
Run under the machine lock (swap and cgroups are the kernel's). Every test switches off the swap it
switched on, removes its cgroup or container and ends its processes, also when it fails; it waits for
conditions (the process's VmSwap), never for a fixed time.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.fix import swap
from ansible_collections.headroom.memory.plugins.module_utils.read import kernel
from conftest import run_dir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE = os.path.join(ROOT, '.venv', 'bin', 'ansible')
MIB = 1 << 20
LIMIT = 64 * MIB
HOG_MIB = 192          # three times the limit: about 128 MiB of it must sit in swap
IN_SWAP = 96 * MIB     # what the tests wait for before they ask for a swapoff
WAIT = 300             # seconds a condition may take on a loaded machine


def memory_controller():
    """(version, mount) of a memory controller this test can make cgroups in, or None."""
    if os.geteuid() != 0:
        return None
    if os.path.exists('/sys/fs/cgroup/memory/memory.limit_in_bytes'):
        return 1, '/sys/fs/cgroup/memory'
    controllers = '/sys/fs/cgroup/cgroup.controllers'
    if os.path.exists(controllers) and 'memory' in open(controllers).read().split():
        return 2, '/sys/fs/cgroup'
    return None


CONTROLLER = memory_controller()
pytestmark = pytest.mark.skipif(CONTROLLER is None or not os.path.exists('/proc/swaps'),
                                reason='needs root and a memory cgroup controller')

HOG = r'''
import sys, time
size = int(sys.argv[1]) << 20
b = bytearray(size)
for i in range(0, size, 4096):
    b[i] = 1
print('ready', flush=True)
time.sleep(3600)
'''


def run(args, check=False):
    argv = [ANSIBLE, 'localhost', '-m', 'headroom.memory.swapfile', '-a', json.dumps(args)]
    if check:
        argv.append('--check')
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_DEPRECATION_WARNINGS='false')
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT)
    try:
        return json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
    except ValueError:
        raise AssertionError('ansible printed no JSON (rc=%d): %s %s' % (proc.returncode, proc.stdout, proc.stderr))


def areas():
    with open('/proc/swaps') as handle:
        return {area['path']: area for area in swap.parse_proc_swaps(handle.read())}


def oom_kills():
    with open('/proc/vmstat') as handle:
        return kernel.parse_vmstat(handle.read()).get('oom_kill')


def vmswap(pid):
    try:
        with open('/proc/%d/status' % pid) as handle:
            for line in handle:
                if line.startswith('VmSwap:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return 0


def wait_for(condition, what):
    """Poll ``condition`` until it holds; fail naming ``what`` after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError('waited %d s for %s' % (WAIT, what))


def swapoff_under(directory):
    for path in areas():
        if path.startswith(directory.rstrip('/') + '/'):
            subprocess.run(['swapoff', path], check=False)


@pytest.fixture
def workdir():
    """A directory on the host's root filesystem with a private fstab; whatever swap is still active
    under it is switched off at the end (and a leak fails the test)."""
    directory = run_dir('swapcg')
    with open(os.path.join(directory, 'fstab'), 'w') as handle:
        handle.write('# test fstab\n')
    try:
        yield directory
        leaked = [p for p in areas() if p.startswith(directory + '/')]
        assert leaked == [], 'swap left active: %s' % leaked
    finally:
        swapoff_under(directory)
        shutil.rmtree(directory, ignore_errors=True)


def zram_drop(state_file):
    """Swapoff, reset and hot-remove the zram device a test's state file names."""
    try:
        device = open(state_file).read().strip()
    except OSError:
        return
    subprocess.run(['swapoff', '/dev/' + device], check=False, capture_output=True)
    if os.path.isdir('/sys/block/' + device):
        with open('/sys/block/%s/reset' % device, 'w') as handle:
            handle.write('1')
        with open('/sys/class/zram-control/hot_remove', 'w') as handle:
            handle.write(device[len('zram'):])


@pytest.fixture(params=['file', 'zram'])
def swap_area(request, workdir):
    """headroom's swap, made by the module at the highest priority here so the pages go to it:
    (module args, the area's path in /proc/swaps)."""
    if request.param == 'file':
        args = {'path': os.path.join(workdir, 'swap'), 'size': '512M', 'priority': 32000, 'min_free_disk': '1G',
                'fstab': os.path.join(workdir, 'fstab'), 'sysctl_file': os.path.join(workdir, 'sysctl.conf')}
    else:
        if not os.path.isdir('/sys/class/zram-control'):
            pytest.skip('no /sys/class/zram-control')
        args = {'backend': 'zram', 'size': '512M', 'priority': 32000,
                'zram_state_file': os.path.join(workdir, 'zram.state'),
                'zram_config': os.path.join(workdir, 'zram.conf'), 'sysctl_file': os.path.join(workdir, 'sysctl.conf')}
    try:
        made = run(args)
        assert made['changed'] is True and not made.get('failed'), made
        path = args['path'] if request.param == 'file' else '/dev/' + made['zram']['device']
        assert areas()[path]['priority'] == 32000
        yield args, path
    finally:
        if request.param == 'zram':
            zram_drop(args['zram_state_file'])


@contextlib.contextmanager
def limited_cgroup():
    """A memory cgroup of 64 MiB that may swap (memory+swap 512 MiB, as --memory-swap 512m), removed at
    the end with whatever still runs in it killed."""
    version, mount = CONTROLLER
    path = os.path.join(mount, 'headroom-swapguard-%d' % os.getpid())
    if version == 2:
        with open(os.path.join(mount, 'cgroup.subtree_control'), 'w') as handle:
            handle.write('+memory')
    os.mkdir(path)
    try:
        settings = [('memory.limit_in_bytes', LIMIT), ('memory.memsw.limit_in_bytes', 512 * MIB),
                    ('memory.swappiness', 100)] if version == 1 else [('memory.max', LIMIT), ('memory.swap.max', 448 * MIB)]
        for name, value in settings:
            if os.path.exists(os.path.join(path, name)):
                with open(os.path.join(path, name), 'w') as handle:
                    handle.write(str(value))
        yield path
    finally:
        for _ in range(WAIT * 10):
            pids = open(os.path.join(path, 'cgroup.procs')).read().split()
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.rmdir(path)
            if not os.path.exists(path):
                break
            time.sleep(0.1)


def cgroup_name(path):
    return '/' + os.path.relpath(path, CONTROLLER[1])


def assert_refused(result, path, cgroup, pid, before):
    """The refusal names the area, the cgroup with its limit and the process, and nothing changed."""
    assert result.get('failed') is True, result
    msg = result['msg']
    assert msg.startswith('refusing to swapoff %s: memory cgroup %s has ' % (path, cgroup)), msg
    source = 'memory.memsw.usage_in_bytes - memory.usage_in_bytes' if CONTROLLER[0] == 1 else 'memory.swap.current'
    assert 'MiB in swap (%s)' % source in msg
    assert 'its limit of 64.0 MiB (memory.%s)' % ('limit_in_bytes' if CONTROLLER[0] == 1 else 'max') in msg
    assert 'pid %d python3 VmSwap ' % pid in msg
    assert msg.endswith('The current swap was left working')
    [seen] = [group for group in result['swapoff_guard']['cgroups'] if group['cgroup'] == cgroup]
    assert seen['limit'] == LIMIT and seen['swapped'] > IN_SWAP // 2 and seen['room'] < seen['swapped']
    assert result.get('changed') is False
    area = areas()[path]
    assert (area['priority'], area['size']) == (before['priority'], before['size']) and area['used'] > 0


def test_a_swapoff_that_would_oom_a_limited_cgroup_is_refused(swap_area):
    args, path = swap_area
    with limited_cgroup() as group:
        hog = subprocess.Popen(['sh', '-c', 'echo $$ > %s/cgroup.procs && exec python3 -c "$0" %d' % (group, HOG_MIB), HOG],
                               stdout=subprocess.PIPE, text=True)
        try:
            assert hog.stdout.readline().strip() == 'ready'
            wait_for(lambda: (vmswap(hog.pid) or 0) > IN_SWAP, 'the hog to have %d MiB in swap' % (IN_SWAP >> 20))
            before, kills = areas()[path], oom_kills()
            size = {'size': '768M'}
            for change in (dict(state='absent'), size, dict(priority=31000)):
                for check in (True, False):
                    result = run(dict(args, **change), check=check)
                    assert_refused(result, path, cgroup_name(group), hog.pid, before)
                    assert hog.poll() is None, 'the process died'
            assert oom_kills() == kills
            if 'path' in args:
                assert os.path.getsize(args['path']) == 512 * MIB
        finally:
            hog.kill()
            hog.wait()
        # with the process gone its pages in swap are freed: the removal goes through
        wait_for(lambda: areas()[path]['used'] < IN_SWAP // 4, 'the area to be emptied by the exit')
        removed = run(dict(args, state='absent'))
        assert removed['changed'] is True and not removed.get('failed'), removed
        assert path not in areas() and 'oom_kills' not in removed


@pytest.fixture
def bookworm():
    image = 'headroom/debian:bookworm'
    done = subprocess.run(['docker', 'image', 'inspect', image], capture_output=True)
    if done.returncode != 0:
        pytest.skip('docker image %s not built (scripts/docker-setup.sh)' % image)
    return image


def test_a_container_beside_the_host_is_protected(workdir, bookworm):
    """The issue's case: the swap file is the host's, the process is in a Docker container with its own
    limit. The machine has GiBs free; the container's cgroup would OOM-kill it on swapoff."""
    args = {'path': os.path.join(workdir, 'swap'), 'size': '512M', 'priority': 32000, 'min_free_disk': '1G',
            'fstab': os.path.join(workdir, 'fstab'), 'sysctl_file': os.path.join(workdir, 'sysctl.conf')}
    made = run(args)
    assert made['changed'] is True, made
    cid = None
    try:
        cid = subprocess.run(['docker', 'run', '-d', '--rm', '--memory', '64m', '--memory-swap', '512m',
                              '--memory-swappiness', '100', bookworm, 'python3', '-c', HOG, str(HOG_MIB)],
                             capture_output=True, text=True, check=True).stdout.strip()
        pid = int(subprocess.run(['docker', 'inspect', '-f', '{{.State.Pid}}', cid], capture_output=True, text=True,
                                 check=True).stdout)
        wait_for(lambda: (vmswap(pid) or 0) > IN_SWAP, 'the container to have %d MiB in swap' % (IN_SWAP >> 20))
        before, kills = areas()[args['path']], oom_kills()
        result = run(dict(args, state='absent'))
        cgroup = [line.split(':', 2)[2] for line in open('/proc/%d/cgroup' % pid).read().splitlines()
                  if line.split(':')[1] == ('memory' if CONTROLLER[0] == 1 else '')][0]
        assert cid in cgroup
        assert_refused(result, args['path'], cgroup, pid, before)
        state = json.loads(subprocess.run(['docker', 'inspect', '-f', '{{json .State}}', cid], capture_output=True,
                                          text=True, check=True).stdout)
        assert state['Running'] is True and state['OOMKilled'] is False
        assert oom_kills() == kills
    finally:
        if cid:
            subprocess.run(['docker', 'rm', '-f', cid], capture_output=True)
    wait_for(lambda: areas()[args['path']]['used'] < IN_SWAP // 4, 'the area to be emptied by the exit')
    removed = run(dict(args, state='absent'))
    assert removed['changed'] is True and not removed.get('failed'), removed
