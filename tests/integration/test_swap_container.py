"""The swapfile module inside a memory-limited container, with real swapon: sized, tuned and guarded
against the container's limits, not the machine's it cannot use.

The container gets the flags real swapon needs (docker-recipes.md) and its swap file lies on a host
directory bind-mounted at /swap (swapon refuses overlayfs). Swap is the kernel's, shared with the
host: every test switches off what it switched on, from inside and, should that fail, from the host.
"""
import json
import os
import subprocess
import time

import pytest

from conftest import LIMIT, ROOT, VENV_BIN, _env, _json_output, limited_box

MIB = 1 << 20


def module(cid, args, check=False):
    cmd = [os.path.join(VENV_BIN, 'ansible'), 'all', '-i', '%s,' % cid, '-c', 'community.docker.docker',
           '-m', 'headroom.memory.swapfile', '-a', json.dumps(args)]
    if check:
        cmd.append('--check')
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    return _json_output(proc)['plays'][0]['tasks'][0]['hosts'][cid]


def swaps():
    with open('/proc/swaps') as handle:
        return [line.split()[0] for line in handle.read().splitlines()[1:]]


def test_auto_size_follows_the_containers_limit_not_the_machines_ram():
    with limited_box() as (cid, host_dir):
        result = module(cid, {'path': '/swap/file', 'size': 'auto', 'min_free_disk': '1M',
                              'fstab': '/swap/fstab'}, check=True)
        assert result['changed'] is True, result
        sizing = result['sizing']
        assert sizing['mem_total'] == LIMIT and "container's cgroup limit" in sizing['memory_scope']
        assert sizing['target'] == 2 * LIMIT  # Red Hat's table: twice RAM up to 2 GiB
        assert not os.listdir(host_dir)  # check mode


def test_machine_sysctls_are_refused_in_a_container_unless_meant():
    with limited_box() as (cid, host_dir):
        before = open('/proc/sys/vm/swappiness').read()
        args = {'path': '/swap/file', 'size': '32M', 'min_free_disk': '1M', 'fstab': '/swap/fstab',
                'sysctl': {'vm.swappiness': 11}, 'sysctl_file': '/swap/60-headroom.conf'}
        result = module(cid, args)
        assert result.get('failed') is True, result
        assert "vm.swappiness: in a container these are the whole machine's" in result['msg']
        assert 'memory.swappiness' in result['msg'] and 'nothing was changed' in result['msg']
        assert open('/proc/sys/vm/swappiness').read() == before
        assert os.listdir(host_dir) == [] and '/swap/file' not in swaps()


def test_swapoff_is_refused_when_the_pages_would_not_fit_under_the_limit():
    """A process in the container holds more than its limit: the rest is in headroom's swap file. The
    machine has GiBs available, the container not: removing the file must be refused, the process
    must live on, and once it is gone the removal goes through."""
    with limited_box() as (cid, host_dir):
        args = {'path': '/swap/file', 'size': '512M', 'min_free_disk': '1M', 'fstab': '/swap/fstab'}
        assert module(cid, args)['changed'] is True
        hog = subprocess.Popen(['docker', 'exec', cid, 'python3', '-c',
                                "import time; b = b'\\x01' * (320 << 20); print('held', flush=True); "
                                "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
        try:
            assert hog.stdout.readline().strip() == 'held'
            time.sleep(1)
            result = module(cid, dict(args, state='absent'))
            assert result.get('failed') is True, result
            assert 'refusing to swapoff /swap/file' in result['msg']
            assert "of the container's cgroup limit of 256.0 MiB" in result['msg']  # units.human, the one size printer
            assert hog.poll() is None  # nothing was OOM-killed
            assert os.path.exists(os.path.join(host_dir, 'file'))
        finally:
            hog.kill()
            subprocess.run(['docker', 'exec', cid, 'pkill', '-f', 'time.sleep'], capture_output=True)
            hog.wait()
        for _ in range(50):
            result = module(cid, dict(args, state='absent'))
            if result.get('changed'):
                break
            time.sleep(0.2)
        assert result['changed'] is True and result.get('failed') is not True, result
        assert not os.path.exists(os.path.join(host_dir, 'file'))


def test_a_read_only_proc_sys_is_refused_before_the_file_is_made():
    """A container as Docker makes it: /proc/sys read-only. Even with machine_sysctl, nothing is made."""
    with limited_box(writable_sysctl=False) as (cid, host_dir):
        result = module(cid, {'path': '/swap/file', 'size': '32M', 'min_free_disk': '1M', 'fstab': '/swap/fstab',
                              'sysctl': {'vm.swappiness': 11}, 'sysctl_file': '/swap/60-headroom.conf',
                              'machine_sysctl': True})
        assert result.get('failed') is True, result
        assert '/proc/sys/vm/swappiness cannot be written' in result['msg'] and 'nothing was changed' in result['msg']
        assert os.listdir(host_dir) == [] and '/swap/file' not in swaps()
