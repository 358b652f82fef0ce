"""Whether an early OOM killer guards the host, and how it is set (the real earlyoom is in
tests/integration/test_collect_remote.py)."""
from ansible_collections.headroom.memory.plugins.module_utils.read import guard
from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy


def test_earlyoom_options_as_its_command_line_gives_them():
    argv = ['/usr/bin/earlyoom', '-m', '10,5', '-s5', '--prefer', '^(gunicorn|celery)$', '--avoid=^(sshd|postgres)$',
            '-r', '3600']
    assert guard.earlyoom_settings(argv) == {'mem_percent': '10,5', 'swap_percent': '5',
                                             'prefer': '^(gunicorn|celery)$', 'avoid': '^(sshd|postgres)$'}
    assert guard.earlyoom_settings(['/usr/bin/earlyoom']) == {}


def test_oomd_settings_and_its_drop_ins(tmp_path):
    base = tmp_path / 'etc' / 'systemd'
    (base / 'oomd.conf.d').mkdir(parents=True)
    (base / 'oomd.conf').write_text('[OOM]\n#SwapUsedLimit=90%\nDefaultMemoryPressureLimit=60%\n')
    (base / 'oomd.conf.d' / '10-headroom.conf').write_text('[OOM]\nSwapUsedLimit=80%\n')
    assert guard.oomd_settings(str(tmp_path)) == {'SwapUsedLimit': '80%', 'DefaultMemoryPressureLimit': '60%'}


def test_mglru_read_where_the_kernel_has_it(tmp_path):
    assert guard.mglru(str(tmp_path)) is None
    lru = tmp_path / 'sys' / 'kernel' / 'mm' / 'lru_gen'
    lru.mkdir(parents=True)
    (lru / 'enabled').write_text('0x0007\n')
    (lru / 'min_ttl_ms').write_text('0\n')
    assert guard.mglru(str(tmp_path)) == {'enabled': '0x0007', 'min_ttl_ms': 0}


def test_the_guard_step_says_what_runs_and_what_the_kernel_offers(tmp_path):
    table = {5: ('earlyoom', 1), 6: ('sshd', 1)}
    found = guard.read_guard([5, 6], table.get, lambda pid: (['/usr/bin/earlyoom', '-m', '4'], '/'), root=str(tmp_path))
    assert found == {'running': [{'kind': 'earlyoom', 'pid': 5, 'settings': {'mem_percent': '4'}}], 'mglru': None}
    facts = {'memory': {'total': 8 << 30, 'available': 3 << 30}, 'pressure': {'full': {'avg10': 9.0, 'avg60': 12.0}},
             'guard': found}
    step = [r for r in audit(facts, merge_policy())['recommendations'] if r['step'] == 'guard'][0]
    assert step['detail'].startswith('earlyoom runs (pid 5: mem_percent 4) and the host still stalls')
    facts['guard'] = {'running': [], 'mglru': {'enabled': '0x0007', 'min_ttl_ms': 0}}
    step = [r for r in audit(facts, merge_policy())['recommendations'] if r['step'] == 'guard'][0]
    assert step['detail'].startswith('no early OOM killer runs')
    assert step['detail'].endswith('/sys/kernel/mm/lru_gen/min_ttl_ms (1000) makes it kill instead of thrashing')
    assert step['role'] == 'oom_guard'


def test_a_kill_of_what_should_go_last_asks_for_the_guard():
    facts = {'memory': {'total': 8 << 30, 'available': 5 << 30}, 'oom_kills': 2, 'oom_victims': ['gunicorn', 'postgres']}
    steps = [r for r in audit(facts, merge_policy())['recommendations'] if r['step'] == 'guard']
    assert [(r['title'], r['role']) for r in steps] == [('Protect postgres from the OOM killer', 'oom_guard')]
    assert 'rank the units (OOMScoreAdjust=, the app\'s workers first)' in steps[0]['detail']
    # a worker's kill is what the guard wants: no step
    facts['oom_victims'] = ['gunicorn']
    assert not [r for r in audit(facts, merge_policy())['recommendations'] if r['step'] == 'guard']
