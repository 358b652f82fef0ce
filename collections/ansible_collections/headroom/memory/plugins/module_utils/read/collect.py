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
from .app_deaths import LOG_GLOBS, journal_command, link, parse_journal, parse_log
from .app_servers import find as find_app_servers, proc_readers
from .guard import read_guard
from .free import parse_free
from .kernel import (
    boot_time, container_id, in_container, parse_meminfo, parse_vmstat, proc_stat, read_cgroup_memory, read_pressure,
    read_smaps_rollup)
from .oom import attribute, collect_oom_history, read_log_tail, stamp_epoch
from .processes import group_processes, growth
from .top import TOP_ENV, parse_top, restore_commands, run_top
from .watch import biggest_commands, read_available, read_vmstat, watch
from ..units import is_count

C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C'}
VMSTAT_KEYS = ('oom_kill', 'pswpin', 'pswpout', 'pgmajfault', 'pgscan_direct')


class CollectError(Exception):
    """The host's memory could not be read at all; the message says what was tried."""


class Collector(object):
    """Runs the commands and reads the files; every parse goes through the headroom parsers.

    ``run(argv, env)`` returns ``(rc, stdout, stderr)`` with ``env`` added to the environment and
    raises OSError when the program cannot run; ``which(name)`` is its path or None.
    """

    def __init__(self, run, which):
        self._run = run
        self._which = which
        self.gaps = []
        self.rollups = {}  # pid -> smaps_rollup, read once

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
            rc, out, err = self._run([path] + argv[1:], env or C_LOCALE)
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
        try:
            out, busybox = run_top(lambda argv: self._run([path] + argv[1:], TOP_ENV), samples, delay)
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
            return self._run([path] + argv[1:], C_LOCALE)
        history = collect_oom_history(run, since=since, btime=btime, page_size=os.sysconf('SC_PAGE_SIZE'))
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
                rc, out, err = self._run([path] + argv[1:], C_LOCALE)
            except OSError as exc:
                rc, out, err = None, '', str(exc)
            if rc == 0 and out.strip():
                deaths.extend(parse_journal(out))
                sources.append('journalctl -o json --grep (app servers)')
            elif not (rc in (0, 1) and not (err or '').strip()):
                self.gaps.append('app servers\' journal lines: rc=%s %s' % (rc, (err or out).strip()[:200]))
        files = sorted(set(name for pattern in LOG_GLOBS for name in glob.glob(pattern)))
        for name in files[:files_limit]:
            try:
                deaths.extend(parse_log(read_log_tail(name, tail_bytes), name))
                sources.append(name)
            except (IOError, OSError) as exc:
                self.gaps.append('%s: %s' % (name, exc.strerror or exc))
        return deaths, sources


def in_scope(events, cgroup, container, cid):
    """(the kills of this host's scope, how many kernel kills could not be attributed).

    A host's log is its own. A container's dmesg (and a journal fed from /dev/kmsg) is the machine's:
    a kernel kill counts when the victim's cgroup lies in the container's (``cgroup['scope']``); a
    systemd unit line names no cgroup but comes from the container's own systemd. A kill whose report
    the ring buffer's wrap cut (``cut``) lost its cgroup with it: it is one of the kills the wrap
    took (the history says so), not one of unknown place.
    """
    if not container:
        return events, 0
    kept, unknown = [], 0
    scope = (cgroup or {}).get('scope')
    for event in events:
        mine = attribute(event, scope, cid)
        if mine or (mine is None and event['pid'] is None and event['unit']):
            kept.append(event)
        elif mine is None and not event['cut']:
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
    cgroup = collector.parsed('the memory cgroup', read_cgroup_memory, '/', None, container)
    overcommit = collector.read('/proc/sys/vm/overcommit_memory')
    btime = boot_time()
    history = {'sources': [], 'events': [], 'incomplete': []}
    if options['oom_history']:
        history = collector.oom_history(options['oom_since'] or None, btime)
    events, unattributed = in_scope(history['events'], cgroup, container, container_id() if container else None)
    for event in events:
        event['epoch'] = stamp_epoch(event['time'], event['uptime'], btime)
    deaths, death_sources = collector.app_deaths(options['app_since']) if options['oom_history'] else ([], [])
    link(deaths, events)
    watched = None
    if options['watch_seconds'] > 0:  # the worst moment of a while, not only this one
        page = os.sysconf('SC_PAGE_SIZE')
        watched = watch(options['watch_seconds'], options['watch_interval'], read_available(cgroup), read_vmstat,
                        lambda: biggest_commands(page_size=page), sleep=sleep, page_size=page)
    remaining = options['sample_seconds'] - (time.time() - start)
    if remaining > 0:
        sleep(remaining)
    vm_after, end = collector.vmstat()

    if container and cgroup and cgroup.get('pressure'):
        pressure = cgroup['pressure']  # /proc/pressure is the machine's; the cgroup's is the container's
    limit = options['top_limit']
    names = bool(top) and top['format'] != 'busybox'  # procps top without -c shows process names
    groups = group_processes(processes, pss, names)
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
        'oom_sources': history['sources'],
        'oom_incomplete': history['incomplete'],
        'oom_unattributed': unattributed,
        'oom_events': events[-options['oom_events_limit']:] if options['oom_events_limit'] else [],
        'oom_events_count': len(events),
        # when each kill happened, for the verdict's window (a busy host's thousand kills: 20 KB)
        'oom_epochs': sorted(e['epoch'] for e in events if e.get('epoch') is not None)[-10000:],
        'now': time.time(),
        'oom_victims': sorted(set(e['comm'] for e in events if e.get('comm'))),
        'app_deaths': deaths[-options['oom_events_limit']:] if options['oom_events_limit'] else [],
        'app_death_sources': death_sources,
        'watch': watched,
        'app_servers': servers,
        'guard': guard,
        'groups': groups,
        'growth': growth(top.get('samples') if top else None, options['sample_seconds'], names)[:limit],
        'gaps': collector.gaps,
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


def run(argv, env):
    import subprocess  # only here: the module runs its commands through AnsibleModule
    environ = dict(os.environ)
    environ.update(env)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=environ)
    out, err = proc.communicate()
    return proc.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


def main(options, out=None):
    out = out or sys.stdout
    try:
        result = {'collected': collect(options, run, which)}
    except (ParseError, CollectError) as err:
        result = {'failed': True, 'msg': 'cannot read this host\'s memory figures: %s' % err}
    json.dump(result, out, separators=(',', ':'))
    out.write('\n')
