"""Random and mangled `free` output: the parser returns sane figures or its own clean error, nothing else."""
import glob
import os
import re
import shlex
import unicodedata

import pytest

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


# ---- flags: every spelling getopt_long accepts means the same (issue 20) -------------------------

from ansible_collections.headroom.memory.plugins.module_utils.read import free as free_module  # noqa: E402
from ansible_collections.headroom.memory.plugins.module_utils.read.free import parse_flags  # noqa: E402

VERSIONS = ['free from procps-ng 3.3.17', 'free from procps-ng 4.0.2', 'free from procps-ng 4.0.4', '4.0.7']
UNITS = ['b', 'k', 'm', 'g', 'tebi', 'pebi', 'kilo', 'mega', 'giga', 'tera', 'peta']
SWITCHES = ['h', 'w', 't', 'l', 'si', 'v', 'L']


def _release(version):
    low = free_module._version_range(version)[1]
    return [r for r in free_module.RELEASES if r.kind == 'procps' and r.low <= low < r.high][0]


@st.composite
def spelled_flags(draw):
    """(version, canonical argv, the same options spelled another way getopt_long takes)."""
    version = draw(st.sampled_from(VERSIONS))
    release = _release(version)
    long_of = dict((key, name) for name, (_, key) in release.longs.items())
    options = []  # (key, argument)
    unit = draw(st.sampled_from([None] + [u for u in UNITS if u in long_of or u in release.short]))
    if unit:
        options.append((unit, None))
    for switch in SWITCHES:
        if (switch in release.short or switch in long_of) and draw(st.booleans()):
            options.append((switch, None))
    if draw(st.booleans()):
        options.append(('s', draw(st.sampled_from(['1', '0.5', '2', '0,5']))))
    if draw(st.booleans()):
        options.append(('c', draw(st.sampled_from(['1', '2', '3', '+2']))))
    canonical = []
    for key, arg in options:
        canonical += (['-' + key] if key in release.short else ['--' + long_of[key]]) + ([arg] if arg else [])
    options = draw(st.permutations(options))
    tokens = []  # (text, can join a cluster: a short option's letter group)
    for key, arg in options:
        use_short = key in release.short and (key not in long_of or draw(st.booleans()))
        if use_short:
            if arg is None:
                tokens.append(('-' + key, True))
            elif draw(st.booleans()):
                tokens.append(('-' + key + arg, True))  # -s1
            else:
                tokens.append(('-' + key, False))
                tokens.append((arg, False))
        else:
            name = long_of[key]
            shortest = next(n for n in range(1, len(name) + 1)
                            if [other for other in release.longs if other.startswith(name[:n])] == [name]
                            or name[:n] == name)
            spelled = name[:draw(st.integers(shortest, len(name)))]
            if arg is None:
                tokens.append(('--' + spelled, False))
            elif draw(st.booleans()):
                tokens.append(('--%s=%s' % (spelled, arg), False))
            else:
                tokens += [('--' + spelled, False), (arg, False)]
    argv = []
    for text, joins in tokens:  # -b -w -s1 -> -bws1: a letter joins the cluster before it
        if joins and argv and argv[-1][1] and draw(st.booleans()):
            argv[-1] = (argv[-1][0] + text[1:], not text[1:] or text[-1].isalpha() and len(text) == 2)
        else:
            argv.append((text, joins and len(text) == 2))
    argv = [text for text, _ in argv] + (['--'] if draw(st.booleans()) else [])
    return version, canonical, argv


def _meaning(options):
    return (dict((form, (unit, dec)) for form, (unit, dec, _, _) in options.forms.items()),
            options.human, options.line, options.blocks, sorted(options.conflicts))


@SETTINGS
@given(spelled_flags(), st.booleans())
def test_every_spelling_of_the_same_flags_means_the_same(case, as_text):
    version, canonical, argv = case
    try:
        expected = parse_flags(canonical, version)
    except ParseError as err:  # several units at once: free refuses them, however spelled
        assert 'Multiple unit options' in str(err)
        with pytest.raises(ParseError):
            parse_flags(argv, version)
        return
    given_flags = ' '.join(shlex.quote(arg) for arg in argv) if as_text else argv
    assert _meaning(parse_flags(given_flags, version)) == _meaning(expected), (canonical, argv)
    text = _sample(expected)
    assert parse_free(text, given_flags, version) == parse_free(text, canonical, version), (canonical, argv)


def _sample(options):
    """One block of what free prints under these options: bare figures or figures with a unit."""
    unit = '' if '' in options.forms else sorted(form for form in options.forms if form != 'B')[0]
    if options.line:
        return 'SwapUse %s CachUse 3%s  MemUse 2%s MemFree 5%s\n' % ('0' if unit == '' else '0B', unit, unit, unit)
    return ('               total        used        free      shared  buff/cache   available\n'
            'Mem:     9{0} 2{0} 5{0} 1{0} 2{0} 6{0}\nSwap:    0{1} 0{1} 0{1}\n'.format(unit, '' if unit == '' else 'B'))


def _ambiguous(version):
    names = list(_release(version).longs)
    return sorted(set(name[:n] for name in names for n in range(1, len(name))
                      if name[:n] not in names and len([o for o in names if o.startswith(name[:n])]) > 1))


@SETTINGS
@given(st.sampled_from(VERSIONS).flatmap(lambda v: st.tuples(st.just(v), st.sampled_from(_ambiguous(v)))),
       st.sampled_from(['', '=1', ' -b']))
def test_an_ambiguous_abbreviation_is_refused_naming_it(case, tail):
    version, prefix = case
    with pytest.raises(ParseError, match="'--%s(=1)?' is ambiguous" % re.escape(prefix)):
        parse_flags('--' + prefix + tail, version)


# ---- a label of any width beside a figure of any width (issue 20) ----------------------------------

def _columns(text):
    return sum(2 if unicodedata.east_asian_width(ch) in 'WF' else 0 if unicodedata.combining(ch) else 1
               for ch in text)


def _row(label, figures, layout):
    """A row as free prints it: 4.x print_head_col() pads to 9 columns, 3.3.17 printf("%-9s") to 9
    bytes, 3.3.10-3.3.16 printf("%-7s") then a space; the figures with "%11s" / " %11s"."""
    if layout == '4.x':
        head = label + ' ' * max(0, 9 - _columns(label))
    elif layout == '3.3.17':
        head = label + ' ' * max(0, 9 - len(label.encode('utf-8')))
    else:
        head = label + ' ' * max(0, 7 - len(label.encode('utf-8'))) + ' '
    return head + '%11s' % figures[0] + ''.join(' %11s' % figure for figure in figures[1:])


LABELS_OF = dict((key, sorted(label for label, k in free_module._LABELS.items() if k == key))
                 for key in ('mem', 'swap', 'total'))


@SETTINGS
@given(st.sampled_from(LABELS_OF['mem']), st.sampled_from(LABELS_OF['swap']), st.sampled_from(LABELS_OF['total']),
       st.sampled_from(['4.x', '3.3.17', '3.3.10']), st.integers(0, 10 ** 19), st.integers(0, 10 ** 15),
       st.data())
def test_a_label_glued_to_a_figure_of_any_width_is_split(mem, swap, total_label, layout, ram, swap_size, data):
    used = data.draw(st.integers(0, ram))
    figures = [ram, used, ram - used, data.draw(st.integers(0, ram)), data.draw(st.integers(0, ram)),
               data.draw(st.integers(0, ram))]
    swap_used = data.draw(st.integers(0, swap_size))
    text = '\n'.join(['               total        used        free      shared  buff/cache   available',
                      _row(mem, figures, layout), _row(swap, [swap_size, swap_used, swap_size - swap_used], layout),
                      _row(total_label, [ram + swap_size, used + swap_used, ram - used + swap_size - swap_used],
                           layout)]) + '\n'
    result = parse_free(text, '-b -t')
    assert [result['mem'][k] for k in ('total', 'used', 'free', 'shared', 'buff_cache', 'available')] == figures
    assert result['swap'] == {'total': swap_size, 'used': swap_used, 'free': swap_size - swap_used}
    assert result['total']['total'] == ram + swap_size
