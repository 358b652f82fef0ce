"""cgroup v2 on a whole machine (issue 21, part 6): a service with MemoryMax= whose worker is OOM-killed inside its
limit, while the machine has memory to spare. The kernel's report is a memory cgroup's (constraint=CONSTRAINT_MEMCG,
oom_memcg=/system.slice/<unit>), the unit's memory.events counts it (max, oom, oom_kill), and the unit runs on
(OOMPolicy=continue: its master keeps its cgroup, and its memory.events, alive). The next diagnosis counts the kill
and names the unit.

The unit's cgroup files and the kernel's report are kept in reports/vm/captures/unit-limit-<kernel>/ (the unit
tests read the copy in tests/fixtures/vm/bookworm-6.1.0-57-amd64/unit-limit/: tests/unit/test_vm_unit_limit.py)."""
import re
import time

from scenario import step, capture, measured, show, vmstat, wait_for

UNIT = 'headroom-capped.service'
LIMIT = 64 << 20
# A master that forks a worker; the worker allocates 8 MiB at a time (each page written) until the kernel kills it
# at the unit's limit; the master stays, as an app server's does.
CAPPED = r'''
import os, time
pid = os.fork()
if pid == 0:
    chunks = []
    while True:
        chunks.append(b"\x01" * (8 << 20))
os.waitpid(pid, 0)
while True:
    time.sleep(3600)
'''


def cgroup_files(vm, unit):
    base = '/sys/fs/cgroup/system.slice/%s' % unit
    return dict((name, vm.ssh('cat %s/%s' % (base, name)).stdout) for name in (
        'memory.events', 'memory.events.local', 'memory.max', 'memory.current', 'memory.peak', 'memory.swap.max',
        'memory.swap.current', 'memory.pressure', 'memory.stat', 'cgroup.procs') if vm.ssh(
            'test -e %s/%s' % (base, name), check=False).returncode == 0)


def events(text):
    return dict((name, int(value)) for name, value in (line.split() for line in text.splitlines()))


@step
def limited(vm, diagnose):
    started = time.monotonic()
    before = vmstat(vm)['oom_kill']
    vm.ssh('cat >/usr/local/bin/headroom-capped', input=CAPPED)
    vm.ssh('systemd-run --unit=%s -p MemoryMax=%d -p OOMPolicy=continue --description="headroom test: a capped '
           'service" /usr/bin/python3 /usr/local/bin/headroom-capped' % (UNIT, LIMIT))
    base = '/sys/fs/cgroup/system.slice/%s' % UNIT
    wait_for('the kernel\'s kill inside %s\'s limit' % UNIT,
             lambda: events(vm.ssh('cat %s/memory.events' % base).stdout).get('oom_kill'), timeout=300)
    files = cgroup_files(vm, UNIT)
    state = show(vm, UNIT, 'ActiveState', 'SubState', 'Result', 'MainPID', 'MemoryMax', 'OOMPolicy')
    kernel = vm.ssh('journalctl -k -b -o short-iso --no-pager').stdout
    unit_journal = vm.ssh('journalctl -b -o json --no-pager -u %s' % UNIT).stdout
    capture(vm, 'unit-limit', dict(
        [('cgroup.%s' % name, text) for name, text in files.items()] + [
            ('journalctl-k.short-iso.txt', kernel), ('unit.journal.json', unit_journal),
            ('systemctl-show.txt', ''.join('%s=%s\n' % item for item in sorted(state.items())))]))
    record, _report = diagnose('after-unit-limit')
    measured('unit_limit', started)
    return {'before': before, 'after': vmstat(vm)['oom_kill'], 'files': files, 'state': state, 'kernel': kernel,
            'record': record}


def test_the_kernel_killed_inside_the_unit_s_limit_and_the_unit_runs_on(limited):
    counted = events(limited['files']['memory.events'])
    assert counted['oom_kill'] == 1 and counted['oom'] >= 1 and counted['max'] >= 1, counted
    assert int(limited['files']['memory.max']) == LIMIT
    assert limited['state']['ActiveState'] == 'active', limited['state']
    assert limited['after'] == limited['before'] + 1
    report = limited['kernel']
    assert re.search(r'oom-kill:constraint=CONSTRAINT_MEMCG,.*oom_memcg=/system\.slice/%s,task_memcg=/system\.slice/%s,'
                     r'task=python3,' % (re.escape(UNIT), re.escape(UNIT)), report), report[-3000:]
    assert 'Memory cgroup out of memory: Killed process' in report


def test_the_next_diagnosis_counts_the_kill_and_names_the_unit(limited):
    record = limited['record']
    oom = record['oom']
    assert oom['kills'] == limited['after'], oom
    mine = [event for event in oom['events'] if event.get('unit') == UNIT]
    assert len(mine) == 1, oom['events']
    assert mine[0]['constraint'] != 'global' and mine[0]['memcg'] == '/system.slice/' + UNIT, mine[0]
    entry = [e for e in record['postmortem'] if (e['victim'].get('cgroup') or '').endswith(UNIT)]
    assert len(entry) == 1 and entry[0]['scope'] != 'global', record['postmortem']
    assert entry[0]['memory']['limit'] == LIMIT, entry[0]['memory']
