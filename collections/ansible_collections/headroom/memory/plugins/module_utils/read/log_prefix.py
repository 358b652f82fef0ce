"""Where a log line's message starts, and who wrote it: the prefixes the kernel, dmesg, the syslog
daemons and journalctl put before a line, read per source.

A line counts as the kernel's only when its source can tell: the journal records the transport and
the facility (``-o json``), the ring buffer the facility (``dmesg -r``, ``-x``). A syslog file records
what any local process sent to /dev/log, so the most it says is the ident the sender claimed.
:func:`parser` gives, per origin, ``parse(line) -> (writer, stamp, uptime, end)`` where ``writer`` is
``'kernel'``, ``'systemd'`` (systemd as PID 1), one of :data:`EARLY_KILLERS` (the early OOM killers'
own lines: ``'earlyoom'``, ``'systemd-oomd'``, ``'nohang'``) or None (anyone else: the line is skipped), ``stamp`` the
raw wall-clock time (or None), ``uptime`` the kernel's own stamp, seconds since boot as printed (or
None), and ``end`` where the message starts. Origins:

- ``'journal'``: ``journalctl -o json`` (see :func:`journal_record`): kernel when ``_TRANSPORT=kernel``
  with facility kern, systemd when ``_PID=1`` and not kernel transport. Fields starting with ``_``
  are the journal's own: journald-native.c drops them from what a client sends
  (``journal_field_valid(p, e - p, false)``), and a process cannot claim another's pid over
  SCM_CREDENTIALS without CAP_SYS_ADMIN. A write to /dev/kmsg (root, or a container given the device)
  is ``_TRANSPORT=kernel`` too, but the kernel never lets userspace set facility kern (printk.c
  devkmsg_write: "If no prefix or no userspace facility is specified, we enforce LOG_USER, to be able to
  reliably distinguish kernel-generated messages from userspace-injected ones"), and journald keeps
  it: journald-kmsg.c sets ``SYSLOG_FACILITY`` for every kmsg record since systemd 2xx (older ones only
  for facilities other than kern, hence "absent or 0"). An early OOM killer's line is its own when
  journald put it under the daemon's unit (``_SYSTEMD_UNIT``, from the sender's cgroup: only root
  moves a process there) with the daemon's command name (``_COMM``, the kernel's: not a script the
  daemon started) and a process transport; the same words under any other unit are anyone's.
- ``'journal-text'``: journalctl's short formats of a ``_TRANSPORT=kernel`` query (``-k``): the ident
  must be ``kernel``. A root write to /dev/kmsg of ``kernel: ...`` looks the same here: only root.
- ``'dmesg'``: the ring buffer as a dmesg prints it; writes to /dev/kmsg need root. With ``-r`` (or the
  kernel's own syslog(2) text) each line starts ``<N>``, and only facility 0 is the kernel's; with ``-x``
  ``kern  :err   :``. No ident, and systemd's lines in the ring buffer are not read.
- ``'syslog'``: a syslog daemon's file; kernel when the ident is ``kernel`` (no pid), systemd when it is
  ``systemd[1]``, an early OOM killer when it is ``earlyoom[N]``, ``systemd-oomd[N]`` or ``nohang[N]``;
  whoever can write to /dev/log can claim all of them (see oom.UNVERIFIED_NOTE).
- None: a paste of unknown origin: the forms above in turn.
"""

import json
import re
import time

_DAY = r'(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)'
_MON = r'(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)'
_ISO = r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d(?::?\d\d)?)?'

# ------------------------------------------------------------------ the kernel's own stamps
# printk.c (print_time, print_caller; info_print_prefix): "[%5lu.%06lu]" with printk time on, then
# "[%6s]" of "T<pid>" or "C<cpu>" with CONFIG_PRINTK_CALLER (5.1+), with no space between them, then
# one space. The same text reaches syslog(2) and /proc/kmsg readers (util-linux dmesg -S, busybox
# dmesg and klogd, rsyslog imklog) after "<N>", N = facility * 8 + level.
_KTIME = r'\[ *\d{1,12}\.\d{1,9}\]'
_CALLER = r'\[ *[TC]\d{1,10}\]'
_KERNEL_STAMPS = r'(?:%s ?)?(?:%s ?)?' % (_KTIME, _CALLER)

# ------------------------------------------------------------------ dmesg
# util-linux sys-utils/dmesg.c print_record() (2.22-2.42; 2.20-2.21 printed the same forms without
# raw): "<%d>[%5ld.%06ld] " with -r; "%-6s:%-6s: " (facility:level) with -x; then the time:
# "[%5ld.%06ld] " (default), "[%s] " ctime "%a %b %e %H:%M:%S %Y" (-T, translated in other locales),
# "[%5ld.%06ld <%12.06f>] " and "[%s <%12.06f>] " (-d, -T -d), "[<%12.06f>] " (--time-format delta,
# 2.25+), "[%s] " of "%b%e %H:%M" then "[  %+8.06f] " / "[ %+9.06f] " (-e reltime, 2.22+), ISO
# "%Y-%m-%dT%H:%M:%S,%06d%z" (--time-format iso, 2.25-2.29: "+0000") or ",%06ld+00:00" (lib/timeutils
# strtimeval_iso, later); 2.41 may print several time formats one after another; nothing with -t.
# 2.40+ prints a caller id after the time as "[%*s] " (padded to the widest thread id); before 2.40 a
# caller id read through syslog(2) stays in the message text ("[  T1] "). busybox util-linux/dmesg.c
# prints the syslog(2) text as it is, stripping "<N>" unless -r. Lines of a multi-line record follow
# indented, with no prefix.
_DMESG_TIME = (r'\[ *\d{1,12}\.\d{1,9}(?: <[ \d.-]{1,24}>)?\]'       # printk time, -d
               r'|\[<[ \d.-]{1,24}>\]'                                 # --time-format delta
               r'|\[[^\[\]]{0,40}\d\d:\d\d:\d\d[^\[\]]{0,30}\]'        # -T (any locale), -T -d
               r'|\[%s[ \d]\d \d\d:\d\d\]' % _MON +                    # -e, first line of a minute
               r'|\[ *[+-]\d{1,12}\.\d{6}\]'                            # -e, the others
               r'|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{6}[+-]\d\d:?\d\d(?= )')  # --time-format iso
_DMESG = re.compile(
    r'^(?:<(?P<pri>\d{1,4})>)?'
    r'(?:(?P<fac>[a-z]{2,8}\d?) *:(?P<lvl>[a-z]{3,7}) *: )?'
    r'(?P<times>(?:(?:%s) ?){0,3})'
    r'(?:%s ?)?' % (_DMESG_TIME, _CALLER), re.ASCII)
_UPTIME = re.compile(r'\[ *(\d{1,12}\.\d{1,9})[\] ]', re.ASCII)
_CTIME = re.compile(r'\[(%s %s [ \d]\d \d\d:\d\d:\d\d \d{4})[\] ]' % (_DAY, _MON), re.ASCII)
_RELTIME = re.compile(r'\[(%s[ \d]\d \d\d:\d\d)\]' % _MON, re.ASCII)
_DMESG_ISO = re.compile(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{6}[+-]\d\d:?\d\d)', re.ASCII)


def _dmesg(line):
    match = _DMESG.match(line)
    pri, fac = match.group('pri'), match.group('fac')
    if pri is not None:
        writer = 'kernel' if int(pri) >> 3 == 0 else None  # facility 0: kern
    elif fac is not None:
        writer = 'kernel' if fac == 'kern' else None
    else:
        writer = 'kernel'  # plain dmesg does not show the facility: writes to /dev/kmsg need root
    stamp = uptime = None
    times = match.group('times')
    if times:
        found = _UPTIME.search(times)
        uptime = found.group(1) if found else None
        found = _CTIME.search(times) or _DMESG_ISO.search(times) or _RELTIME.search(times)
        stamp = found.group(1) if found else None
    return writer, stamp, uptime, match.end()


# ------------------------------------------------------------------ syslog files and journalctl
# The daemon's time, then the host, then the ident the sender gave:
# - rsyslog tools/smtradfile.c RSYSLOG_TraditionalFileFormat "%TIMESTAMP% %HOSTNAME% %syslogtag%%msg%"
#   ("Dec  7 10:00:00"), smfile.c RSYSLOG_FileFormat (Debian 12+'s default: "%TIMESTAMP:::date-rfc3339%",
#   "2026-12-07T10:00:00.123456+00:00"), smfwd.c / smtradfwd.c Forward formats with "<%PRI%>" first;
#   runtime/rsconf.c RSYSLOG_SyslogProtocol23Format "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME%
#   %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%" (RFC 5424, :data:`_RFC5424`). imklog keeps the
#   kernel's "[uptime]" in the message.
# - busybox sysklogd/syslogd.c timestamp_and_log(): "%s %.64s %s %s" (time "Dec  7 10:00:00", with
#   FEATURE_SYSLOGD_PRECISE_TIMESTAMPS ".123"; host; "kern.err" from parse_fac_prio_20() or "<N>";
#   "kernel: [ 8144.866018] msg" from klogd), with -S only "%s %s" (time, message). A remote
#   receiver writes the sender's address as the host (an IPv6 one holds colons).
# - syslog-ng lib/logwriter.c (no template): ts_format bsd "Dec  7 10:00:00", iso
#   "2026-12-07T10:00:00+00:00", full "2026 Dec  7 10:00:00", unix "1765101600", each with
#   frac_digits; then host, "PROGRAM[PID]: " (kernel lines read from /dev/kmsg: "kernel: msg", no uptime).
# - journalctl src/shared/logs-show.c output_short(): short "Dec 07 10:00:00" (zero-padded day),
#   short-precise ".123456", short-iso "2026-12-07T10:00:00+0000" (strftime %z, up to systemd 25x; then
#   "%+03d:%02d": "+00:00"), short-iso-precise, short-full and with-unit "Mon 2026-12-07 10:00:00 UTC",
#   short-unix "%10ld.%06lu", short-monotonic "[%5llu.%06llu]", short-delta "[%5llu.%06llu <%5llu.%06llu >]"
#   (or "*>" across boots, or 16 spaces for the first line); then " host" (not with --no-hostname), the
#   identifier and "[pid]" (_PID, else SYSLOG_PID; kernel lines have neither), ": ". with-unit prints
#   the unit in place of the identifier ("init.scope[1]" for PID 1).
_STAMP = ('(?:%s [ \\d]\\d \\d\\d:\\d\\d:\\d\\d(?:\\.\\d{1,9})?'             # BSD, short, short-precise
          '|\\d{4} %s [ \\d]\\d \\d\\d:\\d\\d:\\d\\d(?:\\.\\d{1,9})?'          # syslog-ng full
          '|%s'                                                              # RFC 3339, short-iso
          '|%s \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(?:\\.\\d{1,6})? [A-Za-z0-9+-]{1,8}'  # short-full
          '|\\d{9,11}(?:\\.\\d{1,9})?'                                       # short-unix, syslog-ng unix
          '|\\[ *\\d{1,12}\\.\\d{6}(?: <[ \\d.]{1,24}[ *]>| {16})?\\])'       # short-monotonic, short-delta
          % (_MON, _MON, _ISO, _DAY))
_FACILITIES = ('kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|ntp|security|console|mark'
               '|local[0-7]')
_LEVELS = 'emerg|panic|alert|crit|err|error|warning|warn|notice|info|debug|none'
_SYSLOG = re.compile(
    r'^(?:<\d{1,3}>)?'
    r'(?:(?P<stamp>%s) +)?'
    r'(?:[^\s\[\]]{0,254}[^\s\[\]:] )?'                       # the host
    r'(?:(?:(?:%s)\.(?:%s)|<\d{1,3}>) )?'                      # busybox: facility.level
    r'(?:(?P<kernel>kernel)|(?:systemd|init\.scope)\[1\]|(?P<daemon>earlyoom|systemd-oomd|nohang)(?:\.service)?\[\d{1,10}\]):(?: |$)'
    r'(?P<ktimes>%s)' % (_STAMP, _FACILITIES, _LEVELS, _KERNEL_STAMPS), re.ASCII)
# RFC 5424 HEADER SP STRUCTURED-DATA [SP MSG]: APP-NAME "kernel" with PROCID "-" is the kernel, APP-NAME
# "systemd" with PROCID "1" is systemd; the message may start with a byte-order mark, and rsyslog's
# %msg% of a local RFC 3164 message keeps its leading space ("- - -  Out of memory").
_RFC5424 = re.compile(
    r'^<\d{1,3}>1 (?P<stamp>%s|-) \S{1,255} (?P<app>\S{1,48}) (?P<procid>\S{1,128}) \S{1,32}'
    r' (?:-|(?:\[(?:[^\]\\]|\\.){0,8192}\])+)(?: \ufeff? ?|$)(?P<ktimes>%s)' % (_ISO, _KERNEL_STAMPS))
_KTIME_VALUE = re.compile(r'\[ *(\d{1,12}\.\d{1,9})[\] ]', re.ASCII)


def _syslog(line, systemd=True):
    match = _SYSLOG.match(line)
    if match is not None:
        writer = ('kernel' if match.group('kernel') else match.group('daemon') if match.group('daemon') else 'systemd')
        if writer != 'kernel' and not systemd:
            writer = None
    elif line.startswith('<'):
        match = _RFC5424.match(line)
        if match is None:
            return None, None, None, 0
        app, procid = match.group('app'), match.group('procid')
        writer = ('kernel' if (app, procid) == ('kernel', '-') else
                  'systemd' if (app, procid) == ('systemd', '1') and systemd else
                  app if app in EARLY_KILLERS and procid.isdigit() and systemd else None)
    else:
        return None, None, None, 0
    stamp = match.group('stamp')
    found = _KTIME_VALUE.match(match.group('ktimes'))
    uptime = found.group(1) if found else None
    if stamp is not None and stamp[:1] == '[':  # journalctl short-monotonic, short-delta: uptime of its boot
        if uptime is None:
            uptime = _KTIME_VALUE.match(stamp).group(1)
        stamp = None
    elif stamp == '-':  # RFC 5424 NILVALUE
        stamp = None
    return writer, stamp, uptime, match.end()


def _journal_text(line):
    return _syslog(line, systemd=False)


def _auto(line):
    found = _syslog(line)
    if found[0] is not None:
        return found
    return _dmesg(line)


_PARSERS = {'dmesg': _dmesg, 'syslog': _syslog, 'journal-text': _journal_text, None: _auto}
ORIGINS = ('journal', 'journal-text', 'dmesg', 'syslog', None)


def parser(origin):
    """``parse(line) -> (writer, stamp, uptime, end)`` for a text origin (see the module's doc)."""
    if origin not in _PARSERS:
        raise ValueError('unknown log origin %r; known: %s' % (origin, ', '.join(str(o) for o in ORIGINS)))
    return _PARSERS[origin]


# ------------------------------------------------------------------ journalctl -o json
# journalctl -o json (src/shared/logs-show.c output_json): one object per line; a field whose value
# is not printable UTF-8 is an array of byte values, a field present more than once an array of
# values. __REALTIME_TIMESTAMP (microseconds since the epoch) is always printed, also with
# --output-fields (systemd 236+).
JOURNAL_FIELDS = ('MESSAGE', '_TRANSPORT', '_PID', 'SYSLOG_FACILITY', 'SYSLOG_IDENTIFIER', '_SOURCE_MONOTONIC_TIMESTAMP',
                  '_SYSTEMD_UNIT', '_COMM')
# transports journald gives a process's own lines (journald-native.c, -syslog.c, -stream.c)
_PROCESS_TRANSPORTS = ('journal', 'syslog', 'stdout')
# The early OOM killers, each with the units its packages install and the command name the kernel gives
# its process (_COMM): earlyoom's earlyoom.service (Debian, Fedora, Arch); systemd's own
# systemd-oomd.service; nohang's nohang.service and nohang-desktop.service (nohang/systemd/*.service.in:
# SyslogIdentifier=nohang), run as the script /usr/sbin/nohang (its name as the command: binfmt_script
# keeps the script's name) or through "#!/usr/bin/env python3" (python3).
EARLY_KILLERS = ('earlyoom', 'systemd-oomd', 'nohang')
_KILLER_UNITS = {'earlyoom.service': ('earlyoom', ('earlyoom',)),
                 'systemd-oomd.service': ('systemd-oomd', ('systemd-oomd',)),
                 'nohang.service': ('nohang', ('nohang', 'python3')),
                 'nohang-desktop.service': ('nohang', ('nohang', 'python3'))}
# the journal's matches for their lines (journalctl "+" between them)
KILLER_UNITS = tuple(sorted(_KILLER_UNITS))


def _text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value).decode('utf-8', 'replace')
    return None


def journal_record(line):
    """(writer, stamp, uptime, message) of one ``journalctl -o json`` line, or None when it is no entry.

    ``stamp`` is the entry's time as ISO 8601 in UTC (from ``__REALTIME_TIMESTAMP``), ``uptime`` the
    kernel's own stamp (``_SOURCE_MONOTONIC_TIMESTAMP``) for kernel lines."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    message = _text(entry.get('MESSAGE'))
    transport, pid, facility = entry.get('_TRANSPORT'), entry.get('_PID'), entry.get('SYSLOG_FACILITY')
    if message is None or not isinstance(transport, str):
        return None
    unit = entry.get('_SYSTEMD_UNIT')
    killer = _KILLER_UNITS.get(unit) if isinstance(unit, str) else None
    if transport == 'kernel' and facility in (None, '0'):
        writer = 'kernel'
    elif pid == '1' and transport in _PROCESS_TRANSPORTS:
        writer = 'systemd'
    elif killer is not None and transport in _PROCESS_TRANSPORTS and entry.get('_COMM') in killer[1]:
        writer = killer[0]
    else:
        writer = None
    stamp = uptime = None
    realtime = entry.get('__REALTIME_TIMESTAMP')
    if isinstance(realtime, str) and realtime.isdigit() and len(realtime) <= 19:
        seconds, micro = divmod(int(realtime), 1000000)
        try:
            stamp = '%s.%06d+00:00' % (time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds)), micro)
        except (OverflowError, ValueError, OSError):
            stamp = None
    source = entry.get('_SOURCE_MONOTONIC_TIMESTAMP')
    if writer == 'kernel' and isinstance(source, str) and source.isdigit() and len(source) <= 19:
        uptime = '%d.%06d' % divmod(int(source), 1000000)
    return writer, stamp, uptime, message
