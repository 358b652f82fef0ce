"""``top -b`` output (procps 3.2 to procps-ng 4.x, and busybox) turned into plain data.

``parse_top(text)`` returns::

    {'format': 'procps-ng>=3.3.10' | 'procps<=3.3.9' | 'procps<=3.2' | 'busybox',
     'summary': {...}, 'processes': [...],      # the LAST sample
     'samples': [{'summary': {...}, 'processes': [...]}, ...]}   # one per iteration

``summary``::

    {'time': '11:24:50' | None, 'uptime': seconds | raw text | None, 'users': int | None,
     'tasks': {total, running, sleeping, d_sleep, stopped, zombie}, 'load_average': [1, 5, 15],
     'cpu': {us, sy, ni, id, wa, hi, si, st},
     'mem': {total, free, used, buff_cache, available}, 'swap': {total, free, used},
     'raw_mem': {...} | None, 'truncated': [...], 'lost': [...], 'unread': [...]}

Each process::

    {pid, user, priority, nice, virt, res, shr, state, cpu_percent, mem_percent,
     time, command, extra: {COLUMN: value}, truncated: [...], lost: [...]}

What is essential and what is not. The process table is what the memory diagnosis needs, and it reads
the same in every release: its header names the columns, every memory value carries its own unit.
So only two things refuse a whole output: no ``top - `` (or busybox ``Mem:``) line to start a
sample, and a process table that cannot be read (a row that does not fit its header, a value top
cannot print). The summary lines between them changed form across releases (3.2, 3.3.9, 3.3.10,
4.0.5 each rewrote one) and may again: a summary line this parser does not know, or cannot read, is
a named gap, listed in ``unread`` (line number, why, the line; at most ``UNREAD_LIMIT`` of them), and
the figures it would have given stay None. Nothing is ever guessed from it.

Conventions (why each one is the way it is):

- Every memory value is an int of bytes, or None where the output lacks it. A bare number in a
  process memory column is KiB (top.c ``scale_mem``: ``%.0f`` KiB, then ``%.1f`` with the suffix
  ``m g t p``, ``%#.3f`` for g, t, p in 3.3.9 to 3.3.12); a suffixed one is binary. The summary
  unit follows its label (``KiB`` ... ``EiB``; ``k`` in procps 3.2).
- A figure top printed without its value is None, its field named in ``lost``: top's ``?`` (a value
  that fits its column at no unit, or one top could not read: ``%CPU``/``%MEM`` with /proc mounted
  ``subset=pid``), a blank (toprc's zero suppression, toggle ``0``), and a zero at a unit so large
  that it hides a MiB or more (``top -E p`` prints ``0.0 total`` for 24 GiB: 0.0 PiB is anything
  under 51 TiB). A zero at KiB (exact) or MiB (under 51.2 KiB, below what the kernel's own
  counters resolve) is a reading of zero.
- ``uptime`` is seconds at minute precision (top prints ``up 12 days,  3:04`` or ``up 45 min``); a
  form we do not know is returned as the text top printed rather than a guessed number.
- Values that top cut to fit with a trailing ``+`` are never guessed. A number becomes None; text
  (user, command, WCHAN ...) keeps what top printed, ``+`` included, since a prefix still
  identifies it. Either way the field's name goes in the ``truncated`` list of its process
  (``'res'``, ``'extra.nMin'``) or of the summary (``'mem.total'``).
- Counters that top scales (page faults ``13k``, I/O ``1.2m``) are multiplied by 1024 per step, as
  top.c ``scale_num`` divides them (3.3.x and 4.x): ``13k`` is 13312, the value top displayed (it
  rounds, so the real count is within half a step of it).
- ``tasks``: procps 3.2 to 4.0.4 print ``N sleeping`` (every task neither running, stopped nor a
  zombie, D state included); 4.0.5 and later print ``N sleep, N d-sleep`` (top_nls.c
  STATE_line_1_fmt, libproc2 pids.c counting 'D' apart). ``sleeping`` keeps the old meaning in both
  (sleep + d-sleep), ``d_sleep`` is the D-state count where top printed it, None before 4.0.5. The
  counts must add up to the total (they partition the tasks in every release).
- ``priority`` is the string ``'rt'`` for real-time tasks, an int otherwise.
- Memory summary semantics are normalised to procps-ng >= 3.3.10: ``used`` excludes buffers and
  cache. procps <= 3.3.9 and busybox print a ``used`` that includes them; we subtract them and keep
  every figure as printed in ``raw_mem`` (bytes), so nothing is lost. busybox prints no swap line,
  no tasks line, no uptime, no RES: those are None. busybox's VSZ maps to ``virt``, STAT's first
  letter to ``state`` (whole STAT in ``extra``), and its ``%VSZ`` (share of memory that is
  *virtual*) stays in ``extra``, never in ``mem_percent``. ``busybox top -m`` (its memory view)
  reads too: its RSS is ``res``, its two ``(SHR)`` columns are ``RSS(SHR)`` and ``DIRTY(SHR)``.
- Columns beyond the classic twelve (PSS, SWAP, USED, DATA, CODE, nTH ...) go in ``extra`` under
  top's own header name; memory ones in bytes, counters as ints, ``-`` as None, anything else as
  printed.
- A toprc may reorder the columns, so COMMAND (or ENVIRON, CGROUPS ..., which hold spaces) need not
  be last, and toggles ``J``/``j`` flip the justification of numbers and text. Rows are then cut by
  the header: top pads every column to the width of its header field and one space (top.c
  ``justify_pad``, ``utf8_justify``), so each value overlaps its own header name. Positions are
  counted in display columns, as top 3.3.15+ pads in them (``make_str_utf8``/``utf8_delta``, wcwidth
  in a UTF-8 locale): a CJK character takes two, a combining mark none.
- Impossible figures are refused with the value named: ``%MEM`` above 100 (a share of RAM), ``%CPU``
  above top's own ceiling (top.c ``Cpu_pmax``: 99.9 in thread mode ``-H``, at most 9999999 with
  1000+ CPUs), a pid outside 1 to 4194304, a summary figure above its total (that line becomes
  ``unread``).
- Forest view's tree (toggle ``V``: `` `- `` before a child's name) is not part of the name.
- ``format`` does not tell procps-ng 3.3.10 from 4.x: their layouts are the same.
- Locale: decimal commas are read everywhere; of the translated labels, procps-ng's German ones
  (``%CPU(s)``, ``MiB Spch``, ``avail Spch``, ``ZEIT+``, ``BEFEHL``) are known. The top_facts module
  runs top with ``LC_ALL=C``. Under C, top prints every byte of a name that is not ASCII as ``?``
  (libproc2 escape.c ``esc_all``); ``restore_commands`` takes such names back from the kernel.
- Input: a byte-order mark and ``\\r\\n`` line ends (a paste from Windows) are read as top's own
  ``\\n``; lines are split on ``\\n`` only, as top ends them.
- Summary figures are rounded by top to the digits shown (``24105.55`` MiB prints ``24105.6``),
  busybox truncates its scaled VSZ (``1352m`` for 1352.9 MiB).

Anything else that cannot be read raises ParseError quoting the line.
"""

import os
import re
import time
import unicodedata

from ..parse_error import ParseError
from ..units import MIB, count, parse_size, plausible, resolution, within_total

# Process columns whose values are amounts of memory (KiB when bare), top.c scale_mem; busybox's
# VSZ, RSS and its memory view (-m).
_MEM_COLUMNS = frozenset((
    'VIRT', 'RES', 'SHR', 'SWAP', 'CODE', 'DATA', 'USED', 'RSan', 'RSfd', 'RSlk', 'RSsh',
    'PSS', 'PSan', 'PSfd', 'PSsh', 'USS', 'VSZ', 'RSS', 'VSZRW', 'RSS(SHR)', 'DIRTY', 'DIRTY(SHR)',
    'STACK',
))
# Counters top prints with scale_num: whole up to the column's width, then divided by 1024 per
# step with a suffix (k m g t p e), one decimal or none (3.3.x and 4.x top.c). ioR/ioW are bytes.
_SCALED_COUNTERS = frozenset(('nMaj', 'nMin', 'nDRT', 'vMj', 'vMn', 'ioR', 'ioRop', 'ioW', 'ioWop'))
# Process columns holding whole numbers top prints with make_num (a '+' when too wide, never scaled).
_INT_COLUMNS = frozenset((
    'PID', 'PPID', 'UID', 'RUID', 'SUID', 'GID', 'PGRP', 'TPGID', 'SID', 'nTH', 'P', 'TGID',
    'OOMa', 'OOMs', 'NU', 'AGID', 'AGNI', 'LOGID', 'nFD',
    'nsIPC', 'nsMNT', 'nsNET', 'nsPID', 'nsUSER', 'nsUTS', 'nsCGROUP', 'nsTIME', 'NI',
))
# Columns top prints with make_num(..., noz=0), make_chr or as names: never blanked by toprc's zero
# suppression, so a blank there is a broken row.
_NEVER_BLANK = frozenset((
    'PID', 'PPID', 'TGID', 'PGRP', 'TPGID', 'SID', 'UID', 'RUID', 'SUID', 'GID', 'nTH', 'P', 'PR', 'S',
    'USER', 'RUSER', 'SUSER', 'GROUP', 'STAT',
))
_FLOAT_COLUMNS = frozenset(('%CPU', '%MEM', '%CUU', '%CUC', '%VSZ'))
# Columns whose width top sets from the screen (VARcol) and whose values may hold spaces: a command
# name ("Web Content"), a command line (-c), the environment, cgroup paths, group names.
_SPACED_COLUMNS = frozenset(('COMMAND', 'ENVIRON', 'CGROUPS', 'CGNAME', 'SUPGRPS', 'SUPGIDS', 'EXE'))

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
# top_nls.c STATE_lin2x4_fmt/lin2x5_fmt (3.3.x on kernels before 2.5.41) spell the states out.
_CPU_WORDS = {'us': 'us', 'sy': 'sy', 'ni': 'ni', 'id': 'id', 'wa': 'wa', 'hi': 'hi', 'si': 'si', 'st': 'st',
              'user': 'us', 'system': 'sy', 'nice': 'ni', 'idle': 'id', 'IO-wait': 'wa'}
_BUSYBOX_CPU = {'usr': 'us', 'sys': 'sy', 'nic': 'ni', 'idle': 'id', 'io': 'wa', 'irq': 'hi',
                'sirq': 'si'}
# The words of the Tasks/Threads line (top_nls.c STATE_line_1_fmt): 3.2 to 4.0.4, and 4.0.5+.
_TASKS_OLD = frozenset(('total', 'running', 'sleeping', 'stopped', 'zombie'))
_TASKS_NEW = frozenset(('total', 'running', 'sleep', 'd-sleep', 'stopped', 'zombie'))
_COUNTER_STEP = 1024
_COUNTER_SUFFIX = 'kmgtpe'

# A zero whose unit hides this much or more is a bound, not a reading (see the module doc).
_LOST_ZERO = MIB
# At most this many unread summary lines are named per sample; each quoted up to _QUOTE characters.
UNREAD_LIMIT = 8
_QUOTE = 120
# top clamps %CPU at Cpu_pmax (top.c): 99.9 in thread mode or Solaris mode, else 100 per CPU, at
# most 9999999 (4.x, over 1000 CPUs; 99999 in 3.3.x).
_CPU_MAX = 9999999.0
_CPU_MAX_THREADS = 99.9

_TOP_LINE = re.compile(
    r'^top - (?P<time>\S+)\s+up\s+(?P<up>.*?),\s+(?P<users>\d+|\?)\s+users?,'
    r'\s+load average:\s*(?P<load>.*?)\s*$', re.ASCII)
_TOP_LINE_LOOSE = re.compile(r'^top - (?P<time>\S+)\s+up\s+(?P<up>.*?),?\s+load average:\s*(?P<load>.*?)\s*$', re.ASCII)
_UPTIME = re.compile(
    r'^(?:(?P<days>\d+)\s+days?,\s*)?(?:(?P<h>\d+):(?P<m>\d{2})|(?P<min>\d+)\s+min)$', re.ASCII)
_PAIR = r'(?P<value>\d[\d.,]*[kmgtpe]?\+?|\+)\s*(?P<label>%s)'
_CPU_PAIR = re.compile(r'(?P<value>\d[\d.,]*)%?\s*(?P<label>[A-Za-z][A-Za-z-]*)', re.ASCII)
_CPU_LINE = re.compile(r'^(?:%Cpu\(s\)|%CPU\(s\)|Cpu\(s\)):(?P<rest>.*)$', re.ASCII)
_PER_CPU = re.compile(r'^%?(?:Cpu|Node)\d+\s*:', re.ASCII)
# procps-ng 4 in a German locale prints "Spch" (Speicher) for Mem; numbers and the other labels
# stay as in C (decimal commas aside).
_MEM_LINE = re.compile(r'^(?P<unit>[KMGTPE])iB (?P<kind>Mem|Swap|Spch)\s?:(?P<rest>.*)$', re.ASCII)
_MEM_PAIR = re.compile(_PAIR % r'total|free|used|buff/cache|avail (?:Mem|Spch)|buffers|cached Mem', re.ASCII)
_OLD_MEM_LINE = re.compile(r'^(?P<kind>Mem|Swap):\s+(?P<rest>\d.*\btotal\b.*)$', re.ASCII)
_OLD_MEM_PAIR = re.compile(r'(?P<value>\d+k?\+?)\s*(?P<label>total|used|free|buffers|cached)', re.ASCII)
_BB_MEM_LINE = re.compile(r'^Mem:\s+(?P<rest>\d[\d.]*[KMGT]?\s+used,.*)$', re.ASCII)
_BB_MEM_PAIR = re.compile(r'(?P<value>\d[\d.]*[KMGT]?)\s+(?P<label>used|free|shrd|buff|cached)\b', re.ASCII)
_BB_CPU_PAIR = re.compile(r'(?P<value>\d[\d.]*)%\s+(?P<label>usr|sys|nic|idle|io|irq|sirq)\b', re.ASCII)
# busybox top -m (procps/top.c display_topmem_header): figures in KiB.
_BB_TOPMEM_LINE = re.compile(r'^(?:Mem total:\d|Swap total:\d| slab:\d)', re.ASCII)
_BB_TOPMEM_PAIR = re.compile(r'(?P<label>[a-z]+):(?P<value>\d+)\b', re.ASCII)
# procps-ng 4 prints two or more summary parts on one line, Adjoin_sp between them, when a toprc
# (toggle '4', rc double_up) asks it to: "%Cpu0  : ...   %Cpu1  : ..." and "MiB Mem : ... buff/cache
#       MiB Swap: ..." (top.c sum_see).
_SEGMENTS = re.compile(r'(?<=\S)[ \t]{3,}(?=[KMGTPE]iB (?:Mem|Swap|Spch)\s?:|%?(?:Cpu|Node)\d+\s*:)', re.ASCII)
_GRAPH = re.compile(r'^\S+ (?:Mem|Swap|Spch)\s?:.*\[', re.ASCII)
_BLANKS = re.compile(r'[ \t]+')
# Forest view (toggle V) draws the tree before a name (top.c forest_display): " `- " indented 4 per
# level, "+   `- " for a collapsed parent, "|   `- " beside the focused task (4.x), "`+ "
# (TREE_VALTMRK builds), " +  " past level 100. The name is what follows.
_FOREST = re.compile(r'^(?:(?:[+|] +)?`[-+](?: |$)|\+  (?=\S))')


def parse_top(text):
    """Parse the text of ``top -b`` (any number of iterations); see the module doc."""
    if not isinstance(text, str):
        raise ParseError('top output must be text, not %s' % type(text).__name__)
    lines = _lines(text)
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
        if line.startswith('top - ') or _busybox_start(line):
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


def _lines(text):
    """top's lines: it ends each with '\\n'. A paste may add '\\r' before it and a byte-order mark
    (U+FEFF, which top never prints: it is no character of a name under C, and under UTF-8 it would
    sit inside a row, not at its start) before the first line or before each pasted part."""
    lines = text.split('\n')
    for k, line in enumerate(lines):
        if line.endswith('\r'):
            line = line[:-1]
        if line.startswith('\ufeff'):
            line = line.lstrip('\ufeff')
        lines[k] = line
    return lines


def _busybox_start(line):
    return bool(_BB_MEM_LINE.match(line)) or line.startswith('Mem total:')


def _parse_sample(lines, start):
    """Read one iteration from ``lines[start]``; return (sample, format, next index)."""
    summary = _empty_summary()
    busybox = not lines[start].startswith('top - ')
    fmt = 'busybox' if busybox else None
    state = {'threads': False, 'unread': 0}
    i = start
    n = len(lines)
    header = None
    while i < n:
        line = lines[i]
        if i > start and (line.startswith('top - ') or (busybox and _busybox_start(line))):
            break
        if not line.strip():
            i += 1
            continue
        if _is_header(line, busybox):
            header = i
            break
        for segment in ([line] if busybox else _SEGMENTS.split(line)):
            line_fmt = _summary_line(segment, i + 1, summary, busybox, state)
            if line_fmt:
                fmt = line_fmt
        i += 1
    if header is None:
        raise ParseError('top output ends before its process table (truncated paste?)',
                         lines[i - 1] if i > start else lines[start], i if i > start else start + 1)
    if state['unread'] > UNREAD_LIMIT:
        summary['unread'].append('and %d more summary line(s) not read' % (state['unread'] - UNREAD_LIMIT))
    if fmt is None:
        # Only the top/tasks/cpu lines were printed (toprc hid the memory lines):
        # the table still reads the same way.
        fmt = 'procps-ng>=3.3.10'
    cpu_max = _CPU_MAX_THREADS if state['threads'] else _CPU_MAX
    table = _Table(lines[header], header + 1, busybox, cpu_max)
    rows = []
    i = header + 1
    while i < n:
        line = lines[i]
        if line.startswith('top - ') or (busybox and _busybox_start(line)):
            break
        if line.strip():
            rows.append((line, i + 1))
        i += 1
    processes = table.rows(rows, _release_hint(lines[start:header]))
    return {'summary': summary, 'processes': processes}, fmt, i


def _release_hint(summary_lines):
    """Which way the release pads COMMAND, from the summary's trailing blanks (a paste may have
    dropped them): 4.x ends its CPU line with a space and its Mem line with five (top_nls.c '~1'),
    3.3.x with neither. None when the summary does not tell."""
    for line in summary_lines:
        if line.endswith(' st ') or line.endswith('buff/cache     '):
            return _DISPLAY
        if line.startswith(('%Cpu(s):', '%CPU(s):')) and line.endswith(' st'):
            return _BYTES
    return None


def _empty_summary():
    return {
        'time': None, 'uptime': None, 'users': None,
        'tasks': dict.fromkeys(('total', 'running', 'sleeping', 'd_sleep', 'stopped', 'zombie')),
        'load_average': None,
        'cpu': None,
        'mem': dict.fromkeys(('total', 'free', 'used', 'buff_cache', 'available')),
        'swap': dict.fromkeys(('total', 'free', 'used')),
        'raw_mem': None,
        'truncated': [],
        'lost': [],
        'unread': [],
    }


def _copy(summary):
    """A copy to fill from one line: kept when the whole line reads, dropped when it does not."""
    return dict((key, (dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list)
                       else value)) for key, value in summary.items())


def _is_header(line, busybox):
    tokens = (_bb_header(line) if busybox else line).split()
    return 'PID' in tokens and ('COMMAND' in tokens or 'USER' in tokens or 'BEFEHL' in tokens)


def _bb_header(line):
    """busybox top -m marks its sort column by turning the spaces around its name into ^ (or _)."""
    return line.replace('^', ' ').replace('_', ' ')


def _summary_line(line, lineno, summary, busybox, state):
    """Fill ``summary`` from one summary line and return the format it reveals, if any.

    A line that does not read leaves ``summary`` as it was and is named in ``summary['unread']``.
    """
    kind, fmt, reader = _classify(line, busybox)
    if kind == 'skip':
        return fmt
    if reader is None:
        _unread(summary, state, lineno, line, 'a summary line of a form this parser does not know')
        return fmt
    scratch = _copy(summary)
    try:
        reader(line, lineno, scratch, state)
        for section in ('mem', 'swap'):
            within_total(scratch[section], 'top\'s %s line:' % section.capitalize(), line, lineno)
    except ParseError as err:
        _unread(summary, state, lineno, line, err.what)
        return fmt
    summary.update(scratch)
    return fmt


def _unread(summary, state, lineno, line, why):
    state['unread'] += 1
    if state['unread'] <= UNREAD_LIMIT:
        text = line if len(line) <= _QUOTE else line[:_QUOTE] + '...'
        summary['unread'].append('line %d: %s: %r' % (lineno, why, text))


def _classify(line, busybox):
    """(kind, format it reveals, reader) of a summary line; reader None: a form not known."""
    if line.startswith('top - '):
        return 'top', None, _top_line
    if line.startswith(('Tasks:', 'Threads:')):
        return 'tasks', None, _tasks
    match = _CPU_LINE.match(line)
    if match:
        return 'cpu', 'procps<=3.2' if line.startswith('Cpu(s):') else None, _cpu_line
    if _PER_CPU.match(line):
        # Per-CPU or per-NUMA-node lines (toggles 1, 2, 3): the aggregate line, when printed,
        # carries the figures we return.
        return 'skip', None, None
    match = _MEM_LINE.match(line)
    if match:
        labels = set(m.group('label') for m in _MEM_PAIR.finditer(match.group('rest')))
        values = [m.group('label') for m in _MEM_PAIR.finditer(match.group('rest'))]
        legacy = 'buffers' in labels or 'cached Mem' in labels or values[:2] == ['total', 'used']
        return 'mem', 'procps<=3.3.9' if legacy else 'procps-ng>=3.3.10', _mem_line
    if not busybox:
        if _OLD_MEM_LINE.match(line):
            return 'mem', 'procps<=3.2', _old_mem_line
        return None, None, None
    if _BB_MEM_LINE.match(line):
        return 'mem', 'busybox', _busybox_mem
    if _BB_TOPMEM_LINE.match(line):
        return 'mem', 'busybox', _busybox_topmem
    if line.startswith('CPU:'):
        return 'cpu', 'busybox', _busybox_cpu
    if re.match(r'^CPU\d+:', line, flags=re.ASCII):
        return 'skip', 'busybox', None
    if line.startswith('Load average:'):
        return 'load', 'busybox', _busybox_load
    return None, None, None


def _top_line(line, lineno, summary, state):
    match = _TOP_LINE.match(line) or _TOP_LINE_LOOSE.match(line)
    if not match:
        raise ParseError('unrecognised top header line', line, lineno)
    summary['time'] = match.group('time')
    groups = match.groupdict()
    # procps-ng 4.0.5+ library/uptime.c prints "? users" when it cannot count them
    if groups.get('users') not in (None, '?'):
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


def _tasks(line, lineno, summary, state):
    """``Tasks: 112 total, 1 running, 111 sleeping, 0 stopped, 0 zombie`` (3.2 to 4.0.4, ``%3u``) or
    ``Tasks: 3 total, 1 running, 2 sleep, 0 d-sleep, 0 stopped, 0 zombie`` (4.0.5+, ``%u``);
    ``Threads:`` in thread mode (-H). top prints these counts whole, never scaled."""
    word, _colon, rest = line.partition(':')
    counts = {}
    for item in rest.split(','):
        match = re.match(r'^\s*(\d+)\s+([A-Za-z-]+)\s*$', item, flags=re.ASCII)
        if not match:
            raise ParseError('tasks line: %r is not "<count> <state>"' % item.strip()[:40], line, lineno)
        name = match.group(2)
        if name in counts:
            raise ParseError('tasks line: %r twice' % name, line, lineno)
        counts[name] = count(match.group(1), 'tasks %s' % name, line, lineno)
    names = set(counts)
    tasks = summary['tasks']
    if names == _TASKS_OLD:
        tasks['sleeping'], tasks['d_sleep'] = counts['sleeping'], None
    elif names == _TASKS_NEW:
        tasks['sleeping'], tasks['d_sleep'] = counts['sleep'] + counts['d-sleep'], counts['d-sleep']
    else:
        raise ParseError('tasks line with the counts %s (known: %s, or %s)' % (
            ', '.join(sorted(names)), ', '.join(sorted(_TASKS_OLD)), ', '.join(sorted(_TASKS_NEW))), line, lineno)
    for name in ('total', 'running', 'stopped', 'zombie'):
        tasks[name] = counts[name]
    parts = tasks['running'] + tasks['sleeping'] + tasks['stopped'] + tasks['zombie']
    if parts != tasks['total']:
        raise ParseError('tasks line: the states add up to %d, not to the total %d' % (parts, tasks['total']),
                         line, lineno)
    state['threads'] = word == 'Threads'


_DECIMAL = re.compile(r'^-?[0-9]+(?:[.,][0-9]+)?$', re.ASCII)
_INTEGER = re.compile(r'^-?[0-9]+$', re.ASCII)


def _number(token, line, lineno, maximum=1e9, what='number'):
    """A decimal printed by top, in the C or a decimal-comma locale."""
    if not _DECIMAL.match(token) or len(token) > 48:
        raise ParseError('%s: not a number: %r' % (what, token[:48]), line, lineno)
    return plausible(float(token.replace(',', '.')), what, line, lineno, maximum=maximum)


def _scaled_counter(token, line, lineno, what='count'):
    """A counter as top.c scale_num prints it: whole, or divided by 1024 per suffix step."""
    suffix = token[-1:]
    if suffix in _COUNTER_SUFFIX and len(token) > 1:
        value = _number(token[:-1], line, lineno, what=what)
        return int(round(value * _COUNTER_STEP ** (_COUNTER_SUFFIX.index(suffix) + 1)))
    return _signed(token, line, lineno, what)


def _signed(token, line, lineno, what='count'):
    if not _INTEGER.match(token):
        raise ParseError('%s: not an integer: %r' % (what, token[:40]), line, lineno)
    return -count(token[1:], what, line, lineno) if token[:1] == '-' else count(token, what, line, lineno)


def _cpu_line(line, lineno, summary, state):
    """``%Cpu(s):  1.9 us,  4.0 sy, ...`` (3.3+, top_nls.c STATE_lin2x6/7_fmt), ``Cpu(s):  1.9%us``
    (3.2), ``%Cpu(s): 76.5  user, 11.2  system, ...`` (lin2x4/5, kernels before 2.5.41)."""
    rest = _CPU_LINE.match(line).group('rest')
    if '[' in rest or '/' in rest:
        raise ParseError('CPU states drawn as a graph (toprc toggle "t")', line, lineno)
    cpu = dict.fromkeys(_CPU_KEYS)
    found = 0
    for match in _CPU_PAIR.finditer(rest):
        label = match.group('label')
        if label not in _CPU_WORDS:
            raise ParseError('CPU line: unknown state %r' % label, line, lineno)
        key = _CPU_WORDS[label]
        if cpu[key] is not None:
            raise ParseError('CPU line: %r twice' % label, line, lineno)
        cpu[key] = _number(match.group('value'), line, lineno, maximum=100.0, what='CPU %s' % label)
        found += 1
    leftover = _CPU_PAIR.sub('', rest).replace(',', '').strip()
    if found < 4 or leftover:
        raise ParseError('unreadable CPU line', line, lineno)
    summary['cpu'] = cpu


def _busybox_cpu(line, lineno, summary, state):
    """busybox: ``CPU:  76% usr  23% sys   0% nic   0% idle   0% io   0% irq   0% sirq``."""
    cpu = dict.fromkeys(_CPU_KEYS)
    found = 0
    for match in _BB_CPU_PAIR.finditer(line):
        cpu[_BUSYBOX_CPU[match.group('label')]] = _number(match.group('value'), line, lineno, maximum=100.0)
        found += 1
    if found < 4:
        raise ParseError('unreadable CPU line', line, lineno)
    summary['cpu'] = cpu


def _busybox_load(line, lineno, summary, state):
    """busybox: ``Load average: 18.70 15.65 11.76 11/523 162`` (/proc/loadavg as it is)."""
    fields = line.split()[2:5]
    if len(fields) != 3:
        raise ParseError('busybox load average line without three values', line, lineno)
    summary['load_average'] = [_number(f, line, lineno) for f in fields]


def _summary_size(token, multiplier, line, lineno):
    """(bytes or None, lost): one figure of a memory line at its unit (top.c do_memory, prT)."""
    try:
        value = parse_size(token, multiplier)
    except ParseError:
        raise ParseError('not a size: %r' % token[:40], line, lineno)
    return _unless_lost(value, token, multiplier)


def _unless_lost(value, token, multiplier):
    """(value, False), or (None, True) for a zero whose unit hides a MiB or more."""
    if value == 0 and resolution(token, multiplier) / 2.0 >= _LOST_ZERO:
        return None, True
    return value, False


def _mem_line(line, lineno, summary, state):
    """``MiB Mem : ... total, ... free, ...`` (3.3.10+, top_nls.c MEMORY_line1/2_fmt, MEMORY_lines_fmt)
    or ``KiB Mem:  ... total, ... used`` (<= 3.3.9). Each figure is ``%9.9s`` of the unit's format
    (3.3.9 to 3.3.12 ``%#4.3f``, 3.3.15+ ``%#.1f``, ``%.0f`` for KiB); one wider is cut by prT with '+'."""
    if _GRAPH.match(line):
        raise ParseError('memory drawn as a graph (toprc toggle "m")', line, lineno)
    match = _MEM_LINE.match(line)
    multiplier = _UNIT[match.group('unit')]
    kind = 'Mem' if match.group('kind') == 'Spch' else match.group('kind')
    rest = match.group('rest')
    values = {}
    truncated = []
    lost = []
    for pair in _MEM_PAIR.finditer(rest):
        token = pair.group('value')
        label = 'avail Mem' if pair.group('label') == 'avail Spch' else pair.group('label')
        if label in values:
            raise ParseError('%s line: %r twice' % (kind, label), line, lineno)
        if token.endswith('+'):
            values[label] = None
            truncated.append(label)
        else:
            values[label], gone = _summary_size(token, multiplier, line, lineno)
            if gone:
                lost.append(label)
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
    if kind == 'Mem' and values['total'] == 0:
        raise ParseError('Mem line: a total of 0 (no machine has no memory)', line, lineno)
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
        for labels, key in ((truncated, 'truncated'), (lost, 'lost')):
            for label in labels:
                section = 'mem' if kind == 'Mem' or label == 'avail Mem' else 'swap'
                summary[key].append('%s.%s' % (section, names.get(label, label)))
        return
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
    for labels, key in ((truncated, 'truncated'), (lost, 'lost')):
        for label in labels:
            if kind == 'Mem':
                summary[key].append('mem.%s' % label if label in ('total', 'free') else 'raw_mem.%s' % label)
            else:
                summary[key].append('raw_mem.cached' if label == 'cached Mem' else 'swap.%s' % label)
    _normalise_used(summary)


def _old_mem_line(line, lineno, summary, state):
    """procps 3.2: ``Mem:   3051792k total,  1222252k used,  1829540k free,    67072k buffers``."""
    match = _OLD_MEM_LINE.match(line)
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


def _busybox_mem(line, lineno, summary, state):
    """``Mem: 2970836K used, 21713248K free, 8872K shrd, 287804K buff, 2062268K cached``."""
    rest = _BB_MEM_LINE.match(line).group('rest')
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


def _busybox_topmem(line, lineno, summary, state):
    """busybox top -m: ``Mem total:N anon:N map:N free:N``, `` slab:N buf:N cache:N dirty:N write:N``,
    ``Swap total:N free:N``, every figure /proc/meminfo's kB (procps/top.c display_topmem_header)."""
    pairs = {}
    for match in _BB_TOPMEM_PAIR.finditer(line):
        pairs[match.group('label')] = parse_size(match.group('value'), 1024)
    raw = summary['raw_mem'] if summary['raw_mem'] is not None else {}
    if line.startswith('Mem total:'):
        needed = ('total', 'anon', 'map', 'free')
    elif line.startswith('Swap total:'):
        needed = ('total', 'free')
    else:
        needed = ('slab', 'buf', 'cache', 'dirty', 'write')
    missing = [label for label in needed if label not in pairs]
    if missing:
        raise ParseError('busybox top -m line without %s' % ', '.join(missing), line, lineno)
    if line.startswith('Swap total:'):
        if pairs['free'] > pairs['total']:
            raise ParseError('busybox Swap free above its total', line, lineno)
        summary['swap'].update(total=pairs['total'], free=pairs['free'], used=pairs['total'] - pairs['free'])
        return
    if line.startswith('Mem total:'):
        raw.update(total=pairs['total'], anon=pairs['anon'], mapped=pairs['map'], free=pairs['free'])
        summary['mem']['total'], summary['mem']['free'] = pairs['total'], pairs['free']
    else:
        raw.update(slab=pairs['slab'], buffers=pairs['buf'], cached=pairs['cache'], dirty=pairs['dirty'],
                   writeback=pairs['write'])
    summary['raw_mem'] = raw
    if all(raw.get(k) is not None for k in ('total', 'free', 'buffers', 'cached')):
        summary['mem']['buff_cache'] = raw['buffers'] + raw['cached']
        used = raw['total'] - raw['free'] - raw['buffers'] - raw['cached']
        summary['mem']['used'] = used if used >= 0 else None


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


# ------------------------------------------------------------------ display width

def _char_width(char):
    """Columns a character takes on a terminal, as glibc's wcwidth gives them to top (utf8_cols):
    two for East Asian wide and full-width, none for combining marks and format characters."""
    if char < '\u0300':
        return 1
    if unicodedata.combining(char) or unicodedata.category(char) in ('Mn', 'Me', 'Cf') and char != '\u00ad':
        return 0
    if '\u1160' <= char <= '\u11ff':  # Hangul medial vowels and final consonants join the syllable
        return 0
    return 2 if unicodedata.east_asian_width(char) in ('W', 'F') else 1


def _byte_width(char):
    """Bytes a character took in top's output: procps 3.3.x pads COMMAND by bytes (make_str)."""
    if '\udc80' <= char <= '\udcff' or char == '\ufffd':
        return 1  # a byte that was not UTF-8 (surrogateescape), or what 'replace' made of it
    return len(char.encode('utf-8', 'surrogatepass'))


_MEASURES = (_char_width, _byte_width)
_DISPLAY, _BYTES = 0, 1  # their ranks


def _tokens(line, width=_char_width):
    """The words of a line between spaces and tabs: (first column, end column, start, end), columns
    counted by ``width`` per character, start/end as indexes into the line."""
    found = []
    if line.isascii():
        for match in re.finditer(r'[^ \t]+', line):
            found.append((match.start(), match.end(), match.start(), match.end()))
        return found
    column = 0
    start = None
    for index, char in enumerate(line):
        if char in ' \t':
            if start is not None:
                found.append((start[0], column, start[1], index))
                start = None
            column += 1
            continue
        if start is None:
            start = (column, index)
        column += width(char)
    if start is not None:
        found.append((start[0], column, start[1], len(line)))
    return found


def _split(line, parts):
    """``line`` split on spaces and tabs into at most ``parts`` values, the last keeping its spaces."""
    values = _BLANKS.split(line.strip(' \t'), parts - 1)
    return values if values != [''] else []


# ------------------------------------------------------------------ the process table

class _Table(object):
    """The process table of one sample: its header, and how to cut each row."""

    def __init__(self, header, lineno, busybox, cpu_max):
        shown = _bb_header(header) if busybox else header
        words = _tokens(shown)
        printed = [shown[w[2]:w[3]] for w in words]
        if busybox:
            printed = _bb_names(printed)
        self.names = [_HEADER_ALIASES.get(name, name) for name in printed]
        if len(set(self.names)) != len(self.names):
            raise ParseError('process header with a repeated column', header, lineno - 1)
        self.busybox = busybox
        self.cpu_max = cpu_max
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
            self.plan.append((name, key, key or 'extra.' + name, self._converter(name)))
        # each column's header name, in display columns
        self.columns = [(name, w[0], w[1]) for name, w in zip(self.names, words)]

    def rows(self, rows, hint=None):
        """The processes of ``rows`` ((line, lineno), ...). A row with characters that are not ASCII
        may read under more than one measure of width; one release printed the whole table, so one
        measure is chosen for all: the one some row reads under alone, else the one under which
        the rows leave fewest columns blank and have most words flush with their names, else
        ``hint`` (the summary's), else display width."""
        processes, pending = [], []
        for line, lineno in rows:
            values = self._values(line, lineno)
            if isinstance(values, list):
                processes.append(self._convert(values, line, lineno))
            else:
                pending.append((len(processes), line, lineno, values))
                processes.append(None)
        if not pending:
            return processes
        alone = [0] * len(_MEASURES)
        score = [[0, 0] for _measure in _MEASURES]
        for _at, _line, _lineno, found in pending:
            if len(found) == 1:
                alone[next(iter(found))] += 1
            for rank, (_values, blanks, flush) in found.items():
                score[rank][0] += blanks
                score[rank][1] -= flush
        ranks = range(len(_MEASURES))
        if any(alone):
            chosen = max(ranks, key=lambda rank: alone[rank])
        else:
            best = min(score[rank] for rank in ranks if all(rank in found for _a, _l, _n, found in pending))
            tied = [rank for rank in ranks if score[rank] == best]
            chosen = hint if hint in tied else tied[0]
        for at, line, lineno, found in pending:
            values = found[chosen][0] if chosen in found else next(iter(found.values()))[0]
            processes[at] = self._convert(values, line, lineno)
        return processes

    def row(self, line, lineno):
        """One process from its row (measured alone)."""
        return self.rows([(line, lineno)])[0]

    def _values(self, line, lineno):
        """The values of a row; for a row that is not ASCII cut by position, {measure: (values,
        blank columns, flush words)} of every measure it reads under."""
        ncols = len(self.names)
        if self.simple:
            values = _split(line, ncols)
            if self.busybox:
                if len(values) != ncols:
                    raise ParseError('process line with %d of %d columns' % (len(values), ncols), line, lineno)
            elif len(values) != ncols or not self._aligned(line):
                # A blank value (toprc's zero suppression, an empty name) shifts the words: cut by the
                # header. Words that still do not sit under their names come from a paste whose
                # header lost its indentation: read by whitespace, when every column is there.
                try:
                    values = self._by_position(line, lineno)
                except ParseError:
                    if len(values) != ncols:
                        raise ParseError('process line with %d of %d columns' % (len(values), ncols), line, lineno)
        else:
            values = self._by_position(line, lineno)
        return values

    def _aligned(self, line):
        """Whether the words before the last column each overlap their own column's header name
        (for a row of ASCII, cheaply: something is printed under each of those names)."""
        last = len(self.columns) - 1
        if line.isascii():
            return all(line[start:stop].strip(' \t') for _n, start, stop in self.columns[:last])
        words = _tokens(line)
        return len(words) >= last and all(
            first < stop and end > start for (first, end, _a, _b), (_n, start, stop) in zip(words[:last], self.columns))

    def _by_position(self, line, lineno):
        """Cut a row by the header: a list of values, or for a row that is not ASCII, every measure
        of width it reads under (see rows): top 4.x and 3.3.15+ pad names by display width
        (make_str_utf8), 3.3.x pads COMMAND by bytes (make_str)."""
        if line.isascii():
            return self._cut(line, lineno, _MEASURES[0])
        # Each value top prints sits flush with its header name's edge, left or right; before the
        # first character that is not ASCII every measure agrees.
        edges = set((start, 'start') for _n, start, _s in self.columns) | set((stop, 'stop') for _n, _s, stop in self.columns)
        wide = next(k for k, char in enumerate(line) if char > '\x7f')
        found = {}
        first = None
        for rank, width in enumerate(_MEASURES):
            try:
                values = self._cut(line, lineno, width)
            except ParseError as err:
                first = first or err
                continue
            flush = sum(1 for begin, end, start, _b in _tokens(line, width)
                        if start > wide and ((begin, 'start') in edges or (end, 'stop') in edges))
            found[rank] = (values, values.count(''), flush)
        if not found:
            raise first
        return found

    def _cut(self, line, lineno, width):
        """Cut a row by the header, columns counted by ``width``. top pads every column to its header
        field (justify_pad), so a value overlaps its own column's header name, with two exceptions,
        both between two header names: the further words of a value that holds spaces (a command
        line, left-justified: they follow its first word), and a short text top justifies left in
        a numeric column (3.3.10 prints ``-`` for a namespace it cannot read so): it sits at the
        start of its field, before its name, in a column that has no other value."""
        columns = self.columns
        words = _tokens(line, width)
        owners = []
        for first, end, _start, _end in words:
            found = [k for k, (_name, start, stop) in enumerate(columns) if first < stop and end > start]
            if len(found) > 1:
                raise ParseError('a value across the columns %s' % ' and '.join(columns[k][0] for k in found),
                                 line, lineno)
            owners.append(found[0] if found else None)
        taken = set(k for k in owners if k is not None)
        gaps = [None] * len(words)
        for w, word in enumerate(words):
            if owners[w] is None:
                gaps[w] = len([1 for _name, _start, stop in columns if stop <= word[0]]) - 1
        for w, word in enumerate(words):
            if owners[w] is not None:
                continue
            left, right = gaps[w], gaps[w] + 1
            last = w + 1 == len(words) or gaps[w + 1] != gaps[w]
            spaced = [k for k in (left, right) if 0 <= k < len(columns) and columns[k][0] in _SPACED_COLUMNS]
            empty = right < len(columns) and right not in taken and columns[right][0] not in _SPACED_COLUMNS
            if spaced and spaced[0] == left and not (last and empty and columns[right][0].startswith('ns')):
                owners[w] = left
            elif empty:
                owners[w] = right
            elif spaced:
                owners[w] = spaced[0]
            else:
                raise ParseError('a value under no column of the header: %r' % line[word[2]:word[3]][:40],
                                 line, lineno)
            taken.add(owners[w])
        cells = [[] for _column in columns]
        for owner, word in zip(owners, words):
            cells[owner].append(word)
        values = []
        for (name, _start, _stop), words in zip(columns, cells):
            if len(words) > 1 and name not in _SPACED_COLUMNS:
                raise ParseError('column %s holds more than one value' % name, line, lineno)
            if not words:
                # A blank is top's zero suppression (toprc toggle '0'), which spares ids, states
                # and users, or an empty name (PR_SET_NAME takes ""); top strips a row's trailing
                # blanks, so they may end a row too. A row without a column top always prints is
                # a broken or cut line.
                if name in _NEVER_BLANK:
                    raise ParseError('process line shorter than its header (column %s missing)' % name,
                                     line, lineno)
            values.append(line[words[0][2]:words[-1][3]] if words else '')
        return values

    def _convert(self, values, line, lineno):
        proc = dict.fromkeys(_PROCESS_KEYS)
        extra = {}
        truncated = []
        lost = []
        for (name, key, label, convert), value in zip(self.plan, values):
            if value == '-' and key != 'command':
                converted = None
            elif value == '' and name not in _SPACED_COLUMNS:
                # blank: toprc's zero suppression (toggle '0')
                converted = None
                lost.append(label)
            elif convert is None:
                converted = value
                # A text cut by top keeps its prefix ('g++' is a name, not a cut).
                if value[-1:] == '+' and len(value) > 1 and value[-2] != '+':
                    truncated.append(label)
                if key == 'command' and not self.busybox:
                    converted = _FOREST.sub('', value, count=1)
            elif value == '?':
                # top.c scale_* "outta' fit" at every unit, or %CPU/%MEM with /proc mounted
                # subset=pid (Restrict_some)
                converted = None
                lost.append(label)
            elif value[-1] == '+':
                converted = None
                truncated.append(label)
            else:
                converted = convert(value, name, line, lineno)
                if isinstance(converted, tuple):
                    converted, gone = converted
                    if gone:
                        lost.append(label)
            if key is None:
                extra[name] = converted
            else:
                proc[key] = converted
        if self.busybox and 'STAT' in extra and extra['STAT']:
            proc['state'] = extra['STAT'][:1]
        proc['extra'] = extra
        proc['truncated'] = truncated
        proc['lost'] = lost
        return proc

    def _converter(self, name):
        if name in _MEM_COLUMNS:
            return _size
        if name == 'PR':
            return _priority
        if name in _SCALED_COUNTERS:
            return _counter_column
        if name in _INT_COLUMNS:
            return _whole
        if name == '%MEM' and not self.busybox:
            return _mem_percent
        if name == '%CPU':
            return self._cpu_percent
        if name in _FLOAT_COLUMNS:
            return _percent
        return None

    def _cpu_percent(self, value, name, line, lineno):
        return _number(value[:-1] if value[-1:] == '%' else value, line, lineno, maximum=self.cpu_max,
                       what='column %%CPU (top prints at most %s)' % self.cpu_max)


def _bb_names(printed):
    """busybox top -m prints ``(SHR)`` twice: the shared part of RSS, then of DIRTY."""
    names = []
    for name in printed:
        if name == '(SHR)' and names:
            name = names[-1] + '(SHR)'
        names.append(name)
    return names


def _size(value, name, line, lineno):
    try:
        size = parse_size(value, 1024)
    except ParseError:
        raise ParseError('column %s: not a size: %r' % (name, value[:40]), line, lineno)
    return _unless_lost(size, value, 1024)


def _priority(value, name, line, lineno):
    return 'rt' if value == 'rt' else _signed(value, line, lineno, 'column %s' % name)


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
    return _signed(value, line, lineno, 'column %s' % name)


def _counter_column(value, name, line, lineno):
    return _scaled_counter(value, line, lineno, 'column %s' % name)


def _percent(value, name, line, lineno):
    return _number(value[:-1] if value[-1:] == '%' else value, line, lineno, what='column %s' % name)


def _mem_percent(value, name, line, lineno):
    """%MEM: RES as a share of MemTotal (top.c task_show EU_MEM), so never above 100."""
    return _number(value, line, lineno, maximum=100.0, what='column %MEM (a share of RAM)')


# ------------------------------------------------------------------ command names

_WILD = None  # a byte or character top prints as '?' or '.'


def _renderings(raw):
    """How procps 4.x may have printed the name ``raw`` (bytes), unit by unit, ``_WILD`` where it
    prints a placeholder: under C every byte that is not printable ASCII (libproc2 escape.c
    ``esc_all``: '?' for 128-255, '.' for controls in 4.0.0-4.0.4, '?' in 4.0.5+); under UTF-8 each
    character as it is, an invalid byte or a control as '?' (``esc_ctl``)."""
    c_locale = [chr(b) if 0x20 <= b < 0x7f else _WILD for b in bytearray(raw)]
    utf8 = [_WILD if '\udc80' <= char <= '\udcff' or not char.isprintable() else char
            for char in bytes(raw).decode('utf-8', 'surrogateescape')]
    return c_locale, utf8


def _printed_as(printed, units, cut):
    """Whether ``printed`` is ``units`` as top shows them (cut with a '+' at the end when ``cut``)."""
    text = printed[:-1] if cut else printed
    if len(text) > len(units) or (not cut and len(text) != len(units)):
        return False
    return all(char in '?.' if unit is _WILD else char == unit for char, unit in zip(text, units))


def _printed_raw(printed, raw, cut):
    """Whether ``printed`` is the bytes ``raw`` as procps 3.3.x prints a name: unescaped (cut by
    bytes with a '+' when ``cut``), decoded by the reader with surrogateescape, or with 'replace'
    (one U+FFFD for one to three bytes that were not UTF-8)."""
    text = printed[:-1] if cut else printed
    if len(text) > len(raw):  # every character took a byte at least
        return False
    # the positions in ``raw`` where the text so far can end; at most len(raw) + 1 of them
    ends = set([0])
    for char in text:
        if char == '\ufffd':
            ends = set(at + n for at in ends for n in (1, 2, 3) if at + n <= len(raw))
        else:
            piece = char.encode('utf-8', 'surrogateescape') if not '\ud800' <= char <= '\udc7f' else None
            ends = set(at + len(piece) for at in ends if piece and raw[at:at + len(piece)] == piece)
        if not ends:
            return False
    return cut or len(raw) in ends


def visible(text):
    """``text`` safe to show anywhere: a character that does not print (a control such as ESC, a
    bidirectional override, a zero-width mark) as ``\\xNN``/``\\uNNNN``, a byte that was not UTF-8
    (decoded with surrogateescape) as ``\\xNN``, and a backslash doubled so that no name can pass
    for an escape. Printable text, CJK and emoji included, is left as it is."""
    if text.isascii() and text.isprintable() and '\\' not in text:
        return text
    out = []
    for char in text:
        code = ord(char)
        if 0xdc80 <= code <= 0xdcff:
            out.append('\\x%02x' % (code - 0xdc00))
        elif char == '\\':
            out.append('\\\\')
        elif code < 0x20 or 0x7f <= code < 0xa0 or (code >= 0xa0 and unicodedata.category(char) in _UNPRINTABLE):
            out.append('\\x%02x' % code if code < 0x100 else '\\u%04x' % code if code < 0x10000 else '\\U%08x' % code)
        else:
            out.append(char)
    return ''.join(out)


_UNPRINTABLE = frozenset(('Cc', 'Cf', 'Cs', 'Co', 'Cn', 'Zl', 'Zp'))


def host_name(raw):
    """The name ``raw`` (bytes) as the host gave it: UTF-8, made ``visible``."""
    return visible(bytes(raw).decode('utf-8', 'surrogateescape'))


def read_comm(pid, proc='/proc'):
    """The kernel's name of a process (``/proc/PID/comm``, at most 15 bytes) as bytes, or None."""
    try:
        with open(os.path.join(proc, str(int(pid)), 'comm'), 'rb') as handle:
            raw = handle.read(64)
    except (IOError, OSError, ValueError, TypeError):
        return None
    return raw[:-1] if raw.endswith(b'\n') else raw


def restore_commands(processes, read=read_comm):
    """Show each COMMAND as the host named it, safe to show.

    Under LC_ALL=C procps 4.x prints every byte of a name that is not ASCII as '?'
    (``????????????`` for four CJK characters) and a control as '.' or '?'. A process whose printed
    COMMAND is what top makes of the kernel's name for that pid (so the same process, and top showed
    its name, not a command line) gets ``host_name`` of it, and top's text goes to
    ``command_printed``; so does a name top cut with '+' to fit a narrow column. Every other command is made ``visible``: procps 3.3.x and busybox print the
    bytes of a name as they are, ESC included.
    ``read(pid)`` gives the kernel's name as bytes, or None; ``read=None`` for a paste, whose host
    is not this one. Returns how many names came from the kernel.
    """
    restored = 0
    for proc in processes:
        printed = proc.get('command')
        if not printed:
            continue
        pid = proc.get('pid')
        raw = None
        cut = 'command' in proc.get('truncated', ())
        mangled = cut or not printed.isascii() or '?' in printed or '.' in printed
        if read is not None and isinstance(pid, int) and mangled:
            raw = read(pid)
        if raw is not None and not (_printed_raw(printed, raw, cut)
                                    or any(_printed_as(printed, units, cut) for units in _renderings(raw))):
            raw = None  # another process has the pid now, or top showed a command line (-c)
        name = visible(printed) if raw is None else host_name(raw)
        if name == printed:
            continue
        proc['command_printed'] = printed
        proc['command'] = name
        if raw is not None:
            restored += 1
            if cut:
                proc['truncated'] = [t for t in proc['truncated'] if t != 'command']
    return restored


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
