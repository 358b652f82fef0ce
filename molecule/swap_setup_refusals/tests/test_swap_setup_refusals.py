"""Refusals leave nothing behind; the override case is applied and reported."""


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


def test_overridden_dropin_was_still_applied(host):
    # The override is reported at run time; the live value is headroom's until the next boot.
    assert '/swap/override.swap' in areas(host)
    assert int(host.file('/proc/sys/vm/swappiness').content_string) == 10
    assert host.check_output('ls -A /swap').split() == ['data', 'override.swap']
