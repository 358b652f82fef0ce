"""The ``top -b`` parser on real outputs.

Inputs, and where each comes from (details in tests/fixtures/legacy/README.md):
- tests/fixtures/legacy/jc-*: real captures by the jc project (CentOS 7.7 procps-ng 3.3.10, Ubuntu
  20.10 procps-ng 3.3.16), excerpts of whole unmodified lines.
- tests/fixtures/legacy/quoted-*: real procps 3.2 and 3.3.9 outputs as pasted in public posts.
- tests/fixtures/legacy/derived-*: the only derived inputs (a 128 GiB host's '+'-truncated summary;
  a real procps-ng 4.0.2 capture with a PSS column added from smaps_rollup).
- tests/fixtures/captures/*/*.json: real captures from Debian containers and busybox, each with
  `free -b` and /proc/meminfo taken just before and after top (written by scripts of helper-1).
- the live tests run this machine's own top, busybox top, free -b and ps, at the test's moment.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.top import parse_top, run_top
from ansible_collections.headroom.memory.plugins.module_utils.units import resolution
from library_module import run_library_module

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures')
LEGACY = os.path.join(FIXTURES, 'legacy')
KIB = 1024
MIB = 1024 ** 2
# free -b / meminfo are read just before and after top, not at its instant. Between them this
# shared host (parallel image builds, other test sessions) moves a few MiB: top itself and the
# interpreter forking it allocate, the page cache grows with every file read. 32 MiB is well above
# what we measured between two back-to-back `free -b` (under 10 MiB) and well below any mistake of
# unit (a KiB/byte or MiB/GiB confusion is off by a factor of 1024).
DRIFT = 32 * MIB


def legacy(name):
    """A file of tests/fixtures/legacy, or the output of a capture ('captures/<system>/<slug>.json')."""
    if name.startswith('captures/'):
        with open(os.path.join(FIXTURES, name)) as handle:
            return json.load(handle)['output']
    with open(os.path.join(LEGACY, name)) as handle:
        return handle.read()


def mem_line_tokens(text, kind='Mem'):
    """The printed tokens of the last ``XiB Mem``/``Swap`` line, read independently of the parser."""
    kinds = 'Mem|Spch' if kind == 'Mem' else kind  # Spch: procps-ng's German "Speicher"
    lines = [l for l in text.splitlines() if re.match(r'^[KMGTPE]iB (?:%s)\s?:' % kinds, l)]
    line = lines[-1]
    unit = {'K': KIB, 'M': MIB, 'G': 1024 ** 3, 'T': 1024 ** 4, 'P': 1024 ** 5, 'E': 1024 ** 6}[line[0]]
    pairs = re.findall(r'(\d[\d.,]*)\s*(total|free|used|buff/cache|avail Mem|avail Spch)', line)
    return unit, {label.replace('Spch', 'Mem'): token for token, label in pairs}


def close_to(value, token, multiplier, exact_values, drift=0):
    """``value`` (parsed) agrees with the printed ``token`` and lies within the display rounding
    (top rounds, so half a step) of the exact values bracketing the moment top ran."""
    step = resolution(token, multiplier)
    low, high = min(exact_values), max(exact_values)
    return low - step / 2.0 - drift <= value <= high + step / 2.0 + drift


# --------------------------------------------------------------- legacy and quoted outputs

def test_procps_3310_kib_layout():
    text = legacy('jc-centos-7.7-top-b-n3.excerpt.out')
    top = parse_top(text)
    assert top['format'] == 'procps-ng>=3.3.10'
    summary = top['summary']
    assert summary['mem'] == {'total': 3861332 * KIB, 'free': 3446476 * KIB, 'used': 216940 * KIB,
                              'buff_cache': 197916 * KIB, 'available': 3419356 * KIB}
    assert summary['swap'] == {'total': 2097148 * KIB, 'free': 2097148 * KIB, 'used': 0}
    # procps before 4.0.5 counts D-state tasks among the sleeping: no d-sleep count of its own
    assert summary['tasks'] == {'total': 112, 'running': 1, 'sleeping': 111, 'd_sleep': None, 'stopped': 0,
                                'zombie': 0}
    assert summary['unread'] == [] and summary['lost'] == []
    assert summary['load_average'] == [0.23, 0.22, 0.09]
    assert summary['uptime'] == 120 and summary['users'] == 2 and summary['time'] == '11:24:50'
    # Every process line, in the order printed, every column read from its own position.
    rows = [l.split() for l in text.splitlines()[7:]]
    assert [p['pid'] for p in top['processes']] == [int(r[0]) for r in rows]
    for proc, row in zip(top['processes'], rows):
        assert proc['virt'] == int(row[4]) * KIB and proc['res'] == int(row[5]) * KIB
        assert proc['shr'] == int(row[6]) * KIB and proc['command'] == row[11]
        assert proc['priority'] == ('rt' if row[2] == 'rt' else int(row[2]))
        assert proc['nice'] == int(row[3]) and proc['time'] == row[10] and proc['truncated'] == []
    by_pid = {p['pid']: p for p in top['processes']}
    assert by_pid[359]['priority'] == -51 and by_pid[755]['nice'] == -4
    assert top['samples'] == [{'summary': summary, 'processes': top['processes']}]


def test_gib_summary_and_mib_process_columns():
    text = legacy('jc-centos-7.7-top-b-n1-gib.excerpt.out')
    top = parse_top(text)
    mem = top['summary']['mem']
    assert mem['total'] == round(3.7 * 1024 ** 3) and mem['available'] == round(3.3 * 1024 ** 3)
    # "0.0 used" GiB is anything under 51.2 MiB: a bound, not a reading of 0
    assert 'GiB Swap:      2.0 total,      2.0 free,      0.0 used.' in text
    assert top['summary']['swap']['used'] is None and top['summary']['lost'] == ['swap.used']
    systemd = top['processes'][0]
    assert (systemd['virt'], systemd['res'], systemd['shr']) == (
        round(125.1 * MIB), round(6.5 * MIB), round(4.1 * MIB))
    assert top['summary']['uptime'] == 68 * 60


def test_all_fields_wide_by_position():
    """Every field top has, COMMAND in the middle, ENVIRON with spaces: cut by header position."""
    text = legacy('jc-centos-7.7-top-b-n1-gib-allfields-w.excerpt.out')
    top = parse_top(text)
    header = text.splitlines()[6].split()
    first = top['processes'][0]
    classic = {'PID', 'USER', 'PR', 'NI', 'VIRT', 'RES', 'SHR', 'S', '%CPU', '%MEM', 'TIME+', 'COMMAND'}
    assert set(first['extra']) == set(header) - classic
    assert first['command'] == 'top' and first['extra']['PPID'] == 1884
    assert first['extra']['ENVIRON'] == 'XDG_SESSION_ID=2 HOSTNAME=localhost S+'
    assert first['extra']['CGROUPS'] == '1:name=systemd:/user.slice/user-1000.+'
    assert first['extra']['SUPGRPS'] == 'wheel,kbrazil' and first['extra']['TTY'] == 'pts/0'
    assert sorted(first['truncated']) == ['extra.CGROUPS', 'extra.ENVIRON']
    assert first['extra']['USED'] == round(2.2 * MIB) and first['extra']['CODE'] == round(0.1 * MIB)
    assert first['extra']['nsUTS'] == 4026531838 and first['extra']['WCHAN'] is None
    systemd = top['processes'][1]
    # top.c scale_num divides a counter by 1024 per suffix step: 13k is 13 * 1024
    assert systemd['extra']['nMin'] == 13 * 1024 and systemd['extra']['nMaj'] == 63
    assert systemd['extra']['DATA'] == round(82.4 * MIB) and systemd['extra']['TPGID'] == -1
    assert systemd['extra']['ENVIRON'] is None and systemd['extra']['nsIPC'] is None
    kworker = top['processes'][3]
    assert kworker['extra']['WCHAN'] == 'worker_th+' and kworker['truncated'] == ['extra.WCHAN']
    assert top['processes'][4]['priority'] == 'rt'


def test_procps_3316_mib_layout_and_long_names():
    text = legacy('jc-ubuntu-20.10-top-b-n1.excerpt.out')
    top = parse_top(text)
    unit, tokens = mem_line_tokens(text)
    for key, label in (('total', 'total'), ('free', 'free'), ('used', 'used'),
                       ('buff_cache', 'buff/cache')):
        assert top['summary']['mem'][key] == round(float(tokens[label]) * unit)
    commands = [p['command'] for p in top['processes']]
    assert 'kworker/u256:0-events_freezable_power_' in commands
    assert [p['priority'] for p in top['processes']][-2:] == ['rt', -51]


def test_procps_339_layout_normalised_and_raw_kept():
    text = legacy('quoted-procps-3.3.9-docker-ni100.out')
    top = parse_top(text)
    assert top['format'] == 'procps<=3.3.9'
    summary = top['summary']
    assert summary['raw_mem'] == {'total': 2056748 * KIB, 'used': 301984 * KIB, 'free': 1754764 * KIB,
                                  'buffers': 20984 * KIB, 'cached': 231376 * KIB}
    # 3.3.9's "used" counts buffers and cache; ours does not (procps-ng 3.3.10 meaning).
    assert summary['mem'] == {'total': 2056748 * KIB, 'free': 1754764 * KIB,
                              'used': (301984 - 20984 - 231376) * KIB,
                              'buff_cache': (20984 + 231376) * KIB, 'available': None}
    assert summary['swap'] == {'total': 1427664 * KIB, 'used': 0, 'free': 1427664 * KIB}
    assert summary['cpu']['id'] == 100.0 and summary['cpu']['ni'] == 0.0
    # The poster stripped the header's indentation: the columns still read by whitespace.
    assert [(p['pid'], p['command'], p['res']) for p in top['processes']] == [
        (1, 'sh', 692 * KIB), (8, 'bash', 3048 * KIB), (9, 'top', 2384 * KIB)]


def test_decimal_comma_locale():
    top = parse_top(legacy('quoted-procps-3.3.9-xorg-decimal-comma.out'))
    summary = top['summary']
    assert summary['load_average'] == [0.83, 0.58, 0.47]
    assert summary['cpu']['us'] == 8.7 and summary['cpu']['id'] == 90.5
    assert summary['uptime'] == (8 * 1440 + 66) * 60
    assert summary['tasks']['stopped'] == 2
    assert summary['swap']['used'] == 207268 * KIB
    xorg = top['processes'][0]
    assert (xorg['cpu_percent'], xorg['mem_percent'], xorg['time']) == (50.6, 2.9, '1409:20')
    assert xorg['res'] == 236676 * KIB


def test_auto_scaled_columns_and_odd_precision():
    top = parse_top(legacy('quoted-procps-3.3.9-hana-1.out'))
    index = top['processes'][0]
    assert index['res'] == round(3.157 * 1024 ** 3) and index['virt'] == 4887336 * KIB
    assert index['cpu_percent'] == 316.0 and index['mem_percent'] == 10.14
    assert top['processes'][2]['cpu_percent'] == 64.0 and top['processes'][-1]['cpu_percent'] == 8.0
    assert top['summary']['uptime'] == (1440 + 609) * 60
    assert top['summary']['load_average'] == [167.38, 95.04, 39.97]


def test_truncated_commands_keep_their_prefix_and_are_listed():
    top = parse_top(legacy('quoted-procps-3.3.9-hana-2.out'))
    assert [p['command'] for p in top['processes']][:2] == ['hdbindexs+', 'hdbnamese+']
    assert all(p['truncated'] == ['command'] for p in top['processes'])
    assert top['summary']['swap']['used'] == 4147928 * KIB
    assert top['summary']['uptime'] == 135 * 60


def test_procps_32_format():
    top = parse_top(legacy('quoted-procps-3.2-ubuntu-10.10.out'))
    assert top['format'] == 'procps<=3.2'
    summary = top['summary']
    assert summary['mem']['total'] == 3051792 * KIB and summary['mem']['free'] == 1829540 * KIB
    assert summary['mem']['used'] == (1222252 - 67072 - 462512) * KIB
    assert summary['swap'] == {'total': 499708 * KIB, 'used': 0, 'free': 499708 * KIB}
    assert summary['cpu']['us'] == 1.9 and summary['cpu']['id'] == 93.3
    assert top['processes'][0]['virt'] == 184 * MIB and top['processes'][0]['cpu_percent'] == 3.0
    assert top['processes'][6]['res'] == 1068 * KIB


def test_truncated_summary_numbers_are_null_never_guessed():
    top = parse_top(legacy('derived-procps-3.3.12-plus-truncated-summary.out'))
    summary = top['summary']
    assert summary['mem'] == {'total': None, 'free': 1166060 * KIB, 'used': 57391012 * KIB,
                              'buff_cache': 73387784 * KIB, 'available': None}
    assert summary['truncated'] == ['mem.total', 'mem.available']
    assert summary['uptime'] == (12 * 1440 + 184) * 60 and summary['users'] == 1


def test_german_locale_capture():
    """procps-ng 4.0.2 under LC_ALL=de_DE.UTF-8 (a real capture): translated labels and header
    names, decimal commas; the same figures as the C locale gives."""
    path = os.path.join(FIXTURES, 'captures', 'bookworm-container', 'de-top-b-n1-o-MEM-w-512.json')
    if not os.path.exists(path):
        pytest.skip('capture not there')
    text = legacy('captures/bookworm-container/de-top-b-n1-o-MEM-w-512.json')
    top = parse_top(text)
    assert top['summary']['load_average'] == [18.7, 15.65, 11.76]
    assert top['summary']['cpu']['id'] == 100.0
    assert top['summary']['mem']['available'] == round(22696.9 * MIB)
    rows = [l.split() for l in text.splitlines()[7:] if l.strip()]
    assert [p['pid'] for p in top['processes']] == [int(r[0]) for r in rows]
    assert [p['time'] for p in top['processes']] == [r[10] for r in rows]
    assert 'report builder' in [p['command'] for p in top['processes']]
    assert all(p['extra'] == {} for p in top['processes'])


def test_toprc_columns_capture():
    """A real toprc adding SWAP, DATA, nMaj, USED, RSan, RSsh, PSS and USS (procps-ng 4.0.4)."""
    text = legacy('captures/trixie-container/top-b-n1-w-512-toprc.json')
    top = parse_top(text)
    lines = text.splitlines()
    names = lines[6].split()
    for proc, line in zip(top['processes'], lines[7:]):
        row = dict(zip(names, line.split(None, len(names) - 1)))
        for name in ('SWAP', 'DATA', 'USED', 'RSan', 'RSsh', 'PSS', 'USS'):
            assert proc['extra'][name] == int(row[name]) * KIB
        assert proc['extra']['nMaj'] == int(row['nMaj'])
        assert proc['extra']['USED'] == proc['res'] + proc['extra']['SWAP']
        assert proc['extra']['USS'] <= proc['extra']['PSS'] <= proc['res']


def test_unknown_column_kept_in_extra():
    text = legacy('derived-procps-4.0.2-pss-column.out')
    top = parse_top(text)
    rows = [l.split() for l in text.splitlines()[7:]]
    for proc, row in zip(top['processes'], rows):
        assert proc['extra'] == {'PSS': int(row[11]) * KIB}
        assert proc['command'] == row[12]
    assert len(top['processes']) == len(rows)


@pytest.mark.parametrize('printed, seconds', [
    ('2 min', 120), ('1:08', 68 * 60), ('1 day, 10:09', (1440 + 609) * 60),
    ('8 days,  1:06', (8 * 1440 + 66) * 60), ('12 days,  3:04', (12 * 1440 + 184) * 60),
    ('45 min', 45 * 60), ('100 days, 5 min', (100 * 1440 + 5) * 60),
])
def test_uptime_forms(printed, seconds):
    line = legacy('jc-centos-7.7-top-b-n3.excerpt.out').replace('up 2 min,', 'up %s,' % printed, 1)
    assert parse_top(line)['summary']['uptime'] == seconds


def test_unknown_uptime_form_is_returned_as_printed():
    text = legacy('jc-centos-7.7-top-b-n3.excerpt.out').replace('up 2 min,', 'up 2 fortnights,', 1)
    assert parse_top(text)['summary']['uptime'] == '2 fortnights'


def test_task_counts_are_never_scaled():
    """top_nls.c STATE_line_1_fmt prints the counts with %3u (%u in 4.0.5+): a '13k' total is no
    line top printed. The line is a named gap, the table is still read."""
    text = legacy('jc-centos-7.7-top-b-n3.excerpt.out').replace('Tasks: 112 total', 'Tasks: 13k total')
    top = parse_top(text)
    assert top['summary']['tasks'] == dict.fromkeys(('total', 'running', 'sleeping', 'd_sleep', 'stopped', 'zombie'))
    assert len(top['summary']['unread']) == 1 and 'line 2' in top['summary']['unread'][0]
    assert len(top['processes']) == 15


# --------------------------------------------------------------- the traps, jc beside us

JC_VERSION = '1.26.1'


def jc_top(text):
    jc = pytest.importorskip('jc')
    if jc.__version__ != JC_VERSION:
        pytest.skip('jc\'s behaviour recorded for %s, installed %s' % (JC_VERSION, jc.__version__))
    try:
        return jc.parse('top', text, quiet=True)[-1]
    except Exception as err:  # jc's failure is what is recorded
        return err


def _jc_proc(result, pid, key):
    return next(p.get(key) for p in result['processes'] if p.get('pid') == pid)


TRAPS = [
    # (trap, fixture, jc's answer, jc's value, our answer, the right value)
    ('real 4.0.2 "ni,100.0 id"', 'captures/bookworm-container/top-b-n1-o-MEM-e-m-E-g-w-512.json',
     lambda r: r['cpu_idle'], None, lambda t: t['summary']['cpu']['id'], 100.0),
    ('real toprc columns PSS, USS (procps-ng 4.0.4)', 'captures/trixie-container/top-b-n1-w-512-toprc.json',
     lambda r: type(r).__name__, 'KeyError',
     lambda t: sorted(k for k in t['processes'][1]['extra'] if k in ('PSS', 'USS', 'SWAP')),
     ['PSS', 'SWAP', 'USS']),
    ('real German locale ("%CPU(s)", "MiB Spch", "BEFEHL")',
     'captures/bookworm-container/de-top-b-n1-o-MEM-w-512.json',
     lambda r: type(r).__name__, 'KeyError', lambda t: t['summary']['mem']['total'],
     round(24105.6 * MIB)),
    ('CPU line "ni,100.0 id"', 'quoted-procps-3.3.9-docker-ni100.out',
     lambda r: type(r).__name__, 'KeyError', lambda t: t['summary']['cpu']['id'], 100.0),
    ('CPU "ni,100.0 id" in the 3.3.10+ layout', 'derived-procps-3.3.12-plus-truncated-summary.out',
     lambda r: r['cpu_idle'], None, lambda t: t['summary']['cpu']['id'], 100.0),
    ('uptime "up 12 days,  3:04"', 'derived-procps-3.3.12-plus-truncated-summary.out',
     lambda r: r['uptime'], 12304, lambda t: t['summary']['uptime'], 1047840),
    ('uptime "up  1:08"', 'jc-centos-7.7-top-b-n1-gib.excerpt.out',
     lambda r: r['uptime'], 108, lambda t: t['summary']['uptime'], 4080),
    ('uptime "up 2 min"', 'jc-centos-7.7-top-b-n3.excerpt.out',
     lambda r: r['uptime'], 2, lambda t: t['summary']['uptime'], 120),
    ('13k page-fault counter', 'jc-centos-7.7-top-b-n1-gib-allfields-w.excerpt.out',
     lambda r: _jc_proc(r, 1, 'minor_page_fault_count'), 13,
     lambda t: t['processes'][1]['extra']['nMin'], 13 * 1024),
    ('rt priority', 'jc-centos-7.7-top-b-n3.excerpt.out',
     lambda r: _jc_proc(r, 7, 'priority'), None,
     lambda t: [p for p in t['processes'] if p['pid'] == 7][0]['priority'], 'rt'),
    ('a column jc does not know (PSS)', 'derived-procps-4.0.2-pss-column.out',
     lambda r: type(r).__name__, 'KeyError',
     lambda t: t['processes'][0]['extra']['PSS'] > 0, True),
    ('summary total truncated "13194485+"', 'derived-procps-3.3.12-plus-truncated-summary.out',
     lambda r: r['mem_total'], 13194485.0, lambda t: t['summary']['mem']['total'], None),
    ('summary avail truncated "73211384+"', 'derived-procps-3.3.12-plus-truncated-summary.out',
     lambda r: r['mem_available'], 73211384.0, lambda t: t['summary']['mem']['available'], None),
    ('used after a truncated total', 'derived-procps-3.3.12-plus-truncated-summary.out',
     lambda r: r['mem_used'], None, lambda t: t['summary']['mem']['used'], 57391012 * KIB),
    ('procps 3.3.9 "KiB Mem:" layout', 'quoted-procps-3.3.9-hana-1.out',
     lambda r: type(r).__name__, 'KeyError', lambda t: t['summary']['mem']['total'], 32660532 * KIB),
    ('procps 3.2 "Mem: ...k total" layout', 'quoted-procps-3.2-ubuntu-10.10.out',
     lambda r: r.get('mem_total'), None, lambda t: t['summary']['mem']['total'], 3051792 * KIB),
    ('process memory columns in KiB', 'jc-centos-7.7-top-b-n3.excerpt.out',
     lambda r: _jc_proc(r, 1, 'resident_mem_bytes'), 6684,
     lambda t: t['processes'][1]['res'], 6684 * KIB),
]


@pytest.mark.parametrize('trap, name, jc_answer, jc_value, ours, right',
                         TRAPS, ids=[t[0] for t in TRAPS])
def test_trap_jc_wrong_ours_right(trap, name, jc_answer, jc_value, ours, right):
    text = legacy(name)
    assert ours(parse_top(text)) == right
    assert jc_answer(jc_top(text)) == jc_value


# --------------------------------------------------------------- input it cannot read

@pytest.mark.parametrize('text, quoted', [
    ('hello world\n', 'hello world'),
    ('$ top -b -n1\n' + 'top - 11:24:50 up 2 min', '$ top -b -n1'),
])
def test_garbage_is_refused_with_the_line(text, quoted):
    with pytest.raises(ParseError) as err:
        parse_top(text)
    assert repr(quoted) in str(err.value) and 'line 1' in str(err.value)


@pytest.mark.parametrize('text', ['', '\n  \n'])
def test_empty(text):
    with pytest.raises(ParseError, match='empty'):
        parse_top(text)


def test_not_text():
    with pytest.raises(ParseError, match='text'):
        parse_top(b'top - ')


def test_paste_cut_inside_a_process_line():
    text = legacy('jc-centos-7.7-top-b-n3.excerpt.out')
    cut = text[:text.index('0:00.62 firewalld') - 20]
    with pytest.raises(ParseError) as err:
        parse_top(cut)
    assert 'columns' in str(err.value) and '852 root' in str(err.value) and 'line 20' in str(err.value)


def test_paste_cut_before_the_process_table():
    text = '\n'.join(legacy('jc-centos-7.7-top-b-n3.excerpt.out').splitlines()[:4])
    with pytest.raises(ParseError, match='before its process table') as err:
        parse_top(text)
    assert 'KiB Mem' in str(err.value)


def test_unknown_summary_line_is_named_not_guessed_and_the_table_stays():
    """A summary line of a form the parser does not know (a translation, a future release) is a
    named gap: its figures stay None, the line is quoted with its number, the processes are read."""
    text = legacy('jc-centos-7.7-top-b-n3.excerpt.out')
    top = parse_top(text.replace('Tasks:', 'Aufgaben:'))
    unread = top['summary']['unread']
    assert len(unread) == 1 and 'line 2' in unread[0] and 'Aufgaben: 112' in unread[0]
    assert set(top['summary']['tasks'].values()) == {None}
    assert top['processes'] == parse_top(text)['processes']
    assert top['summary']['mem'] == parse_top(text)['summary']['mem']


def test_memory_graph_mode_is_a_named_gap():
    text = legacy('jc-centos-7.7-top-b-n1-gib.excerpt.out').replace(
        'GiB Mem :      3.7 total,      3.3 free,      0.2 used,      0.2 buff/cache',
        'GiB Mem : 28.2/7.8      [||||||||                  ]')
    top = parse_top(text)
    assert len(top['summary']['unread']) == 1 and 'graph' in top['summary']['unread'][0]
    assert top['summary']['mem']['total'] is None and top['summary']['mem']['free'] is None
    assert top['processes'][0]['res'] == round(6.5 * MIB)


def test_letters_in_a_number_column():
    text = legacy('jc-centos-7.7-top-b-n3.excerpt.out').replace('  128084   6684', '  128084   66x4')
    with pytest.raises(ParseError, match='RES') as err:
        parse_top(text)
    assert '66x4' in str(err.value)


def test_mem_line_missing_a_value():
    text = legacy('jc-centos-7.7-top-b-n3.excerpt.out').replace(',   197916 buff/cache', '')
    top = parse_top(text)
    assert 'Mem line without buff/cache' in top['summary']['unread'][0]
    assert set(top['summary']['mem'].values()) == {None, 3419356 * KIB}  # avail Mem is the Swap line's
    assert len(top['processes']) == 15


# --------------------------------------------------------------- this machine, now

def run(cmd):
    # errors='replace' as the reading decodes (collect.run): a process may be named with any bytes
    env = dict(os.environ, LC_ALL='C', LANG='C', HOME='/nonexistent', XDG_CONFIG_HOME='/nonexistent')
    return subprocess.run(cmd, check=True, capture_output=True, encoding='utf-8', errors='replace', env=env).stdout


def free_b():
    """``free -b``'s Mem and Swap rows, by header name (read here, not by the free parser)."""
    lines = run(['free', '-b']).splitlines()
    names = lines[0].split()
    rows = {}
    for line in lines[1:]:
        label, values = line.split(':', 1)
        rows[label.strip()] = dict(zip(names, (int(v) for v in values.split())))
    return rows


def meminfo():
    with open('/proc/meminfo') as handle:
        return {k: int(v) * KIB for k, v in re.findall(r'^(\w+):\s+(\d+) kB$', handle.read(), re.M)}


needs_top = pytest.mark.skipif(shutil.which('top') is None or shutil.which('free') is None,
                               reason='procps top/free not installed')


def lost_zero(value, token, multiplier, exact_values, drift, name, lost):
    """A zero printed at a unit that hides a MiB or more (0.0 GiB): None, named in ``lost``, and the
    real figure under half a step (what top's rounding to zero says, and all it says)."""
    step = resolution(token, multiplier)
    if not (float(token.replace(',', '.')) == 0 and step / 2 >= MIB):
        return False
    assert value is None and name in lost, (name, value, lost)
    assert max(exact_values) <= step / 2 + drift, (name, exact_values, step)
    return True


def check_against_free(text, before, after):
    top = parse_top(text)
    mem, swap, lost = top['summary']['mem'], top['summary']['swap'], top['summary']['lost']
    assert top['summary']['unread'] == []
    unit, tokens = mem_line_tokens(text)
    pairs = (('total', 'total', 0), ('free', 'free', DRIFT), ('used', 'used', DRIFT),
             ('buff_cache', 'buff/cache', DRIFT), ('available', 'avail Mem', DRIFT))
    for key, label, drift in pairs:
        source = 'available' if key == 'available' else key.replace('buff_cache', 'buff/cache')
        line_tokens = tokens if key != 'available' else mem_line_tokens(text, 'Swap')[1]
        exact = [before['Mem'][source], after['Mem'][source]]
        if lost_zero(mem[key], line_tokens[label], unit, exact, drift, 'mem.' + key, lost):
            continue
        assert close_to(mem[key], line_tokens[label], unit, exact, drift), (key, mem[key], exact)
    swap_unit, swap_tokens = mem_line_tokens(text, 'Swap')
    for key in ('total', 'free', 'used'):
        exact, drift = [before['Swap'][key], after['Swap'][key]], 0 if key == 'total' else DRIFT
        if lost_zero(swap[key], swap_tokens[key], swap_unit, exact, drift, 'swap.' + key, lost):
            continue
        assert close_to(swap[key], swap_tokens[key], swap_unit, exact, drift)
    return top


@needs_top
@pytest.mark.parametrize('scale', [[], ['-E', 'k'], ['-E', 'm'], ['-E', 'g'], ['-E', 'm', '-e', 'm'],
                                   ['-E', 'g', '-e', 'g'], ['-e', 'k']])
def test_live_summary_matches_free_b(scale):
    before = free_b()
    text = run(['top', '-b', '-n', '1', '-o', '%MEM', '-w', '512'] + scale)
    after = free_b()
    top = check_against_free(text, before, after)
    assert top['format'] == 'procps-ng>=3.3.10' and top['processes']
    # With a suffix (-e m/g) every RES carries it: parsed back, the largest stays the largest.
    # A RES of 0.0g (under 51.2 MiB) is no reading: None, named in its process's lost.
    sizes = [p['res'] for p in top['processes']]
    assert all(p['res'] is not None or 'res' in p['lost'] for p in top['processes'])
    known = [s for s in sizes if s is not None]
    assert known and known[0] >= max(known) - MIB


def ps_now():
    rss = {}
    for line in run(['ps', '-eo', 'pid=,rss=']).splitlines():
        pid, kib = line.split()
        rss[int(pid)] = int(kib) * KIB
    return rss


@needs_top
def test_live_res_matches_ps_rss():
    """top's RES is ps's RSS, to the KiB, for processes that cannot move while the two look: children
    of this test, each holding its own amount of memory, stopped (SIGSTOP) before either reads them.
    (Any other process on a busy host may grow and shrink between two reads: no reference for it.)"""
    holders = []
    try:
        for mib in range(4, 52, 4):
            holder = subprocess.Popen([sys.executable, '-c', 'import sys; held = bytearray(%d << 20); '
                                       'held[::4096] = b"x" * len(held[::4096]); print("ready", flush=True); '
                                       'sys.stdin.read()' % mib], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            holders.append(holder)
        for holder in holders:
            assert holder.stdout.readline() == 'ready\n'
            os.kill(holder.pid, signal.SIGSTOP)
        before = ps_now()
        text = run(['top', '-b', '-n', '1', '-o', '%MEM', '-w', '512'])
        after = ps_now()
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
    rows = dict((proc['pid'], proc) for proc in parse_top(text)['processes'])
    pids = [holder.pid for holder in holders]
    assert all(before[pid] == after[pid] for pid in pids), 'a stopped process moved'
    assert [rows[pid]['res'] for pid in pids] == [before[pid] for pid in pids]
    sizes = [before[pid] for pid in pids]
    # each its own, as made (4 MiB apart; the interpreter's own pages differ by less)
    assert all(b > a for a, b in zip(sizes, sizes[1:])) and sizes[-1] - sizes[0] >= 40 * MIB


@needs_top
def test_live_three_samples_with_full_commands():
    text = run(['top', '-b', '-n', '3', '-d', '0.1', '-c', '-o', '%MEM', '-w', '512'])
    top = parse_top(text)
    assert len(top['samples']) == 3 == text.count('\ntop - ') + 1
    assert top['summary'] is top['samples'][-1]['summary']
    assert top['processes'] is top['samples'][-1]['processes']
    totals = {s['summary']['mem']['total'] for s in top['samples']}
    assert len(totals) == 1
    tables = [t for t in text.split('\ntop - ')]
    for sample, block in zip(top['samples'], tables):
        rows = [l for l in block.split('COMMAND\n', 1)[1].splitlines() if l.strip()]
        assert [p['pid'] for p in sample['processes']] == [int(r.split()[0]) for r in rows]
    assert any(' ' in p['command'] for p in top['processes'])  # -c: full command lines


@pytest.mark.skipif(shutil.which('busybox') is None, reason='busybox not installed')
def test_live_busybox_matches_meminfo():
    before = meminfo()
    text = run(['busybox', 'top', '-b', '-n', '1'])
    after = meminfo()
    top = parse_top(text)
    assert top['format'] == 'busybox'
    mem, raw = top['summary']['mem'], top['summary']['raw_mem']
    # busybox prints KiB exactly and computes used = MemTotal - MemFree.
    assert mem['total'] == before['MemTotal'] == after['MemTotal']
    assert close_to(mem['free'], '1', KIB, [before['MemFree'], after['MemFree']], DRIFT)
    bc = [before['Buffers'] + before['Cached'], after['Buffers'] + after['Cached']]
    assert close_to(mem['buff_cache'], '1', KIB, bc, DRIFT)
    assert mem['used'] == raw['used'] - raw['buffers'] - raw['cached']
    assert mem['available'] is None and top['summary']['swap'] == {'total': None, 'free': None, 'used': None}
    assert top['summary']['tasks']['total'] is None and len(top['summary']['load_average']) == 3
    for proc in top['processes']:
        assert proc['res'] is None and proc['mem_percent'] is None
        assert proc['state'] == proc['extra']['STAT'][0] and proc['virt'] >= 0


# --------------------------------------------------------------- real captures (Debian, busybox)

def captures():
    paths = sorted(glob.glob(os.path.join(FIXTURES, 'captures', '*', '*.json')))
    found = []
    for path in paths:
        with open(path) as handle:
            data = json.load(handle)
        if re.search(r'(^|\s|/)top(\s|$)', data.get('command', '')):
            found.append(pytest.param(path, data, id=os.path.relpath(path, FIXTURES)))
    return found or [pytest.param(None, None, marks=pytest.mark.skip(reason='no top captures yet'))]


def free_rows(text):
    lines = text.splitlines()
    names = lines[0].split()
    rows = {}
    for line in lines[1:]:
        label, values = line.split(':', 1)
        rows[label.strip()] = dict(zip(names, (int(v) for v in values.split())))
    return rows


def meminfo_rows(text):
    return {k: int(v) * KIB for k, v in re.findall(r'^(\w+):\s+(\d+) kB$', text, re.M)}


def ps_rss(ps):
    """pid -> rss bytes from the capture's ``ps`` (text with PID and RSS columns, or records)."""
    if isinstance(ps, list):
        return {int(r['pid']): int(r['rss']) * KIB for r in ps}
    lines = ps.splitlines()
    names = [n.upper() for n in lines[0].split()]
    pid_at, rss_at = names.index('PID'), names.index('RSS')
    result = {}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > max(pid_at, rss_at):
            result[int(fields[pid_at])] = int(fields[rss_at]) * KIB
    return result


@pytest.mark.parametrize('path, data', captures())
def test_capture(path, data):
    text = data['output']
    top = parse_top(text)
    before, after = data['before'], data['after']
    if top['format'] == 'busybox':
        b, a = meminfo_rows(before['meminfo']), meminfo_rows(after['meminfo'])
        assert top['summary']['mem']['total'] == b['MemTotal']
        assert close_to(top['summary']['mem']['free'], '1', KIB, [b['MemFree'], a['MemFree']], DRIFT)
        assert close_to(top['summary']['mem']['buff_cache'], '1', KIB,
                        [b['Buffers'] + b['Cached'], a['Buffers'] + a['Cached']], DRIFT)
        for proc in top['processes']:
            assert proc['res'] is None and proc['extra']['PPID'] >= 0
        return
    check_against_free(text, free_rows(before['free_b']), free_rows(after['free_b']))
    if data.get('ps') and top['processes'][0]['res'] is not None:
        rss = ps_rss(data['ps'])
        scale = re.search(r'-e\s*([kmgtpe])\b', data['command'])
        # A suffixed RES (-e m: 86.3m) is rounded to a tenth of its unit.
        step = KIB if not scale or scale.group(1) == 'k' else 1024 ** ' kmgtpe'.index(scale.group(1)) / 10
        matched = [(p, rss[p['pid']]) for p in top['processes'] if p['pid'] in rss and rss[p['pid']]
                   and p['res'] is not None and p['command'] not in ('top', 'ps')]
        assert matched
        # One ps reading, taken a few ms after top: idle processes agree to the display rounding,
        # processes allocating (the capture's workers) or being swapped in and out under pressure
        # move by up to a few MiB (in the swap container, several in one reading). Three in four
        # within 5% or 1 MiB, half to the display rounding; a unit mistake would miss all.
        agree = [p for p, exact in matched if abs(p['res'] - exact) <= max(MIB, exact // 20) + step / 2]
        assert len(agree) >= 0.75 * len(matched), [(p['pid'], p['res'], rss[p['pid']]) for p, _ in matched]
        exact = [p for p, value in matched if abs(p['res'] - value) <= step / 2]
        assert len(exact) >= 0.5 * len(matched)


# --------------------------------------------------------------- the top_facts module, run for real

def run_module(tmp_path, args, path=None):
    """Run library/top_facts.py as Ansible would run it on a host (arguments from a file)."""
    return run_library_module('top_facts', args, tmp_path, path)


@needs_top
def test_module_runs_top_and_limits(tmp_path):
    result = run_module(tmp_path, {'limit': 3})
    top = result['ansible_facts']['top']
    assert result['changed'] is False and top['format'] == 'procps-ng>=3.3.10'
    assert len(top['processes']) == 3 and top['process_count'] > 3
    assert top['processes'] == top['samples'][-1]['processes']
    mems = [p['mem_percent'] for p in top['processes']]
    assert mems == sorted(mems, reverse=True)  # -o %MEM


def test_module_parses_output_and_fails_cleanly(tmp_path):
    text = legacy('jc-centos-7.7-top-b-n3.excerpt.out')
    result = run_module(tmp_path, {'output': text, 'limit': 0})
    assert len(result['ansible_facts']['top']['processes']) == 15
    # a summary line it cannot read is a warning naming it; the facts still come
    odd = run_module(tmp_path, {'output': text.replace('Tasks:', 'Aufgaben:'), 'limit': 0})
    assert not odd.get('failed') and len(odd['ansible_facts']['top']['processes']) == 15
    assert 'Aufgaben: 112' in json.dumps(odd['warnings'])
    bad = run_module(tmp_path, {'output': text.replace('  128084   6684', '  128084   66x4')})
    assert bad['failed'] and 'cannot read top output' in bad['msg'] and '66x4' in bad['msg']
    assert 'Traceback' not in json.dumps(bad)
    assert run_module(tmp_path, {'iterations': 0})['msg'] == 'iterations must be at least 1, got 0'


def test_module_without_top(tmp_path):
    empty = tmp_path / 'bin'
    empty.mkdir()
    result = run_module(tmp_path, {}, path=str(empty))
    assert result['failed'] and 'top is not installed' in result['msg']


class FakeTop(object):
    """Stands in for a host's top: answers argv from a table, records calls and pauses."""

    def __init__(self, answers):
        self.answers, self.calls, self.pauses = answers, [], []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.answers.get(' '.join(argv), (1, '', 'top: unknown option'))


def test_run_top_procps_falls_back_without_o_and_w():
    fake = FakeTop({'top -V': (0, 'procps-ng 3.3.9', ''), 'top -b -n 2 -d 0.5': (0, 'OUT', '')})
    assert run_top(fake, 2, 0.5) == ('OUT', False)
    assert fake.calls[1][-4:] == ['-o', '%MEM', '-w', '512'] and len(fake.calls) == 3


def test_run_top_busybox_one_run_per_sample_with_its_own_pause():
    with open(os.path.join(FIXTURES, 'captures', 'bookworm-container', 'busybox-top-b-n1.json')) as handle:
        sample = json.load(handle)['output']
    fake = FakeTop({'top -V': (1, '', 'BusyBox v1.35.0 multi-call binary.'), 'top -b -n 1': (0, sample, '')})
    out, busybox = run_top(fake, 3, 0.2, sleep=fake.pauses.append)
    assert busybox and fake.pauses == [0.2, 0.2] and fake.calls.count(['top', '-b', '-n', '1']) == 3
    assert len(parse_top(out)['samples']) == 3
    run_top(fake, 2, None, sleep=fake.pauses.append)
    assert fake.pauses[-1] == 5


def test_run_top_busybox_without_processes_fails_clearly():
    fake = FakeTop({'top -V': (1, '', 'BusyBox v1.35.0'), 'top -b -n 1': (0, '', 'top: no process info in /proc')})
    with pytest.raises(OSError, match='no process info in /proc'):
        run_top(fake, 2, 0.1, sleep=lambda s: None)


@pytest.mark.skipif(shutil.which('busybox') is None, reason='busybox not installed')
def test_module_with_busybox_top(tmp_path):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    (bindir / 'top').symlink_to(shutil.which('busybox'))
    result = run_module(tmp_path, {'limit': 5, 'delay': 0.2, 'iterations': 2},
                        path='%s:%s' % (bindir, os.environ['PATH']))
    top = result['ansible_facts']['top']
    assert top['format'] == 'busybox' and len(top['samples']) == 2
    virts = [p['virt'] for p in top['processes']]
    assert len(virts) == 5 and virts == sorted(virts, reverse=True)
