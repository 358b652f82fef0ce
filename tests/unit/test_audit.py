"""The verdict and the ranked recommendations, from facts shaped like memory_facts collects them."""
import pytest

from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import DEFAULT_POLICY, STEPS, audit, classify, effective_memory, merge_policy
from ansible_collections.headroom.memory.plugins.module_utils.read.processes import group_processes
from ansible_collections.headroom.memory.plugins.module_utils.units import human

GIB = 1 << 30
MIB = 1 << 20


def host(available, total=8 * GIB, swap_total=0, swap_used=0, **extra):
    facts = {'memory': {'total': total, 'available': available, 'swap_total': swap_total,
                        'swap_used': swap_used, 'shared': 0}}
    facts.update(extra)
    return facts


def proc(pid, command, res, user='app'):
    return {'pid': pid, 'command': command, 'res': res, 'user': user}


def signals(result):
    return [(r['level'], r['signal']) for r in result['reasons']]


def test_healthy_host_is_ok_with_nothing_to_do():
    result = audit(host(available=6 * GIB))
    assert result['verdict'] == 'ok'
    assert result['reasons'] == []
    assert result['recommendations'] == []
    assert result['usable_pct'] == 75.0
    assert result['summary'] == 'ok: 6.0 GiB of 8.0 GiB available, no swap'


@pytest.mark.parametrize('available_pct, verdict', [(25, 'ok'), (20, 'warning'), (15, 'warning'),
                                                    (10, 'critical'), (3, 'critical')])
def test_available_thresholds_are_inclusive(available_pct, verdict):
    result = audit(host(available=int(8 * GIB * available_pct / 100)))
    assert result['verdict'] == verdict


def test_user_thresholds_move_the_verdict():
    facts = host(available=2 * GIB)  # 25%
    assert audit(facts)['verdict'] == 'ok'
    assert audit(facts, merge_policy({'available_warning_pct': 30}))['verdict'] == 'warning'


def test_merge_policy_rejects_unknown_keys_and_bad_types():
    with pytest.raises(ValueError, match="unknown threshold 'avail_pct'"):
        merge_policy({'avail_pct': 10})
    with pytest.raises(ValueError, match='must be a number'):
        merge_policy({'available_warning_pct': 'high'})
    with pytest.raises(ValueError, match='must be a number'):
        merge_policy({'available_warning_pct': True})
    with pytest.raises(ValueError, match='list of patterns'):
        merge_policy({'deny': 'xmrig'})
    with pytest.raises(ValueError, match='must not be negative'):
        merge_policy({'runaway_pct': -1})
    assert merge_policy(None) == DEFAULT_POLICY


def test_cgroup_limit_tighter_than_ram_decides():
    memory = {'total': 64 * GIB, 'available': 60 * GIB}
    cgroup = {'limit': 1 * GIB, 'current': 950 * MIB}
    assert effective_memory(memory, cgroup) == (1 * GIB, 74 * MIB)
    result = audit(host(available=60 * GIB, total=64 * GIB, cgroup=cgroup))
    assert result['verdict'] == 'critical'
    assert result['limited_by_cgroup'] is True
    assert 'of the cgroup limit' in result['reasons'][0]['message']
    # an unlimited cgroup changes nothing
    assert effective_memory(memory, {'limit': None, 'current': 5 * GIB}) == (64 * GIB, 60 * GIB)


def test_swap_use_rate_pressure_and_oom_kills_each_raise_the_verdict():
    result = audit(host(available=6 * GIB, swap_total=2 * GIB, swap_used=int(1.9 * GIB)))
    assert ('critical', 'swap_used') in signals(result)
    result = audit(host(available=6 * GIB, rates={'swap_bytes': 4 * MIB, 'pgscan_direct': 5000}))
    assert ('warning', 'swap_rate') in signals(result)
    assert ('warning', 'direct_reclaim') in signals(result)
    result = audit(host(available=6 * GIB, pressure={'some': {'avg10': 30.0}, 'full': {'avg10': 25.0}}))
    assert signals(result) == [('critical', 'pressure')]
    result = audit(host(available=6 * GIB, oom_kills=2, oom_events=[{'comm': 'python3'}, {'comm': 'gunicorn'}]))
    assert result['verdict'] == 'warning'
    assert 'killed 2 process(es) in the last 24 h (gunicorn, python3)' in result['reasons'][0]['message']


def test_commit_limit_only_matters_under_strict_overcommit():
    meminfo = {'Committed_AS': 9 * GIB, 'CommitLimit': 8 * GIB}
    assert audit(host(6 * GIB, meminfo=meminfo, overcommit_memory=0))['verdict'] == 'ok'
    assert audit(host(6 * GIB, meminfo=meminfo, overcommit_memory=2))['verdict'] == 'critical'


def test_workers_are_one_group_measured_by_pss_when_every_member_is_known():
    processes = [proc(10 + i, 'gunicorn', 300 * MIB) for i in range(20)] + [proc(5, 'redis-server', 1 * GIB)]
    pss = dict((10 + i, 120 * MIB) for i in range(20))
    groups = group_processes(processes, pss)
    assert [g['command'] for g in groups] == ['gunicorn', 'redis-server']
    gunicorn = groups[0]
    assert gunicorn['count'] == 20 and gunicorn['rss'] == 6000 * MIB
    assert gunicorn['memory'] == gunicorn['pss'] == 2400 * MIB and gunicorn['measure'] == 'pss'
    assert len(gunicorn['pids']) == 10
    # one member without PSS: the group falls back to RSS rather than mixing the two
    del pss[10]
    assert group_processes(processes, pss)[0]['measure'] == 'rss'


def test_full_command_lines_group_by_program_name():
    groups = group_processes([proc(1, '/usr/bin/python3 manage.py runserver', 10),
                              proc(2, 'python3 worker.py', 10), proc(3, '', 5)])
    assert sorted(g['command'] for g in groups) == ['?', 'python3']


def test_allow_and_deny_lists():
    policy = merge_policy({'allow': ['gunicorn', 'redis-*'], 'deny': ['xmrig']})
    groups = classify(group_processes([proc(1, 'gunicorn', GIB), proc(2, 'xmrig', 2 * GIB),
                                       proc(3, 'mystery', 200 * MIB), proc(4, 'tiny', MIB),
                                       proc(5, 'redis-server', GIB)]), policy)
    status = dict((g['command'], g['status']) for g in groups)
    assert status == {'gunicorn': 'allowed', 'xmrig': 'denied', 'mystery': 'unknown', 'tiny': None,
                      'redis-server': 'allowed'}
    # without an allow list nothing is "unknown"
    groups = classify(group_processes([proc(3, 'mystery', 200 * MIB)]), merge_policy())
    assert groups[0]['status'] is None


def test_short_host_gets_recommendations_in_the_operators_order():
    processes = ([proc(1, 'xmrig', 2 * GIB)] + [proc(10 + i, 'gunicorn', 150 * MIB) for i in range(8)]
                 + [proc(30, 'redis-server', 1200 * MIB)])
    policy = merge_policy({'deny': ['xmrig']})
    facts = host(available=400 * MIB, groups=classify(group_processes(processes), policy),
                 rates={'swap_bytes': 0}, oom_kills=3, oom_events=[{'comm': 'gunicorn'}])
    result = audit(facts, policy)
    assert result['verdict'] == 'critical'
    steps = [rec['step'] for rec in result['recommendations']]
    assert steps == sorted(steps, key=STEPS.index), 'recommendations must follow the cheapest-first order'
    assert steps == ['processes', 'caches', 'code', 'swap', 'refactor']
    first = result['recommendations'][0]
    assert first['rank'] == 1 and first['title'] == 'Stop xmrig' and first['bytes'] == 2 * GIB
    assert [r['role'] for r in result['recommendations'] if r['role']] == ['cache_flush', 'swap_setup']
    # 400 MiB available + 2 GiB freed by stopping xmrig covers the 20% target: no scale step
    assert 'scale' not in steps
    assert result['lines'][0] == result['summary']
    assert any(line.startswith('  1. [processes] Stop xmrig') for line in result['lines'])


def test_scale_says_how_much_memory_is_missing_rounded_up_to_a_gib():
    result = audit(host(available=100 * MIB, swap_total=GIB))
    scale = [r for r in result['recommendations'] if r['step'] == 'scale']
    # 20% of 8 GiB is 1638.4 MiB; 100 MiB available: 1538.4 MiB missing -> 2 GiB
    assert scale and scale[0]['bytes'] == 2 * GIB
    assert 'Add about 2.0 GiB of memory' == scale[0]['title']
    # swap exists, so no swap step
    assert 'swap' not in [r['step'] for r in result['recommendations']]


def test_runaway_process_is_flagged():
    groups = classify(group_processes([proc(1, 'java', 5 * GIB)]), merge_policy())
    result = audit(host(available=2 * GIB, groups=groups))
    assert ('warning', 'runaway') in signals(result)
    assert result['recommendations'][0]['title'] == 'Check java for a runaway'


def test_human_sizes_for_messages():
    assert human(0) == '0 B'
    assert human(1536) == '1.5 KiB'
    assert human(5 * GIB) == '5.0 GiB'
    assert human(None) == '0 B'


def test_growth_across_top_samples_is_a_refactor_lead():
    from ansible_collections.headroom.memory.plugins.module_utils.read.processes import growth
    samples = [{'processes': [proc(7, 'gunicorn', 200 * MIB), proc(8, 'redis-server', GIB), proc(9, 'gone', MIB)]},
               {'processes': [proc(7, 'gunicorn', 330 * MIB), proc(8, 'redis-server', GIB - MIB),
                              proc(10, 'new', 5 * GIB)]}]
    grown = growth(samples, seconds=4.0)
    assert grown == [{'pid': 7, 'command': 'gunicorn', 'from': 200 * MIB, 'to': 330 * MIB, 'grew': 130 * MIB,
                      'seconds': 4.0}]
    assert growth(samples[:1]) == []
    result = audit(host(available=6 * GIB, growth=grown))
    assert signals(result) == [('warning', 'growth')]
    rec = result['recommendations'][0]
    assert rec['step'] == 'refactor' and rec['title'] == 'Look into gunicorn (pid 7) for a leak or a heavy request'
    assert 'grew by 130.0 MiB (200.0 MiB to 330.0 MiB) in 4 s' in rec['detail']
    # below the threshold it is not a finding
    assert audit(host(available=6 * GIB, growth=grown), merge_policy({'growth_warning_bytes': 200 * MIB}))['verdict'] == 'ok'


def test_a_cgroup_swap_limit_caps_the_machines_swap():
    # a container run with --memory-swap equal to --memory sees the machine's 2 GiB of swap in free
    cgroup = {'limit': GIB, 'current': 950 * MIB, 'swap_limit': 0, 'swap_current': 0}
    result = audit(host(available=6 * GIB, swap_total=2 * GIB, swap_used=GIB, cgroup=cgroup))
    assert (result['swap_total'], result['swap_used']) == (0, 0)
    swap = [r for r in result['recommendations'] if r['step'] == 'swap'][0]
    assert swap['title'] == 'Let the cgroup swap' and swap['role'] is None
    # allowed 512 MiB of it, 100 MiB in use by the cgroup
    cgroup = dict(cgroup, swap_limit=512 * MIB, swap_current=100 * MIB)
    result = audit(host(available=6 * GIB, swap_total=2 * GIB, swap_used=GIB, cgroup=cgroup))
    assert (result['swap_total'], result['swap_used']) == (512 * MIB, 100 * MIB)
    assert 'swap' not in [r['step'] for r in result['recommendations']]
    # no swap anywhere and a cgroup that may swap: a swap file is the fix
    result = audit(host(available=6 * GIB, cgroup=dict(cgroup, swap_limit=None)))
    assert [r['role'] for r in result['recommendations'] if r['step'] == 'swap'] == ['swap_setup']


@pytest.mark.parametrize('user, message', [
    ({'available_warning_pct': 5, 'available_critical_pct': 50}, r'available_warning_pct \(5\) must be at least '
                                                                 r'available_critical_pct \(50\)'),
    ({'available_critical_pct': 30}, r'available_warning_pct \(20.0\) must be at least available_critical_pct'),
    ({'swap_used_warning_pct': 95}, r'swap_used_warning_pct \(95\) must be at most swap_used_critical_pct'),
    ({'swap_rate_warning_bytes': 1 << 30}, 'swap_rate_warning_bytes .* must be at most'),
    ({'oom_window_hours': 0}, 'oom_window_hours must be more than 0'),
])
def test_inverted_or_impossible_thresholds_refused(user, message):
    with pytest.raises(ValueError, match=message):
        merge_policy(user)


def test_equal_thresholds_accepted():
    assert merge_policy({'available_warning_pct': 15, 'available_critical_pct': 15})['available_critical_pct'] == 15


def test_a_pool_of_workers_is_no_runaway_but_one_process_is():
    """Four gunicorn workers at 44% together (11% each) rank as no runaway; Redis alone at 41% does."""
    workers = [proc(100 + i, 'gunicorn', int(0.11 * 8 * GIB)) for i in range(4)]
    groups = classify(group_processes(workers + [proc(7, 'redis-server', int(0.41 * 8 * GIB))]), merge_policy())
    result = audit(host(available=int(1.5 * GIB), groups=groups))
    runaways = [r['message'] for r in result['reasons'] if r['signal'] == 'runaway']
    assert runaways == ['redis-server (pid 7) holds 41% of memory (3.3 GiB)']
    titles = [r['title'] for r in result['recommendations']]
    assert 'Check gunicorn for a runaway' not in titles and titles[0] == 'Check redis-server for a runaway'
    assert 'Slim gunicorn' in titles  # the pool is the code step's question


def test_largest_member_by_the_groups_measure():
    groups = group_processes([proc(1, 'celery', 300), proc(2, 'celery', 100)], pss={1: 50, 2: 90})
    assert groups[0]['largest'] == {'pid': 2, 'memory': 90} and groups[0]['memory'] == 140
    groups = group_processes([proc(1, 'celery', 300), proc(2, 'celery', 100)], pss={1: 50})
    assert groups[0]['largest'] == {'pid': 1, 'memory': 300} and groups[0]['measure'] == 'rss'


def test_thresholds_as_strings_are_numbers_and_hostile_ones_are_refused():
    assert merge_policy({'available_warning_pct': '25', 'oom_window_hours': '0.5'})['available_warning_pct'] == 25
    assert merge_policy({'oom_window_hours': '0.5'})['oom_window_hours'] == 0.5
    for value, message in (('lots', 'must be a number'), (float('inf'), 'finite'), ('1e400', 'finite'),
                           (float('nan'), 'finite'), ('9' * 5000, 'must be a number'), (True, 'must be a number'),
                           (10 ** 30, 'finite'), ('-5', 'must not be negative'), ('２５', 'must be a number'),
                           ('2_5', 'must be a number')):
        with pytest.raises(ValueError, match=message):
            merge_policy({'runaway_pct': value})


def _stall_facts(**extra):
    facts = {'memory': {'total': 8 << 30, 'available': 3 << 30, 'swap_total': 1 << 30, 'swap_used': 0}}
    facts.update(extra)
    return facts


def test_a_host_that_stalls_without_killing_is_its_own_verdict_with_the_guard_step():
    """PSI full held 12% over the last minute and no kill: the server hangs rather than dies."""
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy
    result = audit(_stall_facts(pressure={'some': {'avg10': 3.0, 'avg60': 30.0}, 'full': {'avg10': 2.0, 'avg60': 12.0}}),
                   merge_policy())
    assert result['stall'] == {'stalling': True, 'killing': False,
                               'signals': ['all tasks waited on memory 12.0% of the last minute (PSI full avg60)']}
    assert result['verdict'] == 'critical'
    stall = [r for r in result['reasons'] if r['signal'] == 'stall'][0]
    assert stall['message'].startswith('the host stalls instead of killing: all tasks waited on memory 12.0%')
    assert 'no OOM kill in the last 24 h' in stall['message']
    assert [r['step'] for r in result['recommendations']].count('guard') == 1


def test_major_faults_with_direct_reclaim_stall_too_and_either_alone_does_not():
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy
    both = audit(_stall_facts(rates={'pgscan_direct': 5000, 'pgmajfault': 2500, 'swap_bytes': 0}), merge_policy())
    assert both['stall']['stalling'] and both['stall']['signals'] == [
        '2500 major faults/s while allocations reclaim 5000 pages/s themselves']
    for rates in ({'pgscan_direct': 5000, 'pgmajfault': 10}, {'pgscan_direct': 10, 'pgmajfault': 2500}):
        assert audit(_stall_facts(rates=dict(rates, swap_bytes=0)), merge_policy())['stall']['stalling'] is False


def test_a_host_that_kills_is_not_said_to_stall():
    from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy
    result = audit(_stall_facts(pressure={'full': {'avg10': 2.0, 'avg60': 12.0}}, oom_kills=2), merge_policy())
    assert result['stall'] == {'stalling': False, 'killing': True, 'signals': [
        'all tasks waited on memory 12.0% of the last minute (PSI full avg60)']}
    assert not [r for r in result['reasons'] if r['signal'] == 'stall']
    assert 'guard' not in [r['step'] for r in result['recommendations']]
