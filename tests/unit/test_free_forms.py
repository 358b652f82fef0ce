"""parse_free and parse_flags against real free of every release this machine can run (issue 20):
procps-ng 3.3.17 (Debian 11), 4.0.2 (12), 4.0.4 (13), 4.0.7 (sid) and busybox 1.30.1-1.38.0, each
captured by scripts/capture-free-fixtures.py (tests/fixtures/free/README.md lists them).

- getopt-*.json: ~165 flag strings run through each real free: the parser accepts exactly the
  strings that free accepted, and reads each table in the unit free printed it in;
- captured.json: every form (units, -w -l -t -v -L, -s/-c, every translated language, an
  overcommitted host) read to the machine's real MemTotal and CommitLimit;
- and the classes of the issue one by one: glued labels, the Comm row below zero, a byte-order
  mark and CRLF, decimals where free prints none, blocks beyond -c, results without a cycle.
"""
import glob
import json
import os
import re

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.free import (
    MAX_SAMPLES, MAX_TEXT, parse_flags, parse_free)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'free')
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
with open(os.path.join(FIXTURES, 'captured.json')) as _handle:
    CAPTURED = json.load(_handle)
GETOPT = {}
for _path in sorted(glob.glob(os.path.join(FIXTURES, 'getopt-*.json'))):
    with open(_path) as _handle:
        GETOPT[os.path.basename(_path)[7:-5]] = json.load(_handle)
# the machine the captures were taken on (the same for every container: they share its kernel)
MEM_TOTAL = next(iter(GETOPT.values()))['meminfo_total_kb'] * KIB
# /proc/meminfo's CommitLimit as the capture script read it beside its `free -v` runs
COMMIT_LIMIT = int(re.search(r'CommitLimit (\d+) kB', next(
    entry['note'] for entry in CAPTURED if 'note' in entry)).group(1)) * KIB


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return handle.read()


def printed(text, label_key):
    """The words after the row label of ``label_key`` in the first block (labels may be glued)."""
    from ansible_collections.headroom.memory.plugins.module_utils.read import free
    for line in text.splitlines():
        for label in free._LABELS_LONGEST_FIRST:
            if line.strip().startswith(label) and free._LABELS[label] == label_key:
                return line.strip()[len(label):].split()
    raise AssertionError('no %s row' % label_key)


def one_unit(token, options):
    """How far a printed figure may be from the truth: one unit of its form (free truncates), a
    tenth of one with a decimal (it rounds)."""
    form = token.lstrip('-0123456789.,')
    unit = options.forms[form][0]
    return unit / 10 if ('.' in token or ',' in token) else unit


# ---- every flag string, through the real tools -----------------------------------------------------

RUNS = [pytest.param(name, run, id='%s:%s' % (name, run['flags'] or '(none)'))
        for name, doc in sorted(GETOPT.items()) for run in doc['runs']]


@pytest.mark.parametrize('name, run', RUNS)
def test_the_parser_accepts_exactly_what_free_accepts(name, run):
    version = GETOPT[name]['version']
    if run['rc'] != 0:
        with pytest.raises(ParseError, match='no free release accepts them'):
            parse_flags(run['flags'], version)
        return
    options = parse_flags(run['flags'], version)
    free = parse_free(run['stdout'], run['flags'], version)
    if free['format'] == 'line':  # -L prints no total
        assert free['mem']['used'] is not None
        return
    token = printed(run['stdout'], 'mem')[0]
    assert abs(free['mem']['total'] - MEM_TOTAL) <= one_unit(token, options), (token, free['mem']['total'])


def test_the_flags_of_the_issue():
    """`-c1 -b` read sizes 1024 times too large; `-bs1 -c1` was refused."""
    text = fixture('bookworm-c1-b.out')
    assert parse_free(text, '-c1 -b')['mem']['total'] == MEM_TOTAL
    assert parse_free(fixture('bookworm-bs1-c1.out'), '-bs1 -c1')['mem']['total'] == MEM_TOTAL
    for flags in ('-c 1 -b', '-bc1', '--count=1 --by', '--count 1 --bytes', '-b --', '--cou=1 -b'):
        assert parse_free(text, flags, 'free from procps-ng 4.0.2')['mem']['total'] == MEM_TOTAL, flags


@pytest.mark.parametrize('flags, version, words', [
    ('--me', '4.0.2', "'--me' is ambiguous; possibilities: '--mega' '--mebi'"),
    ('--c 1', '4.0.2', "'--c' is ambiguous"),
    ('-bm', '4.0.2', "Multiple unit options"),
    ('--line', '4.0.2', "unrecognized option '--line'"),
    ('-v', '3.3.17', "unknown free flag '-v'"),
    ('-b x', '3.3.17', "extra operand 'x'"),
    ('--bytes=1', None, "option '--bytes' doesn't allow an argument"),
    ('-c 0 -b', '3.3.17', 'failed to parse count argument'),
    ('-s 1e-1 -c 2', '4.0.2', 'seconds argument failed'),
    ('-V', None, 'prints the version, not a table'),
    ('-s', None, "option requires an argument -- 's'"),
    ("-b '", None, 'cannot split free flags'),
])
def test_flags_free_refuses_are_refused_naming_the_option(flags, version, words):
    with pytest.raises(ParseError, match=words.replace('(', r'\(').replace(')', r'\)')):
        parse_flags(flags, version)


def test_flags_that_mean_different_units_by_release_need_the_version():
    text = fixture('bullseye-busybox-bm.out')  # busybox: -bm is -b; procps 3.3.x before 3.3.11: -m
    with pytest.raises(ParseError, match='pass the version'):
        parse_free(text, '-bm')
    assert parse_free(text, '-bm', 'BusyBox v1.30.1')['mem']['total'] == MEM_TOTAL
    # --mega: MiB before 3.3.11, 1,024,000 bytes in 3.3.11 and 3.3.12 (KiB / 1000), 10**6 from 3.3.13
    one = '               total        used        free      shared  buff/cache   available\n' \
          'Mem:           25276         527       22836          10        1912       24720\nSwap: 0 0 0\n'
    assert parse_free(one, '--mega', '3.3.10')['mem']['total'] == 25276 * MIB
    assert parse_free(one, '--mega', '3.3.12')['mem']['total'] == 25276 * 1024000
    assert parse_free(one, '--mega', '3.3.13')['mem']['total'] == 25276 * 10 ** 6
    assert parse_free(one, '--kilo', 'free from procps-ng 4.0.2')['mem']['total'] == 25276 * 1000
    with pytest.raises(ParseError, match='pass the version'):
        parse_free(one, '--mega')


def test_blocks_beyond_what_the_flags_print_are_refused():
    two = fixture('bookworm-b-s1-c2.out')
    with pytest.raises(ParseError, match='free -b prints one block; this is block 2'):
        parse_free(two, '-b')
    with pytest.raises(ParseError, match='prints 2 blocks; this is block 3'):
        parse_free(two + '\n' + fixture('bookworm-b.out'), '-b -c2')
    assert parse_free(two + '\n' + two, '-bs1')['blocks'] == 4  # -s alone never ends
    assert parse_free(fixture('sid-b-L-c2.out'), '-b -L -c2 -s0.1')['blocks'] == 2


# ---- every captured form, read to the truth --------------------------------------------------------

@pytest.mark.parametrize('entry', CAPTURED, ids=[entry['file'] for entry in CAPTURED])
def test_every_captured_form_reads_to_the_machines_figures(entry):
    text = fixture(entry['file'])
    free = parse_free(text, entry['flags'], entry['version'])
    options = parse_flags(entry['flags'], entry['version'])
    if free['format'] == 'line':
        assert all(free['mem'][key] is not None for key in ('used', 'free', 'buff_cache'))
        return
    token = printed(text, 'mem')[0]
    assert abs(free['mem']['total'] - MEM_TOTAL) <= one_unit(token, options), (token, free['mem'])
    if 'comm' in free:
        limit = printed(text, 'comm')[0]
        assert abs(free['comm']['total'] - COMMIT_LIMIT) <= one_unit(limit, options)
    if 'over' in entry['file']:  # Committed_AS above CommitLimit, on purpose (see the README)
        assert free['comm']['used'] > free['comm']['total']
        assert free['comm']['free'] is None or free['comm']['free'] < 0
    # without the version: the same figures, or a refusal that asks for it -- never other figures
    try:
        assert parse_free(text, entry['flags']) == free
    except ParseError as err:
        assert 'pass the version' in str(err)


def test_a_label_glued_to_its_number_is_split_where_procps_put_the_boundary():
    """`Speicher:` is 9 columns; 3.3.17 pads to 9 bytes, so `Pamięć:` (7 letters, 9 bytes) glues
    there and not in 4.x; Georgian `ბრძანება:` (Comm:) glues to the commit limit."""
    german = parse_free(fixture('bookworm-de-b-t-l.out'), '-b -t -l -v', '4.0.2')
    assert fixture('bookworm-de-b-t-l.out').splitlines()[1].startswith('Speicher:25276182528 ')
    assert german['mem']['total'] == MEM_TOTAL and german['total']['total'] == MEM_TOTAL
    polish = fixture('bullseye-pl-b-t-l.out')
    assert polish.splitlines()[1].startswith('Pamięć:25276182528')
    assert parse_free(polish, '-b -t -l', '3.3.17')['mem']['total'] == MEM_TOTAL
    georgian = fixture('sid-ka-b-t-l.out')
    assert 'ბრძანება:12638089216' in georgian
    assert parse_free(georgian, '-b -t -l -v', '4.0.7')['comm']['total'] == COMMIT_LIMIT


def test_the_comm_row_below_zero_in_each_release_and_nowhere_else():
    """4.0.0-4.0.5 print CommitLimit - Committed_AS signed, 4.0.6+ wrapped around 2**64 (local/units.c,
    commit e308184a 'Fix integer overflow in scale_size()'): both read to the same negative figure."""
    signed = parse_free(fixture('trixie-over-b-v.out'), '-b -v', '4.0.4')['comm']
    assert signed['free'] < 0 and signed['free'] == signed['total'] - signed['used']
    wrapped = parse_free(fixture('sid-over-b-v.out'), '-b -v', '4.0.7')['comm']
    assert '18446744068534480896' in fixture('sid-over-b-v.out')
    assert wrapped['free'] == wrapped['total'] - wrapped['used'] == 18446744068534480896 - 2 ** 64
    kib = parse_free(fixture('sid-over-v.out'), '-v', '4.0.7')['comm']
    assert kib['free'] == kib['total'] - kib['used']
    assert parse_free(fixture('trixie-over-h-v.out'), '-h -v', '4.0.4')['comm']['free'] == -4 * GIB
    # 4.0.7 -h: `16383Pi` -- the figure is lost, not a reading of 16 EiB
    assert parse_free(fixture('sid-over-h-v.out'), '-h -v', '4.0.7')['comm']['free'] is None
    # and the sign stays refused everywhere else
    text = fixture('trixie-over-b-v.out')
    for row in ('Mem:', 'Swap:'):
        words = [line for line in text.splitlines() if line.startswith(row)][0].split()
        bad = text.replace(' %s ' % words[2], ' -%s ' % words[2], 1) if row == 'Mem:' else \
            text.replace('Swap:              0           0', 'Swap:              0          -1')
        with pytest.raises(ParseError, match='prints no negative figure here'):
            parse_free(bad, '-b -v', '4.0.4')
    # a Comm free that is not limit less committed is a mangled paste
    free = printed(text, 'comm')[2]
    with pytest.raises(ParseError, match='not the commit limit less committed'):
        parse_free(text.replace(free, '-1' + free[2:]), '-b -v', '4.0.4')


@pytest.mark.parametrize('name, flags', [('bookworm-de-b-t-l.out', '-b -t -l -v'), ('sid-h-w-t-l.out', '-h -w -t -l'),
                                         ('sid-busybox-h.out', '-h'), ('sid-ko-h-L.out', '-h -L')])
def test_a_byte_order_mark_and_crlf_change_nothing(name, flags):
    text = fixture(name)
    expected = parse_free(text, flags)
    assert parse_free('\ufeff' + text.replace('\n', '\r\n'), flags) == expected
    assert parse_free('\ufeff' + text, flags) == expected


DECIMALS = [('bookworm-b.out', '-b', '.5'), ('bookworm-default.out', '', '.0'), ('bookworm-m.out', '-m', ',5'),
            ('bookworm-kilo.out', '--kilo', '.5'), ('bookworm-g.out', '-g', '.0'), ('bookworm-busybox-m.out', '-m', '.5')]


@pytest.mark.parametrize('name, flags, point', DECIMALS)
def test_a_decimal_where_free_prints_whole_numbers_is_refused_naming_it(name, flags, point):
    """free prints bare figures with "%ld"/"%lld"/"%llu" in every release and busybox: a decimal
    (`123.5` under -b) is no figure free printed, even where it is plausible."""
    text = fixture(name)
    shared = printed(text, 'mem')[3]
    bad = shared + point
    with pytest.raises(ParseError, match="not a size: '%s' -- free %s prints whole numbers" % (
            re.escape(bad), re.escape(flags) if flags else r'\(none\)')):
        parse_free(text.replace(' %s ' % shared, ' %s ' % bad, 1), flags, '4.0.2' if 'busybox' not in name else 'busybox')


def test_decimals_where_free_prints_them():
    german = parse_free(fixture('bookworm-de-h-w.out'), '-h -w', '4.0.2')  # decimal commas
    assert german['mem']['total'] is not None
    busybox = parse_free(fixture('sid-busybox-h.out'), '-h', 'BusyBox v1.38.0')
    assert abs(busybox['mem']['total'] - MEM_TOTAL) <= GIB / 10
    with pytest.raises(ParseError, match='one decimal digit'):
        parse_free(fixture('sid-busybox-h.out').replace('23.5G', '23.55G'), '-h')
    with pytest.raises(ParseError, match="never prints the unit 'Gi'"):
        parse_free(fixture('sid-busybox-h.out').replace('23.5G', '23.5Gi'), '-h', 'BusyBox v1.38.0')


# ---- plain data, bounded ------------------------------------------------------------------------------

FLAG_SETS = ['', '-b', '-k', '-m', '-g', '-h', '-h --si', '--si', '--mega', '-w', '-hw', '-s 1 -c 2', '-bs1', '-v -b',
             '-h -v', '-L', '-b -L -s 1']


def _walk(value, seen, path='result'):
    if isinstance(value, (dict, list)):
        assert id(value) not in seen, '%s is %s again' % (path, seen[id(value)])
        seen[id(value)] = path
        for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
            _walk(item, seen, '%s[%r]' % (path, key))
    else:
        assert value is None or type(value) in (int, str), (path, value)


@pytest.mark.parametrize('name', sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, '*.out'))))
def test_no_result_holds_a_cycle_or_a_shared_part(name):
    text = fixture(name)
    own = [entry['flags'] for entry in CAPTURED if entry['file'] == name]
    checked = 0
    for flags in own + FLAG_SETS:
        for repeat in (1, 3, MAX_SAMPLES + 2):
            try:
                result = parse_free('\n'.join([text] * repeat), flags + (' -s 1' if repeat > 1 else ''))
            except ParseError:
                continue
            _walk(result, {})
            assert len(result.get('samples', [])) <= MAX_SAMPLES
            checked += 1
    assert checked


def test_text_above_the_bound_is_refused_unread():
    with pytest.raises(ParseError, match='more than the 1048576 this parser reads'):
        parse_free('x' * (MAX_TEXT + 1))
