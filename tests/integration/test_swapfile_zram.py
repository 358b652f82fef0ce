"""The swapfile module's zram backend through Ansible on this host: real zram devices.

Needs root and /sys/class/zram-control (this host's kernel has zram built in). Every
device a test makes is swapped off, reset and hot-removed at teardown; the host's own
zram devices and swap areas are checked unchanged.
"""
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.fix import swap
from ansible_collections.headroom.memory.plugins.module_utils.read import kernel
from conftest import run_dir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE = os.path.join(ROOT, '.venv', 'bin', 'ansible')
CONTROL = '/sys/class/zram-control'
MIB = 1024 ** 2

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir(CONTROL),
                                reason='needs root and /sys/class/zram-control')


def zram_devices():
    return sorted(name for name in os.listdir('/sys/block') if name.startswith('zram'))


def swaps():
    with open('/proc/swaps') as handle:
        return {a['path']: a for a in swap.parse_proc_swaps(handle.read())}


def drop(device):
    """Swapoff, reset and hot-remove a zram device (teardown)."""
    subprocess.run(['swapoff', '/dev/' + device], check=False, capture_output=True)
    if os.path.isdir('/sys/block/' + device):
        with open('/sys/block/%s/reset' % device, 'w') as handle:
            handle.write('1')
        with open(CONTROL + '/hot_remove', 'w') as handle:
            handle.write(device[len('zram'):])


@pytest.fixture
def zenv():
    """Temporary state, config and sysctl paths; whatever device the state file names is
    dropped at teardown, and the host's zram devices must be the ones it had before."""
    directory = run_dir('zram')
    before_devices = zram_devices()
    before_swaps = swaps()
    env = {'dir': directory, 'state': os.path.join(directory, 'state'),
           'config': os.path.join(directory, 'etc', 'zram.conf')}
    try:
        yield env
    finally:
        if os.path.exists(env['state']):
            drop(open(env['state']).read().strip())
        shutil.rmtree(directory, ignore_errors=True)
    after = swaps()
    # Other suites may switch their own swap off meanwhile: compare what is still there.
    kept = [p for p in before_swaps if p in after]
    assert [(after[p]['size'], after[p]['priority']) for p in kept] == \
        [(before_swaps[p]['size'], before_swaps[p]['priority']) for p in kept]
    assert set(before_devices) <= set(zram_devices())


def run(env, check=False, env_path=None, **args):
    args = dict({'backend': 'zram', 'zram_state_file': env['state'], 'zram_config': env['config'],
                 'sysctl_file': os.path.join(env['dir'], 'sysctl.conf')}, **args)
    argv = [ANSIBLE, 'localhost', '-m', 'headroom.memory.swapfile', '-a', json.dumps(args)] + (['--check', '--diff'] if check else [])
    penv = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
                ANSIBLE_DEPRECATION_WARNINGS='false')
    if env_path:
        penv['PATH'] = env_path + os.pathsep + penv['PATH']
    proc = subprocess.run(argv, cwd=ROOT, env=penv, capture_output=True, text=True)
    try:
        return json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
    except ValueError:
        raise AssertionError('ansible printed no JSON (rc=%d): %s %s' % (proc.returncode, proc.stdout, proc.stderr))


def test_check_mode_makes_no_device(zenv):
    devices = zram_devices()
    result = run(zenv, check=True, size='64M')
    assert result['changed'] is True and result['actions'] == ['create', 'swapon', 'zram_config']
    assert result['after']['size'] == 64 * MIB and result['after']['priority'] == 100
    assert 'ZRAM_SIZE=%d' % (64 * MIB) in result['diff'][0]['after']
    assert zram_devices() == devices
    assert not os.path.exists(zenv['state']) and not os.path.exists(zenv['config'])


def test_zram_lifecycle(zenv):
    devices = zram_devices()
    created = run(zenv, size='64M')
    assert created['changed'] is True, created
    device = created['zram']['device']
    assert device not in devices and device in zram_devices()
    area = swaps()['/dev/' + device]
    assert area['priority'] == 100 and area['size'] == 64 * MIB - 4096
    available = created['zram']['available']
    assert created['zram']['algorithm'] == swap.pick_algorithm(available)
    with open('/sys/block/%s/comp_algorithm' % device) as handle:
        assert '[%s]' % created['zram']['algorithm'] in handle.read()
    assert open(zenv['state']).read().strip() == device
    assert 'ZRAM_SIZE=%d\n' % (64 * MIB) in open(zenv['config']).read()

    assert run(zenv, size='64M')['changed'] is False

    other = [a for a in available if a != created['zram']['algorithm']][0]
    rebuilt = run(zenv, size='128M', zram_algorithm=other, priority=50)
    assert rebuilt['actions'] == ['swapoff', 'rebuild', 'swapon', 'zram_config']
    assert rebuilt['zram']['device'] == device
    area = swaps()['/dev/' + device]
    assert area['priority'] == 50 and area['size'] == 128 * MIB - 4096
    with open('/sys/block/%s/comp_algorithm' % device) as handle:
        assert '[%s]' % other in handle.read()

    removed = run(zenv, state='absent')
    assert removed['actions'] == ['swapoff', 'remove', 'zram_config']
    assert device not in zram_devices() and '/dev/' + device not in swaps()
    assert not os.path.exists(zenv['state']) and not os.path.exists(zenv['config'])
    assert not os.path.exists(os.path.dirname(zenv['config']))
    assert run(zenv, state='absent')['changed'] is False


def test_auto_size_is_half_of_ram_at_most_4g(zenv):
    meminfo = kernel.parse_meminfo(open('/proc/meminfo').read(), need=kernel.MEMINFO_NEEDS)
    result = run(zenv, size='auto')
    assert result['size'] == min(meminfo['MemTotal'] // 2, 4 * 1024 ** 3) // MIB * MIB
    assert int(open('/sys/block/%s/disksize' % result['zram']['device']).read()) == result['size']
    run(zenv, state='absent')


def test_unknown_compressor_is_refused_before_anything(zenv):
    devices = zram_devices()
    result = run(zenv, size='64M', zram_algorithm='nope')
    assert result.get('failed') is True and "'nope' is not available" in result['msg']
    assert zram_devices() == devices and not os.path.exists(zenv['state'])


def test_mkswap_refused_rolls_back_the_new_device(zenv):
    # A mkswap that refuses (injected through PATH: zram has no natural way to make it fail).
    bindir = os.path.join(zenv['dir'], 'bin')
    os.mkdir(bindir)
    with open(os.path.join(bindir, 'mkswap'), 'w') as handle:
        handle.write('#!/bin/sh\necho "mkswap: injected refusal" >&2\nexit 1\n')
    os.chmod(os.path.join(bindir, 'mkswap'), 0o755)
    devices = zram_devices()
    result = run(zenv, size='64M', env_path=bindir)
    assert result.get('failed') is True
    assert 'injected refusal' in result['msg'] and 'rolled back' in result['msg'], result['msg']
    assert zram_devices() == devices
    assert not os.path.exists(zenv['state']) and not os.path.exists(zenv['config'])


def test_a_file_where_the_config_directory_must_be_is_refused_before_anything(zenv):
    """zram_config below a file: reading the current config already fails, naming it, and nothing is made."""
    blocker = os.path.join(zenv['dir'], 'etc')
    with open(blocker, 'w') as handle:
        handle.write('mine')
    devices, areas = zram_devices(), sorted(swaps())
    result = run(zenv, size='64M')
    assert result.get('failed') is True
    assert 'Not a directory' in result['msg'] and zenv['config'] in result['msg'], result['msg']
    assert zram_devices() == devices and sorted(swaps()) == areas
    assert not os.path.exists(zenv['state']) and open(blocker).read() == 'mine'


def test_foreign_zram_swap_is_never_touched(zenv):
    number = open(CONTROL + '/hot_add').read().strip()
    foreign = 'zram' + number
    try:
        with open('/sys/block/%s/disksize' % foreign, 'w') as handle:
            handle.write(str(32 * MIB))
        subprocess.run(['mkswap', '/dev/' + foreign], check=True, capture_output=True)
        subprocess.run(['swapon', '-p', '7', '/dev/' + foreign], check=True)
        created = run(zenv, size='64M')
        assert created['zram']['device'] != foreign
        removed = run(zenv, state='absent')
        assert removed['changed'] is True
        assert swaps()['/dev/' + foreign]['priority'] == 7
    finally:
        drop(foreign)


SCRIPT = os.path.join(ROOT, 'roles', 'swap_setup', 'files', 'headroom-zram')


def test_boot_script_rebuilds_the_device_the_module_then_recognises(zenv):
    created = run(zenv, size='96M', priority=60)
    first = created['zram']['device']
    algorithm = created['zram']['algorithm']
    # A reboot: the device and /run are gone, /etc/headroom/zram.conf stays.
    drop(first)
    os.unlink(zenv['state'])
    env = dict(os.environ, HEADROOM_ZRAM_CONFIG=zenv['config'], HEADROOM_ZRAM_STATE=zenv['state'])
    subprocess.run(['sh', SCRIPT, 'start'], check=True, env=env)
    device = open(zenv['state']).read().strip()
    area = swaps()['/dev/' + device]
    assert area['priority'] == 60 and area['size'] == 96 * MIB - 4096
    with open('/sys/block/%s/comp_algorithm' % device) as handle:
        assert '[%s]' % algorithm in handle.read()
    # A second start (systemd restarting the unit) changes nothing.
    subprocess.run(['sh', SCRIPT, 'start'], check=True, env=env)
    assert open(zenv['state']).read().strip() == device
    assert run(zenv, size='96M', priority=60)['changed'] is False
    subprocess.run(['sh', SCRIPT, 'stop'], check=True, env=env)
    assert device not in zram_devices() and not os.path.exists(zenv['state'])


def test_boot_script_refuses_a_bad_config(zenv):
    os.makedirs(os.path.dirname(zenv['config']))
    with open(zenv['config'], 'w') as handle:
        handle.write('ZRAM_SIZE=lots\nZRAM_ALGORITHM=lz4\nZRAM_PRIORITY=100\n')
    devices = zram_devices()
    env = dict(os.environ, HEADROOM_ZRAM_CONFIG=zenv['config'], HEADROOM_ZRAM_STATE=zenv['state'])
    proc = subprocess.run(['sh', SCRIPT, 'start'], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and 'bad ZRAM_SIZE' in proc.stderr
    assert zram_devices() == devices and not os.path.exists(zenv['state'])
