"""The issue's hostile numbers, each on real captured output: the parser's own message, never a
traceback (OverflowError, ValueError of int()) and never an impossible fact."""
import os

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.fix import swap
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.free import parse_free
from ansible_collections.headroom.memory.plugins.module_utils.read.kernel import parse_meminfo, parse_vmstat
from ansible_collections.headroom.memory.plugins.module_utils.read.top import parse_top

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures')


def read(*parts):
    with open(os.path.join(FIXTURES, *parts)) as handle:
        return handle.read()


FREE = read('free', 'jc-centos-7.7-free-w.out')
TOP = read('legacy', 'quoted-procps-3.3.9-docker-ni100.out')


def free_with(total=None, swap_used=None):
    lines = FREE.splitlines(True)
    mem = next(i for i, line in enumerate(lines) if line.startswith('Mem:'))
    words = lines[mem].split()
    if total is not None:
        lines[mem] = lines[mem].replace(words[1], total, 1)
    if swap_used is not None:
        at = next(i for i, line in enumerate(lines) if line.startswith('Swap:'))
        words = lines[at].split()
        lines[at] = 'Swap: %s %s %s\n' % (words[1], swap_used, words[3])
    return ''.join(lines)


@pytest.mark.parametrize('total, message', [
    ('9' * 5000, 'not a size'),
    ('9' * 400 + '.5', 'not a size'),
    ('9' * 30, 'not a possible value'),
    ('８０５３８０４', 'unknown row label .Mem: .*|not a size'),   # full-width digits
    ('٣٤٥', 'unknown row label .Mem: .*|not a size'),
])
def test_free_refuses_impossible_totals(total, message):
    with pytest.raises(ParseError, match=message):
        parse_free(free_with(total=total))


def test_free_refuses_more_swap_used_than_there_is():
    total = int(FREE.split('Swap:')[1].split()[0])
    with pytest.raises(ParseError, match='Swap: used .* is more than its total'):
        parse_free(free_with(swap_used=str(total * 2)))


def test_top_refuses_infinite_cpu_negative_pid_and_full_width_digits():
    lines = TOP.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ['PID'])
    row = lines[header + 1]
    pid = row.split()[0]
    cpu = row.split()[8]
    cases = [(row.replace(cpu, '9' * 400, 1), 'not a number|not a possible value'),
             (row.replace(pid, '-' + pid, 1), 'column PID'),
             (row.replace(pid, '１２', 1), 'column PID'),
             (row.replace(pid, '9' * 5000, 1), 'column PID')]
    for bad, message in cases:
        text = '\n'.join(lines[:header + 1] + [bad] + lines[header + 2:])
        with pytest.raises(ParseError, match=message):
            parse_top(text)


def test_kernel_files_refuse_huge_and_foreign_digits():
    with pytest.raises(ParseError, match='MemTotal'):
        parse_meminfo('MemTotal: %s kB\n' % ('9' * 5000))
    with pytest.raises(ParseError, match='not a /proc/meminfo line'):
        parse_meminfo('MemTotal: ８０ kB\n')
    with pytest.raises(ParseError, match='oom_kill'):
        parse_vmstat('oom_kill %s\n' % ('9' * 5000))


@pytest.mark.parametrize('size', ['9' * 5000, 10 ** 400, '1' + '0' * 400 + 'G', '9' * 400 + '.5G',
                                  '１G', -1, 2 ** 65])
def test_swap_size_refused_with_its_own_message(size):
    with pytest.raises(ParseError):
        swap.parse_size_arg(size)


def test_oom_log_lines_with_huge_numbers_are_noise_not_a_crash():
    """Anyone can write to syslog (logger): a forged kill line with a 5000-digit pid is skipped."""
    from ansible_collections.headroom.memory.plugins.module_utils.read.oom import parse_oom_log
    real = ('[ 4242.000000] Out of memory: Killed process 1888 (gunicorn) total-vm:300000kB, '
            'anon-rss:200000kB, file-rss:0kB, shmem-rss:0kB, UID:1001 pgtables:600kB oom_score_adj:0\n')
    forged = real.replace('1888', '9' * 5000).replace('300000', '9' * 5000)
    events = parse_oom_log(forged + real)
    assert [(e['pid'], e['comm']) for e in events] == [(1888, 'gunicorn')]


@pytest.mark.parametrize('spec', ['９%', '1_0%', 'nan%', '1e400%', '9' * 5000 + '%', '-5%', '200%', '%', '10 %%'])
def test_a_share_is_plain_digits(spec):
    with pytest.raises(ParseError, match='swapoff_min_available'):
        swap.parse_reserve(spec, 8 << 30, 'swapoff_min_available')


def test_a_share_still_reads():
    assert swap.parse_reserve('10%', 1000) == 100 and swap.parse_reserve('12.5%', 1000) == 125
