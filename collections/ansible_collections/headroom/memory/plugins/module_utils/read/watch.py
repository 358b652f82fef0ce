"""A watch window: the host sampled every few seconds for a while, keeping its worst moment.

A diagnosis reads one moment; a spike comes and goes. During ``seconds`` the host is sampled every
``interval``: MemAvailable (in a memory cgroup, capped by the limit less its usage), and the swap and
direct-reclaim rates between two samples. Kept: the lowest available with the biggest commands at
that moment (by RSS, from /proc/PID/stat, read only when a new lowest is found), and the peak swap and
reclaim rates with their times; and for each app server the biggest RSS one of its workers reached
(what a worker costs at its peak: a heavy request's memory, not its idle size). Light on a host short of
memory: two small /proc files a sample, and one /proc/PID/stat per worker measured, nothing held but the
worst moments.
"""

import os
import time

from .kernel import parse_vmstat, proc_stat
from ..parse_error import ParseError
from ..units import is_count

COMMANDS = 10


def watch(seconds, interval, available, vmstat, snapshot, clock=time.time, sleep=time.sleep, page_size=4096,
          workers=None):
    """Sample for ``seconds`` every ``interval``; ``available()``, ``vmstat()`` (parsed /proc/vmstat)
    and ``snapshot()`` (the biggest commands) read the host and may return None; ``workers()`` (when
    given) says each app server's biggest worker now: ``{master_pid: (pid, rss bytes)}``.

    Returns ``{'seconds', 'interval', 'samples', 'lowest': {'at', 'available', 'commands'} or None,
    'peak_swap': {'at', 'bytes_per_second'} or None, 'peak_reclaim': {'at', 'pages_per_second'} or None,
    'workers': [{'master_pid', 'pid', 'rss', 'at'}]}`` (``workers``: the biggest RSS a worker of each server
    reached, at the sample it was seen).
    """
    start = clock()
    lowest = peak_swap = peak_reclaim = None
    peaks = {}
    before, before_at = vmstat(), start
    samples = 0
    while True:
        now = clock()
        free = available()
        if free is not None and (lowest is None or free < lowest['available']):
            lowest = {'at': now, 'available': free, 'commands': snapshot()}
        after = vmstat()
        if before is not None and after is not None and now > before_at:
            span = now - before_at
            swap = (after.get('pswpin', 0) - before.get('pswpin', 0) + after.get('pswpout', 0)
                    - before.get('pswpout', 0)) * page_size / span
            scan = (after.get('pgscan_direct', 0) - before.get('pgscan_direct', 0)) / span
            if peak_swap is None or swap > peak_swap['bytes_per_second']:
                peak_swap = {'at': now, 'bytes_per_second': swap}
            if peak_reclaim is None or scan > peak_reclaim['pages_per_second']:
                peak_reclaim = {'at': now, 'pages_per_second': scan}
        before, before_at = after, now
        for master, (pid, rss) in sorted((workers() if workers else {}).items()):
            if master not in peaks or rss > peaks[master]['rss']:
                peaks[master] = {'master_pid': master, 'pid': pid, 'rss': rss, 'at': now}
        samples += 1
        left = seconds - (clock() - start)
        if left <= 0:
            break
        sleep(min(interval, left))
    return {'seconds': seconds, 'interval': interval, 'samples': samples, 'lowest': lowest,
            'peak_swap': peak_swap, 'peak_reclaim': peak_reclaim, 'workers': [peaks[m] for m in sorted(peaks)]}


def read_available(cgroup=None):
    """A reader of what the workload can still have: MemAvailable, capped in a limited memory cgroup
    by its limit less its usage (page cache included: the cautious figure)."""
    usage_file = None
    if cgroup and cgroup.get('limit') and cgroup.get('dir'):
        name = 'memory.usage_in_bytes' if cgroup.get('version') == 1 else 'memory.current'
        usage_file = os.path.join(cgroup['dir'], name)

    def available():
        free = None
        try:
            with open('/proc/meminfo') as handle:
                for line in handle:
                    if line.startswith('MemAvailable:'):
                        free = int(line.split()[1]) * 1024
                        break
        except (IOError, OSError, ValueError, IndexError):
            return None
        if usage_file is not None:
            try:
                with open(usage_file) as handle:
                    room = cgroup['limit'] - int(handle.read().strip())
                free = room if free is None else min(free, room)
            except (IOError, OSError, ValueError):
                pass
        return None if free is None else max(0, free)
    return available


def read_vmstat():
    try:
        with open('/proc/vmstat') as handle:
            return parse_vmstat(handle.read())
    except (IOError, OSError, ParseError):
        return None


def biggest_workers(servers, proc='/proc', page_size=4096):
    """A reader of each app server's biggest worker now, for :func:`watch`: ``{master_pid: (pid, rss bytes)}``
    over the workers app_servers.find() measured (``servers``), each from its /proc/PID/stat (a worker
    gone meanwhile, or one that is another process now, is skipped: a pid whose parent is not the
    master is not its worker)."""
    pools = [(server['master_pid'], [w['pid'] for w in server.get('measured') or []]) for server in servers or []]

    def read():
        found = {}
        for master, pids in pools:
            for pid in pids:
                info = proc_stat(pid, proc)
                if info is None or (info[1] != master and pid != master):
                    continue
                rss = info[3] * page_size
                if master not in found or rss > found[master][1]:
                    found[master] = (pid, rss)
        return found
    return read


def biggest_commands(limit=COMMANDS, proc='/proc', page_size=4096):
    """The commands holding the most RSS now, from every /proc/PID/stat: ``[{'command', 'count', 'rss'}]``."""
    totals = {}
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    for name in names:
        info = proc_stat(name, proc) if is_count(name) else None
        if info is None:
            continue  # not a process, or gone meanwhile
        entry = totals.setdefault(info[0], [0, 0])
        entry[0] += 1
        entry[1] += info[3] * page_size
    ranked = sorted(totals.items(), key=lambda item: (-item[1][1], item[0]))[:limit]
    return [{'command': command, 'count': count, 'rss': rss} for command, (count, rss) in ranked]
