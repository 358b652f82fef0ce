"""The watch window: the worst moment of a while, on a stand-in clock and readers (the real one is in
tests/integration/test_collect_remote.py), and the biggest commands read from a /proc tree."""
import os

from ansible_collections.headroom.memory.plugins.module_utils.read.watch import biggest_commands, biggest_workers, watch

MIB = 1 << 20


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_the_lowest_moment_and_the_peaks_are_kept_with_their_times():
    clock = Clock()
    free = iter([900, 800, 120, 500, 700, 650] + [700] * 10)
    swapped = iter([0, 0, 10, 5000, 5010, 5020] + [5020] * 10)
    snaps = []

    def snapshot():
        snaps.append(clock.now)
        return [{'command': 'spiky', 'count': 1, 'rss': 780 * MIB}]
    result = watch(5, 1, lambda: next(free) * MIB, lambda: {'pswpin': 0, 'pswpout': next(swapped), 'pgscan_direct': 0},
                   snapshot, clock=clock, sleep=clock.sleep)
    assert result['samples'] == 6 and result['seconds'] == 5
    assert result['lowest'] == {'at': 1002.0, 'available': 120 * MIB,
                                'commands': [{'command': 'spiky', 'count': 1, 'rss': 780 * MIB}]}
    assert snaps == [1000.0, 1001.0, 1002.0]  # read only when a new lowest came
    # vmstat is read once before the first sample: the jump from 10 to 5000 lands on the third
    assert result['peak_swap'] == {'at': 1002.0, 'bytes_per_second': (5000 - 10) * 4096.0}


def test_readers_that_fail_leave_gaps_not_errors():
    clock = Clock()
    result = watch(2, 0.5, lambda: None, lambda: None, lambda: [], clock=clock, sleep=clock.sleep)
    assert result['lowest'] is None and result['peak_swap'] is None and result['samples'] == 5


def test_the_biggest_commands_from_a_proc_tree(tmp_path):
    def proc(pid, comm, rss_pages):
        os.makedirs(str(tmp_path / str(pid)))
        fields = ['S'] + ['0'] * 20 + [str(rss_pages)] + ['0'] * 20
        (tmp_path / str(pid) / 'stat').write_text('%d (%s) %s\n' % (pid, comm, ' '.join(fields)))
    proc(1, 'systemd', 1000)
    proc(20, 'gunicorn', 5000)
    proc(21, 'gunicorn', 6000)
    proc(22, 'weird) (name', 10)
    os.makedirs(str(tmp_path / '23'))  # gone while read: no stat
    (tmp_path / 'self').mkdir()
    (tmp_path / '24').mkdir()
    (tmp_path / '24' / 'stat').write_text('24 (short) S 1\n')  # cut short: skipped
    assert biggest_commands(2, proc=str(tmp_path)) == [{'command': 'gunicorn', 'count': 2, 'rss': 11000 * 4096},
                                                       {'command': 'systemd', 'count': 1, 'rss': 1000 * 4096}]
    assert {'command': 'weird) (name', 'count': 1, 'rss': 40960} in biggest_commands(proc=str(tmp_path))


def test_each_app_server_s_biggest_worker_is_kept_with_when_it_peaked():
    """A heavy request: one worker grows 90 MiB for two samples, then drops back. What one worker reached
    at its peak is kept per master, with its pid and time: the budget's size at the peak."""
    clock = Clock()
    sizes = iter([{10: (11, 53 * MIB)}, {10: (12, 143 * MIB), 30: (31, 20 * MIB)}, {10: (12, 140 * MIB)},
                  {10: (11, 53 * MIB)}] + [{}] * 10)
    result = watch(3, 1, lambda: 500 * MIB, lambda: None, lambda: [], clock=clock, sleep=clock.sleep,
                   workers=lambda: next(sizes))
    assert result['workers'] == [{'master_pid': 10, 'pid': 12, 'rss': 143 * MIB, 'at': 1001.0},
                                 {'master_pid': 30, 'pid': 31, 'rss': 20 * MIB, 'at': 1001.0}]
    assert watch(1, 1, lambda: None, lambda: None, lambda: [], clock=clock, sleep=clock.sleep)['workers'] == []


def test_the_biggest_worker_of_each_server_from_a_proc_tree(tmp_path):
    def proc(pid, ppid, comm, rss_pages):
        os.makedirs(str(tmp_path / str(pid)))
        fields = ['S', str(ppid)] + ['0'] * 19 + [str(rss_pages)] + ['0'] * 20
        (tmp_path / str(pid) / 'stat').write_text('%d (%s) %s\n' % (pid, comm, ' '.join(fields)))
    proc(10, 1, 'gunicorn', 6000)
    proc(11, 10, 'gunicorn', 9000)
    proc(12, 10, 'gunicorn', 36000)
    proc(13, 1, 'sleep', 99999)  # a pid the server's worker had, now another process: not its worker
    proc(30, 1, 'java', 50000)  # a JVM is its own worker
    servers = [{'master_pid': 10, 'measured': [{'pid': 11}, {'pid': 12}, {'pid': 13}, {'pid': 14}]},
               {'master_pid': 30, 'measured': [{'pid': 30}]}]
    read = biggest_workers(servers, proc=str(tmp_path))
    assert read() == {10: (12, 36000 * 4096), 30: (30, 50000 * 4096)}
