"""What the diagnosis reads on a host: one pass over its commands and files, nothing judged yet.

``collect(options, run, which)`` runs `free -b` and top, reads /proc/meminfo, two /proc/vmstat
samples ``sample_seconds`` apart, PSI, the cgroup's memory files, smaps_rollup of the biggest
processes and the kernel log's OOM kills, parses them with the headroom parsers and returns plain
data for ``diagnosis.diagnose``: processes already grouped by command, so that a busy host ships
its groups and its first ``top_limit`` processes, not every process it has.

It needs only the standard library and the modules in ``remote.SOURCES``, so the same code runs in the
memory_facts module (``run``/``which`` from AnsibleModule) and, without AnsiballZ, as the small
program that the memory_facts action plugin sends to a host (``main`` below, with subprocess).
"""

import glob
import json
import os
import sys
import time

from ..parse_error import ParseError
from .app_deaths import DEATHS_KEPT, LOG_GLOBS, journal_command, link, parse_journal, parse_log
from .app_servers import find as find_app_servers, proc_readers
from .guard import read_guard
from .free import parse_free
from .kernel import (
    boot_time, container_id, in_container, parse_meminfo, parse_vmstat, proc_stat, read_cgroup_memory, read_pressure,
    read_smaps_rollup)
from .kernel import machine_identity
from .oom import attribute, collect_oom_history, read_log_tail, stamp_epoch
from .processes import group_processes, growth
from .top import TOP_ENV, parse_top, restore_commands, run_top
from .unit_stops import (
    FOLLOW_SECONDS, STOPS_READ, killed_units, lifecycle_command, parse_lifecycle, parse_show, show_command, stops as unit_stops)
from .watch import biggest_commands, biggest_workers, read_available, read_vmstat, watch
from ..units import human, is_count

C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C'}
VMSTAT_KEYS = ('oom_kill', 'pswpin', 'pswpout', 'pgmajfault', 'pgscan_direct')


# What a host sends at most, whatever it runs or its logs hold: its answer stays small (the verdict
# names the biggest; a tail of thousands of tiny commands changes none of it).
GROUPS_SHIPPED = 200  # commands, biggest first (or top_limit, when it asks for more)
VICTIMS_SHIPPED = 100  # distinct commands the OOM killer killed
GAPS_SHIPPED = 50


def bounded_gaps(gaps):
    """The first GAPS_SHIPPED gaps, and how many more there were."""
    if len(gaps) <= GAPS_SHIPPED:
        return gaps
    return gaps[:GAPS_SHIPPED] + ['and %d more gaps' % (len(gaps) - GAPS_SHIPPED)]


class CollectError(Exception):
    """The host's memory could not be read at all; the message says what was tried."""


class Collector(object):
    """Runs the commands and reads the files; every parse goes through the headroom parsers.

    ``run(argv, env, seconds=None)`` returns ``(rc, stdout, stderr, cut)`` (:func:`run`: ``cut`` says
    what a command's output bound left out, or None) with ``env`` added to the environment and raises
    OSError when the program cannot run or answer in time; ``which(name)`` is its path or None.
    """

    def __init__(self, run, which):
        self._run = run
        self._which = which
        self.gaps = []
        self.cuts = []  # 'journalctl: output over 8 MiB: ...', also in gaps
        self.rollups = {}  # pid -> smaps_rollup, read once

    def call(self, argv, env, seconds=None):
        """``(rc, stdout, stderr)`` of the run, its cut (if any) noted in ``cuts`` and ``gaps``."""
        answer = self._run(argv, env) if seconds is None else self._run(argv, env, seconds=seconds)
        if len(answer) > 3 and answer[3]:
            note = '%s: %s' % (' '.join([os.path.basename(argv[0])] + list(argv[1:3])), answer[3])
            if note not in self.cuts:  # the journal's windows around each kill are cut alike: said once
                self.cuts.append(note)
                self.gaps.append(note)
        return answer[:3]

    def read(self, path):
        try:
            with open(path) as handle:
                return handle.read()
        except (IOError, OSError) as err:
            self.gaps.append('%s: %s' % (path, err.strerror or err))
            return None

    def command(self, name, argv, env=None):
        """stdout of argv, or None (noted in gaps) when the tool is missing or fails."""
        path = self._which(argv[0])
        if path is None:
            self.gaps.append('%s: not installed' % argv[0])
            return None
        try:
            rc, out, err = self.call([path] + argv[1:], env or C_LOCALE)
        except OSError as err:
            self.gaps.append('%s: %s' % (name, err.strerror or err))
            return None
        if rc != 0:
            self.gaps.append('%s: rc=%d %s' % (name, rc, (err or out).strip()[:200]))
            return None
        return out

    def parsed(self, what, parse, *args):
        """``parse(*args)``, or None with a gap naming ``what`` when its text cannot be read: one
        unreadable source is a hole in the diagnosis, not the loss of the host's."""
        try:
            return parse(*args)
        except ParseError as err:
            self.gaps.append('%s: unreadable output (%s)' % (what, err))
            return None

    def vmstat(self):
        text = self.read('/proc/vmstat')
        return (self.parsed('/proc/vmstat', parse_vmstat, text) if text is not None else None), time.time()

    def memory(self, meminfo):
        """free -b's figures, from meminfo the way free computes them when free is missing."""
        out = self.command('free -b', ['free', '-b'])
        free = self.parsed('free -b', parse_free, out, '-b') if out is not None else None
        if free is not None:
            mem, swap = free['mem'], free['swap']
            return free, {'total': mem['total'], 'available': mem['available'], 'used': mem['used'],
                          'free': mem['free'], 'shared': mem['shared'], 'buff_cache': mem['buff_cache'],
                          'swap_total': swap['total'], 'swap_used': swap['used'], 'swap_free': swap['free']}
        if not meminfo or 'MemAvailable' not in meminfo:
            raise CollectError('neither free nor /proc/meminfo (with MemAvailable) could be read: %s'
                               % '; '.join(self.gaps))
        cache = meminfo.get('Buffers', 0) + meminfo.get('Cached', 0) + meminfo.get('SReclaimable', 0)
        return None, {'total': meminfo['MemTotal'], 'available': meminfo['MemAvailable'],
                      'used': meminfo['MemTotal'] - meminfo['MemAvailable'], 'free': meminfo['MemFree'],
                      'shared': meminfo.get('Shmem'), 'buff_cache': cache,
                      'swap_total': meminfo.get('SwapTotal', 0),
                      'swap_used': meminfo.get('SwapTotal', 0) - meminfo.get('SwapFree', 0),
                      'swap_free': meminfo.get('SwapFree', 0)}

    def top(self, samples, seconds):
        path = self._which('top')
        if path is None:
            self.gaps.append('top: not installed: processes not read')
            return None
        delay = max(0.1, seconds / (samples - 1)) if samples > 1 else None
        # top takes the time its samples are asked for, then its own bound
        bound = BOUNDS['top'][0] + (delay or 0) * (samples - 1)
        try:
            out, busybox = run_top(lambda argv: self.call([path] + argv[1:], TOP_ENV, bound), samples, delay)
        except OSError as err:
            self.gaps.append('top: %s' % err)
            return None
        top = self.parsed('top', parse_top, out)
        if top is None:
            return None
        # a summary line top printed in a form not known costs its figures, named, not the processes
        self.gaps.extend('top: summary %s' % line for line in top['summary']['unread'])
        for sample in top['samples']:  # names as the kernel has them, where top (LC_ALL=C) printed '?'
            restore_commands(sample['processes'])
        if busybox:  # busybox top cannot sort by memory: its biggest first by VSZ
            for sample in top['samples']:
                sample['processes'].sort(key=lambda p: p.get('virt') or 0, reverse=True)
        return top

    def pss(self, processes, limit):
        sizes = {}
        for proc in processes[:limit]:
            rollup = self.rollup(proc['pid'])
            if rollup is not None:
                sizes[proc['pid']] = rollup['pss']
        if processes and not sizes:
            self.gaps.append('smaps_rollup: not readable (needs root, or kernel < 4.14): groups measured by RSS')
        return sizes

    def rollup(self, pid):
        """A process's smaps_rollup (read once, whoever asks), or None."""
        if pid not in self.rollups:
            self.rollups[pid] = self.parsed('/proc/%s/smaps_rollup' % pid, read_smaps_rollup, pid)
        return self.rollups[pid]

    def oom_history(self, since=None, btime=None):
        """collect_oom_history's result: the journal when it has kernel lines, else dmesg and syslog."""
        def run(argv):
            path = self._which(argv[0])
            if path is None:
                raise OSError('%s: not installed' % argv[0])
            return self.call([path] + argv[1:], C_LOCALE)
        cuts = len(self.cuts)
        history = collect_oom_history(run, since=since, btime=btime, page_size=os.sysconf('SC_PAGE_SIZE'))
        history['incomplete'].extend(self.cuts[cuts:])  # a log cut to its bound lost its oldest kills
        if not history['sources']:
            failed = ['%s: %s' % (t['argv'][0], t['error'] or 'rc=%s' % t['rc'])
                      for t in history['tried'] if not t['empty']]
            empty = sorted(set(t['argv'][0] for t in history['tried'] if t['empty']))
            self.gaps.append('OOM history: no kernel log could be read%s%s' % (
                ' (%s)' % '; '.join(failed) if failed else '',
                '; %s answered with no kernel line' % ', '.join(empty) if empty else ''))
        return history

    def app_deaths(self, since=None, files_limit=20, tail_bytes=4 * 1024 * 1024):
        """(deaths, sources): the app servers' lines about workers killed by SIGKILL, from the journal
        (every unit) and the tails of their log files. No journal, or nothing said, is no gap."""
        deaths, sources = [], []
        path = self._which('journalctl')
        if path is not None:
            argv = journal_command(since)
            try:
                rc, out, err = self.call([path] + argv[1:], C_LOCALE)
            except OSError as exc:
                rc, out, err = None, '', str(exc)
            if rc == 0 and out.strip():
                deaths.extend(self.newest(parse_journal(out), 'the app servers\' journal lines'))
                sources.append('journalctl -o json --grep (app servers)')
            elif not (rc in (0, 1) and not (err or '').strip()):
                self.gaps.append('app servers\' journal lines: rc=%s %s' % (rc, (err or out).strip()[:200]))
        files = sorted(set(name for pattern in LOG_GLOBS for name in glob.glob(pattern)))
        for name in files[:files_limit]:
            try:
                deaths.extend(self.newest(parse_log(read_log_tail(name, tail_bytes), name), name))
                sources.append(name)
            except (IOError, OSError) as exc:
                self.gaps.append('%s: %s' % (name, exc.strerror or exc))
        return deaths[-DEATHS_KEPT:], sources

    def unit_stops(self, events, deaths, btime, now):
        """The units systemd stopped after an OOM kill (unit_stops.stops), from systemctl show of the units
        named in kill lines and systemd's journal lines about the newest STOPS_READ stopped units, all in
        this round trip and within the commands' bounds. No systemctl (no systemd) is no gap."""
        units = killed_units(events)
        stopped = [e for e in events if e.get('unit_result') == 'oom-kill' and e.get('epoch_failed') is not None]
        if not units or self._which('systemctl') is None:
            return unit_stops(events, deaths, {}, {}, btime, now) if stopped else []
        shown = {}
        try:
            rc, out, err = self.call([self._which('systemctl')] + show_command(units)[1:], C_LOCALE)
            if rc == 0:
                shown = parse_show(out)
            else:
                self.gaps.append('systemctl show: rc=%s %s' % (rc, (err or out).strip()[:200]))
        except OSError as exc:
            self.gaps.append('systemctl show: %s' % exc)
        lifecycles = {}
        journalctl = self._which('journalctl')
        newest = {}
        for event in stopped:
            newest[event['unit']] = min(newest.get(event['unit'], event['epoch_failed']), event['epoch_failed'])
        for unit, since in sorted(newest.items(), key=lambda item: -item[1])[:STOPS_READ] if journalctl else []:
            until = max(e['epoch_failed'] for e in stopped if e['unit'] == unit) + FOLLOW_SECONDS
            try:
                rc, out, err = self.call([journalctl] + lifecycle_command(unit, since - 1, until)[1:], C_LOCALE)
            except OSError as exc:
                self.gaps.append('%s\'s journal lines: %s' % (unit, exc))
                continue
            if rc == 0:
                lifecycles[unit] = parse_lifecycle(out, unit)
            elif (err or '').strip():
                self.gaps.append('%s\'s journal lines: rc=%s %s' % (unit, rc, err.strip()[:200]))
        return unit_stops(events, deaths, shown, lifecycles, btime, now)

    def newest(self, deaths, source):
        """A parse's deaths, its oldest dropped (with a gap) when it found more than DEATHS_KEPT."""
        if len(deaths) > DEATHS_KEPT:
            self.gaps.append('%s: more than %d workers\' deaths: only the newest %d read' % (source, DEATHS_KEPT, DEATHS_KEPT))
            return deaths[-DEATHS_KEPT:]
        return deaths


def early_counts(events):
    """{killer: kills} of the early OOM killers' events."""
    counts = {}
    for event in events:
        counts[event['killer']] = counts.get(event['killer'], 0) + 1
    return counts


def in_scope(events, cgroup, container, cid):
    """(the kills of this host's scope, how many kernel kills could not be attributed).

    A host's log is its own. A container's dmesg (and a journal fed from /dev/kmsg) is the machine's:
    a kernel kill counts when the victim's cgroup lies in the container's (``cgroup['scope']``); a
    systemd unit line names no cgroup but comes from the container's own systemd. A kill whose report
    the ring buffer's wrap cut (``cut``) lost its cgroup with it: it is one of the kills the wrap
    took (the history says so), not one of unknown place. A kill from a source that cannot tell who
    wrote it (``trusted`` False) is kept or dropped by its cgroup all the same, never counted unknown.
    """
    if not container:
        return events, 0
    kept, unknown = [], 0
    scope = (cgroup or {}).get('scope')
    for event in events:
        if event.get('killer', 'kernel') != 'kernel':
            kept.append(event)  # an early OOM killer's line in this journal: a daemon of this container's
            continue
        mine = attribute(event, scope, cid)
        if mine or (mine is None and event['pid'] is None and event['unit']):
            kept.append(event)
        elif mine is None and not event['cut'] and event['trusted']:
            unknown += 1
    return kept, unknown


# The commands a diagnosis itself runs as: its Python, the shell and sudo that started it, and the
# tools it runs (top, journalctl, dmesg, free). They are in top's table only because it looked.
_PROBE_COMMANDS = ('python', 'sh', 'bash', 'dash', 'sudo', 'su', 'top', 'journalctl', 'dmesg', 'free')


def started(pid, btime):
    """When a process started (seconds since the epoch), or None: with its pid, what tells a process
    that grew apart from one that was restarted (a pid can be used again)."""
    info = proc_stat(pid) if isinstance(pid, int) else None
    if info is None or btime is None:
        return None
    return round(btime + info[2] / float(os.sysconf('SC_CLK_TCK')), 2)


def probe_pids(me=None):
    """This diagnosis's own processes: itself, the chain of shells, sudo and Pythons that started it
    (AnsiballZ runs a Python under a Python), and its children (top while it ran)."""
    me = os.getpid() if me is None else me
    own = set([me])
    pid = me
    while True:
        info = proc_stat(pid)
        if info is None or info[1] <= 1:
            break
        parent = proc_stat(info[1])
        if parent is None or not parent[0].startswith(_PROBE_COMMANDS):
            break
        pid = info[1]
        own.add(pid)
    return own


def without_probe(processes, own):
    """top's rows less the diagnosis's own processes: those in ``own``, their children, and a probe
    command already gone (top lists itself, and has exited by now; a process gone holds nothing)."""
    kept = []
    for proc in processes:
        pid = proc.get('pid')
        if pid in own:
            continue
        command = (proc.get('command') or '').split(' ', 1)[0].rsplit('/', 1)[-1]
        if command.startswith(_PROBE_COMMANDS) and isinstance(pid, int):
            info = proc_stat(pid)
            if info is None or info[1] in own:
                continue
        kept.append(proc)
    return kept


def rates(before, after, start, end, page_size):
    if before is None or after is None or end <= start:
        return None
    seconds = end - start
    per = dict((key, (after.get(key, 0) - before.get(key, 0)) / seconds) for key in VMSTAT_KEYS[1:])
    per['swap_bytes'] = (per['pswpin'] + per['pswpout']) * page_size
    per['seconds'] = round(seconds, 3)
    return per


def collect(options, run, which, sleep=time.sleep):
    """One pass over the host. Raises ParseError on output no parser can read, CollectError when
    neither free nor /proc/meminfo answers. ``options``: judge.memory_facts.read_options()."""
    collector = Collector(run, which)
    vm_before, start = collector.vmstat()
    meminfo_text = collector.read('/proc/meminfo')
    meminfo = collector.parsed('/proc/meminfo', parse_meminfo, meminfo_text) if meminfo_text is not None else None
    free, memory = collector.memory(meminfo)
    if meminfo:
        memory['available_meminfo'] = meminfo.get('MemAvailable')
    top = collector.top(options['top_samples'], options['sample_seconds'])
    processes = without_probe(top['processes'], probe_pids()) if top else []
    pss = collector.pss(processes, options['pss_limit'])
    stat, command_line = proc_readers()
    pids = [p['pid'] for p in processes if isinstance(p.get('pid'), int)]
    servers = find_app_servers(pids, stat, command_line, collector.rollup)
    guard = read_guard(pids, stat, command_line)
    pressure = collector.parsed('/proc/pressure/memory', read_pressure)
    if pressure and 'unavailable' in pressure:
        collector.gaps.append('/proc/pressure/memory: %s' % pressure['unavailable'])
        pressure = None
    container = in_container()
    # On a whole host the figures are the machine's, or those of a limit that binds every process
    # holding memory: not the cgroup of the SSH session this reading runs in (read_cgroup_memory).
    workload = None if container else [p['pid'] for p in processes if isinstance(p.get('pid'), int) and p.get('res')]
    cgroup = collector.parsed('the memory cgroup', read_cgroup_memory, '/', None, container, workload)
    overcommit = collector.read('/proc/sys/vm/overcommit_memory')
    btime = boot_time()
    history = {'sources': [], 'events': [], 'incomplete': [], 'unverified': []}
    if options['oom_history']:
        history = collector.oom_history(options['oom_since'] or None, btime)
    events, unattributed = in_scope(history['events'], cgroup, container, container_id() if container else None)
    for event in events:
        event['epoch'] = stamp_epoch(event['time'], event['uptime'], btime)
        if event.get('unit_failed_at'):
            event['epoch_failed'] = stamp_epoch(event['unit_failed_at'], None, btime)
    # a kill counts when the kernel's own record holds it; lines anyone could have written are kept apart
    unconfirmed = [event for event in events if not event['trusted']]
    events = [event for event in events if event['trusted']]
    # the kernel's own kills (its oom_kill counter counts them too) apart from the early OOM killers'
    kernel = [event for event in events if event.get('killer', 'kernel') == 'kernel']
    early = [event for event in events if event.get('killer', 'kernel') != 'kernel']
    deaths, death_sources = collector.app_deaths(options['app_since']) if options['oom_history'] else ([], [])
    link(deaths, events)
    stopped = collector.unit_stops(events, deaths, btime, time.time()) if options['oom_history'] else []
    watched = None
    if options['watch_seconds'] > 0:  # the worst moment of a while, not only this one
        page = os.sysconf('SC_PAGE_SIZE')
        watched = watch(options['watch_seconds'], options['watch_interval'], read_available(cgroup), read_vmstat,
                        lambda: biggest_commands(page_size=page), sleep=sleep, page_size=page,
                        workers=biggest_workers(servers, page_size=page))
    remaining = options['sample_seconds'] - (time.time() - start)
    if remaining > 0:
        sleep(remaining)
    vm_after, end = collector.vmstat()

    if container and cgroup and cgroup.get('pressure'):
        pressure = cgroup['pressure']  # /proc/pressure is the machine's; the cgroup's is the container's
    limit = options['top_limit']
    names = bool(top) and top['format'] != 'busybox'  # procps top without -c shows process names
    groups = group_processes(processes, pss, names)
    shipped = max(limit, GROUPS_SHIPPED)
    if len(groups) > shipped:
        collector.gaps.append('%d commands beyond the biggest %d not sent' % (len(groups) - shipped, shipped))
        del groups[shipped:]
    for group in groups[:limit]:
        group['largest']['started'] = started(group['largest']['pid'], btime)
    return {
        'memory': memory,
        'free': free,
        'top': {'summary': top['summary'], 'processes': processes[:limit]} if top else None,
        'meminfo': meminfo,
        'vmstat': dict((key, vm_after.get(key)) for key in VMSTAT_KEYS) if vm_after else None,
        'rates': rates(vm_before, vm_after, start, end, os.sysconf('SC_PAGE_SIZE')),
        'pressure': pressure,
        'cgroup': cgroup,
        'overcommit_memory': int(overcommit) if overcommit and is_count(overcommit.strip()) else None,
        'container': container,
        'identity': machine_identity(container, btime, (cgroup or {}).get('scope')),  # the history compares counters within one
        'oom_sources': history['sources'],
        'oom_incomplete': history['incomplete'],
        'oom_unattributed': unattributed,
        'oom_events': events[-options['oom_events_limit']:] if options['oom_events_limit'] else [],
        'oom_events_count': len(kernel),
        # when each kill happened, for the verdict's window (a busy host's thousand kills: 20 KB)
        'oom_epochs': sorted(e['epoch'] for e in kernel if e.get('epoch') is not None)[-10000:],
        'oom_early': {'count': early_counts(early),
                      'epochs': sorted(e['epoch'] for e in early if e.get('epoch') is not None)[-10000:]},
        'now': time.time(),
        'oom_victims': sorted(set(e['comm'] for e in events if e.get('comm')))[:VICTIMS_SHIPPED],
        'oom_unconfirmed': unconfirmed[-options['oom_events_limit']:] if options['oom_events_limit'] else [],
        'oom_unconfirmed_count': len(unconfirmed),
        'oom_unverified': history['unverified'],
        'app_deaths': deaths[-options['oom_events_limit']:] if options['oom_events_limit'] else [],
        'app_death_sources': death_sources,
        'unit_stops': stopped[-options['oom_events_limit']:] if options['oom_events_limit'] else [],
        'watch': watched,
        'app_servers': servers,
        'guard': guard,
        'groups': groups,
        'growth': growth(top.get('samples') if top else None, options['sample_seconds'], names)[:limit],
        'gaps': bounded_gaps(collector.gaps),
    }


# The program a host runs (remote.py): options in, one JSON document out, with subprocess in place
# of AnsibleModule. A failure is a document too ({'failed': True, 'msg'}); only a crash is not.

_SBIN = ('/sbin', '/usr/sbin', '/usr/local/sbin')


def which(name):
    """The program's path on PATH and the sbin directories (as AnsibleModule.get_bin_path), or None."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    dirs = os.environ.get('PATH', '/usr/bin:/bin').split(os.pathsep)
    for directory in dirs + [d for d in _SBIN if d not in dirs]:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


# What one command may cost a host that is short of memory: the seconds it may take, the bytes of its
# standard output kept (the head, where the first lines matter: top sorts its biggest first; the
# tail, where the newest do: the kernel's log), and the memory it may allocate (RLIMIT_DATA: heap and
# private mappings, Linux 4.7+; journalctl's mapped journal files are shared and do not count).
# The kernel's ring buffer is 128 KiB to 1 MiB on most machines (2 ** CONFIG_LOG_BUF_SHIFT, more per
# CPU), 32 MiB at most; journalctl --grep prints OOM lines only: 8 MiB of them is thousands of kills,
# and the newest hold the ones that matter. Text is decoded after the cut: 8 MiB of bytes can be
# 32 MiB of str when one character needs four bytes.
BOUNDS = {
    'journalctl': (60.0, 8 << 20, 'tail'),
    'dmesg': (30.0, 8 << 20, 'tail'),
    'top': (30.0, 2 << 20, 'head'),  # about 16,000 processes at 130 bytes a line, 45 MiB parsed
    'free': (15.0, 1 << 20, 'head'),
}
DEFAULT_BOUND = (30.0, 1 << 20, 'head')
STDERR_BYTES = 64 << 10
# The memory (RLIMIT_DATA) the program and each command it runs may allocate; measured use is far
# below it (bench/bench_host_bounds.py): it is the backstop, the bounds above are the plan.
DATA_BYTES = 128 << 20


def limit_data(limit=DATA_BYTES):
    """Lower this process's RLIMIT_DATA soft limit to ``limit`` (never raise it): what a child runs
    with, and the program itself."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    wanted = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > wanted:
        resource.setrlimit(resource.RLIMIT_DATA, (wanted, hard))


def _kill(proc):
    """Stop a command and whatever it started (its session), and collect it."""
    import signal
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def run(argv, env, seconds=None):
    """``(rc, stdout, stderr, cut)`` of argv, within its BOUNDS. Past its seconds the command is killed
    and OSError raised: no answer is a failed source. Past its bytes, what was kept (whole lines) is
    its answer and ``cut`` says what was left out; a command stopped for that is not a failed one (rc
    0). ``seconds`` overrides the table (top's samples take the time they are asked for)."""
    import selectors
    import subprocess  # only here: the reading's one runner, for the module and the program alike
    limit_seconds, limit_bytes, keep = BOUNDS.get(os.path.basename(argv[0]), DEFAULT_BOUND)
    limit_seconds = _time_left(limit_seconds if seconds is None else seconds, os.path.basename(argv[0]))
    environ = dict(os.environ)
    environ.update(env)
    # a session of its own: what it starts is stopped with it
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=environ, preexec_fn=limit_data, start_new_session=True)
    deadline = time.monotonic() + limit_seconds
    out, err = bytearray(), bytearray()
    trimmed = stopped = False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ, out)
            selector.register(proc.stderr, selectors.EVENT_READ, err)
            while selector.get_map() and not stopped:
                left = deadline - time.monotonic()
                ready = selector.select(left) if left > 0 else []
                if not ready:
                    raise OSError('%s: no answer within %.0f s, stopped' % (os.path.basename(argv[0]), limit_seconds))
                for key, _events in ready:
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif key.data is err:
                        err.extend(chunk[:max(STDERR_BYTES - len(err), 0)])
                    else:
                        out.extend(chunk)
                        if keep == 'tail' and len(out) > 2 * limit_bytes:
                            del out[:len(out) - limit_bytes]  # amortized: under twice the bound at any time
                            trimmed = True
                        elif keep == 'head' and len(out) >= limit_bytes:
                            del out[out.rfind(b'\n', 0, limit_bytes) + 1:]
                            stopped = True
                            break
        if stopped:
            _kill(proc)
        else:
            proc.wait(max(deadline - time.monotonic(), 0.01))
    except subprocess.TimeoutExpired:  # its output ended, the command did not
        raise OSError('%s: did not end within %.0f s, stopped' % (os.path.basename(argv[0]), limit_seconds))
    finally:
        if proc.returncode is None:
            _kill(proc)
        proc.stdout.close()
        proc.stderr.close()
    rc, cut = proc.returncode, None
    if stopped:
        rc = 0
        cut = 'output over %s: only its first %s read' % (human(limit_bytes), human(limit_bytes))
    elif trimmed or len(out) > limit_bytes:
        del out[:len(out) - limit_bytes]
        del out[:out.find(b'\n') + 1]  # the first line left is the end of one
        cut = 'output over %s: only its last %s read' % (human(limit_bytes), human(limit_bytes))
    return rc, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace'), cut


# The reading's whole time: what its samples and its watch are asked for, and this much more. Each
# command also has its own bound (BOUNDS); a command started when the time is nearly up gets what is
# left, and one started after it is a gap ('the reading's time is up'), so the reading still answers.
READING_SECONDS = 120.0
_deadline = {'at': None}  # time.monotonic() by which the reading ends, when Bounded bounds it


def _time_left(seconds, name):
    """``seconds``, or less when the reading's deadline comes first; OSError when it has passed."""
    if _deadline['at'] is None:
        return seconds
    left = _deadline['at'] - time.monotonic()
    if left <= 1:
        raise OSError('%s: not run, the reading\'s time (%g s) is up' % (name, READING_SECONDS))
    return min(seconds, left)


class OutOfTime(Exception):
    """The reading overran its deadline outside any command (a last resort, by SIGALRM)."""


class Bounded(object):
    """``with Bounded(options):`` the reading's memory (RLIMIT_DATA, :data:`DATA_BYTES`, which each
    command inherits) and time (sample_seconds + watch_seconds + :data:`READING_SECONDS`) are bounded
    in this process, the program's or the module's. ``failure`` words an exception that ended it."""

    def __init__(self, options):
        self.seconds = (float(options.get('sample_seconds') or 0) + float(options.get('watch_seconds') or 0)
                        + READING_SECONDS)

    def __enter__(self):
        import signal
        limit_data()
        _deadline['at'] = time.monotonic() + self.seconds

        def overrun(_signum, _frame):
            raise OutOfTime()
        self._previous = signal.signal(signal.SIGALRM, overrun)
        signal.alarm(int(self.seconds) + 30)  # the commands' bounds come first; this is for everything else
        return self

    def __exit__(self, *exc):
        import signal
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self._previous)
        _deadline['at'] = None
        return False

    def failure(self, err):
        """The message for MemoryError or OutOfTime, or None for any other exception."""
        if isinstance(err, MemoryError):
            return ('the reading stopped at its memory bound (%d MiB of data, RLIMIT_DATA) rather than take more '
                    'from this host' % (DATA_BYTES >> 20))
        if isinstance(err, OutOfTime):
            return 'the reading stopped at its time bound (%d s) rather than run on' % self.seconds
        return None


def main(options, out=None, bounded=False):
    """Read the host and print one JSON document; with ``bounded`` (the program the action plugin
    sends) within :class:`Bounded`, and running out of memory or time is a failure document."""
    out = out or sys.stdout
    try:
        if bounded:
            with Bounded(options) as bounds:
                try:
                    result = {'collected': collect(options, run, which)}
                except (MemoryError, OutOfTime) as err:
                    result = {'failed': True, 'msg': bounds.failure(err)}
        else:
            result = {'collected': collect(options, run, which)}
    except (ParseError, CollectError) as err:
        result = {'failed': True, 'msg': 'cannot read this host\'s memory figures: %s' % err}
    json.dump(result, out, separators=(',', ':'))
    out.write('\n')
