"""Property test: whatever text reaches parse_top, only its own ParseError escapes, and whatever it
returns holds memory as non-negative ints or None.

Seeds are the real outputs in tests/fixtures/legacy (and any top capture in tests/fixtures/captures),
mutated by deleting, duplicating, truncating and swapping lines and columns and by inserting random
bytes; plus text made of top-like tokens and plain random text.
"""
import glob
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.top import parse_top
from hostile import replace_a_number, sane

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures')


def _seeds():
    texts = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, 'legacy', '*.out'))):
        with open(path) as handle:
            texts.append(handle.read())
    for path in sorted(glob.glob(os.path.join(FIXTURES, 'captures', '*', '*.json')))[:20]:
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
                                   'swap_columns', 'plus', 'blank', 'unicode', 'number', 'number']))
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
        else:
            lines.insert(i, '')
    return '\n'.join(lines)


TOKENS = st.sampled_from([
    'top -', 'up', '2 min,', '1:08,', 'users,', 'load average:', '0.00,', 'Tasks:', 'total,',
    'running,', '13k', '%Cpu(s):', 'ni,100.0', 'id,', 'KiB Mem :', 'MiB Swap:', 'avail Mem',
    'buff/cache', '123+', '4.2g', '315.1m', 'PID', 'USER', 'PR', 'NI', 'VIRT', 'RES', 'SHR', 'S',
    '%CPU', '%MEM', 'TIME+', 'COMMAND', 'PSS', 'ENVIRON', 'rt', '-51', '-', 'Mem:', 'K used,',
    'CPU:', 'Load average:', 'VSZ', 'STAT', '\n', '\n', '\n', ' ', '  ', '1', '0', '-1', '9' * 25,
])


def _check(result):
    samples = result['samples']
    assert samples and result['summary'] is samples[-1]['summary']
    for sample in samples:
        summary = sample['summary']
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
            for key in ('cpu_percent', 'mem_percent'):
                value = proc.get(key)
                assert value is None or (0 <= value <= 1e9), (key, proc)
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
