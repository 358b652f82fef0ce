"""The OOM killer's history: kernel and systemd log lines grouped into one event per kill.

Matches every line form by pattern, not by kernel version (2.6.32 to 6.x: the captures and published
reports under tests/fixtures/kernel/, listed with their kernels in its README.md), under the prefixes
each source puts before a line (log_prefix.py: dmesg, journalctl, rsyslog, syslog-ng, busybox). Only
the kernel's own lines make a kill, and systemd's (PID 1) its unit lines; which lines those are is
the source's to say (log_prefix), and a source that cannot tell (a syslog file: any local user can
write a line with the ident "kernel") gives kills that are not judged unless the kernel's own record
holds them (``trusted`` False; :func:`collect_oom_history`).
A log is mostly noise: lines that are not OOM lines are skipped, never an error. Input may be a string
or any iterable of lines (an open file), so a big log is never held in memory.
"""

import calendar
import os
import re
import time as _time

from ..units import KIB
from .kernel import stands_for_machine
from .early_oom import feed as early_feed, new_state as early_state
from .log_prefix import EARLY_KILLERS, JOURNAL_FIELDS, KILLER_UNITS, journal_record, parser
from .oom_dump import Dump


def _num(name):
    # a comma can sneak in when logs are pasted through tools that group digits
    return r'(?P<%s>\d[\d,]{0,26})' % name


_INVOKED = re.compile(r'^(?P<comm>.+?) invoked oom-killer: gfp_mask=(?P<gfp>[^,]+(?:\([^)]*\))?),'
                      r'(?: nodemask=\S+,)? order=(?P<order>-?\d{1,20}),.*?oom_score_adj=(?P<adj>-?\d{1,20})', re.ASCII)
_SELECT = re.compile(r'^(?P<where>Memory cgroup out of memory|Out of memory(?: \([^)]*\))?): '
                     r'Kill process (?P<pid>\d{1,20}) \((?P<comm>.*)\) score (?P<score>\d{1,20})'
                     r' or sacrifice child', re.ASCII)
_KILLED = re.compile(
    r'^(?:(?P<where>Memory cgroup out of memory|Out of memory(?: \((?P<why>[^)]*)\))?): )?'
    r'Killed process (?P<pid>\d{1,20})(?:, UID (?P<uid_old>\d{1,20}),)? \((?P<comm>.*)\)'
    r'(?:, UID (?P<uid_mid>\d{1,20}))?,? (?:total-vm|vsz):' + _num('vm') + 'kB, anon-rss:' + _num('anon') +
    r'kB, file-rss:' + _num('file') + r'kB(?:, shmem-rss:' + _num('shmem') + r'kB)?'
    r'(?:, UID:(?P<uid>\d{1,20}))?(?: pgtables:\s*' + _num('pgt') + r'kB)?(?: oom_score_adj:(?P<adj>-?\d{1,20}))?', re.ASCII)
_REAPED = re.compile(r'^oom_reaper: reaped process (?P<pid>\d{1,20}) \((?P<comm>.*)\), now anon-rss:', re.ASCII)
_SUMMARY = re.compile(r'^oom-kill:constraint=(?P<constraint>CONSTRAINT_\w+),(?P<rest>.*)$', re.ASCII)
_SUMMARY_TASK = re.compile(r',task=(?P<comm>.*),pid=(?P<pid>\d{1,20}),uid=(?P<uid>\d{1,20})\s*$', re.ASCII)
_TASK_IN = re.compile(r'^Task in (?P<task>\S+) killed as a result of limit of (?P<memcg>\S+)', re.ASCII)
_UNIT_KILLED = re.compile(r'^(?P<unit>\S+): A process of this unit has been killed by the OOM killer', re.ASCII)
_UNIT_FAILED = re.compile(r"^(?P<unit>\S+): Failed with result 'oom-kill'", re.ASCII)
# systemd 250+ words it differently for the kernel's kills in a unit
_UNIT_KERNEL = re.compile(r'^(?P<unit>\S+): The kernel OOM killer killed some processes in this unit', re.ASCII)

_CONSTRAINTS = {'CONSTRAINT_NONE': 'global', 'CONSTRAINT_MEMCG': 'cgroup',
                'CONSTRAINT_CPUSET': 'cpuset', 'CONSTRAINT_MEMORY_POLICY': 'mempolicy'}

# cheap test before any regex: a line without these cannot be an OOM line (an early OOM killer's line
# carries its name in its prefix or its journal fields: earlyoom and systemd-oomd hold 'oom')
_HINTS = ('oom', 'Out of memory', 'Killed process', 'Kill process', 'Task in ', 'OOM killer', 'nohang')


def _hinted(text):
    """Whether ``text`` holds one of _HINTS: spelled out, it costs a log's every line 40% less than any()
    over the tuple (bench/bench_oom_parse.py)."""
    return ('oom' in text or 'Out of memory' in text or 'Killed process' in text or 'Kill process' in text
            or 'Task in ' in text or 'OOM killer' in text or 'nohang' in text)


def _kib(text):
    return None if text is None else int(text.replace(',', '')) * KIB


def _new_event(time, uptime, trusted):
    return {'killer': 'kernel', 'time': time, 'uptime': uptime, 'pid': None, 'comm': None, 'uid': None,
            'total_vm': None, 'anon_rss': None, 'file_rss': None, 'shmem_rss': None,
            'pgtables': None, 'oom_score_adj': None, 'score': None, 'constraint': None,
            'memcg': None, 'task_memcg': None, 'invoked_by': None, 'gfp_mask': None,
            'order': None, 'unit': None, 'unit_result': None, 'slices': [], 'reaped': False,
            'source_lines': 0, 'cut': False, 'postmortem': None, 'trusted': trusted, 'unit_failed_at': None}


def _iter_lines(source):
    """The lines of ``source`` (text, or an iterable of lines such as a file), each with its end: text is
    walked in place, not copied (io.StringIO would hold a second copy of 8 MiB of a journal)."""
    if not isinstance(source, str):
        return source
    return _text_lines(source)


def _text_lines(text):
    start, length = 0, len(text)
    while start < length:
        end = text.find('\n', start)
        end = length if end < 0 else end + 1
        yield text[start:end]
        start = end


def _unit_matches(event, unit):
    memcg = event['task_memcg'] or event['memcg']
    if memcg is None:
        return True
    return memcg.endswith('/' + unit) or ('/' + unit + '/') in memcg


# journalctl -o json: '"MESSAGE":[' (older releases print '"MESSAGE" : [')
_BYTES_MESSAGE = re.compile(r'"MESSAGE" ?: ?\[')
# Sources that tell the kernel's lines (and systemd's) from anyone's: log_prefix's doc says how.
TRUSTED_ORIGINS = ('journal', 'journal-text', 'dmesg')


def _reader(origin):
    """``read(raw) -> (writer, stamp, uptime, message)`` (writer None: not the kernel's nor systemd's)
    and ``hinted(raw)``, the cheap test that a raw line may hold an OOM line, for ``origin``."""
    if origin == 'journal':
        def hinted(raw):
            # a message that is not printable UTF-8 comes as an array of bytes: read it to know
            return _hinted(raw) or _BYTES_MESSAGE.search(raw) is not None

        def read(raw):
            return journal_record(raw) or (None, None, None, '')
        return read, hinted
    parse = parser(origin)
    # a multi-line record's other lines come indented with no prefix (journalctl print_multiline(),
    # util-linux dmesg): they are the line before's
    continued = origin in ('syslog', 'journal-text')
    last = [None]

    def read(raw):
        line = raw.rstrip('\r\n')
        if line[:1] == '\ufeff':  # a paste that starts with a byte-order mark
            line = line[1:]
        if continued and line[:1] in (' ', '\t'):
            return last[0], None, None, line
        writer, stamp, uptime, end = parse(line)
        last[0] = writer
        return writer, stamp, uptime, line[end:]

    def hinted(raw):
        return _hinted(raw)
    return read, hinted


def _unit_line(events, match, time, uptime, trusted, seen, last_touched):
    """Fold one of systemd's unit lines into ``events``; returns when an event was last touched."""
    unit = match.group('unit')
    recent = events[-1] if events and seen - last_touched <= 16 else None
    if unit.endswith('.slice'):
        # systemd repeats the kill for every slice above the unit: context, not a new kill
        if recent is not None:
            recent['slices'].append(unit)
            recent['source_lines'] += 1
            return last_touched
        target = _new_event(time, uptime, trusted)
        target['slices'].append(unit)
        events.append(target)
    else:
        target = None
        # the kernel's kill raised the unit's memory.events oom_kill; "Failed with result 'oom-kill'"
        # also follows systemd-oomd's kill of the unit (service.c service_notify_cgroup_oom_event)
        killers = ('kernel', 'systemd-oomd') if match.re is _UNIT_FAILED else ('kernel',)
        for event in reversed(events[-8:]):
            if event['killer'] in killers and (
                    event['unit'] == unit or (event['unit'] is None and _unit_matches(event, unit))):
                target = event
                break
        if target is None:
            target = _new_event(time, uptime, trusted)
            events.append(target)
        target['unit'] = unit
        if match.re is _UNIT_FAILED:
            target['unit_result'] = 'oom-kill'
            target['unit_failed_at'] = time
    target['source_lines'] += 1
    return seen


def parse_oom_log(source, page_size=4096, origin=None, keep=None, stats=None):
    """One dict per OOM kill found in ``source`` (text or an iterable of lines), oldest first.

    ``origin`` says what the text is (log_prefix.ORIGINS: 'journal' for journalctl -o json, 'journal-text'
    for its short formats of kernel lines, 'dmesg', 'syslog' for a syslog daemon's file, None for a
    paste): it decides the prefixes read and which lines are the kernel's and systemd's; all others are
    skipped, whatever they say.
    Keys: time (the line's raw timestamp: syslog/journal/dmesg -T stamp, else the [uptime] one),
    uptime (seconds since boot when the kernel stamped it), pid, comm, uid, total_vm, anon_rss,
    file_rss, shmem_rss, pgtables (bytes), oom_score_adj (of the victim), score (old kernels),
    constraint ('global', 'cgroup', 'cpuset', 'mempolicy'), memcg (the cgroup whose limit was hit),
    task_memcg (the victim's cgroup), invoked_by (comm of the allocating task), gfp_mask, order,
    unit, unit_result and slices (from systemd), reaped, source_lines (lines that made up the event),
    cut (its report began before the log's first line: :func:`collect_oom_history` sets it),
    postmortem (what held memory then, from the report's task dump and memory block, in bytes with
    ``page_size``: :meth:`oom_dump.Dump.result`; None when the log kept no such lines), trusted
    (whether the source tells who wrote a line: TRUSTED_ORIGINS; a syslog file or a paste cannot).
    Events that only systemd reported (no kernel lines in the input) have pid None.
    With ``keep``, only the newest ``keep`` events are kept (memory: a 16 MiB log of forged kill lines
    holds 50,000 of them); ``stats['dropped']`` says how many older ones were not.
    """
    read, hinted = _reader(origin)
    dropped = 0
    trusted = origin in TRUSTED_ORIGINS
    events = []
    pending = None  # the kill being described, until its "Killed process" line
    dump = None  # the task dump and memory block of the report that pending's invoking line opened

    def flush():
        if pending is not None and (pending['pid'] is not None or pending['unit'] is not None):
            events.append(pending)

    seen = 0  # OOM lines so far: how close a systemd line is to the kill it reports
    last_touched = -100
    early = early_state()
    for raw in _iter_lines(source):
        if not hinted(raw):
            if dump is not None:  # inside a report: its dump and memory lines name no OOM
                writer, _stamp, _uptime, message = read(raw)
                if writer == 'kernel':
                    dump.feed(message)
                if dump.lines > DUMP_LINES:  # an invoking line whose kill never came: stop listening
                    dump = None
            continue
        writer, stamp, uptime, message = read(raw)
        if writer is None:
            continue
        if keep is not None and len(events) > 2 * keep:
            dropped += len(events) - keep
            del events[:len(events) - keep]
        if writer in EARLY_KILLERS:  # an early OOM killer's own line: its words, whatever the hints
            when = float(uptime) if uptime else None
            # the journal's time to the microsecond tells earlyoom's lines apart from its victim's command line
            at = stamp_epoch(stamp) if origin == 'journal' and stamp else None
            if early_feed(events, early, writer, message, stamp or uptime, when, trusted, _new_event, at):
                seen += 1
            continue
        if not _hinted(message):  # the hint was in the prefix or a field
            if dump is not None and writer == 'kernel':
                dump.feed(message)
            continue
        seen += 1
        time = stamp or uptime
        uptime = float(uptime) if uptime else None
        if writer == 'systemd':
            if early_feed(events, early, writer, message, time, uptime, trusted, _new_event):
                last_touched = seen
                continue
            match = (_UNIT_KILLED.match(message) or _UNIT_KERNEL.match(message)
                     or _UNIT_FAILED.match(message))
            if match:
                last_touched = _unit_line(events, match, time, uptime, trusted, seen, last_touched)
            continue

        match = _INVOKED.match(message)
        if match:
            flush()
            pending = _new_event(time, uptime, trusted)
            dump = Dump(page_size)
            pending.update(invoked_by=match.group('comm'), gfp_mask=match.group('gfp'),
                           order=int(match.group('order')), source_lines=1)
            continue

        match = _SELECT.match(message)
        if match:
            if pending is None or pending['score'] is not None or pending['pid'] is not None:
                flush()
                pending = _new_event(time, uptime, trusted)
                dump = None
            pending['score'] = int(match.group('score'))
            pending['selected'] = int(match.group('pid'))
            pending['constraint'] = pending['constraint'] or (
                'cgroup' if match.group('where').startswith('Memory cgroup') else None)
            pending['source_lines'] += 1
            continue

        match = _TASK_IN.match(message)
        if match:
            if pending is None or pending['pid'] is not None:
                flush()
                pending = _new_event(time, uptime, trusted)
                dump = None
            pending.update(task_memcg=match.group('task'), memcg=match.group('memcg'),
                           constraint='cgroup')
            pending['source_lines'] += 1
            continue

        match = _SUMMARY.match(message)
        if match:
            rest = match.group('rest')
            task = _SUMMARY_TASK.search(rest)
            pid = int(task.group('pid')) if task else None
            if pending is None or (pending['pid'] is not None and pending['pid'] != pid):
                flush()
                pending = _new_event(time, uptime, trusted)
                dump = None
            constraint = match.group('constraint')
            pending['constraint'] = _CONSTRAINTS.get(constraint, constraint.lower())
            memcg = re.search(r'(?:^|,)oom_memcg=([^,]*)', rest, flags=re.ASCII)
            task_memcg = re.search(r'(?:^|,)task_memcg=([^,]*)', rest, flags=re.ASCII)
            if memcg:
                pending['memcg'] = memcg.group(1)
            if task_memcg:
                pending['task_memcg'] = task_memcg.group(1)
            if task:
                pending.update(pid=pid, comm=task.group('comm'), uid=int(task.group('uid')))
            pending['source_lines'] += 1
            continue

        match = _KILLED.match(message)
        if match:
            pid = int(match.group('pid'))
            # On old kernels the selected task may sacrifice a child: a different pid, same kill.
            if pending is None or (pending['pid'] is not None and pending['pid'] != pid):
                flush()
                pending = _new_event(time, uptime, trusted)
                dump = None
            if dump is not None:
                pending['postmortem'] = dump.result()
                dump = None
            groups = match.groupdict()
            uid = groups['uid'] or groups['uid_old'] or groups['uid_mid']
            where = groups['where'] or ''
            if pending['constraint'] is None:
                if where.startswith('Memory cgroup'):
                    pending['constraint'] = 'cgroup'
                elif where == 'Out of memory' or pending['score'] is not None:
                    pending['constraint'] = 'global'
            pending.update(
                pid=pid, comm=groups['comm'],
                uid=int(uid) if uid is not None else pending['uid'],
                total_vm=_kib(groups['vm']), anon_rss=_kib(groups['anon']),
                file_rss=_kib(groups['file']), shmem_rss=_kib(groups['shmem']),
                pgtables=_kib(groups['pgt']),
                oom_score_adj=int(groups['adj']) if groups['adj'] is not None else None)
            if groups['why']:
                pending['killed_allocating_task'] = True
            pending['source_lines'] += 1
            pending.pop('selected', None)
            events.append(pending)
            pending = None
            last_touched = seen
            continue

        match = _REAPED.match(message)
        if match:
            pid = int(match.group('pid'))
            for event in reversed(events[-8:]):
                if event['pid'] == pid:
                    event['reaped'] = True
                    event['source_lines'] += 1
                    break
            continue

        if dump is not None:  # a task whose name holds 'oom' (systemd-oomd) is still a task
            dump.feed(message)

    flush()
    if keep is not None and len(events) > keep:
        dropped += len(events) - keep
        del events[:len(events) - keep]
    for event in events:
        event.pop('selected', None)
    if stats is not None:
        stats['dropped'] = dropped
    return events


# The kills a source keeps, newest first: about 16 MB of events at most (a 16 MiB log of forged kill
# lines would hold 50,000); the kernel's counter still counts every kill of this boot.
MAX_EVENTS = 10000

# A report's lines from its invoking line to its kill: a task per process, so a host with a few
# thousand processes prints that many; past this, the kill never came (an allocation succeeded).
DUMP_LINES = 65536


# Lines the commands must keep: the kernel's kill lines and systemd's unit lines, and the early OOM
# killers' (early_oom's forms: earlyoom's "sending SIG..", "Killing process", what follows a kill and
# what made it act; systemd-oomd's "Killed /..", "Marked /..", 247's trigger lines and PID 1's "systemd-oomd
# killed"; nohang's victim status and "Sending SIG.. to the victim"). The daemons' words are read only
# from the daemons' own units (log_prefix), so anything they match elsewhere is skipped.
OOM_PATTERN = ("invoked oom-killer|Out of memory|Killed process|oom-kill|oom_reaper|"
               "killed as a result of limit|killed by the OOM killer|kernel OOM killer|"
               "systemd-oomd killed|sending SIG|Killing process|escalating to SIGKILL|exited after|did not exit|kill failed|dryrun|"
               "ow [Mm]emory! [Aa]t or below|mem avail: |Killed /|Marked /|Memory pressure for|Swap used|"
               "Victim status|PID: +[0-9]+, name:|badness: +-?[0-9]+, oom_score:|Vm, MiB:|cgroup_v[12]:|Sending SIG|Selected process died|"
               "Cannot send a signal")
# journalctl without --grep prints every kernel line: keep the last ones only
JOURNAL_LINES = 20000
# --grep keeps a kill's own lines, not its task dump: the newest kills' reports are read again, each
# from the kernel's lines of a few seconds around it (one journalctl each)
JOURNAL_POSTMORTEMS = 5
# the kills a window of 15 s may hold that are kept while its one kill is looked for: more is a flood
WINDOW_EVENTS = 1000


# journalctl -o json with only the fields that say who wrote a line (--output-fields: systemd 236+;
# --grep needs 237+, so the command that uses one has the other)
_JSON = ['-o', 'json', '--output-fields=' + ','.join(JOURNAL_FIELDS)]


def oom_log_commands(since=None):
    """The commands to try for the OOM history, best first: ``[{'argv', 'reason', 'origin'}]``.

    :func:`collect_oom_history` runs them with the fallbacks and parses each with its ``origin``
    (log_prefix). A command that "succeeds" may still have nothing to say: journalctl exits 0 with no
    output on a host without journal files, and ``--grep`` exits 1 both when nothing matches and when
    the option is unknown. ``since`` is a journalctl time spec (``'-30d'``, ``'2026-11-01'``) bounding
    how far back to look.
    """
    window = ['--since', since] if since else []
    return [
        # No -n here: systemd 247 applies -n before --grep (`-n 2 --grep x` printed nothing with
        # five matches in the journal) and 257 prints the -n matches newest first. The grep keeps
        # the output to the OOM lines; --since bounds it further. The matches keep every line a
        # user can write out (_TRANSPORT and _PID are journald's own fields); JSON carries them
        # and the facility, so that each line is judged by who wrote it, not by what it says.
        {'argv': ['journalctl', '--no-pager', '-q'] + _JSON + window
         + ['--grep', OOM_PATTERN, '_TRANSPORT=kernel', '+', '_PID=1']
         + [word for unit in KILLER_UNITS for word in ('+', '_SYSTEMD_UNIT=' + unit)],
         'origin': 'journal',
         'reason': 'persistent journal, all boots, kernel lines plus systemd unit results and the early OOM '
                   'killers\' own lines; --grep needs systemd 237+ built with pcre2'},
        # Without --output-fields, JSON would print every field of 20000 lines: the short format,
        # and the ident "kernel", which only the kernel (or root writing /dev/kmsg) has here.
        {'argv': ['journalctl', '--no-pager', '-q', '-o', 'short-iso', '-k', '-n', str(JOURNAL_LINES)]
         + window,
         'origin': 'journal-text',
         'reason': 'journalctl without --grep (systemd < 237, e.g. RHEL/CentOS 7): this boot\'s '
                   'kernel lines, filtered here; bounded to the last 20000 lines'},
        # -r: each line's "<N>" says its facility, and only facility 0 is the kernel's (util-linux
        # since 2.20, busybox and toybox dmesg); wall-clock times come from the boot time
        {'argv': ['dmesg', '-r'], 'origin': 'dmesg',
         'reason': 'no journal: the kernel ring buffer, raw, with each line\'s facility (lost on '
                   'reboot; needs root when kernel.dmesg_restrict=1)'},
        {'argv': ['dmesg'], 'origin': 'dmesg',
         'reason': 'a dmesg without -r: seconds since boot, no facility'},
    ]


LOG_FILES = ('/var/log/kern.log', '/var/log/messages', '/var/log/syslog')
# How much of a log file's end is read. A kill is ~10 lines that matter (about 2 KiB in a 100-line
# dump), so 16 MiB of kern.log spans months on a quiet host; /var/log/messages (everything on RHEL)
# covers less. The tail is streamed line by line, so this bounds I/O time, not memory.
TAIL_BYTES = 16 * 1024 * 1024


def oom_log_files(root='/'):
    """The syslog files present on this host that can hold kernel lines."""
    return [path for path in LOG_FILES
            if os.path.isfile(os.path.join(root, path.lstrip('/')))]


def read_log_tail(path, max_bytes=TAIL_BYTES):
    """Lines of the last ``max_bytes`` of a log file, as a generator (pass it to parse_oom_log).

    The first, partial line of the window is dropped. Undecodable bytes are replaced: a log may
    carry anything.
    """
    with open(path, 'rb') as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        start = max(size - max_bytes, 0)
        handle.seek(start)
        if start:
            handle.readline()
        for line in handle:
            yield line.decode('utf-8', 'replace')


# ---------------------------------------------------------------- when, and whose

# RFC 3339 and journalctl short-iso (zone +0000 or +00:00), util-linux dmesg --time-format iso (",usec"),
# journalctl short-full "Mon 2026-12-07 10:00:00 UTC" (a zone name: UTC, or the host's own)
_ISO = re.compile(r'^(?:[A-Z][a-z]{2} )?(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?'
                  r'(?: ?(Z|UTC|GMT|[+-]\d\d(?::?\d\d)?|[A-Za-z]{2,6}))?$', re.ASCII)
MONTHS = dict((name, number) for number, name in enumerate(
    ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'), 1))
# syslog "Dec  1 22:54:21" (journalctl short "Dec 01", with fractions), dmesg -T "Tue Dec  1 22:54:21 2026",
# syslog-ng ts_format(full) "2026 Dec  1 22:54:21", dmesg -e "Dec 1 22:54" / "Dec17 22:54" (no seconds)
_CTIME = re.compile(r'^(?:[A-Z][a-z]{2} )?(?:(\d{4}) )?([A-Z][a-z]{2}) {0,2}(\d{1,2}) (\d\d):(\d\d)(?::(\d\d))?(?:\.\d{1,9})?'
                    r'(?: (\d{4}))?$', re.ASCII)
# journalctl short-unix "%10ld.%06lu", syslog-ng ts_format(unix)
_UNIX = re.compile(r'^(\d{9,11})(?:\.(\d{1,9}))?$', re.ASCII)


def stamp_epoch(stamp, uptime=None, btime=None, now=None):
    """Seconds since the epoch of a log line's time, or None when it cannot be known.

    ``stamp`` is the raw time parse_oom_log keeps: ISO 8601 (journal short-iso, RFC 3339; without a
    zone it is local time), ``dmesg -T``'s ``Tue Dec  1 22:54:21 2026`` or syslog's ``Dec  1 22:54:21``
    (local time; syslog has no year: the latest one not in the future), seconds since the epoch
    (short-unix). ``uptime`` (the kernel's own stamp) with the boot time ``btime`` (/proc/stat) is used
    when there is no wall-clock stamp.
    """
    now = _time.time() if now is None else now
    if stamp:
        match = _ISO.match(stamp)
        if match:
            fields = [int(g) for g in match.groups()[:6]]
            if not _valid(fields[1:]):
                return None
            fraction = float('0.' + match.group(7)) if match.group(7) else 0.0
            zone = match.group(8)
            try:
                if zone is None or (zone[0] not in '+-' and zone not in ('Z', 'UTC', 'GMT')):
                    if zone is not None and zone not in _time.tzname:
                        return None  # another zone's name: its offset is not known here
                    return _time.mktime(tuple(fields) + (0, 0, -1)) + fraction
                offset = 0 if zone[0] not in '+-' else (1 if zone[0] == '+' else -1) * (
                    int(zone[1:3]) * 3600 + (int(zone[-2:]) * 60 if len(zone) > 3 else 0))
                return calendar.timegm(tuple(fields) + (0, 0, 0)) + fraction - offset
            except (OverflowError, ValueError):
                return None
        match = _CTIME.match(stamp)
        if match and match.group(2) in MONTHS:
            month, day = MONTHS[match.group(2)], int(match.group(3))
            clock = [int(match.group(4)), int(match.group(5)), int(match.group(6) or 0)]
            year = match.group(1) or match.group(7)
            years = [int(year)] if year else [_time.localtime(now).tm_year - k for k in (0, 1)]
            for candidate in years:
                epoch = local_epoch(candidate, month, day, *clock)
                if epoch is None:
                    return None
                if year or epoch <= now + 86400:
                    return epoch
            return None
        match = _UNIX.match(stamp)
        if match:
            return int(match.group(1)) + (float('0.' + match.group(2)) if match.group(2) else 0.0)
    if uptime is not None and btime is not None:
        return btime + uptime
    return None


def local_epoch(year, month, day, hour, minute, second):
    """Seconds since the epoch of a local wall-clock time, or None when a field is out of its range
    (mktime would roll 99:99 over into tomorrow) or the year is beyond what the platform holds."""
    if not _valid([month, day, hour, minute, second]):
        return None
    try:
        return _time.mktime((year, month, day, hour, minute, second, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def _valid(fields):
    """month, day, hour, minute, second in their ranges: mktime would roll 99:99 over into tomorrow."""
    ranges = ((1, 12), (1, 31), (0, 23), (0, 59), (0, 60))
    return all(low <= value <= high for value, (low, high) in zip(fields, ranges))


def attribute(event, scope, container_id=None):
    """Whether a kill the kernel logged happened inside the cgroup ``scope``.

    ``scope`` is the container's cgroup as the kernel names it (``/docker/<id>``); the kernel writes
    the victim's cgroup in the kill's summary line (4.19+) or ``Task in ... killed as a result of
    limit of ...`` (older). Under a cgroup namespace the container sees its own cgroup as ``/`` and
    the kernel's name for it is unknown: ``container_id`` (Docker's, podman's) then matches it. A scope
    of ``/`` with no container id is the whole hierarchy (a container that sees the machine's cgroups
    as its own): every kill is in it.
    Returns True, False, or None when the line names no cgroup (a global OOM on an old kernel).
    """
    paths = [path for path in (event.get('task_memcg'), event.get('memcg')) if path]
    if not paths:
        return None
    if stands_for_machine(scope, container_id):
        return True
    prefix = scope.rstrip('/') + '/' if scope and scope != '/' else None
    for path in paths:
        if prefix is not None and (path == scope or path.startswith(prefix)):
            return True
        if container_id and container_id in path:
            return True
    return False


def ring_buffer_wrapped(text, btime=None, now=None):
    """True when dmesg's output no longer starts at boot: the ring buffer dropped older lines.

    The kernel's first line is stamped ``[    0.000000]``; when the first line left is stamped later
    than a minute after boot, the kills before it may be lost. None when it cannot be told.
    """
    parse = parser('dmesg')
    for line in _iter_lines(text):
        line = line.rstrip('\r\n')
        if not line.strip():
            continue
        _writer, stamp, uptime, _end = parse(line)
        if uptime:
            return float(uptime) > 60
        if stamp and btime is not None:
            epoch = stamp_epoch(stamp, now=now)
            return None if epoch is None else epoch > btime + 60
        return None
    return None


def _key(event):
    return (event['pid'], event['comm'], event['total_vm'], event['anon_rss'], event['unit'])


def journal_window_command(epoch):
    """journalctl's kernel lines from 10 s before ``epoch`` to 5 s after, as JSON (a kill's report)."""
    return ['journalctl', '--no-pager', '-q'] + _JSON + ['--since', '@%d' % (epoch - 10), '--until', '@%d' % (epoch + 5),
                                                         '_TRANSPORT=kernel']


def journal_postmortems(run, events, btime=None, page_size=4096, limit=JOURNAL_POSTMORTEMS):
    """Give the newest ``limit`` kernel kills in ``events`` (from journalctl --grep) their
    postmortem: the kernel's journal lines from 10 s before each kill to 5 s after, parsed, and
    the kill with the same pid taken. A window that cannot be read leaves its kill without one."""
    wanted = [event for event in events if event['pid'] is not None and event['postmortem'] is None]
    for event in wanted[-limit:] if limit else []:
        epoch = stamp_epoch(event['time'], event['uptime'], btime)
        if epoch is None:
            continue
        try:
            rc, out, _err = run(journal_window_command(epoch))
        except OSError:
            continue
        if rc != 0:
            continue
        for found in parse_oom_log(out, page_size, origin='journal', keep=WINDOW_EVENTS):
            if found['pid'] == event['pid'] and found['postmortem'] is not None:
                event['postmortem'] = found['postmortem']
                break


# What journalctl prints when it cannot --grep, by release (its exit status is 1 in each case, as when
# nothing matched): glibc getopt_long "journalctl: unrecognized option '--grep'" (systemd < 237; < 236
# stops first at "--output-fields=..."); journalctl.c parse_argv() "Compiled without pattern matching
# support" (237-251 built without PCRE2); src/journal/pcre2-dlopen.c "PCRE2 support is not installed:
# <dlerror>" (247-251, libpcre2-8.so.0 missing); src/shared/pcre2-util.c "PCRE2 support is not compiled
# in." (252+ built without). 252+ with the library missing says nothing at all (dlfcn-util.c
# dlopen_many_sym_or_warn_sentinel() logs it at debug level only): exit 1, no output, exactly as a grep
# that matched nothing, which :func:`journal_has_kernel_lines` tells apart.
_GREP_UNSUPPORTED = ('unrecognized option', 'invalid option', 'Compiled without pattern matching',
                     'PCRE2 support is not')


def grep_answer(rc, error):
    """What ``journalctl --grep`` meant by an answer with nothing on stdout: 'nothing' (exit 1, or 0, and
    not a word on stderr: nothing matched, or one of the silent failures journal_has_kernel_lines() rules
    out), 'unsupported' (this journalctl cannot --grep: _GREP_UNSUPPORTED) or 'failed' (anything else)."""
    error = error or ''
    if any(words in error for words in _GREP_UNSUPPORTED):
        return 'unsupported'
    if rc in (0, 1) and not error.strip():
        return 'nothing'
    return 'failed'


def grep_probe_command():
    """The newest one of the journal's kernel lines, through --grep with a pattern every line matches:
    it prints a line only when --grep works on this journalctl and the journal (that this user can read)
    holds the kernel's lines. journalctl with -q says nothing on stderr when it finds no journal file
    (journal-util.c journal_access_check_and_warn: "No journal files were found." only without -q) nor
    when the user may read only its own journal; both then exit 1 on --grep, like a search that found
    nothing. -n 1: systemd 247 applies it before --grep (the last line, matched), 252+ searches backwards
    until one line is printed."""
    return ['journalctl', '--no-pager', '-q', '-o', 'json', '--output-fields=_TRANSPORT', '-n', '1',
            '--grep', '^', '_TRANSPORT=kernel']


def journal_has_kernel_lines(run, tried):
    """Whether :func:`grep_probe_command` prints a kernel line (what it answered goes to ``tried``)."""
    argv = grep_probe_command()
    try:
        rc, out, err = run(argv)
    except OSError as exc:
        rc, out, err = None, '', str(exc)
    found = rc == 0 and '"_TRANSPORT"' in out
    tried.append({'argv': argv, 'rc': rc, 'error': (err or '').strip()[:300], 'empty': not out.strip(),
                  'probe': True, 'found': found})
    return found


def _kept(stats, source, incomplete):
    if stats.get('dropped'):
        incomplete.append('%s: %d older kill(s) not kept (only the newest %d are)' % (source, stats['dropped'], MAX_EVENTS))


# The report's note for a source that cannot tell who wrote a line (collect_oom_history's 'unverified').
UNVERIFIED_NOTE = ('%s is a syslog file: it holds what any local process sends to /dev/log, and any user can '
                   'send a line with the ident "kernel" (logger -t kernel, or facility kern straight to the '
                   'socket), so it cannot tell the kernel\'s lines from forged ones. Its kills are shown as '
                   'unconfirmed and not judged, unless the kernel\'s own record (its ring buffer, this boot) '
                   'holds the same kill')


def collect_oom_history(run, since=None, root='/', max_bytes=TAIL_BYTES, btime=None, page_size=4096):
    """The OOM history from the best source this host has.

    ``run(argv)`` returns ``(rc, stdout, stderr)`` like ``AnsibleModule.run_command`` (called with
    LC_ALL=C); an OSError from it (no such program) counts as a failed source. The journal, when it
    answers, holds every boot: it is used alone. Without it, the ring buffer (this boot) and the tail
    of the first syslog file (earlier boots) are merged: a kill the file holds counts only when the
    ring buffer holds it too (then it is the ring buffer's); the file's others stay ``trusted`` False.

    Returns ``{'sources': [what was read], 'events': [...], 'tried': [{'argv', 'rc', 'error'}],
    'incomplete': [why kills may be missing], 'unverified': [{'source', 'note'}: sources that cannot
    tell who wrote a line]}``. ``btime`` (boot time) tells a wrapped ring buffer.
    Each kill's ``postmortem`` comes from its report's task dump (``page_size`` bytes a page): read
    with the kill from dmesg and log files, and for the journal by :func:`journal_postmortems`.
    """
    tried = []
    incomplete = []
    commands = oom_log_commands(since)

    def attempt(command):
        try:
            rc, out, err = run(command['argv'])
        except OSError as exc:
            rc, out, err = None, '', str(exc)
        if rc == 0 and out.strip():
            return out
        # journalctl --grep exits 1 when nothing matches, and 0 with nothing to print: an answer, no failure
        empty = not out.strip() and not (err or '').strip() and rc in (0, 1)
        tried.append({'argv': command['argv'], 'rc': rc, 'error': (err or '').strip()[:300], 'empty': empty})
        return None

    for command in commands[:2]:
        out = attempt(command)
        if out is None and command is commands[0]:
            grep = grep_answer(tried[-1]['rc'], tried[-1]['error'])
            tried[-1]['grep'] = grep
            if grep == 'nothing' and journal_has_kernel_lines(run, tried):
                # --grep works on a journal that holds the kernel's lines, and none was a kill
                del tried[-2:]
                return {'sources': [' '.join(command['argv'])], 'events': [], 'tried': tried,
                        'incomplete': incomplete, 'unverified': []}
            continue
        if out is not None:
            stats = {}
            events = parse_oom_log(out, page_size, command['origin'], MAX_EVENTS, stats)
            del out
            _kept(stats, command['argv'][0], incomplete)
            if command is commands[1]:
                why = next((t['error'] for t in tried if t.get('grep') == 'unsupported'), None)
                incomplete.append('journalctl without --grep%s: only the last %d kernel lines of this boot'
                                  % (' (%s)' % why if why else '', JOURNAL_LINES))
            else:
                journal_postmortems(run, events, btime, page_size)
            return {'sources': [' '.join(command['argv'])], 'events': events,
                    'tried': tried, 'incomplete': incomplete, 'unverified': []}

    sources = []
    unverified = []
    logged = []
    for path in oom_log_files(root)[:1]:
        try:
            full = os.path.join(root, path.lstrip('/'))
            stats = {}
            logged = parse_oom_log(read_log_tail(full, max_bytes), page_size, 'syslog', MAX_EVENTS, stats)
            _kept(stats, path, incomplete)
            sources.append(path)
            unverified.append({'source': path, 'note': UNVERIFIED_NOTE % path})
            if os.path.getsize(full) > max_bytes:
                incomplete.append('%s: only its last %d MiB read' % (path, max_bytes // 1048576))
        except OSError as exc:
            tried.append({'argv': [path], 'rc': None, 'error': str(exc)})
    ring = []
    for command in commands[2:]:
        out = attempt(command)
        if out is not None:
            sources.append(' '.join(command['argv']))
            stats = {}
            ring = parse_oom_log(out, page_size, command['origin'], MAX_EVENTS, stats)
            _kept(stats, 'dmesg', incomplete)
            wrapped = ring_buffer_wrapped(out, btime)
            if wrapped and ring and ring[0]['pid'] is not None and ring[0]['invoked_by'] is None:
                # every kernel opens a report with its "invoked oom-killer" line: without it, the
                # wrap took the report's start, and with it, on 4.19+, the line naming the cgroup
                ring[0]['cut'] = True
            if wrapped is not False:
                incomplete.append('the kernel ring buffer (dmesg) %s: older kills are lost unless a log '
                                  'file kept them' % ('has wrapped' if wrapped else 'may have wrapped'))
            break
    # the file's copy of a kill the ring buffer holds is the ring buffer's: the kernel's own record
    confirmed = set(_key(event) for event in ring)
    events = [event for event in logged if _key(event) not in confirmed] + ring
    if not sources:
        incomplete.append('no kernel log could be read')
    return {'sources': sources, 'events': events, 'tried': tried, 'incomplete': incomplete,
            'unverified': unverified}
