"""Refusals leave nothing behind, the override case too: with swap_setup_fail_on_sysctl_override the role's
validate step (the module in check mode) predicts the override and refuses before the file is made."""


def areas(host):
    rows = host.file('/proc/swaps').content_string.splitlines()[1:]
    return [r.rsplit(None, 4)[0].strip() for r in rows]


def test_tmpfs_and_disk_guard_left_nothing(host):
    assert host.check_output('ls -A /tmpswap') == ''
    assert '/tmpswap/' not in host.file('/etc/fstab').content_string
    assert '/swap/headroom.swap' not in host.file('/etc/fstab').content_string
    assert not host.file('/swap/headroom.swap').exists


def test_data_file_untouched(host):
    data = host.file('/swap/data')
    assert data.content_string == 'precious data\n'
    assert data.mode == 0o644
    assert '/swap/data' not in areas(host)


def test_an_overridden_dropin_is_refused_before_anything_changes(host):
    # Before issue 20 the file was made, switched on and the drop-in written, and only then the role failed.
    assert '/swap/override.swap' not in areas(host)
    assert '/swap/override.swap' not in host.file('/etc/fstab').content_string
    assert not host.file('/etc/sysctl.d/60-headroom-swap.conf').exists
    assert host.check_output('ls -A /swap').split() == ['data']
