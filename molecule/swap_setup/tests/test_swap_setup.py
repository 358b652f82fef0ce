"""The swap file swap_setup made, read back from the live container."""
import pytest

PATH = '/swap/headroom.swap'
MIB = 1024 ** 2


@pytest.fixture(name='want')
def fixture_want(host):
    return host.ansible.get_variables()


def areas(host):
    rows = host.file('/proc/swaps').content_string.splitlines()[1:]
    return {r.rsplit(None, 4)[0].strip(): [int(x) for x in r.rsplit(None, 4)[2:]] for r in rows}


def test_swap_is_active_with_its_size_and_priority(host, want):
    size_kib, used_kib, prio = areas(host)[PATH]
    # /proc/swaps leaves out the header page.
    assert size_kib == 64 * 1024 - 4
    assert prio == want['swap_setup_priority']
    assert used_kib >= 0


def test_file_is_root_only_and_the_right_size(host):
    swapfile = host.file(PATH)
    assert swapfile.is_file and not swapfile.is_symlink
    assert swapfile.mode == 0o600
    assert swapfile.user == 'root' and swapfile.group == 'root'
    assert swapfile.size == 64 * MIB


def test_no_temporary_files_left(host):
    names = host.check_output('ls -A /swap').split()
    assert names == ['headroom.swap']


def test_fstab_has_one_nofail_line(host, want):
    lines = [line for line in host.file('/etc/fstab').content_string.splitlines() if PATH in line]
    assert lines == ['%s none swap sw,nofail,pri=%d 0 0' % (PATH, want['swap_setup_priority'])]


def test_sysctls_live_and_persisted(host, want):
    assert int(host.file('/proc/sys/vm/swappiness').content_string) == want['swap_setup_swappiness']
    assert int(host.file('/proc/sys/vm/vfs_cache_pressure').content_string) == \
        want['swap_setup_vfs_cache_pressure']
    dropin = host.file('/etc/sysctl.d/60-headroom-swap.conf')
    assert dropin.mode == 0o644
    assert 'vm.swappiness = %d' % want['swap_setup_swappiness'] in dropin.content_string.splitlines()
    assert 'vm.vfs_cache_pressure = %d' % want['swap_setup_vfs_cache_pressure'] in \
        dropin.content_string.splitlines()
