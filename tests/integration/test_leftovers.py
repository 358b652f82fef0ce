"""What a test run killed midway leaves on the kernel (swap that is on) is ended by the next run, and only
what dead runs left: a live run's directory and swap are never touched. Real swapon, needs root."""

import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import OWNER_LABEL, debian_image, run_dir, sweep_leftovers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='swapon needs root')


def swaps():
    with open('/proc/swaps') as handle:
        return [line.split()[0] for line in handle.read().splitlines()[1:]]


def swap_file(directory):
    path = os.path.join(directory, 'swap')
    subprocess.run(['fallocate', '-l', str(16 << 20), path], check=True)
    os.chmod(path, 0o600)
    subprocess.run(['mkswap', '-q', path], check=True, capture_output=True)
    subprocess.run(['swapon', path], check=True)
    return path


def test_a_dead_runs_swap_is_switched_off_and_its_directory_removed_a_live_runs_kept():
    dead = subprocess.Popen(['true'])
    dead.wait()
    gone = tempfile.mkdtemp(prefix='headroom-swap-run%d-' % dead.pid, dir='/var/tmp')
    mine = run_dir('swap')
    try:
        gone_swap, my_swap = swap_file(gone), swap_file(mine)
        swept = sweep_leftovers()
        assert 'swap %s' % gone_swap in swept and 'directory %s' % gone in swept
        assert gone_swap not in swaps() and not os.path.exists(gone)
        assert my_swap in swaps() and os.path.exists(my_swap)
        assert not [what for what in swept if mine in what]
    finally:
        for directory in (gone, mine):
            for path in [p for p in swaps() if p.startswith(directory + '/')]:
                subprocess.run(['swapoff', path], check=False)
            shutil.rmtree(directory, ignore_errors=True)


def test_a_dead_runs_container_is_removed_a_live_runs_kept():
    dead = subprocess.Popen(['true'])
    dead.wait()
    image = debian_image('bookworm')
    started = {}
    try:
        for name, owner in (('dead', dead.pid), ('live', os.getpid())):
            started[name] = subprocess.run(['docker', 'run', '-d', '--rm', '--label', '%s=%d' % (OWNER_LABEL, owner), image,
                                            'sleep', 'infinity'], capture_output=True, text=True, check=True).stdout.strip()
        swept = sweep_leftovers()
        assert [what for what in swept if what.startswith('container ')] == [
            'container %s of run %d' % (started['dead'][:12], dead.pid)]
        running = subprocess.run(['docker', 'ps', '-q', '--no-trunc'], capture_output=True, text=True, check=True).stdout.split()
        assert started['live'] in running and started['dead'] not in running
    finally:
        for cid in started.values():
            subprocess.run(['docker', 'rm', '-f', cid], capture_output=True)
