"""Where the OOM history comes from, and who wrote each line (issue 20, classes 4 and 5), on REAL
captures: tests/fixtures/kernel/logs/ (capture-logs.sh; its README lists each producer and version).

In each capture a container under a 64 MiB limit was OOM-killed on this machine (the kernel's lines
name its cgroup), and an unprivileged user (nobody) ran logs/forge.sh: kills of pids 1 and 101-199
under every ident, through logger, raw /dev/log datagrams, systemd-cat and the journal's socket.
"""
import json
import os
import re
import time

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.read import collect, oom
from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import (
    ARGUMENT_SPEC, diagnose, oom_facts, policy_of, read_options)
from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy

LOGS = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'kernel', 'logs')
RELEASES = ('bullseye', 'bookworm', 'trixie')
# forge.sh: lines whose ident is not the kernel's (or PID 1's): no source may take them for a kill
# (a datagram's own "fakehost kernel:" (114) is a host and the ident kernel to busybox -S and to a
# remote receiver: a file cannot tell it, and its kill stays unconfirmed like the others)
NEVER = {1: 'myapp', 103: 'kernel[1]', 105: 'my app', 106: 'a:b'}
NEVER_UNITS = {'redis-server.service': 'systemd[123]', 'postgresql.service': 'systemd (no pid)',
               'cron.service': 'SYSLOG_PID=1 over the native socket'}


def path(*parts):
    return os.path.join(LOGS, *parts)


def text(*parts):
    with open(path(*parts)) as handle:
        return handle.read()


def the_kill(directory, name='container_id'):
    """(pid, comm) of the real kill of a capture: the kernel's summary line names the hog's cgroup."""
    cid = text(directory, name).strip()
    for candidate in ('dmesg_r.txt', 'oom_command.json', 'dmesg.txt', 'messages', 'messages-S'):
        if os.path.exists(path(directory, candidate)):
            found = re.search(r'task_memcg=/docker/%s,task=([^,]+),pid=(\d+)' % cid, text(directory, candidate))
            if found:
                return int(found.group(2)), found.group(1)
    raise AssertionError('no kill of %s in %s' % (cid, directory))


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """The captures' containers ran in UTC: their local stamps are UTC."""
    monkeypatch.setenv('TZ', 'UTC')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def export_entries(export):
    """journalctl -o export (text fields only) as the JSON lines journalctl -o json prints."""
    lines = []
    for block in export.strip().split('\n\n'):
        entry = {}
        for line in block.splitlines():
            name, _, value = line.partition('=')
            entry[name] = value
        lines.append(json.dumps(entry, separators=(',', ':')))
    return '\n'.join(lines)


# ------------------------------------------------------------------ class 4: the journal

@pytest.mark.parametrize('release', RELEASES)
def test_headroom_asks_the_journal_for_the_kernels_lines_only(release):
    """The journal holds every forgery (grep_any_transport.txt); headroom's own command gets the kill."""
    directory = 'journal_' + release
    pid, comm = the_kill(directory)
    with open(path(directory, 'oom_command.json')) as handle:
        events = oom.parse_oom_log(handle, origin='journal')
    assert [(e['pid'], e['comm'], e['trusted'], e['source_lines']) for e in events] == [(pid, comm, True, 3)]
    assert abs(oom.stamp_epoch(events[0]['time']) - int(text(directory, 'kill_epoch'))) <= 1
    everything = text(directory, 'grep_any_transport.txt')
    forged = set(int(p) for p in re.findall(r'Killed process (\d+) \(', everything)) - {pid}
    assert forged >= {1, 101, 102, 103, 105, 106, 107, 108, 111, 112, 113, 116, 117}
    # journalctl's text of every transport, read as kernel lines: the ident settles it ("kernel[56]")
    assert [e['pid'] for e in oom.parse_oom_log(everything, origin='journal-text')] == [pid]
    # a reader that took any "kernel" ident, as the earlier one did, takes the forgeries: a paste is never trusted
    pasted = oom.parse_oom_log(everything)
    assert not [e for e in pasted if e['trusted']]


@pytest.mark.parametrize('release', RELEASES)
def test_no_forgery_is_the_kernels_by_the_journals_own_fields(release):
    """_TRANSPORT and _PID are journald's: a native client's "_TRANSPORT=kernel", "_PID=1" and
    SYSLOG_FACILITY=0 are dropped or kept as what they are; root's /dev/kmsg probe is facility user."""
    directory = 'journal_' + release
    forged = export_entries(text(directory, 'export_forged.txt'))
    assert '"SYSLOG_FACILITY":"1"' in forged and 'headroom capture probe' in forged  # root's /dev/kmsg write
    assert oom.parse_oom_log(forged, origin='journal') == []
    pid, _comm = the_kill(directory)
    kill = oom.parse_oom_log(export_entries(text(directory, 'export_kill.txt')), origin='journal')
    assert [e['pid'] for e in kill] == [pid]


FORMATS = ('short', 'short-precise', 'short-iso', 'short-iso-precise', 'short-full', 'short-monotonic', 'short-unix',
           'short-delta', 'with-unit', 'short-iso_utc', 'short-full_utc')


@pytest.mark.parametrize('release', RELEASES)
@pytest.mark.parametrize('form', FORMATS)
@pytest.mark.parametrize('origin', ['journal-text', None])
def test_every_journalctl_format_reads_the_real_kill(release, form, origin):
    directory = 'journal_' + release
    captured = text(directory, 'k_%s.txt' % form)
    if 'Unknown output format' in captured:
        assert (release, form) == ('bullseye', 'short-delta')  # systemd 247 has no short-delta
        return
    pid, comm = the_kill(directory)
    events = oom.parse_oom_log(captured, origin=origin)
    assert [(e['pid'], e['comm'], e['source_lines'], e['trusted']) for e in events] == [
        (pid, comm, 3, origin == 'journal-text')]
    epoch = int(text(directory, 'kill_epoch'))
    if form in ('short-monotonic', 'short-delta'):
        assert events[0]['uptime'] > 0 and events[0]['time'] == re.search(r'\d+\.\d{6}', events[0]['time']).group(0)
    else:
        assert abs(oom.stamp_epoch(events[0]['time'], now=epoch + 60) - epoch) <= 1, events[0]['time']


@pytest.mark.parametrize('release', RELEASES)
def test_the_old_journal_command_is_kernel_lines_by_their_ident(release):
    """journalctl -k -o short-iso (systemd < 237): root's /dev/kmsg probe reads "kernel:" there, so
    only facility in JSON tells it; it names no kill."""
    directory = 'journal_' + release
    captured = text(directory, 'oom_command_old.txt')
    assert 'kernel: headroom capture probe' in captured
    assert [e['pid'] for e in oom.parse_oom_log(captured, origin='journal-text')] == [the_kill(directory)[0]]


# ------------------------------------------------------------------ class 4: syslog files

SYSLOG_FILES = [(daemon, name) for daemon in ('rsyslog_bullseye', 'rsyslog_bookworm', 'rsyslog_trixie',
                                              'busybox_bookworm', 'syslogng_bookworm', 'syslogng_trixie')
                for name in ('kern.log', 'syslog', 'messages', 'trad.log', 'file.log', 'proto23.log', 'messages-S',
                             'remote.log', 'remote-trad.log', 'iso.log', 'full.log', 'unix.log', 'bsd_frac.log')
                if os.path.exists(os.path.join(LOGS, daemon, name))]


@pytest.mark.parametrize('daemon, name', SYSLOG_FILES)
def test_a_syslog_file_holds_forgeries_it_cannot_tell_from_the_kernels(daemon, name):
    events = oom.parse_oom_log(text(daemon, name), origin='syslog')
    assert events and not [e for e in events if e['trusted']]
    pids = set(e['pid'] for e in events)
    assert not pids & set(NEVER), [NEVER[p] for p in pids & set(NEVER)]
    assert not set(e['unit'] for e in events) & set(NEVER_UNITS)
    kill = 'container_id-S' if name == 'messages-S' else 'container_id'
    assert the_kill(daemon, kill)[0] in pids
    if daemon.startswith('syslogng'):
        # syslog-ng (Debian's config) writes the sender's pid from its credentials: "kernel[276]:"
        assert pids == set([the_kill(daemon)[0]])
    elif name != 'kern.log' or daemon.startswith('busybox'):
        # what it cannot tell: "logger -t kernel" (101) or a raw datagram with the ident kernel (111)
        assert pids & {101, 102, 107, 108, 110, 111, 112, 113}


@pytest.mark.parametrize('daemon, name', [f for f in SYSLOG_FILES if f[1] in ('kern.log', 'syslog', 'messages', 'messages-S')])
def test_a_syslog_file_counts_only_what_the_ring_buffer_holds(daemon, name, monkeypatch):
    """No journal; the ring buffer (the same machine's, `dmesg -r`) and the daemon's file: the file's
    copy of the real kill is the ring buffer's, every other kill line of the file is unconfirmed, and
    the verdict names none of them."""
    kill = 'container_id-S' if name == 'messages-S' else 'container_id'
    pid, comm = the_kill(daemon, kill)
    ring = text(daemon, 'dmesg_r.txt') if name != 'messages-S' else None

    def run(argv):
        if argv[0] == 'journalctl':
            return 1, '', 'No journal files were found.'
        if ring is None:
            return 1, '', 'dmesg: read kernel buffer failed: Operation not permitted'
        return 0, ring, ''
    monkeypatch.setattr(oom, 'LOG_FILES', (path(daemon, name),))
    history = oom.collect_oom_history(run)
    trusted = [e for e in history['events'] if e['trusted']]
    assert [e['pid'] for e in trusted] == ([pid] if ring else [])
    assert history['unverified'] == [{'source': path(daemon, name), 'note': oom.UNVERIFIED_NOTE % path(daemon, name)}]
    collected = {'cgroup': None, 'container': False, 'vmstat': {'oom_kill': len(trusted)}, 'oom_sources': history['sources'],
                 'oom_incomplete': history['incomplete'], 'oom_unattributed': 0, 'oom_events': trusted,
                 'oom_events_count': len(trusted), 'oom_epochs': [], 'now': time.time(),
                 'oom_victims': sorted(set(e['comm'] for e in trusted)),
                 'oom_unconfirmed': [e for e in history['events'] if not e['trusted']],
                 'oom_unconfirmed_count': len([e for e in history['events'] if not e['trusted']]),
                 'oom_unverified': history['unverified']}
    facts = oom_facts(collected, merge_policy())
    assert facts['victims'] == ([comm] if ring else [])
    # syslog-ng writes a local sender's pid ("kernel[276]:"): none of the forgeries reads as the kernel's
    assert facts['unconfirmed']['count'] >= (0 if daemon.startswith('syslogng') else 1)
    result = audit({'memory': {'total': 8 << 30, 'available': 6 << 30}, 'oom': facts}, merge_policy())
    assert not [r for r in result['recommendations'] if r['step'] == 'guard']


# ------------------------------------------------------------------ the host, whole

def test_a_forged_line_in_var_log_messages_names_no_victim_and_steers_no_fix(tmp_path, monkeypatch):
    """Issue 20, class 4: a host without a journal (RHEL's /var/log/messages) where a user wrote, with
    logger, "myapp[123]: Out of memory: Killed process 1 (systemd)" and two lines with the ident kernel.
    The whole reading (collect) and verdict (diagnose): no victim named, no guard step, no kill counted;
    the report says which source cannot tell who wrote a line."""
    tail = 'total-vm:1000kB, anon-rss:900kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0'
    stamp = time.strftime('%b %e %H:%M:%S', time.localtime(time.time() - 3600))
    messages = tmp_path / 'messages'
    messages.write_text('%s web1 myapp[123]: Out of memory: Killed process 1 (systemd) %s\n'
                        '%s web1 kernel: Out of memory: Killed process 4242 (sshd) %s\n'
                        '%s web1 kernel: Out of memory: Killed process 4243 (postgres) %s\n'
                        '%s web1 systemd[1]: sshd.service: A process of this unit has been killed by the OOM killer.\n'
                        % (stamp, tail, stamp, tail, stamp, tail, stamp))
    monkeypatch.setattr(oom, 'LOG_FILES', (str(messages),))
    monkeypatch.setattr(collect, 'in_container', lambda: False)  # a host, whatever runs the tests
    real = collect.run

    def run(argv, env, **bounds):
        name = os.path.basename(argv[0])
        if name == 'journalctl':
            return 1, '', 'No journal files were found.'
        if name == 'dmesg':
            return 1, '', 'dmesg: read kernel buffer failed: Operation not permitted'
        return real(argv, env, **bounds)
    params = dict((key, spec.get('default')) for key, spec in ARGUMENT_SPEC.items())
    params.update(sample_seconds=0.0, top_samples=1)
    policy = policy_of(params)
    collected = collect.collect(read_options(params, policy), run, collect.which)
    facts = diagnose(collected, params, policy)
    result = facts['audit']
    assert not [r for r in result['recommendations'] if r['step'] == 'guard']
    named = ' '.join([r['message'] for r in result['reasons']] + [r['detail'] for r in result['recommendations']])
    for victim in ('systemd', 'sshd', 'postgres'):
        assert victim not in facts['oom']['victims'] and not re.search(r'\(%s\)|\b%s\b' % (victim, victim), named), named
    # sshd's and postgres's kills (systemd[1]'s unit line joins sshd's): shown, not counted
    assert facts['oom']['logged'] == 0 and facts['oom']['unconfirmed']['count'] == 2
    assert [s['source'] for s in facts['oom']['unconfirmed']['sources']] == [str(messages)]
    said = [r['message'] for r in result['reasons'] if r['signal'] == 'oom_unconfirmed']
    assert said and str(messages) in said[0] and 'cannot tell' in said[0]


# ------------------------------------------------------------------ class 5: every producer's prefix

DMESG_FILES = [(release, name) for release in RELEASES for name in sorted(os.listdir(os.path.join(LOGS, 'dmesg_' + release)))
               if name.endswith('.txt') and not name.startswith('crafted')
               and 'invalid option' not in open(os.path.join(LOGS, 'dmesg_' + release, name)).read()
               and 'no report' not in open(os.path.join(LOGS, 'dmesg_' + release, name)).read()]


@pytest.mark.parametrize('release, name', DMESG_FILES)
@pytest.mark.parametrize('origin', ['dmesg', None])
def test_every_dmesg_format_reads_the_real_kill(release, name, origin):
    """util-linux dmesg in every time format, -x, -r, through /dev/kmsg and syslog(2) (-S), busybox
    dmesg (-r), and caller ids (printed by the real dmesg from a crafted buffer: caller_*)."""
    directory = 'dmesg_' + release
    pid, comm = the_kill(directory)
    events = oom.parse_oom_log(text(directory, name), origin=origin)
    assert [(e['pid'], e['comm'], e['source_lines'], e['trusted']) for e in events] == [(pid, comm, 3, origin == 'dmesg')]
    assert events[0]['postmortem'] and events[0]['postmortem']['tasks'][0]['pids'] == [pid]
    if re.search(r'^(<\d>|kern  :\w+ *: )?\[ *\d+\.\d{6}[\] ]', text(directory, name)):
        assert events[0]['uptime'] > 0


def test_dmesg_time_stamps_read_as_times():
    directory = 'dmesg_bookworm'
    ctime = oom.parse_oom_log(text(directory, 'dmesg_T.txt'), origin='dmesg')[0]
    for name in ('dmesg_x_T.txt', 'dmesg_T_d.txt', 'dmesg_S_T.txt', 'dmesg_time_format_iso.txt', 'caller_dmesg_F_T.txt'):
        event = oom.parse_oom_log(text(directory, name), origin='dmesg')[0]
        assert abs(oom.stamp_epoch(event['time']) - oom.stamp_epoch(ctime['time'])) <= 1, name


@pytest.mark.parametrize('daemon, name', SYSLOG_FILES)
def test_every_syslog_daemon_file_reads_the_real_kill_with_its_time(daemon, name):
    kill = 'container_id-S' if name == 'messages-S' else 'container_id'
    pid, comm = the_kill(daemon, kill)
    event = [e for e in oom.parse_oom_log(text(daemon, name), origin='syslog') if e['pid'] == pid][0]
    # Debian's /var/log/messages (rsyslog 11, syslog-ng) keeps info to warning: not the kill's err line,
    # whose pid the 4.19+ summary line gives all the same
    lines = 2 if name == 'messages' and not daemon.startswith('busybox') else 3
    assert (event['comm'], event['constraint'], event['source_lines']) == (comm, 'cgroup', lines)
    reference = int(text('journal_bookworm', 'kill_epoch'))  # the same night
    assert abs(oom.stamp_epoch(event['time'], now=reference + 86400) - reference) < 86400, event['time']
    # imklog (up to 8.2302) and klogd keep the kernel's own stamp; syslog-ng reads /dev/kmsg
    if re.search(r'kernel: \[ *\d+\.\d+\] .*oom-kill:', text(daemon, name)):
        assert event['uptime'] > 0


def test_busybox_syslogd_lines_were_lost_before():
    """Issue 20, class 5: busybox syslogd's file ("host kern.warn kernel: [uptime] msg") gave no kill."""
    pid, _comm = the_kill('busybox_bookworm')
    line = [row for row in text('busybox_bookworm', 'messages').splitlines() if 'Killed process %d ' % pid in row][0]
    assert re.match(r'^\w{3} [ \d]\d \d\d:\d\d:\d\d bbhost kern\.err kernel: \[ *\d+\.\d+\] Memory cgroup', line), line
    assert [e['pid'] for e in oom.parse_oom_log(line, origin='syslog')] == [pid]
    assert [e['pid'] for e in oom.parse_oom_log(line)] == [pid]  # a paste of it too
