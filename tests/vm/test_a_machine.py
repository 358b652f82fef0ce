"""The VM is the machine our users run, not this one: its own kernel (Debian 12's 6.1), cgroup v2 with the
memory controller, PSI, systemd as PID 1 with the system up, no swap, the memory QEMU gave it."""
import os
import re


def test_its_own_kernel(vm):
    release = vm.ssh('uname -r').stdout.strip()
    assert release == vm.versions['kernel'], (release, vm.versions)
    assert re.match(r'6\.1\.0-\d+-amd64$', release), release
    assert release != os.uname().release
    version = vm.ssh('cat /proc/version').stdout
    assert 'Debian 6.1.' in version, version


def test_cgroup_v2_with_the_memory_controller_and_psi(vm):
    fs_type = vm.ssh('stat -f -c %T /sys/fs/cgroup').stdout.strip()
    assert fs_type == 'cgroup2fs'
    assert 'memory' in vm.ssh('cat /sys/fs/cgroup/cgroup.controllers').stdout.split()
    assert 'memory' in vm.ssh('cat /sys/fs/cgroup/cgroup.subtree_control').stdout.split()
    for name in ('memory', 'cpu', 'io'):
        text = vm.ssh('cat /proc/pressure/%s' % name).stdout
        assert re.match(r'some avg10=\d+\.\d\d avg60=\d+\.\d\d avg300=\d+\.\d\d total=\d+\n', text), (name, text)
    # a service's own cgroup files: what systemd and headroom read on cgroup v2
    files = vm.ssh('ls /sys/fs/cgroup/system.slice/ssh.service').stdout.split()
    for name in ('memory.events', 'memory.max', 'memory.current', 'memory.pressure', 'memory.swap.max'):
        assert name in files, files
    # this SSH session sits in a session scope of root's user slice (libpam-systemd)
    own = vm.ssh('cat /proc/self/cgroup').stdout.strip()
    assert re.match(r'0::/user\.slice/user-0\.slice/session-\d+\.scope$', own), own


def test_systemd_runs_the_machine_and_nothing_failed(vm):
    assert vm.ssh('ps -o comm= -p 1').stdout.strip() == 'systemd'
    # the boot is over once SSH answers only in most cases: wait for it by condition, up to 10 minutes
    state = vm.ssh('timeout 600 systemctl is-system-running --wait', check=False).stdout.strip()
    failed = vm.ssh('systemctl list-units --failed --plain --no-legend').stdout
    assert state == 'running', (state, failed)
    version = vm.ssh('systemctl --version').stdout.splitlines()[0]
    assert version.startswith('systemd 252 '), version
    # no userspace OOM killer unless a test starts one: the kernel is the one to act here
    assert vm.ssh('systemctl is-active systemd-oomd.service', check=False).stdout.strip() == 'inactive'


def test_no_swap_and_the_memory_it_was_given(vm):
    assert vm.ssh('cat /proc/swaps').stdout.splitlines()[1:] == []
    meminfo = dict(line.split(':', 1) for line in vm.ssh('cat /proc/meminfo').stdout.splitlines())
    assert meminfo['SwapTotal'].split() == ['0', 'kB']
    total_kib = int(meminfo['MemTotal'].split()[0])
    # QEMU's 1 GiB, less what the kernel reserves for itself (its image, the page tables, the crash area)
    assert 0.85 * vm.memory_mib * 1024 < total_kib < vm.memory_mib * 1024, total_kib
    assert int(vm.ssh('nproc').stdout) == vm.cpus
