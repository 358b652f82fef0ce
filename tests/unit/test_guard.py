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
    assert step['detail'].endswith('; MGLRU is on (enabled 0x0007) but its thrash protection is off (min_ttl_ms 0): '
                                   'min_ttl_ms 1000 makes the kernel kill instead of thrashing (oom_guard sets it)')
    assert step['role'] == 'oom_guard'


STALLING = {'memory': {'total': 1 << 30, 'available': 100 << 20}, 'pressure': {'full': {'avg10': 30.0, 'avg60': 12.0}}}


def _guard_step(lru):
    facts = dict(STALLING, guard={'running': [], 'mglru': lru})
    return [r for r in audit(facts, merge_policy())['recommendations'] if r['step'] == 'guard'][0]['detail']


def test_mglru_present_but_off_is_said_so_with_what_turning_it_on_takes():
    """The VM's kernel (Debian 12's 6.1): MGLRU built in, its enabled mask 0x0000. It is not 'this kernel has
    MGLRU: min_ttl_ms ...': min_ttl_ms does nothing while the main switch (0x0001) is off."""
    detail = _guard_step({'enabled': '0x0000', 'min_ttl_ms': 0})
    assert 'this kernel has MGLRU but it is off (/sys/kernel/mm/lru_gen/enabled is 0x0000): its min_ttl_ms makes the ' \
        'kernel kill instead of thrashing only while MGLRU is on. Turning it on takes y written to ' \
        '/sys/kernel/mm/lru_gen/enabled, at every boot: oom_guard does that when asked (oom_guard_mglru_enable=true, ' \
        'with min_ttl_ms 1000)' in detail
    assert 'this kernel has MGLRU:' not in detail
    # min_ttl_ms set (by hand, or by oom_guard without mglru_enable) while MGLRU is off: it does nothing yet
    assert ', and min_ttl_ms 1000 does nothing until then:' in _guard_step({'enabled': '0x0000', 'min_ttl_ms': 1000})
    # only some components on, the main switch off: still off
    assert 'it is off (/sys/kernel/mm/lru_gen/enabled is 0x0006)' in _guard_step({'enabled': '0x0006', 'min_ttl_ms': 0})


def test_mglru_on_with_and_without_its_thrash_protection():
    assert _guard_step({'enabled': '0x0001', 'min_ttl_ms': 0}).endswith(
        'MGLRU is on (enabled 0x0001) but its thrash protection is off (min_ttl_ms 0): min_ttl_ms 1000 makes the kernel '
        'kill instead of thrashing (oom_guard sets it)')
    assert _guard_step({'enabled': '0x0007', 'min_ttl_ms': 1000}).endswith(
        'MGLRU is on (enabled 0x0007) with min_ttl_ms 1000: the kernel kills when it cannot keep the working set of the '
        'last 1000 ms')


def test_no_mglru_is_said_for_a_stall_and_not_for_a_ranking():
    assert _guard_step(None).endswith('this kernel has no MGLRU (no /sys/kernel/mm/lru_gen: Linux 6.1 or later built '
                                      'with CONFIG_LRU_GEN), so no min_ttl_ms thrash protection')
    facts = {'memory': {'total': 8 << 30, 'available': 5 << 30}, 'oom_kills': 1, 'oom_victims': ['postgres'],
             'guard': {'running': [], 'mglru': None}}
    step = [r for r in audit(facts, merge_policy())['recommendations'] if r['step'] == 'guard'][0]
    assert 'MGLRU' not in step['detail']
    # an enabled mask in a form no kernel prints is not read as on or off
    said = "MGLRU's state could not be read (/sys/kernel/mm/lru_gen/enabled: 'on')"
    assert _guard_step({'enabled': 'on', 'min_ttl_ms': 0}).endswith(said)
    assert guard.mglru_on('0x0007') is True and guard.mglru_on('0x0000') is False and guard.mglru_on(None) is None


def test_a_kill_of_what_should_go_last_asks_for_the_guard():
    facts = {'memory': {'total': 8 << 30, 'available': 5 << 30}, 'oom_kills': 2, 'oom_victims': ['gunicorn', 'postgres']}
    steps = [r for r in audit(facts, merge_policy())['recommendations'] if r['step'] == 'guard']
    assert [(r['title'], r['role']) for r in steps] == [('Protect postgres from the OOM killer', 'oom_guard')]
    assert 'rank the units (OOMScoreAdjust=, the app\'s workers first)' in steps[0]['detail']
    # a worker's kill is what the guard wants: no step
    facts['oom_victims'] = ['gunicorn']
    assert not [r for r in audit(facts, merge_policy())['recommendations'] if r['step'] == 'guard']


def test_mglru_as_the_vm_s_kernel_has_it_real():
    """tests/fixtures/vm/.../whole-host/mglru (REAL, Debian 12's 6.1, CONFIG_LRU_GEN=y without
    CONFIG_LRU_GEN_ENABLED): off as it boots, 0x0007 after `echo y`; min_ttl_ms 0, then 1000."""
    import os
    base = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'vm', 'bookworm-6.1.0-57-amd64',
                        'whole-host', 'mglru')
    off, on = guard.mglru(os.path.join(base, 'off')), guard.mglru(os.path.join(base, 'on'))
    assert off == {'enabled': '0x0000', 'min_ttl_ms': 0} and on == {'enabled': '0x0007', 'min_ttl_ms': 1000}
    assert guard.mglru_on(off['enabled']) is False and guard.mglru_on(on['enabled']) is True
    assert 'this kernel has MGLRU but it is off (/sys/kernel/mm/lru_gen/enabled is 0x0000)' in _guard_step(off)
    assert _guard_step(on).endswith('MGLRU is on (enabled 0x0007) with min_ttl_ms 1000: the kernel kills when it cannot '
                                    'keep the working set of the last 1000 ms')
