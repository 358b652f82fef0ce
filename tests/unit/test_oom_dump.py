"""What held memory at an OOM kill: the report's task dump and memory block.

The real kill (tests/fixtures/kernel/postmortem/, made by capture-postmortem.sh on this kernel) is
checked against the `ps` table taken on the host just before it; the older and system-wide forms
against excerpts of reports published by others (tests/fixtures/kernel/README.md lists them).
"""
import os
import re

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.read import log_prefix, oom
from ansible_collections.headroom.memory.plugins.module_utils.read.oom_dump import Dump, TOP_COMMANDS

FIX = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'kernel')
MIB = 1 << 20


def _text(*parts):
    with open(os.path.join(FIX, *parts)) as handle:
        return handle.read()


def _ps_before():
    """{pid: (command, rss bytes)} from `docker top` (the machine's pids) just before the hog ran."""
    rows = [line.split() for line in _text('postmortem', 'ps_before.txt').splitlines()[1:]]
    return dict((int(pid), (comm, int(rss) * 1024)) for pid, comm, rss in rows)


def _dump(name):
    dump = Dump()
    for line in _text('published', name).splitlines():
        dump.feed(line[log_prefix.parser(None)(line)[3]:])
    return dump.result()


@pytest.mark.parametrize('form', ['dmesg.txt', 'dmesg_T.txt'])
def test_the_real_kill_lists_what_ps_saw_just_before_it(form):
    assert _text('postmortem', 'hog_exit.txt').strip() == 'hog exit status 137'  # SIGKILL
    events = oom.parse_oom_log(_text('postmortem', form))
    assert len(events) == 1
    event = events[0]
    post = event['postmortem']
    ps = _ps_before()
    # every process ps saw is in the dump, under the same pid and command; plus the hog, the victim
    listed = dict((pid, task['command']) for task in post['tasks'] for pid in task['pids'])
    assert dict((pid, comm) for pid, (comm, _rss) in ps.items()) == dict(
        (pid, comm) for pid, comm in listed.items() if pid != event['pid'])
    assert listed[event['pid']] == event['comm'] == 'python3'
    by_command = dict((task['command'], task) for task in post['tasks'])
    held = {'gunicorn': (3, 16), 'redis-server': (1, 24), 'celery': (2, 8)}  # what the script made them hold
    for command, (count, mib) in held.items():
        task = by_command[command]
        assert task['count'] == count == len([1 for comm, _rss in ps.values() if comm == command])
        seen = sum(rss for comm, rss in ps.values() if comm == command)
        # the kernel reclaimed file pages under the limit: RSS at the kill is at most what ps saw,
        # and the anonymous part still holds what each process was told to hold
        assert count * mib * MIB <= task['anon'] <= task['rss'] <= seen
        assert task['swap'] == 0
    # the victim held most of the limit, as its own kill line says
    assert post['tasks'][0]['command'] == 'python3' and post['tasks'][0]['anon'] == event['anon_rss']
    assert post['task_count'] == len(ps) + 1 and post['other']['count'] == 0
    memory = post['memory']
    assert memory['limit'] == memory['usage'] == 256 * MIB  # docker run --memory 256m
    assert memory['anon'] > 200 * MIB and memory['shmem'] == 0 and memory['swap'] == 0
    assert memory['anon'] + memory['file'] <= memory['limit'] + 4 * MIB


def test_the_capture_is_labelled_with_its_kernel():
    assert re.match(r'^\d+\.\d+', _text('postmortem', 'uname_r'))
    assert _text('postmortem', 'uname_r').strip() in _text('postmortem', 'dmesg.txt')


def test_a_4_15_dump_in_syslog_sums_per_command_in_pages():
    post = _dump('docker_for_linux_1001_task_dump.txt')
    assert post['task_count'] == 5
    assert post['tasks'][0] == {'command': 'systemd-journal', 'count': 1, 'rss': 3610 * 4096, 'swap': 0,
                                'anon': None, 'pids': [439]}  # no rss_anon column before 6.8
    assert [t['command'] for t in post['tasks']] == ['systemd-journal', 'systemd-network', 'systemd-udevd',
                                                     'systemd-timesyn', 'lvmetad']
    assert post['memory'] == {}


def test_a_7_1_dump_with_swap_keeps_the_biggest_commands_and_sums_the_rest():
    post = _dump('lru_marie_6_task_dump_7_1.txt')
    assert post['task_count'] == 14
    mprime = post['tasks'][0]
    assert mprime['command'] == 'mprime' and mprime['rss'] == 11204801 * 4096
    assert mprime['swap'] == 3073656 * 4096 and mprime['anon'] == 11203232 * 4096
    bwrap = [t for t in post['tasks'] if t['command'] == 'bwrap'][0]
    assert bwrap['count'] == 3 and bwrap['rss'] == (477 + 505 + 289) * 4096 and bwrap['pids'] == [4058, 4070, 4074]
    assert len(post['tasks']) == TOP_COMMANDS
    assert post['other']['commands'] == 12 - TOP_COMMANDS
    assert post['rss'] == sum(t['rss'] for t in post['tasks']) + post['other']['rss']
    assert post['swap'] == sum(t['swap'] for t in post['tasks']) + post['other']['swap']


@pytest.mark.parametrize('name, pages', [
    ('stress_ng_177_meminfo.txt', {'anon': 0, 'file': 53, 'shmem': 0, 'slab': 466670 + 534590, 'free': 31098}),
    ('raspberrypi_3872_meminfo.txt', {'anon': 242 + 7885 - 2559, 'file': 25813 + 6405, 'shmem': 2559,
                                      'slab': 3561 + 8740, 'free': 916156}),
])
def test_mem_info_in_both_continuation_forms(name, pages):
    """Mem-Info is one printk over several lines: dmesg prefixes each with the same stamp, or indents."""
    post = _dump(name)
    assert post['memory'] == dict((key, value * 4096) for key, value in pages.items())
    assert post['tasks'] == []


def test_a_v2_memory_cgroup_block():
    """cgroup v2 prints the same usage lines and its own stat names (bytes), file including shmem.
    Lines as Documentation/admin-guide/cgroup-v2.rst names them: no v2 memory controller here."""
    dump = Dump()
    for line in ('memory: usage 204800kB, limit 204800kB, failcnt 12', 'swap: usage 1024kB, limit 1024kB, failcnt 0',
                 'Memory cgroup stats for /system.slice/gunicorn.service:', 'anon 190000000', 'file 8000000',
                 'kernel 3000000', 'shmem 1000000', 'slab 2500000', 'pgfault 1492758'):
        dump.feed(line)
    assert dump.result()['memory'] == {'usage': 204800 * 1024, 'limit': 204800 * 1024, 'swap': 1024 * 1024,
                                       'anon': 190000000, 'file': 7000000, 'shmem': 1000000, 'slab': 2500000}


def test_rows_cut_or_forged_are_not_tasks():
    dump = Dump()
    dump.feed('[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name')
    for line in ('[    439]     0   439    23746     3610   180224',  # cut by a wrapped line
                 '[    439]     0   439    23746     9' + '9' * 30 + '   180224        0             0 huge',
                 '[    439]     0   439    23746     ３６   180224        0             0 wide',
                 '[    440]     0   440    23746       10   180224        0             0 a name with spaces'):
        dump.feed(line)
    post = dump.result()
    assert [(t['command'], t['rss']) for t in post['tasks']] == [('a name with spaces', 40960)]


def test_a_report_without_its_dump_has_no_postmortem():
    """journalctl --grep keeps only the kill's own lines: the kill, no picture of the moment."""
    events = oom.parse_oom_log(_text('journal_short_iso_oom.txt'))
    assert events and all(event['postmortem'] is None for event in events)


def test_an_invoking_line_whose_kill_never_came_stops_the_dump():
    lines = ['[1.0] x invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0',
             '[1.0] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name']
    lines += ['[2.0] [ %6d]     0     1        1        1        1        0             0 t' % i
              for i in range(1, oom.DUMP_LINES + 10)]
    lines += ['[3.0] Out of memory: Killed process 7 (x) total-vm:1kB, anon-rss:1kB, file-rss:0kB']
    events = oom.parse_oom_log('\n'.join(lines))
    assert len(events) == 1 and events[0]['postmortem'] is None


def test_the_journal_kill_gets_its_dump_from_the_seconds_around_it():
    """Real journald (systemd 252) that read /dev/kmsg: --grep gives the machine's kills without their
    dumps (as JSON: oom_log_commands()[0]); the newest five are read again, each from its own window
    (journal_window_command()); the capture's window holds the last."""
    grep = _text('postmortem', 'journal_grep.json')
    window = _text('postmortem', 'journal_window.json')
    kill_epoch = int(_text('postmortem', 'journal_kill_epoch'))
    asked = []

    def run(argv):
        if '--grep' in argv:
            assert argv == oom.oom_log_commands()[0]['argv']
            return 0, grep, ''
        since, until = (int(argv[argv.index(flag) + 1].lstrip('@')) for flag in ('--since', '--until'))
        asked.append((since, until))
        assert argv[-1] == '_TRANSPORT=kernel' and argv == oom.journal_window_command(since + 10)
        return 0, (window if since <= kill_epoch <= until else ''), ''
    history = oom.collect_oom_history(run, root='/nonexistent')
    events = history['events']
    kills = grep.count('Killed process')
    assert kills > oom.JOURNAL_POSTMORTEMS and len(events) == kills and len(asked) == oom.JOURNAL_POSTMORTEMS
    last = events[-1]
    assert last['postmortem'] is not None and [e['postmortem'] for e in events[:-1]] == [None] * (kills - 1)
    assert last['comm'] == 'python3' and last['postmortem']['tasks'][0]['pids'] == [last['pid']]
    assert last['postmortem']['memory']['limit'] == 256 * MIB
    assert abs(oom.stamp_epoch(last['time']) - kill_epoch) <= 1
    assert all(event['trusted'] for event in events)


def test_a_journal_window_that_fails_leaves_the_kill_without_a_dump():
    def run(argv):
        if '--grep' in argv:
            return 0, _text('postmortem', 'journal_grep.json'), ''
        raise OSError('journalctl: killed')
    history = oom.collect_oom_history(run, root='/nonexistent')
    assert history['events'] and all(e['postmortem'] is None for e in history['events'])


def test_the_postmortem_list_is_worst_first_and_the_verdict_names_the_last_picture():
    """Real kills: the capture's (256 MiB container) and the systemd container's (200 MiB); a global
    kill with no dump in its log (published, 4.19+ summary) comes first all the same."""
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import postmortems
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import last_picture
    events = oom.parse_oom_log(_text('systemd_container', 'dmesg_T_host.txt'))
    events += oom.parse_oom_log(_text('postmortem', 'dmesg_T.txt'))
    events += oom.parse_oom_log(_text('published', 'py_autovod_7_dmesg_T.txt'))
    for event in events:
        event['epoch'] = oom.stamp_epoch(event['time'])
    entries = postmortems(events)
    assert len(entries) == len([e for e in events if e['pid'] is not None])
    assert entries[0]['scope'] == 'global' and entries[0]['tasks'] is None  # its log kept no dump
    limits = [(entry['memory'] or {}).get('limit') for entry in entries[1:]]
    # the systemd container's capture begins inside its first report: that kill has no dump, and
    # with nothing in use to rank it by, it comes last
    assert limits[0] == 256 * MIB and limits[1:-1] == [200 * MIB] * (len(limits) - 2) and limits[-1] is None
    capture = entries[1]
    assert capture['victim']['command'] == 'python3' and capture['cgroup'].startswith('/docker/')
    assert capture['victim']['rss'] == sum(events[-2][key] for key in ('anon_rss', 'file_rss', 'shmem_rss'))
    text = last_picture(entries)
    # the newest kill with a dump: the capture's, in its container's cgroup
    newest = max((e for e in entries if e['tasks']), key=lambda e: e['epoch'])
    assert newest is capture
    assert text.startswith('when the OOM killer last struck at ') and capture['cgroup'] in text
    assert 'python3 ' in text and '(killed)' in text and 'gunicorn x3 ' in text
    assert last_picture([e for e in entries if not e['tasks']]) is None


@pytest.mark.parametrize('header, row, rss, swap', [
    # 2.6.32 (RHEL 6): no swapents; oom_adj can be -17
    ('[ pid ]   uid  tgid total_vm      rss cpu oom_adj oom_score_adj name',
     '[ 1743]     0  1743    16657      212   3     -17         -1000 sshd', 212, 0),
    # 3.x to 4.14: nr_ptes, with nr_pmds from 4.4
    ('[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name',
     '[ 7429]  1000  7429  1859648   523455    1093    12001             0 java', 523455, 12001),
    ('[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name',
     '[ 7429]  1000  7429  1859648   523455    1093      10    12001             0 java', 523455, 12001),
])
def test_the_older_headers_are_read_by_their_column_names(header, row, rss, swap):
    """Rows built by hand for the headers the field notes document (no capture of these kernels here):
    the same reader takes each by its names, wherever rss and swapents stand."""
    dump = Dump()
    dump.feed(header)
    dump.feed(row)
    task = dump.result()['tasks'][0]
    assert (task['rss'], task['swap'], task['anon']) == (rss * 4096, swap * 4096, None)


# ------------------------------------------------------------ the machine's swap at a global OOM (issue 21)

VM = os.path.join(os.path.dirname(FIX), 'vm', 'bookworm-6.1.0-57-amd64', 'global-oom')


@pytest.mark.parametrize('name, origin', [('journalctl-k.short-iso.txt', 'journal-text'), ('dmesg.txt', 'dmesg')])
def test_a_global_report_gives_the_machines_swap(name, origin):
    """The VM's global OOM (6.1, no swap): the report's own "Free swap  = 0kB", "Total swap = 0kB" and "0 pages in
    swap cache" are in the post-mortem's memory, and the verdict's picture says there was no swap."""
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import last_picture
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import postmortems
    with open(os.path.join(VM, name)) as handle:
        text = handle.read()
    assert re.search(r'kernel: Free swap  = 0kB$', text, re.M) or re.search(r'\] Free swap  = 0kB$', text, re.M)
    kills = [e for e in oom.parse_oom_log(text, origin=origin) if e['pid']]
    memory = kills[0]['postmortem']['memory']
    assert (memory['swap_total'], memory['swap_free'], memory['swap_cache']) == (0, 0, 0)
    assert 'swap' not in memory  # a cgroup's swap usage: none in a global report
    entry = postmortems(kills)[0]
    assert entry['scope'] == 'global' and last_picture([dict(entry, epoch=1)]).endswith('; no swap')


@pytest.mark.parametrize('lines, swap', [
    # 2.6-5.x: mm/swap_state.c show_swap_cache_info() with its stats line
    (['1523 pages in swap cache', 'Swap cache stats: add 2004345, delete 2002822, find 98113/154567',
      'Free swap  = 0kB', 'Total swap = 2097148kB'], (2097148 * 1024, 0, 1523 * 4096)),
    # 6.x: without the stats line (as the VM's 6.1 prints it)
    (['262 pages in swap cache', 'Free swap  = 104kB', 'Total swap = 4194300kB'], (4194300 * 1024, 104 * 1024, 262 * 4096)),
])
def test_swap_lines_of_every_kernel(lines, swap):
    dump = Dump()
    for line in ['Mem-Info:', 'active_anon:10 inactive_anon:20 isolated_anon:0'] + lines:
        dump.feed(line)
    memory = dump.result()['memory']
    assert (memory['swap_total'], memory['swap_free'], memory['swap_cache']) == swap
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import swap_words
    words = swap_words(memory)
    assert words.startswith('swap ') and (words.endswith('in the swap cache'))
    assert ('(full)' in words) == (swap[1] * 100 < swap[0])


def test_a_global_oom_with_swap_full_is_reported_with_its_swap():
    """Real, in the VM (6.1): a swap file of 128 MiB, a hog until the kernel's global OOM killer struck with swap
    full: "Free swap  = 0kB", "Total swap = 131068kB", "16993 pages in swap cache"; the verdict's picture says so."""
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import last_picture
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import postmortems
    here = os.path.join(os.path.dirname(VM), 'swap-oom')
    with open(os.path.join(here, 'swapon.txt')) as handle:
        assert handle.read().split('\n')[1].split()[:3] == ['/swapfile', 'file', '134213632']
    for name, origin in (('kernel.short-iso.txt', 'journal-text'), ('dmesg.txt', 'dmesg')):
        with open(os.path.join(here, name)) as handle:
            kills = [e for e in oom.parse_oom_log(handle, origin=origin) if e['pid']]
        # dmesg holds the boot's every kill: the units' at their MemoryMax= before it
        kills = [k for k in kills if k['constraint'] == 'global']
        assert [k['comm'] for k in kills] == ['python3'], name
        memory = kills[0]['postmortem']['memory']
        assert (memory['swap_total'], memory['swap_free'], memory['swap_cache']) == (131068 * 1024, 0, 16993 * 4096)
        picture = last_picture([dict(postmortems(kills)[0], epoch=1)])
        assert picture.endswith('; swap 128.0 MiB of 128.0 MiB used (full), 66.4 MiB in the swap cache'), picture
