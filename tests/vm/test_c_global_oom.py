"""A real global OOM on the whole machine: no swap, a Python hog in a service of its own allocating until the
kernel's OOM killer kills it (constraint=CONSTRAINT_NONE, global_oom, with the Mem-Info block). The next
diagnose.yml, run as a user runs it after the incident, must count the kill, name the victim and give its
post-mortem from the global report.

The kernel's report is kept as it came (journalctl -k -o short-iso, dmesg, the unit's journal) with the
kernel and systemd versions, in reports/vm/captures/ on every run: tests/fixtures/vm/ holds one such capture
for the unit tests.
"""
import os
import re
import shlex
import time

import pytest

from conftest import REPORTS, STATS
from scenario import wait_for
from ansible_collections.headroom.memory.plugins.module_utils.read import oom

PAGE = 4096
# 16 MiB at a time, each byte written (a bytes object filled with 1s: no page left untouched), kept
# until the kernel kills the process: about 800 MiB in a 1 GiB machine without swap.
HOG = '''import time
chunks = []
while True:
    chunks.append(b"\\x01" * (16 << 20))
'''
# Mem-Info's fields that the post-mortem gives in bytes: the kernel prints them in pages (mm/show_mem.c,
# __show_free_areas() in 6.1: "active_anon:%lu inactive_anon:%lu ... free:%lu free_pcp:%lu free_cma:%lu")
MEM_INFO = re.compile(r'\b(active_anon|inactive_anon|isolated_anon|active_file|inactive_file|isolated_file|unevictable|'
                      r'dirty|writeback|slab_reclaimable|slab_unreclaimable|mapped|shmem|pagetables|bounce|'
                      r'kernel_misc_reclaimable|free|free_pcp|free_cma):(\d+)\b')


def vmstat_oom_kill(vm):
    for line in vm.ssh('cat /proc/vmstat').stdout.splitlines():
        name, value = line.split()
        if name == 'oom_kill':
            return int(value)
    raise AssertionError('no oom_kill in the VM\'s /proc/vmstat')


def mem_info_pages(kernel_log):
    """{field: pages} of the first Mem-Info block after the first 'invoked oom-killer' line."""
    lines = kernel_log.splitlines()
    start = next(i for i, line in enumerate(lines) if 'invoked oom-killer' in line)
    block = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith('Mem-Info:'))
    found = {}
    for line in lines[block + 1:block + 20]:  # its continuation lines, up to the per-node line that follows
        if ' Node ' in line:
            break
        for name, value in MEM_INFO.findall(line):
            found.setdefault(name, int(value))
    return found


@pytest.fixture(scope='module')
def killed(vm, diagnose):
    """Run the hog, wait for the kernel to kill it, capture the kernel's report; then diagnose."""
    diagnose('before-oom')  # the user's previous run: the kill comes after it
    before = vmstat_oom_kill(vm)
    vm.ssh('cat >/usr/local/bin/headroom-hog', input=HOG)
    vm.ssh('systemd-run --unit=headroom-hog --description="headroom test: a Python hog" /usr/bin/python3 /usr/local/bin/headroom-hog')
    pid = int(vm.ssh('systemctl show -p MainPID --value headroom-hog').stdout)
    assert pid > 0
    started = time.monotonic()
    after = wait_for('the kernel\'s OOM kill (/proc/vmstat oom_kill above %d)' % before,
                     lambda: max(0, vmstat_oom_kill(vm) - before) and vmstat_oom_kill(vm), timeout=900)
    STATS['oom_kill_seconds'] = round(time.monotonic() - started, 1)
    result = wait_for('systemd to record the unit\'s end',
                      lambda: (lambda r: r if 'ActiveState=failed' in r else None)(
                          vm.ssh('systemctl show -p ActiveState,Result headroom-hog').stdout), timeout=300)
    capture = {
        'journalctl-k.short-iso.txt': vm.ssh('journalctl -k -b -o short-iso --no-pager').stdout,
        'dmesg.txt': vm.ssh('dmesg').stdout,
        'unit.journal.short-iso.txt': vm.ssh('journalctl -b -o short-iso --no-pager -u headroom-hog').stdout,
        'unit.journal.json': vm.ssh('journalctl -b -o json --no-pager -u headroom-hog').stdout,
        # the query headroom itself runs first (read/oom.py oom_log_commands), as it answered here
        'oom-query.short-iso.txt': vm.ssh(shlex.join(oom.oom_log_commands()[0]['argv'])).stdout,
        'versions.txt': vm.ssh('uname -r; uname -v; systemctl --version | head -n 1; cat /etc/debian_version; '
                               'dpkg-query -W -f="\\${Package} \\${Version}\\n" procps util-linux systemd').stdout,
    }
    kernel = vm.ssh('uname -r').stdout.strip()
    where = os.path.join(REPORTS, 'captures', 'global-oom-%s' % kernel)
    os.makedirs(where, exist_ok=True)
    for name, text in capture.items():
        with open(os.path.join(where, name), 'w') as handle:
            handle.write(text)
    record, _report = diagnose('after-oom')
    return {'before': before, 'after': after, 'pid': pid, 'result': result, 'capture': capture, 'record': record}


def test_the_kernel_killed_the_hog_in_a_global_oom(killed):
    assert killed['after'] == killed['before'] + 1
    assert 'Result=oom-kill' in killed['result'], killed['result']
    log = killed['capture']['journalctl-k.short-iso.txt']
    kill_lines = [line for line in log.splitlines() if 'Out of memory: Killed process %d ' % killed['pid'] in line]
    assert len(kill_lines) == 1, log[-3000:]
    assert re.search(r'oom-kill:constraint=CONSTRAINT_NONE,.*,global_oom,task_memcg=/system\.slice/headroom-hog\.service,'
                     r'task=python3,pid=%d,' % killed['pid'], log), log[-3000:]
    assert 'Mem-Info:' in killed['capture']['dmesg.txt']


def test_after_the_kill_the_cgroup_section_is_still_the_machine_s(killed):
    """Before: the SSH session's scope, oom_kill 0 after the machine's kill. The kill is the machine's
    (/proc/vmstat); the session's count is not given as the host's."""
    cgroup = killed['record']['cgroup']
    assert cgroup['scope'] == '/' and cgroup['events'] is None, cgroup
    assert killed['record']['oom']['counted_by'] == '/proc/vmstat oom_kill (since boot)'


def test_the_next_diagnosis_counts_the_kill_and_names_the_victim(killed):
    record = killed['record']
    oom = record['oom']
    assert oom['kills'] is not None and oom['kills'] >= 1, oom
    assert oom['kills'] == killed['after'], oom
    assert oom['recent'] >= 1, oom
    assert record['verdict'] != 'ok', record['summary']
    events = [event for event in oom['events'] if event['pid'] == killed['pid']]
    assert len(events) == 1, oom['events']
    assert events[0]['comm'] == 'python3'
    assert 'python3' in oom['victims'] or 'headroom-hog.service' in oom['victims'], oom['victims']


def test_the_post_mortem_is_global_with_the_kernel_s_mem_info(killed):
    record = killed['record']
    mine = [entry for entry in record['postmortem'] if entry['victim']['pid'] == killed['pid']]
    assert len(mine) == 1, record['postmortem']
    entry = mine[0]
    assert entry['scope'] == 'global', entry
    assert entry['victim']['command'] == 'python3'
    assert entry['victim']['cgroup'] == '/system.slice/headroom-hog.service', entry['victim']
    pages = mem_info_pages(killed['capture']['journalctl-k.short-iso.txt'])
    memory = entry['memory']
    # the post-mortem's figures are disjoint: shmem pages sit on the anon LRU lists (they are swap-backed:
    # folio_is_file_lru() is false for them, include/linux/mm_inline.h), so anon is the anon lists less shmem
    assert memory['anon'] == (pages['active_anon'] + pages['inactive_anon'] - pages['shmem']) * PAGE, (memory, pages)
    assert memory['file'] == (pages['active_file'] + pages['inactive_file']) * PAGE, (memory, pages)
    assert memory['shmem'] == pages['shmem'] * PAGE, (memory, pages)
    assert memory['slab'] == (pages['slab_reclaimable'] + pages['slab_unreclaimable']) * PAGE, (memory, pages)
    assert memory['free'] == pages['free'] * PAGE, (memory, pages)
    # the victim held most of the machine's memory: most of the anon pages are its
    assert entry['victim']['rss'] > 0.5 * memory['anon'], entry
    # the task dump: python3 listed, with the victim's pid
    tasks = dict((task['command'], task) for task in entry['tasks'] or [])
    assert 'python3' in tasks and killed['pid'] in tasks['python3']['pids'], entry['tasks']


def test_systemd_s_line_about_the_killed_unit_is_filed_under_that_unit_and_linked_to_the_kill(killed):
    """Issue 21, defect 2: systemd's "<unit>: Main process exited, code=killed, status=9/KILL" comes from PID 1
    (_SYSTEMD_UNIT=init.scope); the unit it is about is its UNIT= field."""
    deaths = killed['record']['app_deaths']['deaths']
    about = [death for death in deaths if 'headroom-hog.service' in (death['message'] or '')]
    assert about, deaths
    for death in about:
        assert death['unit'] == 'headroom-hog.service', death
        assert death['kernel_pid'] == killed['pid'], death
    reasons = ' '.join(reason['message'] for reason in killed['record']['reasons'])
    assert 'init.scope' not in reasons, reasons
