"""OOM killer history: a real kill captured here, and real logs published by others."""
import calendar
import os
import time
import re

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.read import oom

FIX = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'kernel')
PUB = os.path.join(FIX, 'published')


def fixture(*parts):
    with open(os.path.join(FIX, *parts)) as handle:
        return handle.read()


def published(name):
    with open(os.path.join(PUB, name)) as handle:  # a file object: the streaming path
        return oom.parse_oom_log(handle)


def _victim_pid():
    return int(re.search(r'victim pid (\d+)', fixture('oom_victim.txt')).group(1))


def _victim_cgroup():
    return re.search(r'^\d+:memory:(\S+)$', fixture('tree_v1_limited', 'proc', 'self', 'cgroup'),
                     re.M).group(1)


# ------------------------------------------------------------ the real kill made on this machine

def _check_real_kill(event):
    assert 'exit status 137' in fixture('oom_victim.txt')  # it really died of SIGKILL
    assert event['pid'] == _victim_pid()
    assert event['comm'] == 'python3' and event['invoked_by'] == 'python3'
    assert event['uid'] == 0 and event['oom_score_adj'] == 0
    assert event['constraint'] == 'cgroup'
    assert event['memcg'] == event['task_memcg'] == _victim_cgroup()
    # the cgroup allowed 50 MiB and no swap: the victim's anonymous memory filled most of it
    assert 40 * 1024 * 1024 <= event['anon_rss'] <= 50 * 1024 * 1024
    assert event['total_vm'] > 200 * 1024 * 1024  # it was allocating 200 MB
    assert event['gfp_mask'].startswith('0x') and event['order'] == 0
    assert event['source_lines'] == 3  # invoked, oom-kill summary, Killed process


def test_real_cgroup_kill_dmesg():
    events = oom.parse_oom_log(fixture('dmesg_cgroup_oom.txt'))
    assert len(events) == 1
    _check_real_kill(events[0])
    assert re.match(r'^\d+\.\d{6}$', events[0]['time'])
    assert events[0]['uptime'] == float(events[0]['time'])


def test_real_cgroup_kill_dmesg_T():
    events = oom.parse_oom_log(fixture('dmesg_T_cgroup_oom.txt'))
    assert len(events) == 1
    _check_real_kill(events[0])
    assert re.match(r'^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$', events[0]['time'])


def test_real_kill_after_journal_prefixes():
    # the same real lines, reprefixed as journalctl short-iso and a syslog file would show them
    body = [line.split('] ', 1)[1] for line in fixture('dmesg_cgroup_oom.txt').splitlines()]
    iso = '\n'.join('2026-11-25T13:16:09+0000 host kernel: ' + line for line in body)
    syslog = '\n'.join('Nov 25 13:16:09 host kernel: [  659.520096] ' + line for line in body)
    for text, time in ((iso, '2026-11-25T13:16:09+0000'), (syslog, 'Nov 25 13:16:09')):
        events = oom.parse_oom_log(text)
        assert len(events) == 1 and events[0]['time'] == time
        _check_real_kill(events[0])


# ------------------------------------------------------------ published logs

def test_syslog_5x_kills_with_reaper():
    events = published('docker_for_linux_1001_syslog.txt')
    assert [e['pid'] for e in events] == [15617, 15674, 15784, 15925]
    assert [e['constraint'] for e in events] == ['cgroup', 'cgroup', 'global', 'global']
    assert all(e['reaped'] and e['source_lines'] == 2 for e in events)
    assert events[3]['comm'] == '(resolved)'
    assert events[0]['anon_rss'] == 4292 * 1024 and events[0]['file_rss'] == 3428 * 1024
    assert events[0]['time'] == 'May 15 23:09:27' and events[0]['uptime'] == 514.682838


def test_rhel7_cgroup_kill_process_score():
    events = published('ltp_1080_rhel7_syslog.txt')
    assert [(e['pid'], e['score'], e['uid']) for e in events] == [(42453, 0, 0), (42474, 0, 0)]
    assert all(e['constraint'] == 'cgroup' and e['comm'] == 'memcg_test_1' for e in events)
    assert events[0]['file_rss'] == 164 * 1024 and events[0]['shmem_rss'] == 0


def test_rhel6_sacrificed_child_and_dangling_invoker():
    events = published('emqx_356_rhel6.txt')
    assert len(events) == 1  # the trailing "invoked oom-killer" has no kill in the excerpt
    event = events[0]
    assert (event['pid'], event['comm'], event['uid'], event['score']) == (28364, 'sh', 0, 580)
    assert event['constraint'] == 'global' and event['shmem_rss'] is None
    assert event['time'] is None  # no prefix at all


def test_syslog_padded_day_sacrificed_child_and_noise():
    events = published('doris_3525_syslog.txt')
    assert len(events) == 1
    assert events[0]['pid'] == 18177 and events[0]['score'] == 968
    assert events[0]['time'] == 'May  8 14:05:27'
    assert events[0]['anon_rss'] == 45563572 * 1024


def test_journal_short_global_kill():
    (event,) = published('pandora_49_journal.txt')
    assert (event['pid'], event['comm'], event['constraint']) == (27438, 'R', 'global')
    assert event['anon_rss'] == 1041924 * 1024


def test_dmesg_without_shmem():
    (event,) = published('alicloud_duplicity_3_dmesg.txt')
    assert event['pid'] == 21518 and event['shmem_rss'] is None
    assert event['anon_rss'] == 12721928 * 1024 and event['uptime'] == 35881895.791331


def test_dmesg_T_global_summary():
    (event,) = published('py_autovod_7_dmesg_T.txt')
    assert event['constraint'] == 'global' and event['task_memcg'] == '/init.scope'
    assert event['memcg'] is None
    assert (event['pid'], event['comm'], event['uid']) == (7899, 'python', 0)
    assert event['total_vm'] == 26184840 * 1024 and event['pgtables'] == 38964 * 1024
    assert event['time'] == 'Sun Mar 30 08:24:00 2025' and event['source_lines'] == 2


def test_short_precise_memcg_summary_alone():
    (event,) = published('gpud_70_short_precise.txt')
    assert event['pid'] == 461754 and event['comm'] == 'pt_main_thread'
    assert event['constraint'] == 'cgroup'
    assert event['memcg'].endswith('kubepods-burstable-podeded8c65_6e8e_4c6e_a889_3e427565c740.slice')
    assert event['task_memcg'].startswith(event['memcg'].split('....')[0])
    assert event['time'] == 'Aug 30 06:58:55.050705' and event['anon_rss'] is None


def test_systemd_unit_lines():
    (event,) = published('askoverflow_systemd_unit.txt')
    assert event['unit'] == 'my-server.service' and event['unit_result'] == 'oom-kill'
    assert event['pid'] is None and event['source_lines'] == 2


def test_systemd_slices_fold_into_one_event():
    (event,) = published('openprescribing_5431_systemd_iso.txt')
    assert event['unit'] == 'user@1021.service'
    assert event['slices'] == ['user-1021.slice', 'system-postgresql.slice', 'user.slice',
                               'system.slice']
    assert event['time'] == '2026-02-08T00:40:07.136582+00:00'


def test_systemd_unit_joins_the_kernel_kill_of_its_cgroup():
    text = (fixture('dmesg_cgroup_oom.txt').replace(_victim_cgroup(), '/system.slice/app.service')
            + '\nNov 25 13:16:09 host systemd[1]: app.service: A process of this unit has been killed'
              ' by the OOM killer.\n'
              "Nov 25 13:16:09 host systemd[1]: app.service: Failed with result 'oom-kill'.\n"
              'Nov 25 13:16:09 host systemd[1]: other.service: A process of this unit has been killed'
              ' by the OOM killer.\n')
    events = oom.parse_oom_log(text)
    assert [e['unit'] for e in events] == ['app.service', 'other.service']
    assert events[0]['pid'] == _victim_pid() and events[0]['unit_result'] == 'oom-kill'
    assert events[1]['pid'] is None


def test_invoker_without_kill_is_not_an_event():
    assert published('systemd_40208_kernel_prefix.txt') == []
    assert published('marathon_1295_dmesg_3_14.txt') == []
    assert published('wca_1690_task_in.txt') == []


def test_task_in_line_gives_memcg_to_the_kill():
    text = (fixture('published', 'wca_1690_task_in.txt')
            + '[ 8490.770900] Memory cgroup out of memory: Kill process 62685 (bash) score 0 or'
              ' sacrifice child\n'
            + '[ 8490.770950] Killed process 62769 (cp) total-vm:17528kB, anon-rss:360kB,'
              ' file-rss:1284kB, shmem-rss:0kB\n')
    (event,) = oom.parse_oom_log(text)
    assert event['memcg'].startswith('/docker/74bea4773fde') and event['pid'] == 62769
    assert event['constraint'] == 'cgroup' and event['source_lines'] == 3


def test_all_published_kernel_logs_together_in_one_log():
    # systemd's unit lines are left out: they join the kill logged just before them, by design
    names = sorted(n for n in os.listdir(PUB) if 'systemd_unit' not in n and 'iso' not in n)
    text = ''.join(fixture('published', name) for name in names)
    total = sum(len(published(name)) for name in names)
    assert len(oom.parse_oom_log(text)) == total


# ------------------------------------------------------------ noise never raises

def test_noise_is_ignored():
    assert oom.parse_oom_log('') == []
    assert oom.parse_oom_log('Killed\nout of memory? no\n\x00\xff garbage oom\n') == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=120),
    st.sampled_from(fixture('dmesg_cgroup_oom.txt').splitlines()
                    + fixture('published', 'emqx_356_rhel6.txt').splitlines()
                    + fixture('published', 'askoverflow_systemd_unit.txt').splitlines())
    .flatmap(lambda line: st.integers(0, len(line)).map(lambda cut: line[:cut]))), max_size=30))
def test_random_and_truncated_lines_never_raise(lines):
    events = oom.parse_oom_log('\n'.join(lines))
    assert isinstance(events, list)
    for event in events:
        assert event['pid'] is not None or event['unit'] is not None or event['slices']


# ------------------------------------------------------------ where the history comes from

def test_commands_in_order():
    commands = oom.oom_log_commands(since='-30d')
    assert [c['argv'][0] for c in commands] == ['journalctl', 'journalctl', 'dmesg', 'dmesg']
    assert all(c['reason'] for c in commands)
    assert '--grep' in commands[0]['argv'] and '--grep' not in commands[1]['argv']
    assert commands[0]['argv'][commands[0]['argv'].index('--since') + 1] == '-30d'
    assert '--since' not in oom.oom_log_commands()[0]['argv']
    # who wrote each line is the source's to say: the journal's own fields as JSON, dmesg's facility
    assert [c['origin'] for c in commands] == ['journal', 'journal-text', 'dmesg', 'dmesg']
    first = commands[0]['argv']
    assert first[first.index('-o') + 1] == 'json' and '_TRANSPORT=kernel' in first and '_PID=1' in first
    fields = [a for a in first if a.startswith('--output-fields=')][0].split('=', 1)[1].split(',')
    assert {'MESSAGE', '_TRANSPORT', '_PID', 'SYSLOG_FACILITY'} <= set(fields)
    assert commands[2]['argv'] == ['dmesg', '-r']


def test_oom_log_files(tmp_path):
    (tmp_path / 'var' / 'log').mkdir(parents=True)
    (tmp_path / 'var' / 'log' / 'kern.log').write_text('')
    assert oom.oom_log_files(str(tmp_path)) == ['/var/log/kern.log']


def test_read_log_tail_reads_only_the_end(tmp_path):
    path = tmp_path / 'kern.log'
    old = fixture('published', 'pandora_49_journal.txt')
    new = fixture('published', 'alicloud_duplicity_3_dmesg.txt')
    filler = 'May 07 21:44:00 doom kernel: some other message\n' * 50000  # ~2.3 MiB
    path.write_text(old + filler + new)
    events = oom.parse_oom_log(oom.read_log_tail(str(path), max_bytes=1024 * 1024))
    assert [e['pid'] for e in events] == [21518]
    events = oom.parse_oom_log(oom.read_log_tail(str(path), max_bytes=16 * 1024 * 1024))
    assert [e['pid'] for e in events] == [27438, 21518]


def test_read_log_tail_drops_the_cut_line(tmp_path):
    path = tmp_path / 'messages'
    path.write_bytes(b'x' * 100 + b'\nKilled process 1 (a) total-vm:1kB, anon-rss:1kB, file-rss:1kB\n'
                     + b'\xff\xfe bad bytes\n')
    lines = list(oom.read_log_tail(str(path), max_bytes=20))
    assert lines == ['\ufffd\ufffd bad bytes\n']


def test_real_journal_short_iso_holds_the_same_kill():
    # journalctl's own output of oom_log_commands()[0], from a journald that read this kernel's
    # /dev/kmsg (a bookworm container with systemd as PID 1): the capture's kill plus later ones
    events = oom.parse_oom_log(fixture('journal_short_iso_oom.txt'))
    from_dmesg = oom.parse_oom_log(fixture('dmesg_cgroup_oom.txt'))[0]
    assert len(events) == fixture('journal_short_iso_oom.txt').count('Killed process')
    (same,) = [e for e in events if e['pid'] == _victim_pid()]
    for key in ('comm', 'anon_rss', 'file_rss', 'total_vm', 'memcg', 'constraint', 'invoked_by'):
        assert same[key] == from_dmesg[key]
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$', same['time'])
    assert all(e['source_lines'] == 3 for e in events)


# ---- whose kill, and when (REAL: this kernel's ring buffer with two containers' kills) -----------

def _systemd_container(name):
    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'kernel', 'systemd_container', name)
    with open(path) as handle:
        return handle.read()


def test_kills_attributed_to_their_container_only():
    events = oom.parse_oom_log(_systemd_container('dmesg_T_host.txt'))
    cid = _systemd_container('container_id').strip()
    mine = [e for e in events if oom.attribute(e, '/docker/' + cid)]
    others = [e for e in events if oom.attribute(e, '/docker/' + cid) is False]
    assert len(mine) == 3 and len(others) == len(events) - 3 > 0  # an earlier container's kills
    assert all(e['task_memcg'] == '/docker/%s/system.slice/respawner.service' % cid for e in mine)
    # under a cgroup namespace the scope is '/': the container id names it
    assert [e['pid'] for e in events if oom.attribute(e, '/', cid)] == [e['pid'] for e in mine]
    assert oom.attribute({'task_memcg': None, 'memcg': None}, '/docker/' + cid) is None
    # '/' with no container id: the machine's whole hierarchy is this scope
    assert all(oom.attribute(e, '/') for e in events)


def test_stamp_epoch_of_every_form():
    now = calendar.timegm((2026, 12, 1, 23, 0, 0))
    assert oom.stamp_epoch('2026-12-01T22:52:47+0000') == calendar.timegm((2026, 12, 1, 22, 52, 47))
    assert oom.stamp_epoch('2026-12-01T22:52:47.250000+01:00') == calendar.timegm((2026, 12, 1, 21, 52, 47)) + 0.25
    local = time.mktime((2026, 12, 1, 22, 54, 21, 0, 0, -1))
    assert oom.stamp_epoch('Tue Dec  1 22:54:21 2026') == local
    assert oom.stamp_epoch('Dec  1 22:54:21', now=now) == local  # syslog: no year, this one
    assert oom.stamp_epoch('Dec 31 22:54:21', now=now) == time.mktime((2025, 12, 31, 22, 54, 21, 0, 0, -1))
    assert oom.stamp_epoch('4242.000000', 4242.0, btime=1000) == 5242.0
    assert oom.stamp_epoch('4242.000000', 4242.0) is None
    assert oom.stamp_epoch('garbage') is None and oom.stamp_epoch('9999-99-99T99:99:99') is None


def test_ring_buffer_wrapped():
    assert oom.ring_buffer_wrapped('[    0.000000] Linux version 6.1\n[ 5.0] x\n') is False
    assert oom.ring_buffer_wrapped('[86400.123456] eth0: link up\n') is True
    text = _systemd_container('dmesg_T_host.txt')  # dmesg -T: told against the boot time
    first = oom.stamp_epoch(text.split(']', 1)[0].strip('['))
    assert oom.ring_buffer_wrapped(text, btime=first - 3600) is True
    assert oom.ring_buffer_wrapped(text, btime=first - 10) is False
    assert oom.ring_buffer_wrapped(text) is None


def test_collect_oom_history_says_when_dmesg_wrapped():
    def run(argv):
        if argv[0] == 'journalctl':
            return 1, '', 'No journal files were found.'
        return 0, '[86400.5] Out of memory: Killed process 7 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB\n', ''
    history = oom.collect_oom_history(run, root='/nonexistent')
    assert [e['pid'] for e in history['events']] == [7]
    assert any('ring buffer (dmesg) has wrapped' in reason for reason in history['incomplete'])


def test_a_kill_the_wrap_cut_from_its_cgroup_is_a_lost_kill_not_an_unknown_one():
    """CI saw it: dmesg's buffer began between a kill's ``oom-kill:`` summary (the only line naming its
    cgroup on 4.19+) and its ``Killed process`` line. The capture cut at that very place."""
    from ansible_collections.headroom.memory.plugins.module_utils.read.collect import in_scope
    lines = _systemd_container('dmesg_T_host.txt').splitlines(True)
    start = next(i for i, line in enumerate(lines) if 'Killed process' in line)
    assert lines[start - 1].split('] ', 1)[1].startswith('oom-kill:')  # the cut takes the summary
    cut = ''.join(lines[start:])
    first = oom.stamp_epoch(cut.split(']', 1)[0].strip('['))

    def run(argv):
        if argv[0] == 'journalctl':
            return 1, '', 'No journal files were found.'
        return 0, cut, ''
    history = oom.collect_oom_history(run, root='/nonexistent', btime=first - 3600)
    head = history['events'][0]
    assert head['cut'] is True and head['task_memcg'] is None and head['memcg'] is None
    assert [e['cut'] for e in history['events'][1:]] == [False] * (len(history['events']) - 1)
    assert any('has wrapped' in reason for reason in history['incomplete'])
    cid = _systemd_container('container_id').strip()
    mine, unknown = in_scope(history['events'], {'scope': '/docker/' + cid}, True, None)
    assert unknown == 0
    assert len(mine) == 3 and head not in mine  # this container's three, each with its own cgroup line
    # the same cut kill in a buffer that did not wrap (or a grep'd excerpt): nothing says it was cut
    history = oom.collect_oom_history(run, root='/nonexistent', btime=first - 10)
    assert history['events'][0]['cut'] is False
    assert in_scope(history['events'], {'scope': '/docker/' + cid}, True, None)[1] == 1
    # on a host, every kill in its log is its own, cut or not
    assert in_scope(history['events'], None, False, None) == (history['events'], 0)


def test_a_source_keeps_its_newest_kills_only(monkeypatch):
    """A 16 MiB log of forged kill lines holds 50,000 kills: a source keeps the newest MAX_EVENTS, and
    the history says how many it left out."""
    line = '<3>[%d.000000] Out of memory: Killed process %d (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB\n'
    text = ''.join(line % (i, i) for i in range(1, 51))
    stats = {}
    events = oom.parse_oom_log(text, origin='dmesg', keep=10, stats=stats)
    assert [e['pid'] for e in events] == list(range(41, 51)) and stats == {'dropped': 40}
    assert len(oom.parse_oom_log(text, origin='dmesg')) == 50
    monkeypatch.setattr(oom, 'MAX_EVENTS', 10)
    history = oom.collect_oom_history(lambda argv: (1, '', 'No journal files were found.') if argv[0] == 'journalctl'
                                      else (0, text, ''), root='/nonexistent')
    assert len(history['events']) == 10
    assert 'dmesg: 40 older kill(s) not kept (only the newest 10 are)' in history['incomplete']


# ------------------------------------------------------------ what the journal's answers mean (issue 21)

VM = os.path.join(os.path.dirname(FIX), 'vm', 'bookworm-6.1.0-57-amd64')


def _vm(*parts):
    with open(os.path.join(VM, *parts)) as handle:
        return handle.read()


def _captured_answer(*parts):
    """(rc, stdout, stderr) of a command the VM stage captured with its exit status."""
    text = _vm(*parts)
    rc = int(re.search(r'^exit status (\d+)$', text, re.M).group(1))
    out, err = text.split('--- stdout\n', 1)[1].split('--- stderr\n', 1)
    return rc, out, err


def _healthy_kernel_lines():
    """journalctl -k of the VM's boot before its kill: a journal that holds the kernel's lines and no kill."""
    lines = _vm('global-oom', 'journalctl-k.short-iso.txt').splitlines(True)
    return ''.join(lines[:next(i for i, line in enumerate(lines) if 'invoked oom-killer' in line) - 5])


def _a_kernel_entry():
    """One real kernel entry of journalctl -o json (systemd 252), as the probe prints it."""
    return fixture('postmortem', 'journal_window.json').splitlines(True)[0]


def _journal_host(grep, probe, text_k, dmesg=(1, '', 'dmesg: read kernel buffer failed: Operation not permitted')):
    asked = []

    def run(argv):
        asked.append(argv)
        if argv == oom.grep_probe_command():
            return probe
        if argv[0] == 'journalctl':
            return grep if '--grep' in argv else text_k
        return dmesg
    return run, asked


def test_a_journal_whose_grep_found_no_kill_is_a_complete_history():
    """Issue 21, defect 1 (seen on the VM, systemd 252): journalctl --grep exits 1 with nothing on stdout and
    stderr when no line matches. That is an answer: the journal holds the kernel's lines and none was a
    kill. The history is the journal's, complete, and journalctl -k is not asked."""
    grep = _captured_answer('healthy', 'oom-query.txt')
    assert grep == (1, '', '')
    run, asked = _journal_host(grep, (0, _a_kernel_entry(), ''), (0, _healthy_kernel_lines(), ''))
    history = oom.collect_oom_history(run, root='/nonexistent')
    assert history['sources'] == [' '.join(oom.oom_log_commands()[0]['argv'])]
    assert history['events'] == [] and history['incomplete'] == [] and history['tried'] == []
    assert [argv for argv in asked if '-k' in argv] == []
    assert asked == [oom.oom_log_commands()[0]['argv'], oom.grep_probe_command()]


@pytest.mark.parametrize('release, words', [
    ('systemd < 236 (glibc getopt_long)', "journalctl: unrecognized option '--output-fields=MESSAGE,_TRANSPORT'"),
    ('systemd 236 (glibc getopt_long)', "journalctl: unrecognized option '--grep'"),
    ('systemd 237-251 without PCRE2 (journalctl.c parse_argv)', 'Compiled without pattern matching support'),
    ('systemd 247-251, libpcre2-8 missing (pcre2-dlopen.c)',
     'PCRE2 support is not installed: libpcre2-8.so.0: cannot open shared object file: No such file or directory'),
    ('systemd 252+ without PCRE2 (shared/pcre2-util.c)', 'PCRE2 support is not compiled in.'),
])
def test_a_journalctl_that_cannot_grep_says_so_and_the_kernel_lines_are_read_instead(release, words):
    """A journalctl that cannot --grep also exits 1, but says why on stderr: the -k fallback is read (this boot,
    its last lines), the history says it is incomplete and why, and no probe is asked."""
    kill = '2026-12-08T00:24:28+0000 vm kernel: Out of memory: Killed process 7 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB\n'
    run, asked = _journal_host((1, '', words + '\n'), None, (0, _healthy_kernel_lines() + kill, ''))
    history = oom.collect_oom_history(run, root='/nonexistent')
    assert [e['pid'] for e in history['events']] == [7], release
    assert history['sources'] == [' '.join(oom.oom_log_commands()[1]['argv'])]
    assert history['incomplete'] == ['journalctl without --grep (%s): only the last %d kernel lines of this boot'
                                     % (words, oom.JOURNAL_LINES)]
    assert oom.grep_probe_command() not in asked


def test_a_silent_grep_on_a_journal_without_kernel_lines_falls_back_as_before():
    """systemd 252+ with libpcre2-8.so.0 missing says nothing either (dlfcn-util.c logs the failed dlopen at debug
    level), nor does a journal without the kernel's lines (a container's, or a user's own): the probe finds no
    kernel line, so -k is read, and then dmesg."""
    kill = '2026-12-08T00:24:28+0000 vm kernel: Out of memory: Killed process 7 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB\n'
    run, asked = _journal_host((1, '', ''), (1, '', ''), (0, kill, ''))
    history = oom.collect_oom_history(run, root='/nonexistent')
    assert [e['pid'] for e in history['events']] == [7]
    assert history['incomplete'] == ['journalctl without --grep: only the last %d kernel lines of this boot' % oom.JOURNAL_LINES]
    assert asked[:2] == [oom.oom_log_commands()[0]['argv'], oom.grep_probe_command()]
    # no journal file at all (journalctl -q says nothing of it): -k prints nothing, the ring buffer is read
    ring = '<3>[ 5.0] Out of memory: Killed process 8 (y) total-vm:1kB, anon-rss:1kB, file-rss:0kB\n'
    run, asked = _journal_host((1, '', ''), (1, '', ''), (0, '', ''), dmesg=(0, ring, ''))
    history = oom.collect_oom_history(run, root='/nonexistent', btime=time.time() - 3600)
    assert [e['pid'] for e in history['events']] == [8] and history['sources'] == ['dmesg -r']


def test_grep_answers():
    assert oom.grep_answer(1, '') == 'nothing' and oom.grep_answer(0, '\n') == 'nothing'
    assert oom.grep_answer(1, 'Failed to open journal: Permission denied') == 'failed'
    assert oom.grep_answer(None, 'journalctl: not installed') == 'failed'
    assert oom.grep_answer(1, 'Compiled without pattern matching support') == 'unsupported'


def test_the_spelled_out_hint_test_is_the_hints():
    for hint in oom._HINTS:
        assert oom._hinted('x %s y' % hint)
    assert not oom._hinted('docker0: port 2(veth1a2b3c4) entered forwarding state')
