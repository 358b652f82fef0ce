"""parse_free on real outputs: published ones (tests/fixtures/free) and our own captures
(tests/fixtures/captures), each checked against exact figures of the same system."""
import glob
import json
import os
import re

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.free import parse_free
from ansible_collections.headroom.memory.plugins.module_utils.units import resolution

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', 'fixtures')
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


def fixture(name):
    with open(os.path.join(FIXTURES, 'free', name)) as handle:
        return handle.read()


# ---- published outputs of old systems ------------------------------------------------------------

def test_procps_3_3_10_kib_default():
    free = parse_free(fixture('jc-centos-7.7-free.out'))
    assert free['format'] == 'standard'
    assert free['mem'] == {'total': 3861332 * KIB, 'used': 222820 * KIB, 'free': 3364176 * KIB,
                           'shared': 11832 * KIB, 'buffers': None, 'cache': None,
                           'buff_cache': 274336 * KIB, 'available': 3389588 * KIB}
    assert free['swap'] == {'total': 2097148 * KIB, 'used': 0, 'free': 2097148 * KIB}
    assert 'low' not in free and 'samples' not in free


@pytest.mark.parametrize('system', ['jc-centos-7.7', 'jc-ubuntu-18.04'])
def test_one_letter_units_before_3_3_13_are_binary(system):
    """`1.9G` from procps 3.3.12 is 1.9 GiB: read as 1.9e9 it would be 8% short (jc's trap)."""
    exact = parse_free(fixture(system + '-free.out'))
    text = fixture(system + '-free-h.out')
    human = parse_free(text, '-h')
    for row, key in (('mem', 'total'), ('swap', 'total')):
        token = _token(text, row, key)
        # the display rounds to the shown digit; totals do not move between the two runs
        assert abs(human[row][key] - exact[row][key]) <= resolution(token) / 2 + 1, (row, key, token)
    with pytest.raises(ParseError, match='one-letter unit'):
        parse_free(text)  # without flags `1.9G` is ambiguous: refuse rather than guess
    # and read as procps 4's --si it is wrong by far more than the display's rounding
    si = parse_free(text, '-h --si', version='4.0.2')
    assert exact['mem']['total'] - si['mem']['total'] > resolution(_token(text, 'mem', 'total'))


def _token(text, row, key):
    header = text.splitlines()[0].split()
    names = ['total', 'used', 'free', 'shared', 'buff_cache', 'available']
    line = [l for l in text.splitlines() if l.lower().startswith(row)][0]
    return line.split()[1 + names.index(key)]


def test_wide_output_gives_buffers_and_cache_apart():
    free = parse_free(fixture('jc-centos-7.7-free-w.out'))
    assert free['format'] == 'wide'
    assert free['mem']['buffers'] == 61596 * KIB and free['mem']['cache'] == 898640 * KIB
    assert free['mem']['buff_cache'] == (61596 + 898640) * KIB


@pytest.mark.parametrize('name, flags, unit', [('el6-free.out', '', KIB), ('el6-free-m.out', '-m', MIB),
                                               ('ubuntu-2005-free.out', '', KIB)])
def test_legacy_layout_with_buffers_cache_row(name, flags, unit):
    free = parse_free(fixture(name), flags)
    assert free['format'] == 'legacy'
    assert free['mem']['available'] is None
    assert free['mem']['buff_cache'] == free['mem']['buffers'] + free['mem']['cache']
    assert free['swap']['total'] % unit == 0


def test_legacy_kib_and_mib_of_one_host_agree_within_a_mib():
    kib = parse_free(fixture('el6-free.out'))
    mib = parse_free(fixture('el6-free-m.out'), '-m')
    # -m truncates to whole MiB
    assert 0 <= kib['mem']['total'] - mib['mem']['total'] < MIB
    assert 0 <= kib['swap']['total'] - mib['swap']['total'] < MIB


def test_legacy_row_that_contradicts_mem_is_refused():
    text = fixture('ubuntu-2005-free.out').replace('206228', '906228')
    with pytest.raises(ParseError, match=r"-/\+ buffers/cache: row does not match.*line 3"):
        parse_free(text)


# ---- flags ---------------------------------------------------------------------------------------

HEADER = '               total        used        free      shared  buff/cache   available\n'


def one_row(values, swap='0 0 0'):
    return HEADER + 'Mem:   %s\nSwap:  %s\n' % (values, swap)


@pytest.mark.parametrize('flags, multiplier', [
    ('', KIB), ('-b', 1), ('--bytes', 1), ('-k', KIB), ('-m', MIB), ('-g', GIB), ('--tebi', 1 << 40),
    ('--kilo', 1000), ('--mega', 10 ** 6), ('--giga', 10 ** 9), ('--tera', 10 ** 12),
    ('--si', 1000), ('-k --si', 1000), ('-m --si', 10 ** 6), ('-wt', KIB), ('-s 1 -c 2 -m', MIB),
    ('--mega -w', 10 ** 6),
])
def test_every_unit_flag_scales_bare_numbers(flags, multiplier):
    free = parse_free(one_row('7 6 5 4 3 2'), flags, version='free from procps-ng 4.0.2')
    assert free['mem']['total'] == 7 * multiplier and free['mem']['available'] == 2 * multiplier


def test_human_suffixes_and_decimal_commas():
    free = parse_free(one_row('7,7Gi 5,9Gi 318Mi 210Mi 1,5Gi 1,3Gi', '2,0Gi 0B 2,0Gi'), '-h')
    assert free['mem']['total'] == round(7.7 * GIB)
    assert free['mem']['free'] == 318 * MIB
    assert free['swap']['used'] == 0
    si = parse_free(one_row('25G 593M 22G 9.1M 2.2G 24G', '0B 0B 0B'), '-h --si', version='4.0.2')
    assert si['mem']['total'] == 25 * 10 ** 9 and si['mem']['shared'] == 9100000


def test_si_needs_the_version_because_procps_3_3_ignores_it():
    text = one_row('24684084 1771828 21676388 9548 1235868 22579636', '65532 12 65520')
    with pytest.raises(ParseError, match=r'pass the version \(`free -V`\)'):
        parse_free(text, '--si')
    # the same numbers are KiB from 3.3.17 (real capture: tests/fixtures/captures/bullseye-container)
    assert parse_free(text, '--si', version='3.3.17')['mem']['total'] == 24684084 * KIB
    assert parse_free(text, '--si', version='4.0.4')['mem']['total'] == 24684084 * 1000
    # --kilo is decimal in both
    assert parse_free(text, '--kilo', version='3.3.17')['mem']['total'] == 24684084 * 1000
    # 3.3.13-3.3.17 -h --si prints whole MiB times 1000**(3-i) (free.c scale_size): a 'G' there is
    # 1000 MiB, not 10**9 nor 2**30 (this test said 24 GiB before: 2.4 % off)
    assert parse_free(one_row('24G 1.7G 21G 9.0M 1.2G 22G', '63M 0.0K 63M'), '-h --si',
                      version='3.3.17')['mem']['total'] == 24 * 1000 * MIB


def test_busybox_zero_and_the_3_3_display_bug():
    busybox = parse_free(one_row('23.5G 1.4G 21.0G 8.8M 1.2G 21.8G', '0 0 0'), '-h')
    assert busybox['swap'] == {'total': 0, 'used': 0, 'free': 0}
    # procps 3.3.17 `free -h` showed 12 KiB of used swap as 0.0Ki: unknown, never a wrong 0
    bug = parse_free(one_row('23Gi 1.7Gi 20Gi 9.0Mi 1.2Gi 21Gi', '63Mi 0.0Ki 63Mi'), '-h')
    assert bug['swap']['used'] is None and bug['swap']['total'] == 63 * MIB


def test_unknown_flag_and_bare_numbers_under_h_are_refused():
    with pytest.raises(ParseError, match="unknown free flag '-x'"):
        parse_free(one_row('1 2 3 4 5 6'), '-x')
    with pytest.raises(ParseError, match="unknown free flag '-q'"):
        parse_free(one_row('1 2 3 4 5 6'), '-hq', version='free from procps-ng 4.0.2')
    # busybox reads only its first argument's second letter: `busybox free -hq` is -h, whose bare
    # numbers can only be 0
    with pytest.raises(ParseError, match='busybox free -h a bare 0 at most'):
        parse_free(one_row('1 2 3 4 5 6'), '-hq')
    with pytest.raises(ParseError, match='prints a unit after every value'):
        parse_free(one_row('1 2 3 4 5 6'), '-h')


def test_lohi_total_and_committed_rows():
    text = (HEADER + 'Mem:     100 10 80 1 10 85\nLow:     100 20 80\nHigh:    0 0 0\n'
            'Swap:    50 5 45\nTotal:   150 15 125\nComm:    90 30 60\n')
    free = parse_free(text, '-b')
    assert free['low'] == {'total': 100, 'used': 20, 'free': 80}
    assert free['high'] == {'total': 0, 'used': 0, 'free': 0}
    assert free['total'] == {'total': 150, 'used': 15, 'free': 125}
    assert free['comm'] == {'total': 90, 'used': 30, 'free': 60}


def test_repeated_blocks_give_the_last_and_every_sample():
    block = one_row('7 6 5 4 3 %d')
    free = parse_free(block % 2 + '\n' + block % 1, '-b -s 1 -c 2')
    assert free['mem']['available'] == 1
    assert [s['mem']['available'] for s in free['samples']] == [2, 1]


def test_localized_headers_come_from_procps_catalogs():
    german = ('              gesamt       benutzt     frei      gemns.  Puffer/Cache verfügbar\n'
              'Speicher:       23Gi       565Mi        21Gi       8,7Mi       2,1Gi        22Gi\n'
              'Swap:             0B          0B          0B\n')
    free = parse_free(german, '-h')
    assert free['mem']['shared'] == round(8.7 * MIB)
    assert free['mem']['available'] == 22 * GIB


# ---- input it cannot read ------------------------------------------------------------------------

@pytest.mark.parametrize('text, message', [
    ('', 'free output is empty'),
    ('hello world\n', "expected the header of free.*line 1: 'hello world'"),
    (HEADER + 'Mem:   1 2 3 4 5\nSwap: 0 0 0\n', r"expected 6 values in the Mem: row, found 5.*line 2"),
    (HEADER + 'Mem:   9 2 3 4 5 6\n', r'no Swap: row \(truncated\?\)'),
    (HEADER + 'Mem:   9 2 3 4 5 6\nSwap: 0 0\n', 'expected 3 values in the Swap: row, found 2'),
    (HEADER + 'Mém:   1 2 3 4 5 6\nSwap: 0 0 0\n', "unknown row label 'Mém:'"),
    (HEADER + 'Mem:   9 2 3 4 5 6\nMem:   9 2 3 4 5 6\nSwap: 0 0 0\n', 'printed twice'),
    (HEADER + 'Mem:   1 2 x 4 5 6\nSwap: 0 0 0\n', "not a size: 'x'|expected 6 values"),
    ('  gesamt benutzt unbekannt\nSpeicher: 1 2 3\n', 'expected the header of free'),
])
def test_unreadable_input_fails_naming_the_line(text, message):
    with pytest.raises(ParseError, match=message):
        parse_free(text)


def test_non_text_is_refused():
    with pytest.raises(ParseError, match='must be text'):
        parse_free(None)


# ---- our own captures: free in its every form against `free -b` taken before and after -----------

CAPTURES = sorted(glob.glob(os.path.join(FIXTURES, 'captures', '*', '*.json')))
FREE_CAPTURES = []
for _path in CAPTURES:
    with open(_path) as _handle:
        _data = json.load(_handle)
    _argv = _data['command'].split()
    if 'free' in _argv[:2]:
        FREE_CAPTURES.append(pytest.param(_path, _data, id=os.path.relpath(_path, FIXTURES)))


def _free_b(text):
    rows = dict((line.split()[0], [int(v) for v in line.split()[1:]]) for line in text.splitlines()[1:])
    return {'mem': dict(zip(('total', 'used', 'free', 'shared', 'buff_cache', 'available'), rows['Mem:'])),
            'swap': dict(zip(('total', 'used', 'free'), rows['Swap:']))}


DRIFT = 256 * KIB


def _flags(command):
    argv = command.split()
    return ' '.join(argv[argv.index('free') + 1:])


@pytest.mark.skipif(not FREE_CAPTURES, reason='no captures in tests/fixtures/captures yet')
@pytest.mark.parametrize('path, capture', FREE_CAPTURES)
def test_capture_matches_free_b_of_the_same_moment(path, capture):
    flags = _flags(capture['command'])
    free = parse_free(capture['output'], flags, version=capture['tool'])
    before, after = _free_b(capture['before']['free_b']), _free_b(capture['after']['free_b'])
    tokens = _display_tokens(capture['output'])
    checked = 0
    for row, key in (('mem', 'total'), ('mem', 'available'), ('mem', 'free'), ('swap', 'total'),
                     ('swap', 'used')):
        if free[row].get(key) is None or (row, key) not in tokens:
            continue
        token = tokens[(row, key)]
        # the display's rounding, plus what memory may move while three commands run: on the
        # container that was swapping hard it went beyond both snapshots by ~50 kB
        step = _step(token, flags, capture['tool']) + DRIFT
        low = min(before[row][key], after[row][key]) - step
        high = max(before[row][key], after[row][key]) + step
        assert low <= free[row][key] <= high, (row, key, token, free[row][key], low, high)
        checked += 1
    assert checked >= 3


def _display_tokens(output):
    lines = output.splitlines()
    header = [l for l in lines if 'total' in l or 'gesamt' in l][0]
    wide = len(header.split()) == 7
    names = (['total', 'used', 'free', 'shared', 'buffers', 'cache', 'available'] if wide
             else ['total', 'used', 'free', 'shared', 'buff_cache', 'available'])
    tokens = {}
    for line in lines:
        words = line.split()
        if not words:
            continue
        row = {'Mem:': 'mem', 'Speicher:': 'mem', 'Swap:': 'swap'}.get(words[0])
        if row:
            for name, token in zip(names if row == 'mem' else ['total', 'used', 'free'], words[1:]):
                tokens[(row, name)] = token
    return tokens


def _step(token, flags, version):
    """How far a display value may be from the exact one: the unit's truncation or rounding."""
    multiplier = 1
    si = (('--si' in flags and not version.startswith('procps-ng 3.'))
          or any(f in flags for f in ('--kilo', '--mega', '--giga', '--tera')))
    for flag, exp in (('-m', 2), ('-g', 3), ('--mega', 2), ('--giga', 3), ('--tera', 4), ('--kilo', 1),
                      ('-k', 1)):
        if re.search(r'(^|\s)%s(\s|$)' % re.escape(flag), flags):
            multiplier = (1000 if si else 1024) ** exp
            break
    else:
        multiplier = 1 if '-b' in flags.split() else (1000 if si else 1024)
    return resolution(token, multiplier, si=si)
