"""What held memory when the OOM killer struck: the task dump and memory block of one kernel OOM report.

Between a report's ``invoked oom-killer`` line and its ``Killed process`` line the kernel prints (with
``vm.oom_dump_tasks=1``, the default) every task it considered, in pages, under a header that names
the columns, which changed over the years:

- 2.6.32 (RHEL 6): ``[ pid ]   uid  tgid total_vm      rss cpu oom_adj oom_score_adj name``
- 3.x to 4.14: ``[ pid ]   uid  tgid total_vm      rss nr_ptes [nr_pmds] swapents oom_score_adj name``
- 4.15+: ``[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name``
- 6.8+ (and backports): ``... rss rss_anon rss_file rss_shmem pgtables_bytes swapents ...``

so rows are read by the header's column names, never by position. The memory block is, for a
system-wide OOM, ``Mem-Info:`` (``active_anon:N inactive_anon:N ...``, pages, over several lines that
may come without a prefix), and for a memory cgroup's, ``memory: usage ..kB, limit ..kB`` and
``Memory cgroup stats for <path>:`` with one ``name bytes`` per line (v1: ``rss``, ``cache``, ``shmem``,
``swap`` and their hierarchical ``total_*``; v2: ``anon``, ``file``, ``shmem``, ``slab``).

A system-wide report also gives the machine's swap, after the per-zone lines (show_mem, then
mm/swap_state.c show_swap_cache_info() in every kernel from 2.6 to 6.x): ``%lu pages in swap cache``,
``Free swap  = %ldkB`` (two spaces), ``Total swap = %lukB``; until 5.x a ``Swap cache stats: add %lu, delete
%lu, find %lu/%lu`` line between them (counters, not sizes: not read). Captured on the VM (6.1, no swap):
``0 pages in swap cache``, ``Free swap  = 0kB``, ``Total swap = 0kB``.

Pure: lines in (each already without its log prefix), one summary out. ``Dump.feed`` is called only
for the lines of a report, so a log's other lines cost nothing here.
"""

import re

from ..units import KIB

_TITLE = re.compile(r'^\[\s*pid\s*\]\s+(?P<cols>(?:[a-z_]+\s+){2,12})name\s*$', re.ASCII)
_ROW = re.compile(r'^\[\s*(?P<pid>\d{1,10})\]\s+(?P<rest>.*)$', re.ASCII)
_NUMBER = re.compile(r'^-?\d{1,20}$', re.ASCII)
_USAGE = re.compile(r'^(?P<what>memory|memory\+swap|swap): usage (?P<usage>\d{1,20})kB, limit (?P<limit>\d{1,20})kB',
                    re.ASCII)
_STAT = re.compile(r'^(?P<name>[a-z_]{2,40}) (?P<value>\d{1,24})$', re.ASCII)
_SWAP_CACHE = re.compile(r'^(?P<pages>\d{1,20}) pages in swap cache$', re.ASCII)
_SWAP_SIZE = re.compile(r'^(?P<what>Free|Total) swap +=\s*(?P<kib>\d{1,20})kB$', re.ASCII)
_PAIR = re.compile(r'(?:^|\s)(?P<name>[a-z_]{2,40}):(?P<value>\d{1,20})(?=\s|$)', re.ASCII)
_MEMINFO_KEYS = ('active_anon', 'inactive_anon', 'active_file', 'inactive_file', 'shmem', 'slab_reclaimable',
                 'slab_unreclaimable', 'free')
_STAT_KEYS = ('rss', 'cache', 'shmem', 'swap', 'anon', 'file', 'slab', 'total_rss', 'total_cache', 'total_shmem',
              'total_swap')
# how many commands a kill keeps, biggest first (the rest are summed in 'other'), and pids per command
TOP_COMMANDS = 10
PIDS_PER_COMMAND = 8


class Dump(object):
    """The memory picture of one report, fed its lines in order."""

    def __init__(self, page_size=4096):
        self.page = page_size
        self.columns = None
        self.tasks = {}  # command -> [count, rss pages, swap pages, anon pages or None, pids]
        self.task_count = 0
        self.meminfo = {}
        self.stats = {}
        self.usage = {}
        self.swap = {}  # swap_total, swap_free (KiB), swap_cache (pages) of a system-wide report
        self.block = None  # 'meminfo' or 'stats' while their lines run
        self.lines = 0

    def feed(self, message):
        """Take one line of the report (without its log prefix); False when it says nothing here."""
        self.lines += 1
        text = message.strip()
        title = _TITLE.match(text)
        if title:
            self.columns = title.group('cols').split()
            self.block = None
            return True
        row = _ROW.match(text) if self.columns else None
        if row:
            return self._row(int(row.group('pid')), row.group('rest'))
        usage = _USAGE.match(text)
        if usage:
            self.usage[usage.group('what')] = (int(usage.group('usage')) * KIB, int(usage.group('limit')) * KIB)
            return True
        swap = _SWAP_SIZE.match(text) or _SWAP_CACHE.match(text)
        if swap:
            if swap.re is _SWAP_CACHE:
                self.swap['swap_cache'] = int(swap.group('pages')) * self.page
            else:
                self.swap['swap_' + swap.group('what').lower()] = int(swap.group('kib')) * KIB
            self.block = None
            return True
        if text.startswith('Mem-Info:'):
            self.block = 'meminfo'
            return True
        if text.startswith('active_anon:'):  # its first line, in a paste or a log that lost the title
            self.block = 'meminfo'
        if text.startswith('Memory cgroup stats for '):
            self.block = 'stats'
            return True
        if self.block == 'stats':
            stat = _STAT.match(text)
            if stat:
                if stat.group('name') in _STAT_KEYS:
                    self.stats[stat.group('name')] = int(stat.group('value'))
                return True
            self.block = None
        if self.block == 'meminfo':
            pairs = [(m.group('name'), int(m.group('value'))) for m in _PAIR.finditer(text)]
            if pairs and not text.startswith('Node '):
                self.meminfo.update((name, value) for name, value in pairs if name in _MEMINFO_KEYS)
                return True
            self.block = None
        return False

    def _row(self, pid, rest):
        fields = rest.split(None, len(self.columns))
        if len(fields) != len(self.columns) + 1 or not all(_NUMBER.match(f) for f in fields[:-1]):
            return False  # a row cut by a wrapped or truncated line: not a task
        values = dict(zip(self.columns, (int(f) for f in fields[:-1])))
        if 'rss' not in values:
            return False
        name = fields[-1].strip()
        entry = self.tasks.get(name)
        if entry is None:
            entry = self.tasks[name] = [0, 0, 0, None, []]
        entry[0] += 1
        entry[1] += values['rss']
        entry[2] += values.get('swapents', 0)
        if 'rss_anon' in values:
            entry[3] = (entry[3] or 0) + values['rss_anon']
        if len(entry[4]) < PIDS_PER_COMMAND:
            entry[4].append(pid)
        self.task_count += 1
        return True

    def result(self):
        """``{'tasks', 'other', 'task_count', 'rss', 'swap', 'memory'}`` in bytes, or None when the
        report held neither a task dump nor a memory block (a log that kept only the kill's lines)."""
        memory = self._memory()
        if not self.tasks and not memory:
            return None
        page = self.page
        ranked = sorted(self.tasks.items(), key=lambda item: (-item[1][1], item[0]))
        tasks = [{'command': name, 'count': count, 'rss': rss * page, 'swap': swap * page,
                  'anon': anon * page if anon is not None else None, 'pids': pids}
                 for name, (count, rss, swap, anon, pids) in ranked[:TOP_COMMANDS]]
        rest = ranked[TOP_COMMANDS:]
        return {
            'tasks': tasks,
            'other': {'commands': len(rest), 'count': sum(e[0] for _n, e in rest),
                      'rss': sum(e[1] for _n, e in rest) * page, 'swap': sum(e[2] for _n, e in rest) * page},
            'task_count': self.task_count,
            'rss': sum(e[1] for e in self.tasks.values()) * page,
            'swap': sum(e[2] for e in self.tasks.values()) * page,
            'memory': memory,
        }

    def _memory(self):
        """anon, file, shmem, slab (disjoint: shmem is counted once, apart), usage and limit, and for a
        system-wide report the machine's swap_total, swap_free and swap_cache, in bytes."""
        memory = dict(self.swap)
        if 'memory' in self.usage:
            memory['usage'], memory['limit'] = self.usage['memory']
        if 'swap' in self.usage:
            memory['swap'] = self.usage['swap'][0]
        info = self.meminfo
        if info:
            page = self.page
            shmem = info.get('shmem', 0)
            # shmem pages sit on the anon LRU lists
            if 'active_anon' in info or 'inactive_anon' in info:
                memory['anon'] = max(0, info.get('active_anon', 0) + info.get('inactive_anon', 0) - shmem) * page
            if 'active_file' in info or 'inactive_file' in info:
                memory['file'] = (info.get('active_file', 0) + info.get('inactive_file', 0)) * page
            if 'shmem' in info:
                memory['shmem'] = shmem * page
            if 'slab_reclaimable' in info or 'slab_unreclaimable' in info:
                memory['slab'] = (info.get('slab_reclaimable', 0) + info.get('slab_unreclaimable', 0)) * page
            if 'free' in info:
                memory['free'] = info['free'] * page
        stats = self.stats
        if stats:
            def stat(name):  # v1's hierarchical total_* first: the cgroup and all below it
                return stats.get('total_' + name, stats.get(name))
            shmem = stat('shmem') or 0
            if stat('rss') is not None:  # v1: rss excludes shmem, cache includes it
                memory['anon'] = stat('rss')
                if stat('cache') is not None:
                    memory['file'] = max(0, stat('cache') - shmem)
            if 'anon' in stats:  # v2: file includes shmem
                memory['anon'] = stats['anon']
                if 'file' in stats:
                    memory['file'] = max(0, stats['file'] - shmem)
            if stat('shmem') is not None:
                memory['shmem'] = shmem
            if 'slab' in stats:
                memory['slab'] = stats['slab']
            if stat('swap') is not None and 'swap' not in memory:
                memory['swap'] = stat('swap')
        return memory
