"""Random and mangled `free` output: the parser returns sane figures or its own clean error, nothing else."""
import glob
import os

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.free import parse_free
from hostile import replace_a_number, sane

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'free')
REAL = []
for _path in sorted(glob.glob(os.path.join(FIXTURES, '*.out'))):
    with open(_path) as _handle:
        REAL.append(_handle.read())
FLAGS = ['', '-b', '-k', '-m', '-g', '-h', '-h --si', '--si', '--mega', '-w', '-hw', '-s 1 -c 2', '-x', '-hq']
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text, flags):
    try:
        result = parse_free(text, flags)
    except ParseError as err:
        assert str(err), 'a ParseError must say what was wrong'
        return
    for sample in result.get('samples', [result]):
        for row in ('mem', 'swap', 'low', 'high', 'total', 'comm'):
            values = sample.get(row) or {}
            for key, value in values.items():
                if (row, key) == ('comm', 'free') and value is not None and value < 0:
                    value = -value  # CommitLimit - Committed_AS: the one figure that may be negative
                assert sane(value), (row, value)
            for key in ('used', 'free', 'available') if row != 'comm' else ('free',):  # Committed_AS may pass the limit
                assert values.get(key) is None or values.get('total') is None or values[key] <= values['total']


@st.composite
def mangled(draw):
    lines = draw(st.sampled_from(REAL)).splitlines(True)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(['drop', 'dup', 'cut', 'swap', 'insert', 'char', 'number', 'number']))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == 'drop':
            del lines[i]
        elif op == 'dup':
            lines.insert(i, lines[i])
        elif op == 'cut':
            lines[i] = lines[i][:draw(st.integers(0, len(lines[i])))]
        elif op == 'swap':
            words = lines[i].split()
            if len(words) > 2:
                j, k = draw(st.integers(0, len(words) - 1)), draw(st.integers(0, len(words) - 1))
                words[j], words[k] = words[k], words[j]
                lines[i] = ' '.join(words) + '\n'
        elif op == 'number':
            lines[i] = replace_a_number(draw, lines[i].rstrip('\n')) + '\n'
        elif op == 'insert':
            lines.insert(i, draw(st.text(max_size=40)) + '\n')
        else:
            pos = draw(st.integers(0, max(0, len(lines[i]) - 1)))
            lines[i] = lines[i][:pos] + draw(st.characters()) + lines[i][pos + 1:]
    return ''.join(lines)


@SETTINGS
@given(st.text(max_size=300), st.sampled_from(FLAGS))
def test_random_text(text, flags):
    check(text, flags)


@SETTINGS
@given(mangled(), st.sampled_from(FLAGS))
def test_mutated_real_output(text, flags):
    check(text, flags)


@SETTINGS
@given(st.sampled_from(REAL), st.text(alphabet='0123456789.,KMGTiB+- ', max_size=12))
def test_numbers_replaced_by_number_like_junk(text, junk):
    words = text.split(' ')
    for flags in ('', '-h', '-m'):
        check(' '.join(junk if w.strip().isdigit() else w for w in words), flags)
