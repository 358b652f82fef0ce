"""A stall without a kill (issue 21, part 5): with swap on (the remediation's), a working set larger than the memory
left is touched in a loop. The machine swaps without end, PSI 'full' rises, nothing is killed. The diagnosis, with a
watch window, says the host stalls and catches its worst moment (the lowest available memory and who held it). The
user then runs remediate.yml with the guard among the fixes: the stall calls for it (kill early instead of
stalling), and oom_guard sets up earlyoom with headroom's settings, ranks the units, and sets MGLRU's min_ttl_ms."""
import time

from scenario import step, measured, meminfo, show, vmstat, wait_for

UNIT = 'headroom-thrash.service'
# Each page of the working set written in turn, again and again (a working set the program keeps using).
THRASH = r'''
import sys, time
size = int(sys.argv[1]) << 20
blob = bytearray(size)
passes = 0
while True:
    for offset in range(0, size, 4096):
        blob[offset] = passes & 0xff
    passes += 1
'''
WATCH_SECONDS = 20


def pressure(vm):
    """/proc/pressure/memory as {'some': {...}, 'full': {...}}."""
    found = {}
    for line in vm.ssh('cat /proc/pressure/memory').stdout.splitlines():
        kind, *pairs = line.split()
        found[kind] = dict((k, float(v)) for k, v in (pair.split('=') for pair in pairs))
    return found


@step
def stall(vm, third_traffic, diagnose):
    started = time.monotonic()
    info = meminfo(vm)
    # what is available now, and 200 MiB more: that much has to come back from swap on every pass
    working_set = (info['MemAvailable'] >> 20) + 200
    before = vmstat(vm)
    vm.ssh('cat >/usr/local/bin/headroom-thrash', input=THRASH)
    vm.ssh('systemd-run --unit=%s --description="headroom test: a working set larger than RAM" '
           '/usr/bin/python3 /usr/local/bin/headroom-thrash %d' % (UNIT, working_set))
    try:
        # the diagnosis calls a stall PSI full of 5% or more over the last minute (psi_full_stall_pct): wait until it is
        peak = wait_for('PSI full avg60 above 6%', lambda: (lambda p: p if p['full']['avg60'] >= 6 else None)(pressure(vm)),
                        timeout=300, interval=2)
        record, _report = diagnose('stall', 'process_audit_watch_seconds=%d' % WATCH_SECONDS)
        during = pressure(vm)
        thrash_pid = int(show(vm, UNIT, 'MainPID')['MainPID'])
    finally:
        vm.ssh('systemctl stop %s' % UNIT, check=False)
    after = vmstat(vm)
    measured('stall', started)
    return {'working_set': working_set, 'peak': peak, 'during': during, 'record': record, 'pid': thrash_pid,
            'kills': after['oom_kill'] - before['oom_kill'], 'swapped_in': after['pswpin'] - before['pswpin']}


@step
def guarded(vm, stall, remediate):
    """remediate.yml with the guard asked for, right after the stall (its PSI over the last minute still shows)."""
    started = time.monotonic()
    rc, record, report, recap, output = remediate('remediate-guard', ['oom_guard'])
    earlyoom = show(vm, 'earlyoom.service', 'ActiveState', 'MainPID', 'DropInPaths', 'ExecStart')
    argv = vm.ssh('tr "\\0" " " </proc/%s/cmdline' % earlyoom['MainPID'], check=False).stdout.split()
    adjust = dict((unit, show(vm, unit, 'OOMScoreAdjust')['OOMScoreAdjust'])
                  for unit in ('gunicorn.service', 'ssh.service', 'redis-server.service'))
    mglru = dict((name, vm.ssh('cat /sys/kernel/mm/lru_gen/%s' % name).stdout.strip()) for name in ('enabled', 'min_ttl_ms'))
    measured('remediate_guard', started)
    return {'rc': rc, 'record': record, 'output': output, 'earlyoom': earlyoom, 'argv': argv, 'adjust': adjust,
            'mglru': mglru}


def test_the_machine_stalled_without_a_kill(stall):
    assert stall['kills'] == 0
    assert stall['swapped_in'] > 0
    assert stall['peak']['full']['avg60'] >= 6 and stall['during']['full']['avg10'] > 0, (stall['peak'], stall['during'])


def test_the_diagnosis_says_stall(stall):
    record = stall['record']
    assert record['stall']['stalling'], record['stall']
    assert [r for r in record['reasons'] if r['signal'] == 'stall'], record['reasons']
    assert record['verdict'] == 'critical'
    guard = [rec for rec in record['recommendations'] if rec['role'] == 'oom_guard']
    assert guard and guard[0]['title'] == 'Kill early instead of stalling', record['recommendations']


def test_the_watch_window_catches_the_worst_moment(stall):
    watch = stall['record']['watch']
    assert watch['seconds'] == WATCH_SECONDS and watch['samples'] >= 3, watch
    lowest = watch['lowest']
    assert lowest and lowest['available'] < stall['record']['memory']['total'] * 0.2, watch
    # who held the memory then: the thrashing program (python3) first, with a few hundred MiB resident
    assert lowest['commands'][0]['command'] == 'python3' and lowest['commands'][0]['rss'] >= 200 << 20, lowest['commands']
    assert watch['peak_swap'] and watch['peak_swap']['bytes_per_second'] > 0, watch


def test_remediate_sets_up_the_guard_the_stall_called_for(guarded):
    assert guarded['rc'] == 0, guarded['output'][-4000:]
    remediation = guarded['record']['remediation']
    assert 'oom_guard' in remediation['fixes'], remediation
    steps = dict((fix['role'], fix) for fix in remediation['steps'])
    assert steps['oom_guard']['status'] == 'applied', steps['oom_guard']
    assert guarded['earlyoom']['ActiveState'] == 'active', guarded['earlyoom']
    argv = guarded['argv']
    assert argv[argv.index('-m') + 1] == '10,5' and argv[argv.index('-s') + 1] == '10,5', argv
    assert argv[argv.index('--prefer') + 1] == '^(gunicorn)$', argv
    assert 'redis-server' in argv[argv.index('--avoid') + 1] and 'sshd' in argv[argv.index('--avoid') + 1], argv
    assert guarded['adjust'] == {'gunicorn.service': '500', 'ssh.service': '-900', 'redis-server.service': '-900'}
    assert guarded['mglru']['min_ttl_ms'] == '1000', guarded['mglru']
