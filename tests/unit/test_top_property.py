"""Property tests of parse_top.

1. Whatever text reaches parse_top, only its own ParseError escapes, and whatever it returns holds
   memory as non-negative ints or None, shares of RAM at most 100, and names at most a bounded
   list of unread lines. Seeds are the real outputs in tests/fixtures/legacy, tests/fixtures/captures
   and tests/fixtures/top (every release, scale and toprc layout), mutated by deleting, duplicating,
   truncating and swapping lines and columns, inserting random bytes, wide characters, byte-order
   marks, CRLF, a 4.0.5 Tasks line and another summary unit; plus top-like tokens and random text.
2. Round trip: a model of a host (memory, tasks, processes with names of CJK, emoji, accents and
   spaces) is printed the way top.c prints it (scale_mem, scale_num, do_memory's prT, justify_pad,
   COMMAND padded by display width as 4.x does or by bytes as 3.3.x does), in a random layout:
   columns in any order (COMMAND anywhere), numbers and text justified either way, zero suppression,
   forest view's tree, every -E and -e scale, the old and the 4.0.5 Tasks line, threads, a BOM and
   CRLF. What the parser
   reads must be the model, within top's rounding, or None where top's display lost the figure.
"""
import glob
import json
import os
import re
import unicodedata

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.top import UNREAD_LIMIT, parse_top
from hostile import replace_a_number, sane

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures')


def _seeds():
    texts = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, 'legacy', '*.out')) + glob.glob(os.path.join(FIXTURES, 'top', '*.out'))):
        with open(path) as handle:
            texts.append(handle.read())
    paths = sorted(glob.glob(os.path.join(FIXTURES, 'captures', '*', '*.json')))[:20]
    paths += sorted(glob.glob(os.path.join(FIXTURES, 'top', '*', '*.json')))
    for path in paths:
        with open(path) as handle:
            data = json.load(handle)
        if ' top' in ' ' + data.get('command', '') and isinstance(data.get('output'), str):
            texts.append(data['output'])
    return texts


SEEDS = _seeds()
MEM_KEYS = ('virt', 'res', 'shr')
MEM_EXTRA = ('PSS', 'SWAP', 'USED', 'DATA', 'CODE', 'RSan', 'RSfd', 'RSlk', 'RSsh', 'VSZ', 'RSS')


@st.composite
def mutated(draw):
    lines = draw(st.sampled_from(SEEDS)).splitlines()
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(['delete', 'duplicate', 'truncate', 'bytes', 'swap_lines',
                                   'swap_columns', 'plus', 'blank', 'unicode', 'number', 'number',
                                   'wide', 'bom', 'crlf', 'tasks', 'unit']))
        line = lines[i]
        if op == 'delete':
            del lines[i]
        elif op == 'duplicate':
            lines.insert(i, line)
        elif op == 'truncate':
            lines[i] = line[:draw(st.integers(0, max(0, len(line))))]
            if draw(st.booleans()):
                del lines[i + 1:]
        elif op == 'bytes':
            at = draw(st.integers(0, len(line)))
            junk = draw(st.binary(min_size=1, max_size=8)).decode('latin-1')
            lines[i] = line[:at] + junk + line[at:]
        elif op == 'swap_lines':
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 'swap_columns':
            words = line.split(' ')
            if len(words) > 1:
                a = draw(st.integers(0, len(words) - 1))
                b = draw(st.integers(0, len(words) - 1))
                words[a], words[b] = words[b], words[a]
                lines[i] = ' '.join(words)
        elif op == 'plus':
            words = line.split(' ')
            a = draw(st.integers(0, len(words) - 1))
            words[a] = words[a][:-1] + '+' if words[a] else '+'
            lines[i] = ' '.join(words)
        elif op == 'number':
            lines[i] = replace_a_number(draw, line)
        elif op == 'unicode':
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.characters()) + line[at + 1:]
        elif op == 'wide':
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.text(WIDE, min_size=1, max_size=5)) + line[at:]
        elif op == 'bom':
            lines[i] = '\ufeff' + line
        elif op == 'crlf':
            lines = [each + '\r' for each in lines]
        elif op == 'tasks':
            counts = draw(st.lists(st.integers(0, 5000), min_size=6, max_size=6))
            words = draw(st.sampled_from([TASKS_NEW, TASKS_OLD + ('d-sleep',), ('total', 'running', 'idle')]))
            lines[i] = 'Tasks: ' + ', '.join('%d %s' % (n, w) for n, w in zip(counts, words))
        elif op == 'unit':
            lines[i] = re.sub(r'^[KMGTPE]iB', draw(st.sampled_from(['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB'])), line)
        else:
            lines.insert(i, '')
    return '\n'.join(lines)


WIDE = '名前テスト中文한국어ｶﾅ🐍🐎'
TASKS_OLD = ('total', 'running', 'sleeping', 'stopped', 'zombie')
TASKS_NEW = ('total', 'running', 'sleep', 'd-sleep', 'stopped', 'zombie')

TOKENS = st.sampled_from([
    'top -', 'up', '2 min,', '1:08,', 'users,', 'load average:', '0.00,', 'Tasks:', 'total,',
    'running,', '13k', '%Cpu(s):', 'ni,100.0', 'id,', 'KiB Mem :', 'MiB Swap:', 'avail Mem',
    'buff/cache', '123+', '4.2g', '315.1m', 'PID', 'USER', 'PR', 'NI', 'VIRT', 'RES', 'SHR', 'S',
    '%CPU', '%MEM', 'TIME+', 'COMMAND', 'PSS', 'ENVIRON', 'rt', '-51', '-', 'Mem:', 'K used,',
    'CPU:', 'Load average:', 'VSZ', 'STAT', '\n', '\n', '\n', ' ', '  ', '1', '0', '-1', '9' * 25,
    'sleep,', 'd-sleep,', 'Threads:', 'PiB Mem :', '0.0', '?', '0.0g', '13k', '\ufeff', '\r\n', '名前',
    'Mem total:', 'Swap total:', '(SHR)', 'PID^^^VSZ^VSZRW',
])


def _check(result):
    samples = result['samples']
    assert samples and result['summary'] is samples[-1]['summary']
    for sample in samples:
        summary = sample['summary']
        assert len(summary['unread']) <= UNREAD_LIMIT + 1 and all(len(u) < 300 for u in summary['unread'])
        tasks = summary['tasks']
        if tasks['total'] is not None:
            assert tasks['running'] + tasks['sleeping'] + tasks['stopped'] + tasks['zombie'] == tasks['total']
            assert tasks['d_sleep'] is None or tasks['d_sleep'] <= tasks['sleeping']
        for name in summary['lost']:
            section, key = name.split('.')
            assert (summary[section] or {}).get(key) is None, name
        for section in ('mem', 'swap'):
            for value in summary[section].values():
                assert sane(value), (section, value)
            total = summary[section].get('total')
            for key in ('used', 'free', 'available'):
                value = summary[section].get(key)
                assert total is None or value is None or value <= total, (section, key, value, total)
        for value in (summary['raw_mem'] or {}).values():
            assert sane(value), value
        for proc in sample['processes']:
            assert proc['pid'] is None or (type(proc['pid']) is int and 1 <= proc['pid'] <= 1 << 22), proc
            assert proc['mem_percent'] is None or 0 <= proc['mem_percent'] <= 100, proc
            assert proc['cpu_percent'] is None or 0 <= proc['cpu_percent'] <= 9999999, proc
            for label in proc['lost'] + proc['truncated']:
                key = label.split('.', 1)[-1]
                where = proc['extra'] if label.startswith('extra.') else proc
                assert where.get(key) is None or isinstance(where.get(key), str), (label, proc)
            assert proc['command'] is None or isinstance(proc['command'], str)
            for key in MEM_KEYS:
                assert sane(proc[key]), (key, proc)
            for key in MEM_EXTRA:
                assert sane(proc['extra'].get(key)), (key, proc)


def _feed(text):
    try:
        result = parse_top(text)
    except ParseError:
        return
    _check(result)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_outputs(text):
    _feed(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=80).map(' '.join))
def test_top_like_tokens(text):
    _feed(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_random_text(text):
    _feed(text)


def test_seeds_are_real_and_parse():
    assert len(SEEDS) >= 10
    for text in SEEDS:
        _check(parse_top(text))


# --------------------------------------------------------------- round trip through top's own formatting

KIB, MIB = 1024, 1024 ** 2
UNIT_LABELS = ('KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB')
# top 4.x Fieldstab: width, and whether the column holds a number (right-justified unless 'J')
FIELDS = {'PID': (7, True), 'USER': (8, False), 'PR': (3, True), 'NI': (3, True), 'VIRT': (7, True),
          'RES': (6, True), 'SHR': (6, True), 'S': (1, False), '%CPU': (5, True), '%MEM': (5, True),
          'TIME+': (9, True), 'SWAP': (6, True), 'nMaj': (4, True), 'USED': (6, True), 'nTH': (3, True),
          'COMMAND': (None, False)}
# columns toprc zero suppression blanks at zero (scale_mem, scale_num, scale_pcnt, scale_tics, NI)
BLANKABLE = ('NI', 'VIRT', 'RES', 'SHR', '%CPU', '%MEM', 'TIME+', 'SWAP', 'nMaj', 'USED')
NAME_PARTS = ['a', 'b', 'x', 'Z', '0', '7', '-', '_', '.', '/', ':', ' ', '名', '前', 'テ', '中', '한', 'ｶ',
              '🐍', '🐎', 'e\u0301']


def scale_mem(kib, target, width):
    """top.c scale_mem: KiB bare, then %.1f with m g t p, from the -e unit up; '?' if none fits."""
    num = float(kib)
    for i, suffix in enumerate('kmgtp'):
        if i >= target:
            text = '%.0f' % num if i == 0 else '%.1f%s' % (num, suffix)
            if len(text) <= width:
                return text
        num /= 1024
    return '?'


def scale_num(count, width):
    """top.c scale_num: whole, else divided by 1024 per suffix, one decimal or none."""
    text = '%d' % count
    if len(text) <= width:
        return text
    num = float(count)
    for suffix in 'kmgtpe':
        num /= 1024
        for fmt in ('%.1f%s', '%.0f%s'):
            text = fmt % (num, suffix)
            if len(text) <= width:
                return text
    return '?'


def scale_pcnt(value, width):
    for text in ('%#.1f' % value, '%*.0f' % (width, value)):
        if len(text) <= width:
            return text
    return '?'


def prt(kib, scale):
    """do_memory's prT: the figure at the -E unit in 9 characters, the 9th a '+' when it is wider."""
    full = ('%.0f ' if scale == 0 else '%#.1f ') % (kib / 1024.0 ** scale)
    return full[:9] if len(full) <= 9 else full[:8] + '+'


def display_width(text):
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ('W', 'F') else 1
    return width


@st.composite
def hosts(draw):
    total = draw(st.integers(1 << 16, 1 << 42))
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=2, max_size=2)))
    mem = {'total': total, 'free': cuts[0], 'used': cuts[1] - cuts[0], 'buff/cache': total - cuts[1],
           'avail Mem': draw(st.integers(0, total))}
    swap_total = draw(st.one_of(st.just(0), st.integers(0, 1 << 36)))
    swap_used = draw(st.integers(0, swap_total))
    swap = {'total': swap_total, 'free': swap_total - swap_used, 'used': swap_used}
    threads = draw(st.booleans())
    procs = []
    for pid in draw(st.lists(st.integers(1, 1 << 22), min_size=1, max_size=6, unique=True)):
        res = draw(st.integers(0, min(total, 1 << 34)))
        name = ''.join(draw(st.lists(st.sampled_from(NAME_PARTS), max_size=6))).strip(' ')
        assume(len(name.encode('utf-8')) <= 15)
        procs.append({
            'PID': pid, 'USER': draw(st.sampled_from(['root', 'www-data', 'postgres'])),
            'PR': draw(st.sampled_from([20, 0, -51, 'rt'])), 'NI': draw(st.integers(-20, 19)),
            'VIRT': res + draw(st.integers(0, 1 << 36)), 'RES': res, 'SHR': draw(st.integers(0, res)),
            'S': draw(st.sampled_from('SRDIZT')),
            '%CPU': round(draw(st.floats(0, 99.9 if threads else 3200, allow_nan=False)), 1),
            '%MEM': round(res * 100.0 / total, 1),
            'TIME+': draw(st.integers(0, 10 ** 7)), 'SWAP': draw(st.integers(0, 1 << 30)),
            'nMaj': draw(st.integers(0, 10 ** 9)), 'nTH': draw(st.integers(1, 999)), 'COMMAND': name,
            'level': draw(st.integers(0, 3))})
        procs[-1]['USED'] = res + procs[-1]['SWAP']
    running, sleeping, dsleep, stopped, zombie = draw(st.lists(st.integers(0, 3000), min_size=5, max_size=5))
    tasks = {'running': running, 'sleep': sleeping, 'd-sleep': dsleep, 'stopped': stopped, 'zombie': zombie,
             'total': running + sleeping + dsleep + stopped + zombie}
    return {'mem': mem, 'swap': swap, 'procs': procs, 'tasks': tasks, 'threads': threads}


@st.composite
def layouts(draw):
    extra = draw(st.lists(st.sampled_from(['SWAP', 'nMaj', 'USED', 'nTH']), unique=True))
    columns = ['PID', 'USER', 'PR', 'NI', 'VIRT', 'RES', 'SHR', 'S', '%CPU', '%MEM', 'TIME+'] + extra
    columns.insert(draw(st.integers(1, len(columns))), 'COMMAND')
    return {'columns': columns, 'numbers_left': draw(st.booleans()), 'text_right': draw(st.booleans()),
            'zero_suppress': draw(st.booleans()), 'summary_scale': draw(st.integers(0, 5)),
            'task_scale': draw(st.integers(0, 4)), 'release': draw(st.sampled_from(['4.x', '3.3'])),
            'tasks_405': draw(st.booleans()), 'bom': draw(st.booleans()), 'crlf': draw(st.booleans()),
            'forest': draw(st.booleans())}


def cell(name, value, layout, width):
    if layout['zero_suppress'] and name in BLANKABLE and value == 0:
        return ''
    if name in ('VIRT', 'RES', 'SHR', 'SWAP', 'USED'):
        return scale_mem(value, layout['task_scale'], width)
    if name == 'nMaj':
        return scale_num(value, width)
    if name in ('%CPU', '%MEM'):
        return scale_pcnt(value, width)
    if name == 'TIME+':
        return scale_tics(value, width)
    return str(value)


def shown_name(proc, layout):
    """COMMAND as top shows it: in forest view a child's name after its tree (forest_display,
    "%*s%s" of " `- " in 4 columns per level)."""
    if not layout['forest'] or not proc['level']:
        return proc['COMMAND']
    return ' `- '.rjust(4 * proc['level']) + proc['COMMAND']


def scale_tics(cent, width):
    """top.c 4.x scale_tics for TIME+ (hundredths): m:ss.hh up to 6 hours, m:ss, h,mm up to 4 days,
    then days and weeks, or '?'."""
    secs = cent // 100
    mins, hour = secs // 60, secs // 3600
    days = hour // 24
    week = days // 7
    forms = []
    if mins <= 360:
        forms += ['%d:%02d.%02d' % (mins, secs % 60, cent % 100), '%d:%02d' % (mins, secs % 60)]
    if hour <= 96:
        forms.append('%d,%02d' % (hour, mins % 60))
    if days <= 14:
        forms += ['%dd+%dh' % (days, hour % 24), '%dd' % days]
    forms += ['%dw+%dd' % (week, days % 7), '%dw' % week]
    return next((form for form in forms if len(form) <= width), '?')


def print_top(host, layout):
    """What top -b -n1 -w 512 prints for ``host`` in ``layout``, as top.c and top_nls.c build it."""
    scale = layout['summary_scale']
    unit = UNIT_LABELS[scale]
    m, s = host['mem'], host['swap']
    tasks = host['tasks']
    word = 'Threads' if host['threads'] else 'Tasks'
    if layout['tasks_405']:
        tasks_line = '%s: %u total, %u running, %u sleep, %u d-sleep, %u stopped, %u zombie' % (
            word, tasks['total'], tasks['running'], tasks['sleep'], tasks['d-sleep'], tasks['stopped'], tasks['zombie'])
    else:
        tasks_line = '%s: %3u total, %3u running, %3u sleeping, %3u stopped, %3u zombie' % (
            word, tasks['total'], tasks['running'], tasks['sleep'] + tasks['d-sleep'], tasks['stopped'], tasks['zombie'])
    # 4.x ends the CPU line with a space and the Mem line with five (top_nls.c '~1'), 3.3.x with none
    tail = (' ', '     ') if layout['release'] == '4.x' else ('', '')
    lines = ['top - 12:00:00 up 1 day,  2:03,  1 user,  load average: 0.00, 0.01, 0.05', tasks_line,
             '%Cpu(s):  0.0 us,  0.0 sy,  0.0 ni,100.0 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st' + tail[0],
             '%s Mem : %9.9stotal, %9.9sfree, %9.9sused, %9.9sbuff/cache%s' % (
                 unit, prt(m['total'], scale), prt(m['free'], scale), prt(m['used'], scale), prt(m['buff/cache'], scale),
                 tail[1]),
             '%s Swap: %9.9stotal, %9.9sfree, %9.9sused. %9.9savail Mem ' % (
                 unit, prt(s['total'], scale), prt(s['free'], scale), prt(s['used'], scale), prt(m['avail Mem'], scale)),
             '']
    columns = layout['columns']
    fixed = sum(FIELDS[c][0] + 1 for c in columns if c != 'COMMAND')
    varcol = 512 - fixed - 1
    measure = display_width if layout['release'] == '4.x' else (lambda text: len(text.encode('utf-8')))

    def justify(text, name):
        width, number = FIELDS[name]
        width = varcol if width is None else width
        right = (not layout['numbers_left']) if number else layout['text_right']
        pad = ' ' * (width - (measure(text) if name == 'COMMAND' else len(text)))
        return (pad + text if right else text + pad) + ' '
    lines.append(''.join(justify(c, c) for c in columns).rstrip())
    for proc in host['procs']:
        lines.append(''.join(justify(shown_name(proc, layout) if c == 'COMMAND' else cell(c, proc[c], layout, FIELDS[c][0]), c)
                             for c in columns).rstrip())
    text = '\n'.join(lines) + '\n'
    if layout['crlf']:
        text = text.replace('\n', '\r\n')
    return ('\ufeff' if layout['bom'] else '') + text


def expect_figure(parsed, token, unit_bytes, exact_kib, name, lost, truncated):
    if token.endswith('+'):
        assert parsed is None and name in truncated, (name, token)
        return
    step = (1 if unit_bytes == KIB else 0.1) * unit_bytes
    if float(token) == 0 and step / 2 >= MIB:
        assert parsed is None and name in lost, (name, token, parsed)
        return
    assert parsed is not None and abs(parsed - exact_kib * KIB) <= step / 2 + 1, (name, token, parsed, exact_kib)


ROUND_TRIP = settings(max_examples=300, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@ROUND_TRIP
@given(hosts(), layouts())
def test_round_trip_through_top_s_formatting(host, layout):
    text = print_top(host, layout)
    top = parse_top(text)
    summary = top['summary']
    assert summary['unread'] == [], summary['unread']
    tasks = host['tasks']
    assert summary['tasks'] == {'total': tasks['total'], 'running': tasks['running'],
                                'sleeping': tasks['sleep'] + tasks['d-sleep'],
                                'd_sleep': tasks['d-sleep'] if layout['tasks_405'] else None,
                                'stopped': tasks['stopped'], 'zombie': tasks['zombie']}
    unit = 1024 ** (layout['summary_scale'] + 1)
    scale = layout['summary_scale']
    for key, label in (('total', 'total'), ('free', 'free'), ('used', 'used'), ('buff_cache', 'buff/cache'),
                       ('available', 'avail Mem')):
        expect_figure(summary['mem'][key], prt(host['mem'][label], scale).strip(), unit, host['mem'][label],
                      'mem.' + key, summary['lost'], summary['truncated'])
    for key in ('total', 'free', 'used'):
        expect_figure(summary['swap'][key], prt(host['swap'][key], scale).strip(), unit, host['swap'][key],
                      'swap.' + key, summary['lost'], summary['truncated'])
    assert len(top['processes']) == len(host['procs'])
    for proc, model in zip(top['processes'], host['procs']):
        assert proc['pid'] == model['PID'] and proc['user'] == model['USER'] and proc['state'] == model['S']
        assert proc['command'] == model['COMMAND'], (proc['command'], model['COMMAND'], layout)
        assert proc['priority'] == model['PR']
        for name, key in (('RES', 'res'), ('VIRT', 'virt'), ('SHR', 'shr'), ('SWAP', 'extra.SWAP'),
                          ('USED', 'extra.USED')):
            if name not in layout['columns']:
                continue
            parsed = proc['extra'][name] if key.startswith('extra.') else proc[key]
            token = cell(name, model[name], layout, FIELDS[name][0])
            if token == '':
                assert parsed is None and key in proc['lost']
                continue
            if token == '?':
                assert parsed is None and key in proc['lost']
                continue
            step = KIB if token[-1].isdigit() else 1024 ** ('kmgtp'.index(token[-1]) + 1) / 10
            if float(token.rstrip('mgtp')) == 0 and step / 2 >= MIB:
                assert parsed is None and key in proc['lost'], (name, token, parsed)
            else:
                assert abs(parsed - model[name] * KIB) <= step / 2 + 1, (name, token, parsed, model[name])
        if 'nMaj' in layout['columns']:
            token = cell('nMaj', model['nMaj'], layout, 4)
            if token in ('', '?'):
                assert proc['extra']['nMaj'] is None and 'extra.nMaj' in proc['lost']
            else:
                step = 1 if token.isdigit() else 1024 ** ('kmgtpe'.index(token[-1]) + 1) / (1 if '.' not in token else 10)
                assert abs(proc['extra']['nMaj'] - model['nMaj']) <= step / 2 + 1, (token, proc['extra']['nMaj'])
        if 'nTH' in layout['columns']:
            assert proc['extra']['nTH'] == model['nTH']
        for name, key in (('%CPU', 'cpu_percent'), ('%MEM', 'mem_percent')):
            token = cell(name, model[name], layout, 5)
            assert proc[key] == (None if token in ('', '?') else float(token)), (name, token, proc[key])
        expected_time = cell('TIME+', model['TIME+'], layout, 9)
        assert proc['time'] == (expected_time or None) and (expected_time or 'time' in proc['lost'])
