"""Every form of `top -b` that the issue's class 3 names, read right, each checked against a reference
read apart from the parser.

Real captures (tests/fixtures/top/README.md): procps-ng 3.3.17 (bullseye), 4.0.2 (bookworm), 4.0.4
(trixie), 4.0.7 (sid's .debs in a trixie container) and busybox 1.30/1.35/1.37, each with `free -b`
taken just before and after top, `ps` just after, and the kernel's own names of the processes the
capture started. Forms this machine cannot produce are built from the tools' sources and say so.
"""
import glob
import json
import os
import re

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.top import (
    UNREAD_LIMIT, host_name, parse_top, restore_commands)
from ansible_collections.headroom.memory.plugins.module_utils.units import resolution

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures')
TOP = os.path.join(FIXTURES, 'top')
KIB, MIB = 1024, 1024 ** 2
# free -b is read a few ms before and after top; this shared machine moves a few MiB in between
# (see test_top.DRIFT). A mistake of unit is off by a factor of 1024.
DRIFT = 32 * MIB
UNITS = {'K': KIB, 'M': MIB, 'G': 1024 ** 3, 'T': 1024 ** 4, 'P': 1024 ** 5, 'E': 1024 ** 6}


def load(name):
    with open(os.path.join(TOP, name + '.json')) as handle:
        return json.load(handle)


def all_captures():
    paths = sorted(glob.glob(os.path.join(TOP, '*', '*.json')))
    return [pytest.param(os.path.relpath(p, TOP)[:-5], id=os.path.relpath(p, TOP)[:-5]) for p in paths]


CAPTURES = all_captures()


def free_rows(text):
    lines = text.splitlines()
    names = lines[0].split()
    return dict((line.split(':', 1)[0].strip(), dict(zip(names, (int(v) for v in line.split(':', 1)[1].split()))))
                for line in lines[1:])


def summary_tokens(text):
    """{('Mem'|'Swap', label): (token, unit)} of the last sample, found anywhere on a line (4.x may
    print the Mem and Swap parts on one line), read here without the parser."""
    found = {}
    for match in re.finditer(r'([KMGTPE])iB (Mem|Swap|Spch)\s?:((?:\s*[\d.,+]+ ?(?:total|free|used|buff/cache|avail '
                             r'(?:Mem|Spch))[,.]?)+)', text):
        unit, kind = UNITS[match.group(1)], 'Swap' if match.group(2) == 'Swap' else 'Mem'
        for token, label in re.findall(r'([\d.,+]+) ?(total|free|used|buff/cache|avail (?:Mem|Spch))', match.group(3)):
            found[(kind, label.replace('Spch', 'Mem'))] = (token, unit)
    return found


def ps_rss(ps):
    rows = {}
    for line in ps.splitlines()[1:]:
        pid, rss = line.split()[:2]
        rows[int(pid)] = int(rss) * KIB
    return rows


def check_figure(value, token, unit, exact, drift, name, lost):
    """``value`` is what ``token`` says of the ``exact`` figures bracketing top's moment: within
    half a display step, or None named in ``lost`` when a zero hides a MiB or more."""
    step = resolution(token.replace(',', '.'), unit)
    if float(token.replace(',', '.')) == 0 and step / 2 >= MIB:
        assert value is None and name in lost, (name, value, lost)
        assert max(exact) <= step / 2 + drift, (name, exact, token)
        return
    assert value is not None and name not in lost, (name, value)
    assert min(exact) - step / 2 - drift <= value <= max(exact) + step / 2 + drift, (name, value, exact, token)


# --------------------------------------------------------------- every capture, every figure

@pytest.mark.parametrize('name', CAPTURES)
def test_capture_reads_against_free_ps_and_the_kernel(name):
    capture = load(name)
    text = capture['output']
    top = parse_top(text)
    summary = top['summary']
    if name.endswith('toprc-graphs'):
        # graphs (toggles m, t) are named gaps, and cost nothing else
        assert len(summary['unread']) == 3 and all('graph' in u for u in summary['unread'])
    else:
        assert summary['unread'] == []
    if top['format'] != 'busybox' and not name.endswith('toprc-graphs'):
        before, after = free_rows(capture['before']['free_b']), free_rows(capture['after']['free_b'])
        tokens = summary_tokens(text.split('\ntop - ')[-1])
        keys = [('mem', 'total', 'Mem', 'total', 0), ('mem', 'free', 'Mem', 'free', DRIFT),
                ('mem', 'used', 'Mem', 'used', DRIFT), ('mem', 'buff_cache', 'Mem', 'buff/cache', DRIFT),
                ('mem', 'available', 'Swap', 'avail Mem', DRIFT), ('swap', 'total', 'Swap', 'total', 0),
                ('swap', 'free', 'Swap', 'free', DRIFT), ('swap', 'used', 'Swap', 'used', DRIFT)]
        for section, key, kind, label, drift in keys:
            token, unit = tokens[(kind if label != 'avail Mem' else 'Swap', label)]
            source = 'Swap' if section == 'swap' else 'Mem'
            column = {'buff_cache': 'buff/cache'}.get(key, key)
            check_figure(summary[section][key], token, unit, [before[source][column], after[source][column]], drift,
                         '%s.%s' % (section, key), summary['lost'])
    rss = ps_rss(capture['ps'])
    suffix = re.search(r' -e ([kmgtp])', capture['command'])
    checked = 0
    for proc in top['processes']:
        if proc['pid'] not in rss or proc['command'] in ('top', 'ps') or top['format'] == 'busybox':
            continue
        # the idle workers' RSS does not move between top and ps; a suffixed RES is rounded
        token = '1' + (suffix.group(1) + '' if suffix and suffix.group(1) != 'k' else '')
        step = max(resolution(token.replace('1', '0.1', 1) if suffix and suffix.group(1) != 'k' else token, KIB), KIB)
        if proc['res'] is None:
            assert 'res' in proc['lost'] and rss[proc['pid']] < step / 2, (proc, rss[proc['pid']])
        else:
            assert abs(proc['res'] - rss[proc['pid']]) <= max(step / 2, 64 * KIB), (proc, rss[proc['pid']])
        checked += 1
    if name.endswith('idle-i'):
        # -i: only tasks that used CPU since the last frame; in a first frame, none: a header alone
        assert text.rstrip().endswith('COMMAND') and top['processes'] == []
        return
    assert top['format'] == 'busybox' or checked >= 8
    # The names: what the kernel has for the capture's processes, shown safely.
    kernel = dict((int(pid), bytes.fromhex(raw)) for pid, raw in capture['kernel_names'].items())
    restore_commands(top['processes'], read=kernel.get)
    if ' -c' in capture['command'] or top['format'] == 'busybox':
        return
    named = [p for p in top['processes'] if p['pid'] in kernel]
    assert len(named) == len(kernel)
    for proc in named:
        assert proc['command'] == host_name(kernel[proc['pid']]), (proc, kernel[proc['pid']])


def test_the_captures_cover_every_release_scale_and_layout():
    tools = set(load(name.values[0])['tool'].split(' (')[0] for name in CAPTURES)
    assert {'procps-ng 3.3.17', 'procps-ng 4.0.2', 'procps-ng 4.0.4', 'procps-ng 4.0.7'} <= tools
    assert {'BusyBox v1.30.1', 'BusyBox v1.35.0', 'BusyBox v1.37.0'} <= tools
    slugs = set(name.values[0].split('/')[1] for name in CAPTURES)
    assert set('summary-E-%s' % s for s in 'kmgtpe') | set('process-e-%s' % s for s in 'kmgtp') <= slugs
    assert {'command-lines-c', 'threads-H', 'cumulative-S', 'per-cpu-1', 'narrow-w-80-c', 'german', 'utf8',
            'toprc-command-middle', 'utf8-toprc-command-middle', 'toprc-zero-justify', 'toprc-graphs',
            'toprc-forest', 'utf8-toprc-forest'} <= slugs


# --------------------------------------------------------------- procps-ng 4.0.5+: sleep, d-sleep

def test_tasks_line_of_procps_4_0_5_and_later():
    """top_nls.c 4.0.5: STATE_line_1_fmt "%u total, %u running, %u sleep, %u d-sleep, %u stopped,
    %u zombie"; read as a real 4.0.7 printed it. sleeping keeps its old meaning (every sleeping task),
    d_sleep is the D-state count."""
    text = load('trixie-container-procps-sid/wide')['output']
    line = text.splitlines()[1]
    assert re.match(r'^Tasks: \d+ total, \d+ running, \d+ sleep, \d+ d-sleep, \d+ stopped, \d+ zombie$', line)
    counts = dict((word, int(n)) for n, word in re.findall(r'(\d+) ([a-z-]+)', line))
    top = parse_top(text)
    assert top['summary']['tasks'] == {
        'total': counts['total'], 'running': counts['running'], 'sleeping': counts['sleep'] + counts['d-sleep'],
        'd_sleep': counts['d-sleep'], 'stopped': counts['stopped'], 'zombie': counts['zombie']}
    assert len(top['processes']) == counts['total'] and top['summary']['unread'] == []


@pytest.mark.parametrize('line, why', [
    ('Tasks: 3 total, 1 running, 2 sleep, 0 d-sleep, 0 stopped, 0 zombie, 4 idle', 'counts'),
    ('Tasks: 3 total, 1 running, 1 sleep, 0 d-sleep, 0 stopped, 0 zombie', 'add up'),
    ('Tasks: 3 total, 1 running, 2 sleeping, 0 d-sleep, 0 stopped, 0 zombie', 'counts'),
    ('Tasks: 3k total, 1 running, 2 sleep, 0 d-sleep, 0 stopped, 0 zombie', 'count'),
    ('Aufgaben: 3 insgesamt, 1 laufend, 2 schlafend, 0 gestoppt, 0 Zombie', 'not know'),
])
def test_a_tasks_line_of_another_form_costs_only_its_counts(line, why):
    """A future release's words, a translation, counts that do not add up: a named gap, never a
    refusal of the output and never a guess; the processes and the memory lines still read."""
    text = load('trixie-container-procps-sid/wide')['output']
    lines = text.splitlines()
    top = parse_top('\n'.join(lines[:1] + [line] + lines[2:]) + '\n')
    assert set(top['summary']['tasks'].values()) == {None}
    assert len(top['summary']['unread']) == 1 and why in top['summary']['unread'][0]
    assert 'line 2' in top['summary']['unread'][0] and line[:40] in top['summary']['unread'][0]
    assert top['processes'] == parse_top(text)['processes']
    assert top['summary']['mem'] == parse_top(text)['summary']['mem']


def test_every_summary_line_of_an_unknown_form_leaves_the_table():
    """Whatever the summary lines become, the process table arrives: each line unread, bounded."""
    text = load('trixie-container/wide')['output']
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ['PID'])
    odd = ['Frobs: %d zz, %d yy' % (i, i) for i in range(40)]
    top = parse_top('\n'.join(lines[:1] + odd + lines[header - 1:]) + '\n')
    assert top['processes'] == parse_top(text)['processes']
    unread = top['summary']['unread']
    assert len(unread) == UNREAD_LIMIT + 1 and unread[-1] == 'and %d more summary line(s) not read' % (40 - UNREAD_LIMIT)
    assert all(len(u) < 250 for u in unread)


# --------------------------------------------------------------- COMMAND not last, wide characters

@pytest.mark.parametrize('name', ['bullseye-container/toprc-command-middle', 'bullseye-container/utf8-toprc-command-middle',
                                  'bookworm-container/utf8-toprc-command-middle', 'trixie-container/utf8-toprc-command-middle',
                                  'trixie-container-procps-sid/utf8-toprc-command-middle'])
def test_columns_after_a_command_with_wide_characters(name):
    """A toprc with COMMAND before TIME+, nTH, SWAP, CODE, nMaj, USED. top pads COMMAND to its field
    by display width in 4.x (make_str_utf8: 名前テスト is 5 characters, 10 columns) and by bytes in
    3.3.17 (make_str: 15): every column after it is still its own."""
    capture = load(name)
    text = capture['output']
    lines = text.splitlines()
    header = lines[6].split()
    assert header.index('COMMAND') < header.index('TIME+') < header.index('USED') == len(header) - 1
    wide = [line for line in lines[7:] if '名前テスト' in line]
    assert wide and len(wide[0]) < len(lines[6])  # fewer characters than the header: padded in columns or bytes
    top = parse_top(text)
    after = header[header.index('COMMAND') + 1:]
    for proc, line in zip(top['processes'], lines[7:]):
        words = line.split()
        tail = dict(zip(after, words[-len(after):]))  # each column after COMMAND is one word
        assert proc['time'] == tail['TIME+'] and proc['extra']['nTH'] == int(tail['nTH'])
        for column in ('SWAP', 'CODE', 'USED'):
            assert proc['extra'][column] == int(tail[column]) * KIB
        assert proc['extra']['USED'] == proc['res'] + proc['extra']['SWAP']
        assert proc['command'] == ' '.join(words[len(header) - len(after) - 1:-len(after)])
    assert '名前テスト' in [p['command'] for p in top['processes']]


@pytest.mark.parametrize('name', ['bullseye-container/toprc-zero-justify', 'bookworm-container/utf8-toprc-zero-justify',
                                  'trixie-container-procps-sid/utf8-toprc-zero-justify'])
def test_zero_suppression_and_flipped_justification(name):
    """toprc toggles 0 (zero suppression: a zero prints blank), J (numbers flush left) and j (text
    flush right), COMMAND in the middle: a blank is no reading (None, in lost), never a shifted
    value; ids, states and users are never blank."""
    text = load(name)['output']
    lines = text.splitlines()
    assert lines[6].startswith('PID ') and ' root ' in lines[7]  # numbers left, the user right
    top = parse_top(text)
    for proc in top['processes']:
        assert proc['nice'] is None and 'nice' in proc['lost']  # NI 0: blank
        assert proc['extra']['SWAP'] is None and 'extra.SWAP' in proc['lost']
        assert isinstance(proc['pid'], int) and proc['user'] == 'root' and proc['state'] in 'SRI'
        assert proc['res'] > 0 and proc['extra']['nTH'] >= 1
    assert [p['pid'] for p in top['processes']] == [int(line.split()[0]) for line in lines[7:] if line.strip()]


def test_a_row_without_a_column_top_always_prints_is_refused():
    """top strips a row's trailing blanks (its zero-suppressed SWAP and nMaj here), so a row may end
    early and still be whole; one that lacks a column top never blanks (nTH, S, PID) is cut."""
    text = load('trixie-container/toprc-zero-justify')['output']
    line = text.splitlines()[-1]
    assert line.split()[-1].isdigit() and parse_top(text)['processes'][-1]['extra']['SWAP'] is None
    cut = text[:text.rindex(line)] + line[:line.index(' S ') + 2] + '\n'
    with pytest.raises(ParseError, match='shorter than its header .column nTH missing'):
        parse_top(cut)


# --------------------------------------------------------------- a paste: BOM, CRLF

@pytest.mark.parametrize('name', ['trixie-container/wide', 'bullseye-container/two-samples', 'bookworm-container/busybox',
                                  'trixie-container/utf8-toprc-command-middle'])
def test_byte_order_mark_and_crlf(name):
    text = load(name)['output']
    expected = parse_top(text)
    assert parse_top('\ufeff' + text) == expected
    assert parse_top(text.replace('\n', '\r\n')) == expected
    assert parse_top('\ufeff' + text.replace('\n', '\r\n')) == expected
    # two pastes joined, each with its mark
    both = parse_top('\ufeff' + text + '\ufeff' + text)
    assert both['samples'] == expected['samples'] * 2


# --------------------------------------------------------------- scales: a lost figure is no zero

def test_petabytes_are_no_reading_of_a_24_gib_host():
    """`top -E p` prints 0.0 total for 24 GiB (top.c do_memory: %#.1f of PiB): None, named in lost."""
    capture = load('trixie-container/summary-E-p')
    assert 'PiB Mem :      0.0 total' in capture['output']
    top = parse_top(capture['output'])
    assert top['summary']['mem'] == dict.fromkeys(('total', 'free', 'used', 'buff_cache', 'available'))
    assert sorted(top['summary']['lost']) == sorted(['mem.total', 'mem.free', 'mem.used', 'mem.buff_cache',
                                                     'mem.available', 'swap.total', 'swap.free', 'swap.used'])


@pytest.mark.parametrize('scale, lost', [('k', False), ('m', False), ('g', True), ('t', True), ('p', True)])
def test_process_scales(scale, lost):
    """-e: top.c scale_mem prints KiB bare, then %.1f with m g t p: 0.0g hides up to 51.2 MiB."""
    for release in ('bullseye-container', 'bookworm-container', 'trixie-container', 'trixie-container-procps-sid'):
        capture = load('%s/process-e-%s' % (release, scale))
        top = parse_top(capture['output'])
        small = [p for p in top['processes'] if p['pid'] in ps_rss(capture['ps']) and ps_rss(capture['ps'])[p['pid']] < 50 * MIB]
        assert small
        for proc in small:
            assert (proc['res'] is None and 'res' in proc['lost']) is lost, proc


def test_three_decimals_of_procps_3_3_9_keep_a_zero_under_a_mib():
    """3.3.9 to 3.3.12 print GiB with %#.3f (scale_mem, do_memory): 0.000 GiB is under 0.5 MiB, a
    reading of zero; 0.0 GiB (3.3.15+) is not. From the sources: no such release runs here."""
    base = open(os.path.join(FIXTURES, 'legacy', 'jc-centos-7.7-top-b-n1-gib.excerpt.out')).read()
    three = base.replace('0.0 used.', '0.000 used.')
    assert parse_top(three)['summary']['swap']['used'] == 0
    assert parse_top(base)['summary']['swap']['used'] is None


def test_counters_scale_by_1024():
    """top.c scale_num divides by 1024 per suffix: 13k is 13312 page faults, 1.2m is 1258291."""
    text = load('trixie-container/toprc-command-middle')['output']
    lines = text.splitlines()
    end = lines[6].index('nMaj') + 4  # right-aligned: the value ends where the name ends
    for printed, count in (('13k', 13 * 1024), ('1.2m', 1258291)):
        row = lines[7][:end - 4] + printed.rjust(4) + lines[7][end:]
        top = parse_top('\n'.join(lines[:7] + [row] + lines[8:]) + '\n')
        assert top['processes'][0]['extra']['nMaj'] == count


@pytest.mark.parametrize('name', ['trixie-container/per-cpu-1', 'trixie-container-procps-sid/per-cpu-1',
                                  'bookworm-container/per-cpu-1'])
def test_memory_and_swap_on_one_line(name):
    """4.x can print the Mem and Swap parts on one line (top.c sum_see, rc double_up): read both.
    Before, the Swap part's figures overwrote the Mem part's: a 24 GiB host had a total of 0."""
    capture = load(name)
    line = [row for row in capture['output'].splitlines() if row.startswith('MiB Mem')][0]
    assert 'MiB Swap:' in line
    top = parse_top(capture['output'])
    total = free_rows(capture['before']['free_b'])['Mem']['total']
    assert abs(top['summary']['mem']['total'] - total) <= 0.05 * MIB
    assert top['summary']['swap']['total'] == 0 and top['summary']['mem']['available'] > 0


# --------------------------------------------------------------- forms from the sources only

def _with_line(name, index, line):
    lines = load(name)['output'].splitlines()
    lines[index] = line
    return '\n'.join(lines) + '\n'


def test_unknown_user_count_of_procps_4_0_5():
    """library/uptime.c (4.0.5+) prints "? users" when it cannot count them (from the source)."""
    text = _with_line('trixie-container-procps-sid/wide', 0,
                      'top - 00:08:54 up 47 min,  ? users,  load average: 0.89, 2.05, 2.95')
    summary = parse_top(text)['summary']
    assert summary['users'] is None and summary['uptime'] == 47 * 60 and summary['load_average'] == [0.89, 2.05, 2.95]
    assert summary['unread'] == []


@pytest.mark.parametrize('line, cpu', [
    # top_nls.c 3.3.x STATE_lin2x4_fmt / lin2x5_fmt: kernels before 2.5.41 (from the source)
    ('%Cpu(s):  76.5  user,  11.2  system,   0.0  nice,  12.3  idle',
     {'us': 76.5, 'sy': 11.2, 'ni': 0.0, 'id': 12.3, 'wa': None, 'hi': None, 'si': None, 'st': None}),
    ('%Cpu(s):  76.5  user,  11.2  system,   0.0  nice,  12.3  idle,   0.0  IO-wait',
     {'us': 76.5, 'sy': 11.2, 'ni': 0.0, 'id': 12.3, 'wa': 0.0, 'hi': None, 'si': None, 'st': None}),
    # STATE_lin2x6_fmt: no steal before 2.6.11
    ('%Cpu(s):  1.0 us,  2.0 sy,  0.0 ni, 97.0 id,  0.0 wa,  0.0 hi,  0.0 si',
     {'us': 1.0, 'sy': 2.0, 'ni': 0.0, 'id': 97.0, 'wa': 0.0, 'hi': 0.0, 'si': 0.0, 'st': None}),
])
def test_old_cpu_lines(line, cpu):
    summary = parse_top(_with_line('bullseye-container/wide', 2, line))['summary']
    assert summary['cpu'] == cpu and summary['unread'] == []


def test_busybox_memory_view_from_source():
    """busybox top -m (FEATURE_TOPMEM, procps/top.c display_topmem_header and
    display_topmem_process_list): Debian's busybox is built without it, so this is written from the
    source: figures in KiB, the sort column marked with ^ around its name, two (SHR) columns."""
    text = open(os.path.join(TOP, 'source-busybox-1.37-top-m.out')).read()
    top = parse_top(text)
    assert top['format'] == 'busybox'
    summary = top['summary']
    assert summary['mem']['total'] == 24684032 * KIB and summary['mem']['free'] == 20392296 * KIB
    assert summary['mem']['buff_cache'] == (37128 + 1895376) * KIB
    assert summary['mem']['used'] == (24684032 - 20392296 - 37128 - 1895376) * KIB
    assert summary['swap'] == {'total': 1048572 * KIB, 'free': 1048572 * KIB, 'used': 0}
    first = top['processes'][0]
    assert first['pid'] == 16 and first['virt'] == 83348 * KIB and first['res'] == 75536 * KIB
    assert first['extra']['RSS(SHR)'] == 6048 * KIB and first['extra']['STACK'] == 132 * KIB
    assert top['processes'][1]['virt'] == round(237.0 * MIB) and top['processes'][1]['command'] == 'python3 worker.py'


# --------------------------------------------------------------- impossible figures

def _row_with(name, column, value):
    """The capture with the first process's ``column`` (right-aligned under its name) set to ``value``."""
    lines = load(name)['output'].splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ['PID'])
    end = lines[header].index(column) + len(column)
    row = lines[header + 1]
    start = row.rindex(' ', 0, end - 1) + 1
    lines[header + 1] = row[:start].rstrip() + ' ' + value.rjust(end - start) + row[end:]
    return '\n'.join(lines) + '\n'


@pytest.mark.parametrize('name, column, value, message', [
    ('trixie-container/wide', '%MEM', '999.4', 'column %MEM .a share of RAM.: 999.4 is not a possible value'),
    ('trixie-container/wide', '%MEM', '100.1', 'column %MEM'),
    ('trixie-container/threads-H', '%CPU', '150.0', r'column %CPU .top prints at most 99.9.'),
    ('trixie-container/wide', '%CPU', '9999999.5', 'column %CPU'),
])
def test_figures_top_cannot_print_are_refused_by_name(name, column, value, message):
    """%MEM is RES over MemTotal (top.c task_show), so at most 100; top clamps %CPU at Cpu_pmax: 99.9
    in thread mode (-H), 100 per CPU at most 9999999 otherwise."""
    with pytest.raises(ParseError, match=message):
        parse_top(_row_with(name, column, value))


@pytest.mark.parametrize('name, column, value, key', [
    ('trixie-container/wide', '%MEM', '100.0', 'mem_percent'),
    ('trixie-container/wide', '%CPU', '316.0', 'cpu_percent'),   # a process's threads on several CPUs
    ('trixie-container/threads-H', '%CPU', '99.9', 'cpu_percent'),
])
def test_figures_top_prints_at_its_bounds(name, column, value, key):
    assert parse_top(_row_with(name, column, value))['processes'][0][key] == float(value)


@pytest.mark.parametrize('column, key', [('%CPU', 'cpu_percent'), ('%MEM', 'mem_percent'), ('RES', 'res')])
def test_a_question_mark_is_a_lost_figure(column, key):
    """top prints '?' for %CPU and %MEM with /proc mounted subset=pid (Restrict_some), and for a
    value that fits its column at no unit (scale_mem, scale_pcnt): no reading, not a refusal."""
    proc = parse_top(_row_with('trixie-container/wide', column, '?'))['processes'][0]
    assert proc[key] is None and proc['lost'] == [key]


@pytest.mark.parametrize('name', ['bullseye-container/utf8-toprc-forest', 'trixie-container/toprc-forest',
                                  'trixie-container-procps-sid/utf8-toprc-forest'])
def test_forest_view_draws_no_name(name):
    """Toggle V draws the tree before a child's name (top.c forest_display, " `- "): the name is
    what follows, so that the processes of a pool group together and the kernel's name matches."""
    capture = load(name)
    assert ' `- queue consumer' in capture['output']
    top = parse_top(capture['output'])
    commands = [p['command'] for p in top['processes']]
    assert commands.count('queue consumer') == 3 and not [c for c in commands if c.startswith('`')]
