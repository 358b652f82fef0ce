"""After the resize: one 96 MiB file at priority 7, nothing of the 64 MiB one left."""
PATH = '/swap/headroom.swap'
MIB = 1024 ** 2


def areas(host):
    rows = host.file('/proc/swaps').content_string.splitlines()[1:]
    return {r.rsplit(None, 4)[0].strip(): [int(x) for x in r.rsplit(None, 4)[2:]] for r in rows}


def test_resized_area_is_active_at_the_new_priority(host):
    size_kib, _used, prio = areas(host)[PATH]
    assert size_kib == 96 * 1024 - 4
    assert prio == 7
    assert [p for p in areas(host) if p.startswith('/swap/')] == [PATH]


def test_resized_file(host):
    swapfile = host.file(PATH)
    assert swapfile.size == 96 * MIB
    assert swapfile.mode == 0o600 and swapfile.user == 'root' and swapfile.group == 'root'
    assert host.check_output('ls -A /swap').split() == ['headroom.swap']


def test_fstab_line_follows_the_priority(host):
    lines = [line for line in host.file('/etc/fstab').content_string.splitlines() if PATH in line]
    assert lines == ['%s none swap sw,nofail,pri=7 0 0' % PATH]
