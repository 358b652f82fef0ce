"""After removal: headroom's file, area, fstab line and drop-in gone; the other swap untouched."""
PATH = '/swap/headroom.swap'
FOREIGN = '/swap/foreign.swap'


def areas(host):
    rows = host.file('/proc/swaps').content_string.splitlines()[1:]
    return {r.rsplit(None, 4)[0].strip(): [int(x) for x in r.rsplit(None, 4)[2:]] for r in rows}


def test_headroom_swap_is_gone(host):
    assert PATH not in areas(host)
    assert not host.file(PATH).exists
    assert PATH not in host.file('/etc/fstab').content_string
    assert not host.file('/etc/sysctl.d/60-headroom-swap.conf').exists


def test_other_swap_is_untouched(host):
    assert areas(host)[FOREIGN][0] == 32 * 1024 - 4
    assert '/swap/foreign.swap none swap sw 0 0' in host.file('/etc/fstab').content_string.splitlines()
    assert host.check_output('ls -A /swap').split() == ['foreign.swap']
