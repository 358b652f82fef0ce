"""The seed's scenario, second half (issue 21, part 2): remediate.yml with headroom_apply=true and every fix asked
for, as the user who just read the diagnosis runs it: swap sized from the machine's RAM (Red Hat's table: twice the
RAM up to 2 GiB), Redis trimmed of the keys declared disposable (the cached reports) with the sessions and the rest
kept, the guard only where the diagnosis calls for it, the unit policy as it is. Then the same traffic again: no
kill of Redis or sshd, the site answers, and the next diagnosis shows the improvement."""
import time

from scenario import step, cursor, kernel_kills, measured, meminfo, redis_keys, run_traffic, site_back, vmstat
from test_e_seed import TRAFFIC

FIXES = ['cache_flush', 'swap_setup', 'oom_guard', 'unit_policy']
DISPOSABLE = [{'db': 0, 'match': ':1:report:*'}]
ORDER = ('ok', 'warning', 'critical')


@step
def remediated(vm, second_kill, remediate):
    started = time.monotonic()
    site_back(vm, 'the site')
    keys_before = redis_keys(vm)
    # headroom_history=false as in test_f: the kills diagnose.yml already judged would otherwise call for no swap
    rc, record, report, recap, output = remediate('remediate-all', FIXES, {'cache_flush_redis_patterns': DISPOSABLE},
                                                  'headroom_history=false')
    keys_after = redis_keys(vm)
    swaps = vm.ssh('cat /proc/swaps').stdout.splitlines()[1:]
    fstab = vm.ssh('cat /etc/fstab').stdout
    sysctl = vm.ssh('cat /etc/sysctl.d/60-headroom-swap.conf', check=False).stdout
    live = dict((name, vm.ssh('cat /proc/sys/vm/%s' % name).stdout.strip()) for name in ('swappiness', 'vfs_cache_pressure'))
    measured('remediate_all', started)
    return {'rc': rc, 'record': record, 'recap': recap, 'output': output, 'keys_before': keys_before,
            'keys_after': keys_after, 'swaps': swaps, 'fstab': fstab, 'sysctl': sysctl, 'live': live,
            'memtotal': meminfo(vm)['MemTotal']}


@step
def third_traffic(vm, remediated, diagnose):
    start_cursor = cursor(vm)
    before = vmstat(vm)
    traffic, figures = run_traffic(vm, 'after-remediation', until_kill=False, least=30.0, **TRAFFIC)
    kills = kernel_kills(vm, start_cursor)
    record, _report = diagnose('after-remediation')
    return {'figures': figures, 'kills': kills, 'record': record, 'swapped': vmstat(vm)['pswpout'] - before['pswpout']}


def test_remediate_applied_what_the_diagnosis_called_for(remediated):
    assert remediated['rc'] == 0, remediated['output'][-4000:]
    remediation = remediated['record']['remediation']
    steps = dict((fix['role'], fix) for fix in remediation['steps'])
    assert remediation['status'] == 'applied', remediation
    assert steps['swap_setup']['status'] == 'applied' and steps['cache_flush']['status'] == 'applied', steps
    # the guard was asked for, but the diagnosis found neither a stall nor a kill of sshd, the database or Redis
    assert 'oom_guard' not in remediation['fixes'], remediation


def test_swap_is_sized_from_the_machine_s_ram(remediated):
    swaps = [line.split() for line in remediated['swaps']]
    assert [fields[0] for fields in swaps] == ['/swapfile'], swaps
    size = int(swaps[0][2]) * 1024
    # twice the RAM (MemTotal, up to 2 GiB: Red Hat's table), rounded up to 128 MiB as swap_setup sizes a file;
    # /proc/swaps leaves out the area's header page
    step = 128 << 20
    assert size == -(-2 * remediated['memtotal'] // step) * step - 4096, (size, remediated['memtotal'])
    assert '/swapfile' in remediated['fstab']
    assert 'vm.swappiness = 10' in remediated['sysctl'] or 'vm.swappiness=10' in remediated['sysctl'], remediated['sysctl']
    assert remediated['live']['swappiness'] == '10'


def test_redis_lost_the_declared_keys_only(remediated):
    before, after = remediated['keys_before'], remediated['keys_after']
    assert before['reports'] > 1000 and after['reports'] == 0, (before, after)
    assert after['sessions'] == before['sessions'] > 0, (before, after)
    assert after['settings'] == before['settings'] == 2, (before, after)
    assert after['all'] == before['all'] - before['reports'], (before, after)
    assert after['used_memory'] < before['used_memory'] - (64 << 20), (before, after)


def test_the_same_traffic_again_kills_neither_redis_nor_sshd(third_traffic):
    killed = [entry['MESSAGE'] for entry in third_traffic['kills']]
    assert not [line for line in killed if '(redis-server)' in line or '(sshd)' in line], killed
    figures = third_traffic['figures']
    assert figures['light_ok'] >= 0.95 * (figures['light_ok'] + figures['light_failed']), figures
    assert figures['heavy_ok'] > 0, figures


def test_the_next_diagnosis_shows_the_improvement(third_traffic, first_kill):
    now, then = third_traffic['record'], first_kill['record']
    assert then['swap_total'] == 0 and now['swap_total'] > 0
    assert then['oom']['recent'] >= 1 and now['oom']['recent'] == 0, (then['oom'], now['oom'])
    assert ORDER.index(now['verdict']) <= ORDER.index(then['verdict']), (then['summary'], now['summary'])
    assert not [r for r in now['reasons'] if r['signal'] == 'oom'], now['reasons']

    def redis(record):
        return sum(group['memory'] for group in record['groups'] if group['command'] == 'redis-server')
    assert redis(now) < redis(then) - (64 << 20), (redis(then), redis(now))
