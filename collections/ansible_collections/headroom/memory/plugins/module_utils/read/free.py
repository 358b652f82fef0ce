"""Parse the output of `free` (procps 3.2, procps-ng 3.3.x and 4.x, busybox) into exact bytes.

    parse_free(text, flags='', version=None) -> dict
    parse_flags(flags='', version=None) -> FreeOptions

``flags`` are the options `free` ran with, as typed (a string, split like a shell does, or a
list of arguments). They are read the way each release's free reads them (getopt_long: clusters
``-bw``, ``-s1``/``-s 1``, ``--count=2``/``--count 2``, unique abbreviations ``--by``, ``--``;
busybox looks at its first argument only) and decide what a printed figure counts. ``version``
is what `free -V` printed (``free from procps-ng 3.3.17``, ``3.3.17``, ``BusyBox v1.35.0``); it is
needed only where releases disagree (``--si``, ``--mega`` and ``-h --si`` mean different units in
3.3.x and 4.x, ``-bh`` is bytes in busybox and human in procps): without it such output is refused,
never guessed. The result:

    {'format': 'standard' | 'wide' | 'legacy' | 'line',
     'mem': {total, used, free, shared, buffers, cache, buff_cache, available},
     'swap': {total, used, free},
     'low': {...}, 'high': {...}, 'total': {...},   # only when printed (-l, -t)
     'comm': {total, used, free},                   # -v: CommitLimit, Committed_AS, their difference
     'blocks': N, 'samples': [...]}                 # only when free printed several blocks (-s/-c)

Values are int bytes; None where the output lacks them, where procps 3.3.13-3.3.17 `-h` printed
a small non-zero value as ``0.0Ki`` (a display bug: the true value is unknown), and where 4.0.6+
`-h -v` printed the Comm row's negative free as a wrapped unsigned number (``16383Pi``: the
figure is lost). ``comm.free`` is the one figure that may be negative: Committed_AS above
CommitLimit is normal with vm.overcommit_memory=0. ``buff_cache`` is the sum of buffers and
cache where those are printed separately (-w, legacy). ``used`` is as printed: before 3.3.10 it
still includes buffers and cache.

Several blocks (``free -s 1 -c 3``): the result is the newest block, ``blocks`` says how many free
printed and ``samples`` holds the newest MAX_SAMPLES of them, oldest first (copies: the result is
plain acyclic data). Text longer than MAX_TEXT characters is refused. Anything else raises
ParseError quoting the line.
"""

import collections
import copy
import re
import shlex
from fractions import Fraction

from ..parse_error import ParseError
from .free_i18n import HEADERS as _I18N_HEADERS, LABELS as _I18N_LABELS, LINE_LABELS as _I18N_LINE_LABELS
from ..units import MAX_BYTES, within_total

# Bounds: a diagnosis must cost a host little whatever it is fed. One block of `free -b -w -l -t
# -v` is under 600 characters: 1 MiB is over 1700 blocks, and parses in well under a second.
MAX_TEXT = 1 << 20
MAX_SAMPLES = 10
MAX_FLAGS = 1000
_MAX_DIGITS = 48  # 2**64 has 20 digits: longer is garbage (refused unread, before int() costs time)

# ---- the output's words --------------------------------------------------------------------------

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

# Row labels as free prints them: procps 3.3.10-3.3.16 pad with printf("%-7s") and a space,
# 3.3.17 with printf("%-9s") (bytes, not characters) and no space, 4.x with print_head_col() to 9
# columns (wcswidth) and no space; every release then prints the first figure with "%11s". A
# label 9 columns wide (German `Speicher:`, Georgian `ბრძანება:`) or 9 bytes long in 3.3.17
# (Polish `Pamięć:`) therefore runs into an 11-digit figure: `Speicher:25276182528`. So a row is
# split at the label it starts with, never at the first space.
_LABELS = {'Mem:': 'mem', 'Swap:': 'swap', 'Low:': 'low', 'High:': 'high', 'Total:': 'total',
           'Comm:': 'comm', '-/+ buffers/cache:': 'derived', '-/+ buffers:': 'derived'}
_LABELS.update(_I18N_LABELS)
_LABELS_LONGEST_FIRST = sorted(_LABELS, key=len, reverse=True)
_LABEL = re.compile('|'.join(re.escape(label) for label in _LABELS_LONGEST_FIRST))

_MEM_KEYS = ('total', 'used', 'free', 'shared', 'buffers', 'cache', 'buff_cache', 'available')
_SWAP_KEYS = ('total', 'used', 'free')

# `free -L` (procps-ng 4.0.4+, free.c: printf("%s %11s ", _("SwapUse"), ...) for four pairs).
_LINE_KEYS = {'SwapUse': ('swap', 'used'), 'CachUse': ('mem', 'buff_cache'),
              'MemUse': ('mem', 'used'), 'MemFree': ('mem', 'free')}
_LINE_LABELS = dict((key, key) for key in _LINE_KEYS)
_LINE_LABELS.update(_I18N_LINE_LABELS)
_LINE_LABELS_LONGEST_FIRST = sorted(_LINE_LABELS, key=len, reverse=True)

# A printed figure: digits, a decimal part of one digit (printf "%.1f"; a comma in locales that
# write one), a unit. A sign only where it can be (see _figure).
_FIGURE = re.compile(r'^(-?)(\d+)(?:([.,])(\d+))?([A-Za-z]*)$', re.ASCII)
_BOM = '\ufeff'


# ---- what the flags mean, release by release ------------------------------------------------------

class FreeOptions(object):
    """What `free` did with its flags: the unit of each printed form, whether it repeated.

    ``forms`` maps a unit as printed ('' for a bare number, 'B', 'Ki', 'G' ...) to
    (bytes per unit as a Fraction, whether a decimal can be printed in it); ``conflicts`` holds the
    forms that releases which accept these flags print with different meanings (a figure in one
    of them needs the version). ``blocks`` is how many blocks free prints at most (None: no end).
    """

    def __init__(self, flags, releases):
        self.flags = flags
        self.releases = releases
        self.forms = {}
        self.conflicts = {}
        self.human = False
        self.line = False
        self.blocks = 1
        self.display_bug = False


class _Release(object):
    """One family of free releases that read flags and scale figures alike (free.c of each)."""

    def __init__(self, name, low, high, kind, short='', longs=(), operands='ignore', unit_check=True,
                 scaling='4.0.1'):
        self.name, self.low, self.high, self.kind = name, low, high, kind
        self.short, self.operands, self.unit_check, self.scaling = short, operands, unit_check, scaling
        self.longs = dict(longs)  # long name -> (takes an argument, the short letter or a name)


def _longs(*names):
    table = {'bytes': (False, 'b'), 'kilo': (False, 'kilo'), 'mega': (False, 'mega'), 'giga': (False, 'giga'),
             'tera': (False, 'tera'), 'peta': (False, 'peta'), 'kibi': (False, 'k'), 'mebi': (False, 'm'),
             'gibi': (False, 'g'), 'tebi': (False, 'tebi'), 'pebi': (False, 'pebi'), 'human': (False, 'h'),
             'si': (False, 'si'), 'lohi': (False, 'l'), 'line': (False, 'L'), 'total': (False, 't'),
             'committed': (False, 'v'), 'seconds': (True, 's'), 'count': (True, 'c'), 'wide': (False, 'w'),
             'help': (False, 'help'), 'version': (False, 'V'), 'old': (False, 'o')}
    return [(name, table[name]) for name in names]


# procps-ng 3.3.0-3.3.10: --kilo/--mega/--giga are -k/-m/-g (1024-based), no unit check
_OLD_LONGS = [('bytes', (False, 'b')), ('kilo', (False, 'k')), ('mega', (False, 'm')), ('giga', (False, 'g')),
              ('tera', (False, 'tera'))] + _longs('human', 'si', 'lohi', 'total', 'seconds', 'count', 'help',
                                                  'version')
_NEW_LONGS = _longs('bytes', 'kilo', 'mega', 'giga', 'tera', 'peta', 'kibi', 'mebi', 'gibi', 'tebi', 'pebi', 'human',
                    'si', 'lohi', 'total', 'seconds', 'count', 'wide', 'help', 'version')

# Each release's optstring and longopts table, from free.c (procps-ng git tags v3.3.0 ... v4.0.6;
# procps 3.2.x free.c used plain getopt "bkmglotc:s:V").
RELEASES = (
    _Release('procps 3.2', (3, 2, 0), (3, 3, 0), 'procps32', 'bkmglotc:s:V', (), 'ignore', False, '3.2'),
    _Release('procps-ng 3.3.0-3.3.9', (3, 3, 0), (3, 3, 10), 'procps', 'bkmghlotc:s:V',
             _OLD_LONGS + _longs('old'), 'ignore', False, '3.3.0'),
    _Release('procps-ng 3.3.10', (3, 3, 10), (3, 3, 11), 'procps', 'bkmghltc:ws:V',
             _OLD_LONGS + _longs('wide'), 'ignore', False, '3.3.0'),
    _Release('procps-ng 3.3.11', (3, 3, 11), (3, 3, 12), 'procps', 'bkmghltc:ws:V', _NEW_LONGS,
             'ignore', True, '3.3.11'),
    # 3.3.12 reads -s with strtod_nol_or_err instead of strtof
    _Release('procps-ng 3.3.12', (3, 3, 12), (3, 3, 13), 'procps', 'bkmghltc:ws:V', _NEW_LONGS,
             'ignore', True, '3.3.11'),
    _Release('procps-ng 3.3.13-3.3.16', (3, 3, 13), (3, 3, 17), 'procps', 'bkmghltc:ws:V', _NEW_LONGS,
             'ignore', True, '3.3.13'),
    # 3.3.17 added `if (optind != argc) usage(stderr)`: a stray argument is an error from here on
    _Release('procps-ng 3.3.17', (3, 3, 17), (4, 0, 0), 'procps', 'bkmghltc:ws:V', _NEW_LONGS, 'refuse',
             True, '3.3.13'),
    _Release('procps-ng 4.0.0', (4, 0, 0), (4, 0, 1), 'procps', 'bkmghltvc:ws:V', _NEW_LONGS + _longs('committed'),
             'refuse', True, '4.0.0'),
    _Release('procps-ng 4.0.1-4.0.3', (4, 0, 1), (4, 0, 4), 'procps', 'bkmghltvc:ws:V',
             _NEW_LONGS + _longs('committed'), 'refuse', True, '4.0.1'),
    _Release('procps-ng 4.0.4 and later', (4, 0, 4), (99,), 'procps', 'bkmghlLtvc:ws:V',
             _NEW_LONGS + _longs('committed', 'line'), 'refuse', True, '4.0.1'),
    # busybox procps/free.c: only argv[1][1] is looked at (b k m g, h from 1.34); the rest is ignored
    _Release('busybox before 1.34', (0,), (1, 34), 'busybox', 'bkmg'),
    _Release('busybox 1.34 and later', (1, 34), (99,), 'busybox', 'bkmgh'),
)

_UNIT_EXPONENT = {'b': (1, False), 'k': (2, False), 'm': (3, False), 'g': (4, False), 'tebi': (5, False),
                  'pebi': (6, False), 'kilo': (2, True), 'mega': (3, True), 'giga': (4, True), 'tera': (5, True),
                  'peta': (6, True)}
_LETTERS = 'BKMGTP'


def _scaling(release, exponent, si, human):
    """{form: (bytes per unit, decimals possible)} of one release's scale_size() for these flags."""
    forms = {}
    base = 1000 if si else 1024
    family = release.scaling
    if family == '3.2':
        # procps 3.2 free.c: S(X) = (X << 10) >> shift, shift 0/10/20/30 for -b/-k/-m/-g
        forms[''] = (Fraction({0: 1024, 1: 1, 2: 1024, 3: 1 << 20, 4: 1 << 30}[exponent]), False)
        return forms
    if family in ('3.3.0', '3.3.11'):
        # 3.3.0-3.3.12 scale_size(): the default prints KiB, -b bytes, exponent 2 KiB (or kB under
        # --si: size / 0.9765625), above that size / base**(exponent-2) -- KiB over 1000**n under
        # --si, so `--mega` of 3.3.11/3.3.12 counts 1,024,000 bytes
        if not human:
            if exponent == 0:
                forms[''] = (Fraction(1024), False)
            elif exponent == 1:
                forms[''] = (Fraction(1), False)
            elif exponent == 2:
                forms[''] = (Fraction(base), False)
            else:
                forms[''] = (Fraction(1024 * base ** (exponent - 2)), False)
            return forms
        # human: 'B' bytes, 'K' KiB or kB ("%ld%c": no decimals), 'M' 'G' 'T' ('P' from 3.3.11)
        # size / base**(i-2) with "%.1f%c" or "%ld%c"
        letters = 'MGTP' if family == '3.3.11' else 'MGT'
        forms['B'] = (Fraction(1), False)
        forms['K'] = (Fraction(base), False)
        for i, letter in enumerate(letters, 3):
            forms[letter] = (Fraction(1024 * base ** (i - 2)), True)
        return forms
    if family == '3.3.13':
        # 3.3.13-3.3.17: exponent >= 2 prints size * 1024 / base**(exponent-1); human values are
        # (size / 1024) * base / base**(i-2): whole MiB first, so under --si a 'G' is 1000 MiB
        if not human:
            forms[''] = (Fraction(1024 if exponent == 0 else 1 if exponent == 1 else base ** (exponent - 1)), False)
            return forms
        forms['B'] = (Fraction(1), False)
        for i, letter in enumerate('KMGTP', 2):
            # MiB * base**(3-i) is printed: a unit of 2**20 * base**(i-3) bytes (1024**(i-1) when binary)
            forms[letter if si else letter + 'i'] = (Fraction(1 << 20) * Fraction(base) ** (i - 3), True)
        return forms
    # 4.0.0 and later: bytes = size * 1024; the default prints bytes / base (4.0.0: size, KiB),
    # exponent >= 2 bytes / base**(exponent-1); human bytes / base**i with "%.1f" or "%ld"
    if not human:
        if exponent == 0:
            forms[''] = (Fraction(1024 if family == '4.0.0' else base), False)
        else:
            forms[''] = (Fraction(1 if exponent == 1 else base ** (exponent - 1)), False)
        return forms
    forms['B'] = (Fraction(1), False)
    for i, letter in enumerate('KMGTP', 1):
        forms[letter if si else letter + 'i'] = (Fraction(base) ** i, True)
    return forms


def _busybox_scaling(letter):
    """busybox free: make_human_readable_str(value, mem_unit, unit): a bare number in the unit
    (rounded) or, under -h, "%llu.%u%c" with 1024-based K M G T P E and a bare "0"."""
    if letter == 'h':
        forms = {'': (Fraction(1), False, True)}  # only "0": the kernel counts pages, never 1..1023 bytes
        for i, suffix in enumerate('KMGTPE', 1):
            forms[suffix] = (Fraction(1024) ** i, True)
        return forms
    return {'': (Fraction({'b': 1, 'k': 1024, 'm': 1 << 20, 'g': 1 << 30}[letter]), False)}


def _version_range(version):
    """('procps' | 'busybox', (x, y, z) low, high) from what `free -V` or busybox printed."""
    if version is None or not str(version).strip():
        return None
    text = str(version)
    match = re.search(r'(\d+)\.(\d+)(?:\.(\d+))?', text, re.ASCII)
    kind = 'busybox' if 'busybox' in text.lower() else 'procps'
    if not match:
        if kind == 'busybox':
            return kind, (0,), (99,)
        raise ParseError('cannot read a release number in version %r (give what `free -V` printed, '
                         'e.g. "free from procps-ng 3.3.17", or "BusyBox v1.35.0")' % text[:80])
    numbers = tuple(int(n) for n in match.groups() if n is not None)
    if match.group(3) is None:
        return kind, numbers, numbers[:1] + (numbers[1] + 1,)
    return kind, numbers, numbers[:2] + (numbers[2] + 1,)


def _argv(flags):
    if isinstance(flags, (list, tuple)):
        argv = [str(arg) for arg in flags]
    elif isinstance(flags, str):
        if len(flags) > MAX_FLAGS:
            raise ParseError('free flags are %d characters long: not flags of a command' % len(flags))
        try:
            argv = shlex.split(flags)
        except ValueError as err:
            raise ParseError('cannot split free flags %r: %s' % (flags[:80], err))
    elif flags is None:
        argv = []
    else:
        raise ParseError('free flags must be text, got %s' % type(flags).__name__)
    if sum(len(arg) for arg in argv) > MAX_FLAGS:
        raise ParseError('free flags are too long to be flags of a command')
    return argv


class _Refused(Exception):
    """The release's free would stop with this error and print no table."""


def _getopt(release, argv):
    """[(option, argument)] as glibc's getopt_long hands them to free.c, in order, with argument
    permutation (options after operands count), ``--`` ending the options, clusters, attached and
    separate arguments, ``--name=value`` and unique abbreviations of long names."""
    takes = dict((letter, release.short[i + 1:i + 2] == ':') for i, letter in enumerate(release.short)
                 if letter != ':')
    options, operands, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == '--':
            operands.extend(argv[i:])
            break
        if arg.startswith('--') and release.longs:
            name, eq, value = arg[2:].partition('=')
            if name in release.longs:
                found = name
            else:
                matches = [long for long in release.longs if long.startswith(name)] if name else []
                if len(matches) > 1:
                    raise _Refused("option '--%s' is ambiguous; possibilities: %s"
                                   % (name, ' '.join("'--%s'" % m for m in matches)))
                if not matches:
                    raise _Refused("unrecognized option '--%s'" % name)
                found = matches[0]
            needs, key = release.longs[found]
            if eq and not needs:
                raise _Refused("option '--%s' doesn't allow an argument" % found)
            if needs and not eq:
                if i >= len(argv):
                    raise _Refused("option '--%s' requires an argument" % found)
                value = argv[i]
                i += 1
            options.append((key, value if needs else None, '--' + found))
        elif arg.startswith('-') and arg != '-':
            j = 1
            while j < len(arg):
                letter = arg[j]
                j += 1
                if letter not in takes:
                    raise _Refused("unknown free flag '-%s' (invalid option -- '%s')" % (letter, letter))
                if takes[letter]:
                    if j < len(arg):
                        value = arg[j:]
                    elif i < len(argv):
                        value = argv[i]
                        i += 1
                    else:
                        raise _Refused("option requires an argument -- '%s'" % letter)
                    options.append((letter, value, '-' + letter))
                    break
                options.append((letter, None, '-' + letter))
        else:
            operands.append(arg)
    return options, operands


_STRTOL = re.compile(r'^[ \t\n\v\f\r]*[+-]?\d+$', re.ASCII)
# lib/strutils.c strtod_nol_or_err (3.3.12+): a sign, digits, '.' or ',' and digits; no exponent
_STRTOD_NOL = re.compile(r'^[ \t\n\v\f\r]*[+-]?\d*(?:[.,]\d*)?$', re.ASCII)
# strtof (3.3.0-3.3.11), the decimal forms only (hex, inf and nan are refused here)
_STRTOF = re.compile(r'^[ \t\n\v\f\r]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$', re.ASCII)


def _seconds(release, value):
    if release.scaling == '3.2':
        match = re.match(r'^[ \t\n\v\f\r]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)', value, re.ASCII)
        return int(1000000 * float(match.group(1))) != 0 if match else False  # atof
    syntax = _STRTOD_NOL if release.low >= (3, 3, 12) else _STRTOF
    if not value or not syntax.match(value) or not re.search(r'\d', value):
        raise _Refused("seconds argument failed: %r" % value)
    if 1000000 * float(value.strip().replace(',', '.')) < 1:
        raise _Refused("seconds argument `%s' is not positive number" % value)
    return True


def _count(release, value):
    if release.scaling == '3.2':
        match = re.match(r'^[ \t\n\v\f\r]*\+?(\d+)', value, re.ASCII)
        return int(match.group(1)) if match else 0  # strtoul; 0 means no end
    if not value or not _STRTOL.match(value):
        raise _Refused("failed to parse count argument: %r" % value)
    count = int(value)
    if count < 1:
        raise _Refused("failed to parse count argument: %r (not a positive number)" % value)
    if count > 2 ** 31 - 1:
        raise _Refused('a count of %s overflows the int free keeps it in' % value)
    return count


def _read_flags(release, argv):
    """(forms, human, line, blocks, display_bug) of one release for these arguments; _Refused when
    that free would stop with an error (or print no table: -V, --help)."""
    if release.kind == 'busybox':
        if argv and argv[0].startswith('-'):
            letter = argv[0][1:2]
            if letter not in release.short or not letter:
                raise _Refused("busybox free shows its usage for %r" % argv[0])
            return _busybox_scaling(letter), letter == 'h', False, 1, False
        return _busybox_scaling('k'), False, False, 1, False
    options, operands = _getopt(release, argv)
    if operands and release.operands == 'refuse':
        raise _Refused('extra operand %r (free takes none)' % operands[0])
    exponent, si, human, line = 0, False, False, False
    units_set, seconds, count = False, None, None
    for key, value, spelled in options:
        if key in ('V', 'help'):
            raise _Refused('%s prints %s, not a table' % (spelled, 'the version' if key == 'V' else 'the usage'))
        if key in _UNIT_EXPONENT:
            if units_set and release.unit_check:
                raise _Refused("Multiple unit options don't make sense (%s)" % spelled)
            units_set = True
            exponent, implied_si = _UNIT_EXPONENT[key]
            si = si or implied_si
        elif key == 'si':
            si = True
        elif key == 'h':
            human = True
        elif key == 'L':
            line = True
        elif key == 's':
            seconds = _seconds(release, value)
        elif key == 'c':
            count = _count(release, value)
    if release.scaling == '3.2':
        blocks = (count or None) if seconds else 1
    elif seconds is None and count is None:
        blocks = 1
    else:
        blocks = count  # -c alone repeats every second; -s alone never ends (None)
    display_bug = human and release.scaling == '3.3.13'
    return _scaling(release, exponent, si, human), human, line, blocks, display_bug


def parse_flags(flags='', version=None):
    """What `free` made of ``flags`` in the releases ``version`` names (every release if None).

    Raises ParseError naming the option when no such release accepts them.
    """
    argv = _argv(flags)
    wanted = _version_range(version)
    releases = [release for release in RELEASES
                if wanted is None or (release.kind.startswith(wanted[0]) and release.low < wanted[2]
                                      and wanted[1] < release.high)]
    if not releases:
        raise ParseError('no free release this parser knows matches version %r' % str(version)[:80])
    accepted, refusals = [], []
    for release in releases:
        try:
            accepted.append((release, _read_flags(release, argv)))
        except _Refused as err:
            refusals.append((release, str(err)))
    shown = ' '.join(argv) or '(none)'
    if not accepted:
        why = '; '.join('%s: %s' % (release.name, err) for release, err in refusals[::-1][:4])
        # the newest procps release's own words lead (busybox's "usage" says least)
        first = [err for release, err in refusals if release.kind == 'procps'][-1:] or [refusals[-1][1]]
        first = first[0]
        raise ParseError('free flags %s: %s -- no free release accepts them (%s)' % (shown, first, why))
    options = FreeOptions(shown, [release.name for release, dummy in accepted])
    blocks = []
    for release, (forms, human, line, count, display_bug) in accepted:
        options.human = options.human or human
        options.line = options.line or line
        options.display_bug = options.display_bug or display_bug
        blocks.append(count)
        for form, meaning in forms.items():
            unit, decimals, zero_only = (meaning + (False,))[:3]
            meanings = options.conflicts.get(form)
            if meanings is not None:
                meanings.setdefault(unit, []).append(release.name)
                continue
            known = options.forms.get(form)
            if known is None:
                options.forms[form] = (unit, decimals, [release.name], zero_only)
            elif known[0] == unit:
                known[2].append(release.name)
                options.forms[form] = (unit, known[1] or decimals, known[2], known[3] and zero_only)
            else:
                options.conflicts[form] = {known[0]: known[2], unit: [release.name]}
                del options.forms[form]
    options.blocks = None if None in blocks else max(blocks)
    return options


# ---- the figures -------------------------------------------------------------------------------

def _figure(token, options, line, lineno, signed=False, wrapped=False):
    """The int bytes of one printed figure, or None where free printed a lost figure."""
    match = _FIGURE.match(token)
    if not match:
        raise ParseError('not a size: %r' % token[:40], line, lineno)
    sign, whole, point, fraction, form = match.groups()
    if len(whole) > _MAX_DIGITS or (fraction and len(fraction) > _MAX_DIGITS):
        raise ParseError('not a size: %d digits' % (len(whole) + len(fraction or '')), line, lineno)
    if sign and not signed:
        raise ParseError('not a size: %r (free prints no negative figure here; only the Comm row '
                         'of free -v can go below zero)' % token[:40], line, lineno)
    if form in options.conflicts:
        raise ParseError('%r: free %s prints %s in units that differ by release (%s): pass the version '
                         '(`free -V`) to say which' % (token, options.flags, form or 'bare numbers', '; '.join(
                             '%s bytes in %s' % (_unit_text(unit), ', '.join(names))
                             for unit, names in options.conflicts[form].items())), line, lineno)
    if form not in options.forms:
        raise ParseError(_form_refusal(token, form, options), line, lineno)
    unit, decimals, dummy, zero_only = options.forms[form]
    if fraction is not None:
        if not decimals:
            raise ParseError('not a size: %r -- free %s prints whole numbers%s; a decimal is not a '
                             'figure it can print' % (token[:40], options.flags,
                                                      ' in %s' % form if form else ''), line, lineno)
        if len(fraction) != 1:
            raise ParseError('not a size: %r -- free prints one decimal digit ("%%.1f")' % token[:40], line, lineno)
    if zero_only and whole.strip('0'):
        raise ParseError('not a size: %r -- free %s prints a unit after every value (busybox free -h a bare 0 '
                         'at most: the kernel counts memory in pages)' % (token, options.flags), line, lineno)
    if options.display_bug and point and whole == '0' and fraction == '0' and form in ('Ki', 'K'):
        return None  # procps 3.3.13-3.3.17 -h: a value under 1 MiB shows as 0.0Ki; unknown, not zero
    if fraction is None and unit.denominator == 1:
        value = int(whole) * unit.numerator
    else:
        value = round(Fraction(int(whole + (fraction or '')), 10 ** len(fraction or '')) * unit)
    if wrapped and value >= 1 << 63:
        # procps 4.0.6+ scale_size() prints CommitLimit - Committed_AS as unsigned: the 2**64 wrap
        # of a negative figure. Exact in bytes and KiB; -h keeps too few digits to undo it.
        if options.human and form not in ('', 'B'):
            return None
        value -= 1 << 64
    magnitude = -value if sign else value
    if magnitude > MAX_BYTES:
        raise ParseError('size %r: %d is not a possible value (0 to %d)' % (token[:40], magnitude, MAX_BYTES),
                         line, lineno)
    return -value if sign else value


def _unit_text(unit):
    return str(unit.numerator) if unit.denominator == 1 else '%s/%s' % (unit.numerator, unit.denominator)


def _form_refusal(token, form, options):
    if form == '':
        return 'not a size: %r -- free %s prints a unit after every value (-h); %r has none' % (
            token, options.flags, token)
    if not options.human:
        one_letter = len(form) == 1 and form != 'B'
        return ('not a size: %r -- free %s prints bare numbers, no units; %r has %s: pass the flags free ran '
                'with (-h, and --si: %s means 1024 in procps < 3.3.13 `free -h` but 1000 in `free -h --si`)'
                % (token, options.flags, token, 'a one-letter unit' if one_letter else 'a unit', form))
    return 'not a size: %r -- free %s never prints the unit %r' % (token, options.flags, form)


# ---- blocks ------------------------------------------------------------------------------------------

def parse_free(text, flags='', version=None):
    """Parse `free` output produced with ``flags``; see the module docstring."""
    if not isinstance(text, str):
        raise ParseError('free output must be text, got %s' % type(text).__name__)
    if len(text) > MAX_TEXT:
        raise ParseError('free output is %d characters long, more than the %d this parser reads '
                         '(free -s without -c?): give the last blocks only' % (len(text), MAX_TEXT))
    options = parse_flags(flags, version)
    if text.startswith(_BOM):
        text = text[1:]  # a paste saved by an editor that writes a byte-order mark
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise ParseError('free output is empty')
    is_line = _line_label(lines[0][1].strip()) is not None
    if is_line != options.line:
        lineno, line = lines[0]
        raise ParseError('this is %s output, but the flags (%s) %s' % (
            'free -L' if is_line else 'free\'s table', options.flags,
            'lack -L' if is_line else 'include -L, which prints one line'), line, lineno)
    blocks = ([[item] for item in lines] if is_line else _split_blocks(lines))
    parse = _parse_line_block if is_line else _parse_block
    kept = collections.deque(maxlen=MAX_SAMPLES)
    count = 0
    for block in blocks:
        count += 1
        if options.blocks is not None and count > options.blocks:
            lineno, line = block[0]
            raise ParseError('free %s prints %s; this is block %d' % (
                options.flags, 'one block' if options.blocks == 1 else '%d blocks' % options.blocks, count),
                line, lineno)
        kept.append(parse(block, options))
    result = copy.deepcopy(kept[-1])
    if count > 1:
        result['blocks'] = count
        result['samples'] = list(kept)
    return result


def _split_blocks(lines):
    block = None
    for lineno, line in lines:
        if _header_columns(line) is not None:
            if block:
                yield block
            block = []
        elif block is None:
            raise ParseError('expected the header of free (total used free ...), found', line, lineno)
        block.append((lineno, line))
    if block:
        yield block


def _header_columns(line):
    return _HEADERS.get(' '.join(line.split()))


def _parse_block(block, options):
    result = {'format': None, 'mem': None, 'swap': None}
    columns = None
    for lineno, line in block:
        if columns is None:
            columns = _header_columns(line)
            result['format'] = _format(columns)
            continue
        label, values = _split_row(line, lineno)
        key = _LABELS.get(label)
        if key == 'derived':
            if result['format'] != 'legacy' or len(values) != 2 or result['mem'] is None:
                raise ParseError('unexpected row in free output', line, lineno)
            _check_derived(result['mem'], label, [_figure(v, options, line, lineno) for v in values],
                           options, line, lineno)
            continue
        if key is None:
            raise ParseError('unknown row label %r in free output (a translation this parser '
                             'does not know? run free with LC_ALL=C)' % label, line, lineno)
        if result.get(key) is not None:
            raise ParseError('row %r printed twice in one free output' % label, line, lineno)
        names = columns if key == 'mem' else _SWAP_KEYS
        if len(values) != len(names):
            raise ParseError('expected %d values in the %s row, found %d (truncated output?)'
                             % (len(names), label, len(values)), line, lineno)
        figures = [_figure(value, options, line, lineno, signed=(key == 'comm' and name == 'free'),
                           wrapped=(key == 'comm' and name == 'free')) for name, value in zip(names, values)]
        row = _complete(dict(zip(names, figures)), _MEM_KEYS if key == 'mem' else _SWAP_KEYS)
        if key == 'comm':
            wrapped = row['free'] is not None and row['free'] < 0 and not values[2].startswith('-')
            result[key] = _check_comm(row, options, line, lineno, wrapped)
        else:
            result[key] = within_total(row, label, line, lineno)
    for key, label in (('mem', 'Mem:'), ('swap', 'Swap:')):
        if result[key] is None:
            lineno, line = block[-1]
            raise ParseError('free output has no %s row (truncated?); last line read' % label,
                             line, lineno)
    mem = result['mem']
    if mem['buff_cache'] is None and mem['buffers'] is not None and mem['cache'] is not None:
        mem['buff_cache'] = mem['buffers'] + mem['cache']
    return result


def _check_comm(row, options, line, lineno, wrapped):
    """The Comm: row of free -v: CommitLimit, Committed_AS and CommitLimit - Committed_AS
    (free.c prints the difference; it is below zero when more is committed than the limit, which
    vm.overcommit_memory=0 allows). Committed_AS may exceed the limit; the difference must agree."""
    total, used, free = row['total'], row['used'], row['free']
    if total is not None and free is not None and free > total:
        raise ParseError('Comm: free (%d bytes) is more than the commit limit (%d bytes): not a real reading'
                         % (free, total), line, lineno)
    if None not in (total, used, free) and not options.human:
        # each figure is truncated to its unit; a wrapped one went through a double (4.0.6+)
        slack = (8 if wrapped else 3) * max(meaning[0] for meaning in options.forms.values())
        if abs(free - (total - used)) > slack:
            raise ParseError('Comm: free is not the commit limit less committed (%d - %d = %d, printed %d)'
                             % (total, used, total - used, free), line, lineno)
    return row


def _check_derived(mem, label, values, options, line, lineno):
    """The legacy '-/+ buffers/cache:' row restates Mem: less buffers and cache; a row that
    disagrees means the paste was edited or mangled, and no figure of it can be trusted."""
    if options.human or None in values:
        return
    held = (mem['buffers'] or 0) + (mem['cache'] or 0 if label == '-/+ buffers/cache:' else 0)
    # each printed figure is truncated to the unit: three of them may be off by one each
    slack = 3 * max(meaning[0] for meaning in options.forms.values())
    expected = (mem['used'] - held, mem['free'] + held)
    if any(abs(a - b) > slack for a, b in zip(values, expected)):
        raise ParseError('the %s row does not match Mem: used/free less buffers and cache '
                         '(expected about %d and %d bytes)' % (label, expected[0], expected[1]), line, lineno)


def _format(columns):
    if 'buff_cache' in columns:
        return 'standard'
    return 'wide' if 'available' in columns else 'legacy'


def _split_row(line, lineno):
    """'Mem:   1  2  3' -> ('Mem:', ['1', '2', '3']); 'Speicher:25276182528 ...' -> ('Speicher:', [...]).

    A row starts with a label procps prints (or one of its translations, spaces inside kept:
    '-/+ buffers/cache:', '상  위:'); what follows it, glued or not, is the figures.
    """
    text = line.strip()
    match = _LABEL.match(text)  # the alternatives longest first: 'Totalt:' before 'Total:'
    if match:
        values = text[match.end():].split()
        if not values:
            raise ParseError('no numbers in this free row', line, lineno)
        return match.group(), values
    words = text.split()
    for index, word in enumerate(words):
        if word[:1].isdigit():
            if index == 0:
                raise ParseError('a free row must start with a label such as Mem:', line, lineno)
            return ' '.join(words[:index]), words[index:]
    raise ParseError('no numbers in this free row', line, lineno)


def _complete(row, keys):
    return dict((key, row.get(key)) for key in keys)


def _line_label(text):
    for label in _LINE_LABELS_LONGEST_FIRST:
        if text.startswith(label):
            return label
    return None


def _parse_line_block(block, options):
    """One line of free -L: four label/figure pairs, labels as translated (a few hold a space)."""
    (lineno, line), = block
    rest = line.strip()
    result = {'format': 'line', 'mem': _complete({}, _MEM_KEYS), 'swap': _complete({}, _SWAP_KEYS)}
    seen = set()
    while rest:
        label = _line_label(rest)
        if label is None:
            raise ParseError('unknown label at %r in `free --line` output' % rest[:20], line, lineno)
        key = _LINE_LABELS[label]
        if key in seen:
            raise ParseError('%s printed twice in one line of `free --line`' % label, line, lineno)
        seen.add(key)
        words = rest[len(label):].split(None, 1)
        if not words:
            raise ParseError('no figure after %s in `free --line` output' % label, line, lineno)
        section, name = _LINE_KEYS[key]
        result[section][name] = _figure(words[0], options, line, lineno)
        rest = words[1].strip() if len(words) > 1 else ''
    if len(seen) != len(_LINE_KEYS):
        raise ParseError('expected %d label/value pairs in `free --line` output, found %d'
                         % (len(_LINE_KEYS), len(seen)), line, lineno)
    return result
