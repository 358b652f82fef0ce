"""Sizes as free and top print them, turned into exact integer bytes."""

import math
import re

from .parse_error import ParseError

# Binary sizes, the one place they are spelled.
KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
TIB = 1 << 40

# Binary prefixes always mean powers of 1024; a bare letter means 1000 only
# under --si (procps >= 3.3.13), 1024 otherwise (older free -h, top's k/m/g).
_POWERS = {'K': 1, 'M': 2, 'G': 3, 'T': 4, 'P': 5, 'E': 6}
# More than any machine can hold or address (16 EiB, 2**64): a figure above it is not a reading.
MAX_BYTES = 1 << 64
# Digits a printed figure may have: 2**64 has 20. Longer is garbage, and would cost int() time.
_MAX_DIGITS = 24


def finite(value):
    """False for NaN and the infinities (what ``-e x=1e400`` and ``float('nan')`` give), True for
    every int however big (no conversion to float, which would overflow)."""
    return not isinstance(value, float) or math.isfinite(value)


def human(size):
    """1536 -> '1.5 KiB': for messages only, never for facts."""
    size = float(size or 0)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(size) < 1024 or unit == 'TiB':
            return ('%d %s' % (size, unit)) if unit == 'B' else ('%.1f %s' % (size, unit))
        size /= 1024.0


def is_count(text):
    """True for a run of ASCII digits: str.isdigit also takes '٣', '８' and '²', which no tool prints."""
    return text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS


def plausible(value, what, line=None, lineno=None, maximum=MAX_BYTES):
    """``value`` when it is a finite number from 0 to ``maximum``; ParseError naming ``what`` else."""
    if not finite(value) or not 0 <= value <= maximum:
        raise ParseError('%s: %s is not a possible value (0 to %d)' % (what, _clip(value), maximum),
                         line, lineno)
    return value


def count(text, what, line=None, lineno=None):
    """The int of a run of ASCII digits (a counter, a size in kB); ParseError naming ``what`` else."""
    if not is_count(text):
        raise ParseError('%s: not a count: %r' % (what, text[:40]), line, lineno)
    return int(text)


def within_total(row, what, line=None, lineno=None):
    """``row`` when its used/free/available are at most its total: no reading has more in use than there is.

    None (a value top or free could not print) passes; so does a row without a total.
    """
    total = row.get('total')
    if total is None:
        return row
    for key in ('used', 'free', 'available'):
        value = row.get(key)
        if value is not None and value > total:
            raise ParseError('%s %s (%d bytes) is more than its total (%d bytes): not a real reading'
                             % (what, key, value, total), line, lineno)
    return row


def _clip(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'


_SIZE = re.compile(r'^(\d+(?:[.,]\d+)?)([KMGTPEkmgtpe]i?|B)?$', re.ASCII)


def parse_size(token, multiplier=1024, si=False):
    """Return the integer number of bytes that one printed size stands for.

    ``multiplier`` is what a bare number counts (1 for ``free -b``, 1024 for
    KiB, 1048576 for ``-m`` ...). A suffix overrides it: ``Ki Mi Gi`` are
    binary, ``B`` is bytes, a bare letter is decimal only when ``si`` is true.
    A decimal comma (``1,5Gi`` in a German locale) reads as a decimal point.
    Raises ParseError on anything else.
    """
    match = _SIZE.match(token.strip())
    if not match:
        raise ParseError('not a size: %r' % token)
    number, suffix = match.groups()
    if len(number) > 2 * _MAX_DIGITS:
        raise ParseError('not a size: %d digits' % len(number))
    value = float(number.replace(',', '.')) if ('.' in number or ',' in number) else int(number)
    if suffix is None:
        scale = multiplier
    elif suffix == 'B':
        scale = 1
    else:
        base = 1000 if (si and len(suffix) == 1) else 1024
        scale = base ** _POWERS[suffix[0].upper()]
    return int(round(plausible(value * scale, 'size %r' % token.strip()[:40])))


def resolution(token, multiplier=1024, si=False):
    """The rounding step a printed size carries, in bytes.

    ``1.5Gi`` is exact to 0.1 GiB, ``512`` in ``free -m`` output to one MiB.
    Tests use it to compare a display value with the exact one.
    """
    match = _SIZE.match(token.strip())
    if not match:
        raise ParseError('not a size: %r' % token)
    number = match.group(1).replace(',', '.')
    decimals = len(number.split('.')[1]) if '.' in number else 0
    return parse_size('1' + (match.group(2) or ''), multiplier, si) / 10 ** decimals


def duration(seconds):
    """A span of time for a person: '4 s', '12 min', '3.0 h', '2.5 days'."""
    if seconds < 60:
        return '%s s' % ('%.2g' % seconds if seconds < 10 else '%d' % round(seconds))
    if seconds < 3600:
        return '%d min' % round(seconds / 60.0)
    if seconds < 86400:
        return '%.1f h' % (seconds / 3600.0)
    return '%.1f days' % (seconds / 86400.0)
