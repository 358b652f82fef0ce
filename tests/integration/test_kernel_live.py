"""The kernel readers against the live kernel: a real memory-limited cgroup and a real OOM kill.

Needs root (it creates memory cgroups). Every cgroup it makes is removed, also on failure.
"""
import contextlib
import itertools
import json
import os
import subprocess
import sys

import pytest

from conftest import debian_image
from ansible_collections.headroom.memory.plugins.module_utils.read import kernel
from ansible_collections.headroom.memory.plugins.module_utils.read import oom

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, 'collections')
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='creates memory cgroups: needs root')

_counter = itertools.count()


def _hierarchy():
    """(version, mountpoint) of the memory controller on this host."""
    if os.path.exists('/sys/fs/cgroup/cgroup.controllers'):
        return 2, '/sys/fs/cgroup'
    if os.path.exists('/sys/fs/cgroup/memory/memory.limit_in_bytes'):
        return 1, '/sys/fs/cgroup/memory'
    pytest.skip('no memory cgroup controller mounted at /sys/fs/cgroup')


def _write(path, value):
    with open(path, 'w') as handle:
        handle.write(value)


@contextlib.contextmanager
def memory_cgroup(limit):
    """A child cgroup limited to ``limit`` bytes with no swap, removed afterwards."""
    version, mount = _hierarchy()
    name = 'headroom_test_%d_%d' % (os.getpid(), next(_counter))
    path = os.path.join(mount, name)
    enabled_memory = False
    if version == 2:
        with open(os.path.join(mount, 'cgroup.subtree_control')) as handle:
            if 'memory' not in handle.read().split():
                _write(os.path.join(mount, 'cgroup.subtree_control'), '+memory')
                enabled_memory = True
    os.mkdir(path)
    try:
        if version == 2:
            _write(os.path.join(path, 'memory.max'), str(limit))
            _write(os.path.join(path, 'memory.swap.max'), '0')
        else:
            _write(os.path.join(path, 'memory.limit_in_bytes'), str(limit))
            if os.path.exists(os.path.join(path, 'memory.memsw.limit_in_bytes')):
                _write(os.path.join(path, 'memory.memsw.limit_in_bytes'), str(limit))
        yield version, name, path
    finally:
        with open(os.path.join(path, 'cgroup.procs')) as handle:
            for pid in handle.read().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except OSError:
                subprocess.run(['sleep', '0.1'], check=False)
        if enabled_memory:
            with contextlib.suppress(OSError):
                _write(os.path.join(mount, 'cgroup.subtree_control'), '-memory')


def run_in(path, code):
    """Run python ``code`` inside the cgroup at ``path``; the shell prints its pid first."""
    return subprocess.run(
        ['sh', '-c', 'echo $$ >"$1/cgroup.procs" && echo "pid $$" && exec "$2" -c "$3"',
         '_', path, sys.executable, code],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, LC_ALL='C'))


def test_reader_inside_a_limited_cgroup():
    code = ('import json, sys; sys.path.insert(0, %r);'
            ' from ansible_collections.headroom.memory.plugins.module_utils.read.kernel import read_cgroup_memory;'
            ' print(json.dumps(read_cgroup_memory()))' % COLLECTIONS)
    with memory_cgroup(64 * MIB) as (version, name, path):
        proc = run_in(path, code)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.splitlines()[1])
    assert info['version'] == version
    assert info['path'] == '/' + name
    assert info['limit'] == 64 * MIB and info['limit_cgroup'] == '/' + name
    assert info['swap_limit'] == 0
    assert 0 < info['current'] <= info['limit']


def test_reader_outside_sees_this_process_unlimited_or_its_own_limit():
    info = kernel.read_cgroup_memory()
    assert info is not None and info['current'] > 0
    if info['limit'] is not None:
        assert info['limit_cgroup'] is not None or info['version'] == 1


def test_real_oom_kill_is_found_in_the_history():
    code = 'x = b"\\x01" * (200 << 20); print("not killed")'
    with memory_cgroup(50 * MIB) as (version, name, path):
        proc = run_in(path, code)
        line = '%s:/%s\n' % ('0:' if version == 2 else '99:memory', name)
        after = kernel.read_cgroup_memory(proc_self_cgroup=line)
    assert proc.returncode == -9, proc.stdout + proc.stderr  # SIGKILL, not a MemoryError
    pid = int(proc.stdout.split()[1])
    assert after['events']['oom_kill'] == 1

    def run(argv):
        done = subprocess.run(argv, capture_output=True, text=True,
                              env=dict(os.environ, LC_ALL='C'))
        return done.returncode, done.stdout, done.stderr

    history = oom.collect_oom_history(run, since='-1h')
    assert history['sources'], history['tried']
    mine = [event for event in history['events'] if event['pid'] == pid]
    assert len(mine) == 1, history
    event = mine[0]
    assert event['comm'] == os.path.basename(sys.executable)[:15]
    assert event['constraint'] == 'cgroup'
    assert event['memcg'] == event['task_memcg'] == '/' + name
    assert 40 * MIB <= event['anon_rss'] <= 50 * MIB
    assert event['total_vm'] > 200 * MIB
    assert event['trusted']  # the ring buffer (dmesg -r): the kernel's line by its facility


@pytest.mark.parametrize('release', ['bullseye', 'bookworm', 'trixie'])
def test_journal_command_finds_a_real_kill(release):
    """oom_log_commands()[0] exactly as the module runs it, against a real journald.

    journald in a container with systemd as PID 1 reads the host kernel's /dev/kmsg, so its journal
    holds the kill this test makes: systemd 247, 252 and 257 each get to run the --grep query.
    """
    image = debian_image(release)
    with memory_cgroup(50 * MIB) as (_version, name, path):
        proc = run_in(path, 'x = b"\\x01" * (200 << 20)')
    assert proc.returncode == -9
    pid = int(proc.stdout.split()[1])
    cid = subprocess.run(
        ['docker', 'run', '-d', '--rm', '--device', '/dev/kmsg', '--cap-add', 'SYSLOG',
         '-v', '/sys/fs/cgroup:/sys/fs/cgroup:ro', '--tmpfs', '/run', '--tmpfs', '/run/lock',
         image, '/lib/systemd/systemd'], capture_output=True, text=True, check=True).stdout.strip()
    try:
        command = oom.oom_log_commands(since='-1d')[0]
        argv = command['argv']
        events = []
        for _ in range(30):  # journald needs a moment to start and read the ring buffer
            done = subprocess.run(['docker', 'exec', cid] + argv, capture_output=True, text=True)
            events = [e for e in oom.parse_oom_log(done.stdout, origin=command['origin']) if e['pid'] == pid]
            if events:
                break
            subprocess.run(['sleep', '1'], check=False)
        # --since bounds the same query: from tomorrow on, the journal holds no kill.
        later = subprocess.run(['docker', 'exec', cid] + oom.oom_log_commands(since='tomorrow')[0]['argv'],
                               capture_output=True, text=True)
    finally:
        subprocess.run(['docker', 'rm', '-f', cid], capture_output=True, check=False)
    assert len(events) == 1, done.stderr
    assert events[0]['memcg'] == '/' + name and 40 * MIB <= events[0]['anon_rss'] <= 50 * MIB
    assert events[0]['time'][:4].isdigit() and events[0]['trusted']  # the journal's own time, in UTC
    assert [e for e in oom.parse_oom_log(later.stdout, origin=command['origin']) if e['pid'] == pid] == [], later.stdout
