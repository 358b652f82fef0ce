"""``top -b`` output (procps 3.2 to procps-ng 4.x, and busybox) turned into plain data.

``parse_top(text)`` returns::

    {'format': 'procps-ng>=3.3.10' | 'procps<=3.3.9' | 'procps<=3.2' | 'busybox',
     'summary': {...}, 'processes': [...],      # the LAST sample
     'samples': [{'summary': {...}, 'processes': [...]}, ...]}   # one per iteration

``summary``::

    {'time': '11:24:50' | None, 'uptime': seconds | raw text | None, 'users': int | None,
     'tasks': {total, running, sleeping, stopped, zombie}, 'load_average': [1, 5, 15],
     'cpu': {us, sy, ni, id, wa, hi, si, st},
     'mem': {total, free, used, buff_cache, available}, 'swap': {total, free, used},
     'raw_mem': {...} | None, 'truncated': [...]}

Each process::

    {pid, user, priority, nice, virt, res, shr, state, cpu_percent, mem_percent,
     time, command, extra: {COLUMN: value}, truncated: [...]}

Conventions (why each one is the way it is):

- Every memory value is an int of bytes, or None where the output lacks it. A
  bare number in a process memory column is KiB (top's default); a suffixed one
  (``315.1m``, ``3.157g``) is binary. The summary unit follows its label
  (``KiB`` ... ``EiB``; ``k`` in procps 3.2).
- ``uptime`` is seconds at minute precision (top prints ``up 12 days,  3:04``
  or ``up 45 min``); a form we do not know is returned as the text top printed
  rather than a guessed number.
- Values that top cut to fit with a trailing ``+`` are never guessed. A
  number becomes None; text (user, command, WCHAN ...) keeps what top printed,
  ``+`` included, since a prefix still identifies it. Either way the field's
  name goes in the ``truncated`` list of its process (``'res'``,
  ``'extra.nMin'``) or of the summary (``'mem.total'``).
- Counters that top scales (``13k`` page faults, task counts) are multiplied
  by 1000 per step: ``13k`` is 13000, the value top displayed (it rounds, so
  the real count is within 500 of it).
- ``priority`` is the string ``'rt'`` for real-time tasks, an int otherwise.
- Memory summary semantics are normalised to procps-ng >= 3.3.10: ``used``
  excludes buffers and cache. procps <= 3.3.9 and busybox print a ``used``
  that includes them; we subtract them and keep every figure as printed in
  ``raw_mem`` (bytes), so nothing is lost. busybox prints no swap line, no
  tasks line, no uptime, no RES: those are None. busybox's VSZ maps to
  ``virt``, STAT's first letter to ``state`` (whole STAT in ``extra``), and its
  ``%VSZ`` (share of memory that is *virtual*) stays in ``extra``, never in
  ``mem_percent``.
- Columns beyond the classic twelve (PSS, SWAP, USED, DATA, CODE, nTH ...) go
  in ``extra`` under top's own header name; memory ones in bytes, counters as
  ints, ``-`` as None, anything else as printed.

- ``format`` does not tell procps-ng 3.3.10 from 4.x: their layouts are the same.
- Locale: decimal commas are read everywhere; of the translated labels, procps-ng's German ones
  (``%CPU(s)``, ``MiB Spch``, ``avail Spch``, ``ZEIT+``, ``BEFEHL``) are known. Any other unknown
  summary line is refused rather than skipped. The top_facts module runs top with ``LC_ALL=C``.
- Summary figures are rounded by top to the digits shown (``24105.55`` MiB prints ``24105.6``),
  busybox truncates its scaled VSZ (``1352m`` for 1352.9 MiB).

Anything that cannot be read raises ParseError quoting the line.
"""

import re
import time

from ..parse_error import ParseError
from ..units import count, parse_size, plausible, within_total

# Process columns whose values are amounts of memory (KiB when bare).
_MEM_COLUMNS = frozenset((
    'VIRT', 'RES', 'SHR', 'SWAP', 'CODE', 'DATA', 'USED', 'RSan', 'RSfd', 'RSlk', 'RSsh',
    'PSS', 'PSan', 'PSfd', 'PSsh', 'USS', 'VSZ', 'RSS', 'VSZRW', '(SHR)', 'DIRTY', 'STACK',
))
# Process columns holding whole numbers; top scales the large ones by 1000 (13k).
_INT_COLUMNS = frozenset((
    'PID', 'PPID', 'UID', 'RUID', 'SUID', 'GID', 'PGRP', 'TPGID', 'SID', 'nTH', 'P', 'TGID',
    'nMaj', 'nMin', 'nDRT', 'vMj', 'vMn', 'OOMa', 'OOMs', 'NU', 'AGID', 'AGNI',
    'nsIPC', 'nsMNT', 'nsNET', 'nsPID', 'nsUSER', 'nsUTS', 'nsCGROUP', 'nsTIME',
    'ioR', 'ioRop', 'ioW', 'ioWop', 'NI',
))
_FLOAT_COLUMNS = frozenset(('%CPU', '%MEM', '%CUU', '%CUC', '%VSZ'))
# Left-aligned columns whose values may hold spaces: a command name ("Web
# Content"), a command line (-c), the environment, cgroup paths, group names.
_SPACED_COLUMNS = frozenset(('COMMAND', 'ENVIRON', 'CGROUPS', 'CGNAME', 'SUPGRPS', 'EXE'))
# Columns printed flush left: their values start where the header name starts.
_LEFT_COLUMNS = frozenset((
    'USER', 'RUSER', 'SUSER', 'GROUP', 'TTY', 'WCHAN', 'Flags', 'SUPGIDS', 'LXC', 'S', 'STAT',
)) | _SPACED_COLUMNS

# Our key for each classic column; anything else lands in ``extra``.
_KEYS = {
    'PID': 'pid', 'USER': 'user', 'PR': 'priority', 'NI': 'nice', 'VIRT': 'virt',
    'RES': 'res', 'SHR': 'shr', 'S': 'state', '%CPU': 'cpu_percent', '%MEM': 'mem_percent',
    'TIME+': 'time', 'COMMAND': 'command',
}
# Header names procps-ng translates (German, as captured under LC_ALL=de_DE.UTF-8).
_HEADER_ALIASES = {'ZEIT+': 'TIME+', 'ZEIT': 'TIME', 'BEFEHL': 'COMMAND'}
_BUSYBOX_KEYS = {'PID': 'pid', 'USER': 'user', 'VSZ': 'virt', '%CPU': 'cpu_percent',
                 'COMMAND': 'command', 'RSS': 'res'}
_PROCESS_KEYS = ('pid', 'user', 'priority', 'nice', 'virt', 'res', 'shr', 'state',
                 'cpu_percent', 'mem_percent', 'time', 'command')

_UNIT = {'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3, 'T': 1024 ** 4, 'P': 1024 ** 5, 'E': 1024 ** 6}
_CPU_KEYS = ('us', 'sy', 'ni', 'id', 'wa', 'hi', 'si', 'st')
_BUSYBOX_CPU = {'usr': 'us', 'sys': 'sy', 'nic': 'ni', 'idle': 'id', 'io': 'wa', 'irq': 'hi',
                'sirq': 'si'}
_COUNTER_SCALE = {'k': 10 ** 3, 'm': 10 ** 6, 'g': 10 ** 9, 't': 10 ** 12, 'p': 10 ** 15,
                  'e': 10 ** 18}

_TOP_LINE = re.compile(
    r'^top - (?P<time>\S+)\s+up\s+(?P<up>.*?),\s+(?P<users>\d+)\s+users?,'
    r'\s+load average:\s*(?P<load>.*?)\s*$', re.ASCII)
_TOP_LINE_LOOSE = re.compile(r'^top - (?P<time>\S+)\s+up\s+(?P<up>.*?),?\s+load average:\s*(?P<load>.*?)\s*$', re.ASCII)
_UPTIME = re.compile(
    r'^(?:(?P<days>\d+)\s+days?,\s*)?(?:(?P<h>\d+):(?P<m>\d{2})|(?P<min>\d+)\s+min)$', re.ASCII)
_PAIR = r'(?P<value>\d[\d.,]*[kmgtpe]?\+?|\+)\s*(?P<label>%s)'
_TASKS_PAIR = re.compile(_PAIR % 'total|running|sleeping|stopped|zombie', re.ASCII)
_CPU_PAIR = re.compile(r'(?P<value>\d[\d.,]*)%?\s*(?P<label>us|sy|ni|id|wa|hi|si|st)\b', re.ASCII)
# procps-ng 4 in a German locale prints "Spch" (Speicher) for Mem; numbers and the other labels
# stay as in C (decimal commas aside).
_MEM_LINE = re.compile(r'^(?P<unit>[KMGTPE])iB (?P<kind>Mem|Swap|Spch)\s?:(?P<rest>.*)$', re.ASCII)
_MEM_PAIR = re.compile(_PAIR % r'total|free|used|buff/cache|avail (?:Mem|Spch)|buffers|cached Mem', re.ASCII)
_OLD_MEM_LINE = re.compile(r'^(?P<kind>Mem|Swap):\s+(?P<rest>\d.*\btotal\b.*)$', re.ASCII)
_OLD_MEM_PAIR = re.compile(r'(?P<value>\d+k?\+?)\s*(?P<label>total|used|free|buffers|cached)', re.ASCII)
_BB_MEM_LINE = re.compile(r'^Mem:\s+(?P<rest>\d[\d.]*[KMGT]?\s+used,.*)$', re.ASCII)
_BB_MEM_PAIR = re.compile(r'(?P<value>\d[\d.]*[KMGT]?)\s+(?P<label>used|free|shrd|buff|cached)\b', re.ASCII)
_BB_CPU_PAIR = re.compile(r'(?P<value>\d[\d.]*)%\s+(?P<label>usr|sys|nic|idle|io|irq|sirq)\b', re.ASCII)
_GRAPH = re.compile(r'^\S+ (?:Mem|Swap)\s?:.*\[', re.ASCII)


def parse_top(text):
    """Parse the text of ``top -b`` (any number of iterations); see the module doc."""
    if not isinstance(text, str):
        raise ParseError('top output must be text, not %s' % type(text).__name__)
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise ParseError('top output is empty')
    samples = []
    fmt = None
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith('top - ') or _BB_MEM_LINE.match(line):
            sample, sample_fmt, i = _parse_sample(lines, i)
            if fmt is None:
                fmt = sample_fmt
            elif fmt != sample_fmt:
                raise ParseError('samples of different top formats (%s, then %s)' % (fmt, sample_fmt),
                                 line, i + 1)
            samples.append(sample)
            continue
        raise ParseError('not top -b output (expected a "top - " or busybox "Mem:" line)', line, i + 1)
    last = samples[-1]
    return {'format': fmt, 'summary': last['summary'], 'processes': last['processes'],
            'samples': samples}


def _parse_sample(lines, start):
    """Read one iteration from ``lines[start]``; return (sample, format, next index)."""
    summary = _empty_summary()
    busybox = not lines[start].startswith('top - ')
    fmt = 'busybox' if busybox else None
    i = start
    n = len(lines)
    header = None
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if i > start and (line.startswith('top - ') or (busybox and _BB_MEM_LINE.match(line))):
            break
        if not stripped:
            i += 1
            continue
        if _is_header(stripped):
            header = i
            break
        line_fmt = _summary_line(line, i + 1, summary, busybox)
        if line_fmt:
            fmt = line_fmt
        i += 1
    if header is None:
        raise ParseError('top output ends before its process table (truncated paste?)',
                         lines[i - 1] if i > start else lines[start], i if i > start else start + 1)
    if fmt is None:
        # Only the top/tasks/cpu lines were printed (toprc hid the memory lines):
        # the table still reads the same way.
        fmt = 'procps-ng>=3.3.10'
    processes = []
    table = _Table(lines[header], header + 1, busybox)
    i = header + 1
    while i < n:
        line = lines[i]
        if line.startswith('top - ') or (busybox and _BB_MEM_LINE.match(line)):
            break
        if line.strip():
            processes.append(table.row(line, i + 1))
        i += 1
    for kind in ('mem', 'swap'):
        within_total(summary[kind], 'top\'s %s line:' % kind.capitalize(), lines[start], start + 1)
    return {'summary': summary, 'processes': processes}, fmt, i


def _empty_summary():
    return {
        'time': None, 'uptime': None, 'users': None,
        'tasks': dict.fromkeys(('total', 'running', 'sleeping', 'stopped', 'zombie')),
        'load_average': None,
        'cpu': None,
        'mem': dict.fromkeys(('total', 'free', 'used', 'buff_cache', 'available')),
        'swap': dict.fromkeys(('total', 'free', 'used')),
        'raw_mem': None,
        'truncated': [],
    }


def _is_header(stripped):
    tokens = stripped.split()
    return 'PID' in tokens and ('COMMAND' in tokens or 'USER' in tokens or 'BEFEHL' in tokens)


def _summary_line(line, lineno, summary, busybox):
    """Fill ``summary`` from one summary line; return the format it reveals, if any."""
    if line.startswith('top - '):
        _top_line(line, lineno, summary)
        return None
    if line.startswith(('Tasks:', 'Threads:')):
        _pairs(_TASKS_PAIR, line, lineno, summary['tasks'], 'tasks', summary, _counter, 5)
        return None
    if line.startswith(('%Cpu(s):', '%CPU(s):')):
        summary['cpu'] = _cpu(line, lineno, _CPU_PAIR, None)
        return None
    if line.startswith('Cpu(s):'):
        summary['cpu'] = _cpu(line, lineno, _CPU_PAIR, None)
        return 'procps<=3.2'
    if re.match(r'^%?(Cpu|Node)\d+\s', line, flags=re.ASCII) or line.startswith('%Cpu'):
        # Per-CPU or per-NUMA-node lines (toggles 1, 2, 3): the aggregate line,
        # when printed, already carries the figures we return.
        return None
    if _GRAPH.match(line):
        raise ParseError('memory summary is drawn as a graph (toprc toggle "m"); run top '
                         'with its default settings', line, lineno)
    match = _MEM_LINE.match(line)
    if match:
        return _mem_line(match, line, lineno, summary)
    match = _OLD_MEM_LINE.match(line)
    if match and not busybox:
        _old_mem_line(match, line, lineno, summary)
        return 'procps<=3.2'
    if busybox:
        match = _BB_MEM_LINE.match(line)
        if match:
            _busybox_mem(match.group('rest'), line, lineno, summary)
            return 'busybox'
        if line.startswith('CPU:'):
            summary['cpu'] = _cpu(line, lineno, _BB_CPU_PAIR, _BUSYBOX_CPU)
            return 'busybox'
        if line.startswith('Load average:'):
            fields = line.split()[2:5]
            summary['load_average'] = [_number(f, line, lineno) for f in fields]
            if len(fields) != 3:
                raise ParseError('busybox load average line without three values', line, lineno)
            return 'busybox'
    raise ParseError('unrecognised top summary line', line, lineno)


def _top_line(line, lineno, summary):
    match = _TOP_LINE.match(line) or _TOP_LINE_LOOSE.match(line)
    if not match:
        raise ParseError('unrecognised top header line', line, lineno)
    summary['time'] = match.group('time')
    groups = match.groupdict()
    if groups.get('users') is not None:
        summary['users'] = count(groups['users'], 'users', line, lineno)
    up = ' '.join(match.group('up').split())
    summary['uptime'] = _uptime(up, line, lineno)
    loads = [v for v in re.split(r',\s+|\s+', match.group('load').strip(), flags=re.ASCII) if v]
    if len(loads) != 3:
        raise ParseError('load average without three values', line, lineno)
    summary['load_average'] = [_number(v, line, lineno) for v in loads]


def _uptime(text, line, lineno):
    match = _UPTIME.match(text)
    if not match:
        return text
    days = count(match.group('days') or '0', 'uptime days', line, lineno)
    if match.group('min') is not None:
        minutes = count(match.group('min'), 'uptime', line, lineno)
    else:
        minutes = (count(match.group('h'), 'uptime', line, lineno) * 60
                   + count(match.group('m'), 'uptime', line, lineno))
    return (days * 1440 + minutes) * 60


_DECIMAL = re.compile(r'^-?[0-9]+(?:[.,][0-9]+)?$', re.ASCII)
_INTEGER = re.compile(r'^-?[0-9]+$', re.ASCII)


def _number(token, line, lineno):
    """A decimal printed by top, in the C or a decimal-comma locale."""
    if not _DECIMAL.match(token) or len(token) > 48:
        raise ParseError('not a number: %r' % token[:48], line, lineno)
    # a share of CPU or memory, a load: finite and not negative (top prints 100 per CPU at most)
    return plausible(float(token.replace(',', '.')), 'number', line, lineno, maximum=1e9)


def _counter(token, line, lineno):
    """A count that top may scale by 1000 (``13k``): the value it displayed."""
    if token[-1:] in _COUNTER_SCALE:
        value = _number(token[:-1], line, lineno) * _COUNTER_SCALE[token[-1]]
        return int(round(value))
    if not _INTEGER.match(token):
        raise ParseError('not a count: %r' % token, line, lineno)
    return -count(token[1:], 'count', line, lineno) if token[:1] == '-' else count(token, 'count', line, lineno)


def _pairs(pattern, line, lineno, target, section, summary, convert, expected):
    """Fill ``target`` from ``value label`` pairs; '+'-truncated values become None."""
    found = 0
    for match in pattern.finditer(line):
        label = match.group('label')
        key = label.replace('buff/cache', 'buff_cache').replace('avail Mem', 'available')
        token = match.group('value')
        found += 1
        if token.endswith('+'):
            target[key] = None
            summary['truncated'].append('%s.%s' % (section, key))
        else:
            target[key] = convert(token, line, lineno)
    if found < expected:
        raise ParseError('%s line with %d of %d expected values' % (section, found, expected),
                         line, lineno)


def _cpu(line, lineno, pattern, names):
    cpu = dict.fromkeys(_CPU_KEYS)
    found = 0
    for match in pattern.finditer(line):
        label = match.group('label')
        cpu[names[label] if names else label] = _number(match.group('value'), line, lineno)
        found += 1
    if found < 4:
        raise ParseError('unreadable CPU line', line, lineno)
    return cpu


def _mem_line(match, line, lineno, summary):
    """``KiB Mem : ... total, ... free, ...`` (3.3.10+) or ``KiB Mem:  ... total, ... used`` (<= 3.3.9)."""
    multiplier = _UNIT[match.group('unit')]
    kind = 'Mem' if match.group('kind') == 'Spch' else match.group('kind')
    rest = match.group('rest')

    def size(token, line, lineno):
        try:
            return parse_size(token, multiplier)
        except ParseError:
            raise ParseError('not a size: %r' % token, line, lineno)

    values = {}
    truncated = []
    for pair in _MEM_PAIR.finditer(rest):
        token = pair.group('value')
        label = 'avail Mem' if pair.group('label') == 'avail Spch' else pair.group('label')
        if token.endswith('+'):
            values[label] = None
            truncated.append(label)
        else:
            values[label] = size(token, line, lineno)
    # The 3.3.9 layout says "used" before "free" on the Mem line and ends the
    # Swap line with "cached Mem"; 3.3.10 moved free first and added avail Mem.
    legacy = ('buffers' in values or 'cached Mem' in values
              or list(values)[:2] == ['total', 'used'])
    needed = {'Mem': ('total', 'free', 'used', 'buff/cache'),
              'Swap': ('total', 'free', 'used', 'avail Mem')}[kind]
    if legacy:
        needed = {'Mem': ('total', 'used', 'free', 'buffers'),
                  'Swap': ('total', 'used', 'free', 'cached Mem')}[kind]
    missing = [label for label in needed if label not in values]
    if missing:
        raise ParseError('%s line without %s' % (kind, ', '.join(missing)), line, lineno)
    names = {'buff/cache': 'buff_cache', 'avail Mem': 'available'}
    if not legacy:
        if kind == 'Mem':
            target = summary['mem']
            for label in needed:
                target[names.get(label, label)] = values[label]
        else:
            for label in ('total', 'free', 'used'):
                summary['swap'][label] = values[label]
            summary['mem']['available'] = values['avail Mem']
        for label in truncated:
            section = 'mem' if kind == 'Mem' or label == 'avail Mem' else 'swap'
            summary['truncated'].append('%s.%s' % (section, names.get(label, label)))
        return 'procps-ng>=3.3.10'
    raw = summary['raw_mem'] if summary['raw_mem'] is not None else {}
    summary['raw_mem'] = raw
    if kind == 'Mem':
        for label in ('total', 'used', 'free', 'buffers'):
            raw[label] = values[label]
        summary['mem']['total'] = values['total']
        summary['mem']['free'] = values['free']
    else:
        for label in ('total', 'used', 'free'):
            summary['swap'][label] = values[label]
        raw['cached'] = values['cached Mem']
    for label in truncated:
        if kind == 'Mem':
            summary['truncated'].append('mem.%s' % label if label in ('total', 'free')
                                        else 'raw_mem.%s' % label)
        else:
            summary['truncated'].append('raw_mem.cached' if label == 'cached Mem'
                                        else 'swap.%s' % label)
    _normalise_used(summary)
    return 'procps<=3.3.9'


def _old_mem_line(match, line, lineno, summary):
    """procps 3.2: ``Mem:   3051792k total,  1222252k used,  1829540k free,    67072k buffers``."""
    values = {}
    for pair in _OLD_MEM_PAIR.finditer(match.group('rest')):
        token = pair.group('value')
        label = pair.group('label')
        if token.endswith('+'):
            values[label] = None
            summary['truncated'].append('raw_mem.%s' % label)
        else:
            values[label] = parse_size(token.rstrip('k'), 1024)
    kind = match.group('kind')
    needed = ('total', 'used', 'free', 'buffers' if kind == 'Mem' else 'cached')
    missing = [label for label in needed if label not in values]
    if missing:
        raise ParseError('%s line without %s' % (kind, ', '.join(missing)), line, lineno)
    raw = summary['raw_mem'] if summary['raw_mem'] is not None else {}
    summary['raw_mem'] = raw
    if kind == 'Mem':
        for label in needed:
            raw[label] = values[label]
        summary['mem']['total'] = values['total']
        summary['mem']['free'] = values['free']
    else:
        for label in ('total', 'used', 'free'):
            summary['swap'][label] = values[label]
        raw['cached'] = values['cached']
    _normalise_used(summary)


def _busybox_mem(rest, line, lineno, summary):
    """``Mem: 2970836K used, 21713248K free, 8872K shrd, 287804K buff, 2062268K cached``."""
    raw = {}
    for pair in _BB_MEM_PAIR.finditer(rest):
        token = pair.group('value')
        raw[pair.group('label')] = parse_size(token[:-1] if token.endswith('K') else token, 1024)
    missing = [label for label in ('used', 'free', 'buff', 'cached') if label not in raw]
    if missing:
        raise ParseError('busybox Mem line without %s' % ', '.join(missing), line, lineno)
    summary['raw_mem'] = {'used': raw['used'], 'free': raw['free'], 'shared': raw.get('shrd'),
                          'buffers': raw['buff'], 'cached': raw['cached']}
    # busybox computes used = MemTotal - MemFree, so the total is exact.
    summary['mem']['total'] = raw['used'] + raw['free']
    summary['mem']['free'] = raw['free']
    _normalise_used(summary)


def _normalise_used(summary):
    """Give legacy/busybox ``used`` the procps-ng 3.3.10 meaning: without buffers and cache."""
    raw = summary['raw_mem']
    parts = (raw.get('used'), raw.get('buffers'), raw.get('cached'))
    if 'used' not in raw or 'buffers' not in raw or 'cached' not in raw:
        return
    if any(p is None for p in parts):
        summary['mem']['used'] = None
        summary['mem']['buff_cache'] = None
        return
    used, buffers, cached = parts
    summary['mem']['buff_cache'] = buffers + cached
    # With a truncated "used" top still printed buffers/cache: the difference
    # is only meaningful when it is not negative.
    summary['mem']['used'] = used - buffers - cached if used >= buffers + cached else None


class _Table(object):
    """The process table of one sample: its header, and how to cut each row."""

    def __init__(self, header, lineno, busybox):
        self.header = header
        printed = header.split()
        self.names = [_HEADER_ALIASES.get(name, name) for name in printed]
        if len(set(self.names)) != len(self.names):
            raise ParseError('process header with a repeated column', header, lineno - 1)
        self.busybox = busybox
        self.keys = _BUSYBOX_KEYS if busybox else _KEYS
        spaced = [k for k, name in enumerate(self.names) if name in _SPACED_COLUMNS]
        # One space-holding column, and it is the last: split on whitespace and
        # let the last column keep the rest of the line (the common, fast case).
        self.simple = not spaced or spaced == [len(self.names) - 1]
        self.plan = []
        for name in self.names:
            key = self.keys.get(name)
            if key is None and name == 'TIME' and 'TIME+' not in self.names:
                key = 'time'
            self.plan.append((name, key, key or 'extra.' + name, _converter(name)))
        self.columns = []
        pos = 0
        for name, shown in zip(self.names, printed):
            start = header.index(shown, pos)
            pos = start + len(shown)
            self.columns.append((name, start, pos))

    def row(self, line, lineno):
        ncols = len(self.names)
        if self.simple:
            values = line.split(None, ncols - 1)
            if len(values) != ncols:
                raise ParseError('process line with %d of %d columns' % (len(values), ncols),
                                 line, lineno)
            values[-1] = values[-1].rstrip()
        else:
            values = self._by_position(line, lineno)
        return self._convert(values, line, lineno)

    def _by_position(self, line, lineno):
        """Cut a row where two or more columns may hold spaces, by header position."""
        tokens = [(m.start(), m.end(), m.group()) for m in re.finditer(r'\S+', line, flags=re.ASCII)]
        values = []
        t = 0
        ntok = len(tokens)
        for c, (name, start, end) in enumerate(self.columns):
            if t >= ntok:
                raise ParseError('process line shorter than its header (column %s missing)' % name,
                                 line, lineno)
            if name not in _SPACED_COLUMNS:
                values.append(tokens[t][2])
                t += 1
                continue
            if c == len(self.columns) - 1:
                values.append(line[tokens[t][0]:].rstrip())
                t = ntok
                continue
            nxt_name, nxt_start, nxt_end = self.columns[c + 1]
            first = t
            if nxt_name in _LEFT_COLUMNS:
                while t < ntok and (t == first or tokens[t][0] < nxt_start):
                    t += 1
            else:
                # A right-aligned value ends where its header name ends.
                while t < ntok and (t == first or tokens[t][1] < nxt_end):
                    t += 1
            values.append(line[tokens[first][0]:tokens[t - 1][1]])
        if t != ntok:
            raise ParseError('process line longer than its header', line, lineno)
        return values

    def _convert(self, values, line, lineno):
        proc = dict.fromkeys(_PROCESS_KEYS)
        extra = {}
        truncated = []
        for (name, key, label, convert), value in zip(self.plan, values):
            if value == '-' and key != 'command':
                converted = None
            elif convert is None:
                converted = value
                # A text cut by top keeps its prefix ('g++' is a name, not a cut).
                if value[-1] == '+' and len(value) > 1 and value[-2] != '+':
                    truncated.append(label)
            elif value[-1] == '+':
                converted = None
                truncated.append(label)
            else:
                converted = convert(value, name, line, lineno)
            if key is None:
                extra[name] = converted
            else:
                proc[key] = converted
        if self.busybox and 'STAT' in extra and extra['STAT']:
            proc['state'] = extra['STAT'][:1]
        proc['extra'] = extra
        proc['truncated'] = truncated
        return proc


def _size(value, name, line, lineno):
    try:
        return parse_size(value, 1024)
    except ParseError:
        raise ParseError('column %s: not a size: %r' % (name, value), line, lineno)


def _priority(value, name, line, lineno):
    return 'rt' if value == 'rt' else _int(value, name, line, lineno)


# pid_max can be set up to PID_MAX_LIMIT (4194304, 2**22); PID 0 is the idle task, never listed
_PID_MAX = 1 << 22


def _whole(value, name, line, lineno):
    if name in ('PID', 'PPID', 'TGID'):
        pid = count(value, 'column %s' % name, line, lineno)
        lowest = 0 if name == 'PPID' else 1  # PID 1's parent is 0
        if not lowest <= pid <= _PID_MAX:
            raise ParseError('column %s: %r is not a process id (%d to %d)' % (name, value, lowest, _PID_MAX),
                             line, lineno)
        return pid
    if _INTEGER.match(value):
        return _counter(value, line, lineno)
    if name in ('PID', 'NI'):
        raise ParseError('column %s: not an integer: %r' % (name, value), line, lineno)
    return _counter(value, line, lineno)


def _percent(value, name, line, lineno):
    return _number(value[:-1] if value[-1:] == '%' else value, line, lineno)


def _converter(name):
    if name in _MEM_COLUMNS:
        return _size
    if name == 'PR':
        return _priority
    if name in _INT_COLUMNS:
        return _whole
    if name in _FLOAT_COLUMNS:
        return _percent
    return None


def _int(value, name, line, lineno):
    if not _INTEGER.match(value):
        raise ParseError('column %s: not an integer: %r' % (name, value), line, lineno)
    return _counter(value, line, lineno)


# A toprc can reorder, hide or add columns and switch the memory lines to graphs, and procps top
# creates ~/.config/procps when it runs: pointing HOME nowhere gives the built-in layout and leaves
# the host as it was.
TOP_ENV = {'LC_ALL': 'C', 'LANG': 'C', 'HOME': '/nonexistent', 'XDG_CONFIG_HOME': '/nonexistent'}

# busybox top's own default pause between samples, in seconds.
BUSYBOX_DELAY = 5


def run_top(run, iterations=1, delay=None, full_command=False, sleep=time.sleep):
    """Run top in batch mode the way this host's top understands, and return (stdout, busybox).

    ``run(argv)`` returns ``(rc, stdout, stderr)`` like AnsibleModule.run_command, with TOP_ENV in
    the environment; argv starts with 'top'. procps top is sorted by memory and made wide so that
    commands are not cut; an old procps that rejects -o/-w is asked again without them; busybox top
    knows neither and is run once per sample. Raises OSError with top's message when every form fails.
    """
    rc, out, err = run(['top', '-V'])
    if 'busybox' in (out + err).lower():
        return _run_busybox_top(run, iterations, delay, sleep), True
    cmd = ['top', '-b', '-n', str(iterations)] + (['-d', repr(delay)] if delay is not None else [])
    cmd += ['-c'] if full_command else []
    attempts = [cmd + ['-o', '%MEM', '-w', '512'], cmd]
    for attempt in attempts:
        rc, out, err = run(attempt)
        if rc == 0:
            return out, False
    raise OSError('%s failed (rc=%d): %s' % (' '.join(attempts[-1]), rc, err.strip()))


def _run_busybox_top(run, iterations, delay, sleep):
    """One ``top -b -n 1`` per sample, the pause between them kept here.

    busybox top only sleeps whole seconds, and when it finds no process in /proc it prints what it
    has so far and still exits 0: a sample count of its own could come up short without a word.
    """
    outputs = []
    for i in range(iterations):
        if i:
            sleep(BUSYBOX_DELAY if delay is None else delay)
        rc, out, err = run(['top', '-b', '-n', '1'])
        if rc != 0 or not out.strip():
            raise OSError('top -b -n 1 (busybox) failed (rc=%d): %s' % (rc, err.strip() or 'no output'))
        outputs.append(out if out.endswith('\n') else out + '\n')
    return ''.join(outputs)
