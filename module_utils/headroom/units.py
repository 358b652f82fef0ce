"""Sizes as free and top print them, turned into exact integer bytes."""

import re

from .errors import ParseError

# Binary prefixes always mean powers of 1024; a bare letter means 1000 only
# under --si (procps >= 3.3.13), 1024 otherwise (older free -h, top's k/m/g).
_POWERS = {'K': 1, 'M': 2, 'G': 3, 'T': 4, 'P': 5, 'E': 6}
_SIZE = re.compile(r'^(\d+(?:[.,]\d+)?)([KMGTPEkmgtpe]i?|B)?$')


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
    value = float(number.replace(',', '.')) if ('.' in number or ',' in number) else int(number)
    if suffix is None:
        scale = multiplier
    elif suffix == 'B':
        scale = 1
    else:
        base = 1000 if (si and len(suffix) == 1) else 1024
        scale = base ** _POWERS[suffix[0].upper()]
    return int(round(value * scale))


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
