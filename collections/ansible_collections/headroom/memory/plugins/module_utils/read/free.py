"""Parse the output of `free` (procps 3.3.x, procps-ng 4.x, busybox) into exact bytes.

    parse_free(text, flags='', version=None) -> dict

``flags`` are the options `free` ran with: they decide what a bare number
counts (KiB by default, bytes with -b, MiB with -m, kB with --si ...). Suffixed
values (``-h``) carry their own unit. ``version`` is what `free -V` printed
(or just '3.3.17'): procps-ng 3.3.x ignores a bare ``--si`` for its numbers
(it prints KiB, and binary values under the letters of ``-h --si``), 4.x does
not, and the output does not say which, so ``--si`` output needs it. The result:

    {'format': 'standard' | 'wide' | 'legacy' | 'line',
     'mem': {total, used, free, shared, buffers, cache, buff_cache, available},
     'swap': {total, used, free},
     'low': {...}, 'high': {...}, 'total': {...},   # only when printed (-l, -t)
     'comm': {total, used, free}}                   # -v: CommitLimit, Committed_AS, the rest

Values are int bytes; None where the output lacks them, and None where procps
3.3.x's `-h` printed a small non-zero value as ``0.0Ki`` (a display bug: the true
value is unknown). ``buff_cache`` is the
sum of buffers and cache where those are printed separately (-w, legacy).
``used`` is as printed: before 3.3.10 it still includes buffers and cache.
Several blocks (``free -s 1 -c 3``) give the last one and a ``samples`` list.
Anything else raises ParseError quoting the line.
"""

import re

from ..parse_error import ParseError
from .free_i18n import HEADERS as _I18N_HEADERS, LABELS as _I18N_LABELS
from ..units import parse_size, within_total

# English headers of every procps and busybox release, normalized to single spaces.
_HEADERS = {
    'total used free shared buff/cache available':
        ('total', 'used', 'free', 'shared', 'buff_cache', 'available'),
    'total used free shared buffers cache available':
        ('total', 'used', 'free', 'shared', 'buffers', 'cache', 'available'),
    # procps <= 3.3.9 and busybox < 1.30
    'total used free shared buffers cached':
        ('total', 'used', 'free', 'shared', 'buffers', 'cache'),
    # busybox < 1.30 built without buffers support
    'total used free shared buffers':
        ('total', 'used', 'free', 'shared', 'buffers'),
}
_HEADERS.update(_I18N_HEADERS)

_LABELS = {'Mem:': 'mem', 'Swap:': 'swap', 'Low:': 'low', 'High:': 'high', 'Total:': 'total',
           'Comm:': 'comm'}
_LABELS.update(_I18N_LABELS)
# Rows of the legacy layout that only restate Mem: minus buffers/cache.
_DERIVED = ('-/+ buffers/cache:', '-/+ buffers:')

_MEM_KEYS = ('total', 'used', 'free', 'shared', 'buffers', 'cache', 'buff_cache', 'available')
_SWAP_KEYS = ('total', 'used', 'free')

# `free -L` (procps-ng >= 4.0): one line, label/value pairs.
_LINE_KEYS = {'SwapUse': ('swap', 'used'), 'CachUse': ('mem', 'buff_cache'),
              'MemUse': ('mem', 'used'), 'MemFree': ('mem', 'free')}

# exponent of the unit a bare number counts in, by flag
_UNIT_FLAGS = {
    '-b': 0, '--bytes': 0,
    '-k': 1, '--kibi': 1, '-m': 2, '--mebi': 2, '-g': 3, '--gibi': 3, '--tebi': 4, '--pebi': 5,
}
_SI_UNIT_FLAGS = {'--kilo': 1, '--mega': 2, '--giga': 3, '--tera': 4, '--peta': 5}
_PLAIN_FLAGS = {'-w', '--wide', '-t', '--total', '-l', '--lohi', '-v', '--committed', '-L', '--line'}
_ARG_FLAGS = {'-s', '--seconds', '-c', '--count'}
_SHORT = {'b': '-b', 'k': '-k', 'm': '-m', 'g': '-g', 'h': '-h', 'w': '-w', 't': '-t',
          'l': '-l', 'v': '-v', 'L': '-L', 's': '-s', 'c': '-c'}

_NUMBER = re.compile(r'^\d+(?:[.,]\d+)?(?:[KMGTPE]i?|B)?$', re.ASCII)
_ONE_LETTER = re.compile(r'^\d+(?:[.,]\d+)?[KMGTPE]$', re.ASCII)
_DISPLAY_BUG = re.compile(r'^0[.,]0[KMGTPE]i?$', re.ASCII)


class _Units(object):
    """What the flags say about the numbers: multiplier for bare ones, SI or not, human."""

    def __init__(self, flags, version=None):
        self.exponent = 1
        self.si = False
        bare_si = False
        self.human = False
        self.flags_given = bool(flags.strip()) if isinstance(flags, str) else bool(flags)
        tokens = flags.split() if isinstance(flags, str) else list(flags)
        expect_arg = False
        for token in tokens:
            if expect_arg:
                expect_arg = False
                continue
            for flag in _expand(token):
                if flag in _UNIT_FLAGS:
                    self.exponent = _UNIT_FLAGS[flag]
                elif flag in _SI_UNIT_FLAGS:
                    self.exponent, self.si = _SI_UNIT_FLAGS[flag], True
                elif flag == '--si':
                    self.si = bare_si = True
                elif flag in ('-h', '--human'):
                    self.human = True
                elif flag in _ARG_FLAGS:
                    expect_arg = True
                elif flag.split('=')[0] in _ARG_FLAGS or flag in _PLAIN_FLAGS:
                    pass
                else:
                    raise ParseError('unknown free flag %r in flags %r' % (flag, flags))

        if bare_si:
            major = _major(version, flags)
            if major is not None and major < 4:
                # procps-ng 3.3.x: --si changes the letters, not the numbers (seen in 3.3.17)
                self.si = any(flag in tokens for flag in _SI_UNIT_FLAGS)

    @property
    def multiplier(self):
        return (1000 if self.si else 1024) ** self.exponent


_VERSION = re.compile(r'(\d+)\.(\d+)(?:\.(\d+))?', re.ASCII)


def _major(version, flags):
    """procps's major version from `free -V` text; --si output cannot be read without it."""
    match = _VERSION.search(version or '')
    if not match:
        raise ParseError('free %s: --si means powers of 1000 in procps-ng 4.x, but 3.3.x prints binary '
                         'values under it; pass the version (`free -V`) to say which' % flags)
    return int(match.group(1))


def _expand(token):
    """'-hw' -> ['-h', '-w']; long options and '-s5' stay whole."""
    if token.startswith('--') or not token.startswith('-') or len(token) == 2:
        return [token]
    if token[1] in 'sc':
        return [token[:2]]
    flags = []
    for letter in token[1:]:
        if letter not in _SHORT:
            raise ParseError('unknown free flag %r in %r' % ('-' + letter, token))
        flags.append(_SHORT[letter])
    return flags


def parse_free(text, flags='', version=None):
    """Parse `free` output produced with ``flags``; see the module docstring."""
    if not isinstance(text, str):
        raise ParseError('free output must be text, got %s' % type(text).__name__)
    units = _Units(flags, version)
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise ParseError('free output is empty')
    if lines[0][1].split()[0] in _LINE_KEYS:
        blocks = [[item] for item in lines]
        parse = _parse_line_block
    else:
        blocks = _split_blocks(lines)
        parse = _parse_block
    samples = [parse(block, units) for block in blocks]
    result = samples[-1]
    if len(samples) > 1:
        result['samples'] = samples
    return result


def _split_blocks(lines):
    blocks = []
    for lineno, line in lines:
        if _header_columns(line) is not None:
            blocks.append([])
        elif not blocks:
            raise ParseError('expected the header of free (total used free ...), found', line, lineno)
        blocks[-1].append((lineno, line))
    return blocks


def _header_columns(line):
    return _HEADERS.get(' '.join(line.split()))


def _parse_block(block, units):
    result = {'format': None, 'mem': None, 'swap': None}
    columns = None
    for lineno, line in block:
        if columns is None:
            columns = _header_columns(line)
            result['format'] = _format(columns)
            continue
        label, values = _split_row(line, lineno)
        if label in _DERIVED:
            if result['format'] != 'legacy' or len(values) != 2 or result['mem'] is None:
                raise ParseError('unexpected row in free output', line, lineno)
            _check_derived(result['mem'], label, _sizes(values, units, line, lineno), units, line, lineno)
            continue
        key = _LABELS.get(label)
        if key is None:
            raise ParseError('unknown row label %r in free output (a translation this parser '
                             'does not know? run free with LC_ALL=C)' % label, line, lineno)
        if result.get(key) is not None:
            raise ParseError('row %r printed twice in one free output' % label, line, lineno)
        names = columns if key == 'mem' else _SWAP_KEYS
        if len(values) != len(names):
            raise ParseError('expected %d values in the %s row, found %d (truncated output?)'
                             % (len(names), label, len(values)), line, lineno)
        row = dict(zip(names, _sizes(values, units, line, lineno)))
        result[key] = within_total(_complete(row, _MEM_KEYS if key == 'mem' else _SWAP_KEYS), label, line, lineno)
    for key, label in (('mem', 'Mem:'), ('swap', 'Swap:')):
        if result[key] is None:
            lineno, line = block[-1]
            raise ParseError('free output has no %s row (truncated?); last line read' % label,
                             line, lineno)
    mem = result['mem']
    if mem['buff_cache'] is None and mem['buffers'] is not None and mem['cache'] is not None:
        mem['buff_cache'] = mem['buffers'] + mem['cache']
    return result


def _check_derived(mem, label, values, units, line, lineno):
    """The legacy '-/+ buffers/cache:' row restates Mem: less buffers and cache; a row that
    disagrees means the paste was edited or mangled, and no figure of it can be trusted."""
    held = (mem['buffers'] or 0) + (mem['cache'] or 0 if label == '-/+ buffers/cache:' else 0)
    # each printed figure is truncated to the unit: three of them may be off by one each
    slack = 3 * (units.multiplier if not units.human else 0)
    expected = (mem['used'] - held, mem['free'] + held)
    if not units.human and any(abs(a - b) > slack for a, b in zip(values, expected)):
        raise ParseError('the %s row does not match Mem: used/free less buffers and cache '
                         '(expected about %d and %d bytes)' % (label, expected[0], expected[1]), line, lineno)


def _format(columns):
    if 'buff_cache' in columns:
        return 'standard'
    return 'wide' if 'available' in columns else 'legacy'


def _split_row(line, lineno):
    """'Mem:   1  2  3' -> ('Mem:', ['1', '2', '3']); labels may hold spaces ('-/+ buffers/cache:')."""
    words = line.split()
    for index, word in enumerate(words):
        if _NUMBER.match(word):
            if index == 0:
                raise ParseError('a free row must start with a label such as Mem:', line, lineno)
            return ' '.join(words[:index]), words[index:]
    raise ParseError('no numbers in this free row', line, lineno)


def _sizes(values, units, line, lineno):
    sizes = []
    for value in values:
        if not _NUMBER.match(value):
            raise ParseError('not a size: %r' % value, line, lineno)
        suffixed = not value[-1].isdigit()
        if units.human and not suffixed and value != '0':  # busybox -h prints a bare 0
            raise ParseError('free -h prints a unit after every value; %r has none' % value, line, lineno)
        if units.human and _DISPLAY_BUG.match(value):
            sizes.append(None)  # procps 3.3.x prints small values as 0.0Ki: unknown, not zero
            continue
        if not units.flags_given and _ONE_LETTER.match(value):
            raise ParseError('%r has a one-letter unit, which means 1024 in procps < 3.3.13 `free -h` '
                             'but 1000 in `free -h --si`: pass flags to say which' % value, line, lineno)
        sizes.append(parse_size(value, units.multiplier, si=units.si))
    return sizes


def _complete(row, keys):
    return dict((key, row.get(key)) for key in keys)


def _parse_line_block(block, units):
    (lineno, line), = block
    words = line.split()
    if len(words) != 2 * len(_LINE_KEYS):
        raise ParseError('expected %d label/value pairs in `free --line` output'
                         % len(_LINE_KEYS), line, lineno)
    result = {'format': 'line', 'mem': _complete({}, _MEM_KEYS), 'swap': _complete({}, _SWAP_KEYS)}
    for label, value in zip(words[::2], words[1::2]):
        if label not in _LINE_KEYS:
            raise ParseError('unknown label %r in `free --line` output' % label, line, lineno)
        section, key = _LINE_KEYS[label]
        result[section][key] = _sizes([value], units, line, lineno)[0]
    within_total(result['mem'], 'Mem:', line, lineno)
    within_total(result['swap'], 'Swap:', line, lineno)
    return result
