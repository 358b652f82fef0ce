"""The OOM guard's decisions and files (module_utils/fix/oom_guard.py). The role against real systemd, a real
earlyoom and the real kernel OOM killer is molecule/oom_guard; these are the rules and the text."""
import pytest

from ansible_collections.headroom.memory.plugins.module_utils.fix import oom_guard as plan
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.guard import earlyoom_settings, oomd_settings

MIB = 1048576
HOST = {'systemd': 252, 'cgroup2': True, 'limit': None, 'total': 4096 * MIB, 'running': []}


def host(**changes):
    found = dict(HOST)
    found.update(changes)
    return found


def test_auto_keeps_a_running_oomd_takes_the_kernel_under_a_tight_limit_else_earlyoom():
    assert plan.choose('auto', host(running=['systemd-oomd'])) == 'systemd-oomd'
    assert plan.choose('auto', host(limit=320 * MIB)) == 'kernel'
    assert plan.choose('auto', host()) == 'earlyoom'
    # a limit at or above the machine's RAM limits nothing earlyoom would not see
    assert plan.choose('auto', host(limit=8192 * MIB)) == 'earlyoom'


@pytest.mark.parametrize('wanted, changes, said', [
    ('earlyoom', {'systemd': None}, 'systemd is not PID 1'),
    ('kernel', {'systemd': None}, 'systemd is not PID 1'),
    ('systemd-oomd', {'cgroup2': False}, 'cgroup v1'),
    ('systemd-oomd', {'systemd': 247}, 'systemd 248 or later'),
    ('earlyoom', {'limit': 320 * MIB}, 'earlyoom reads /proc/meminfo, which here is the machine\'s (4096 MiB), '
                                       'not this cgroup\'s limit (320 MiB)'),
])
def test_a_guard_the_host_cannot_run_is_refused_with_the_reason(wanted, changes, said):
    with pytest.raises(plan.GuardRefused) as refused:
        plan.choose(wanted, host(**changes))
    assert said in str(refused.value)


def test_earlyoom_args_follow_its_own_rules_and_match_names_whole():
    args = plan.earlyoom_args(10, 5, ['gunicorn', 'php-fpm8.2', 'c++'], ['sshd'])
    assert args == ['-m', '10,5', '-s', '5,2.5', '-r', '3600', '--prefer', '^(gunicorn|php-fpm8[.]2|c[+][+])$',
                    '--avoid', '^(sshd)$']
    assert plan.earlyoom_args(10, 10, [], []) == ['-m', '10,5', '-s', '10,5', '-r', '3600']


@pytest.mark.parametrize('pct', [0, -1, 51, 1e308])
def test_earlyoom_thresholds_out_of_range_are_named(pct):
    with pytest.raises(ParseError, match='min_available_pct'):
        plan.earlyoom_args(pct, 10, [], [])


@pytest.mark.parametrize('value', ['', 'gunicorn worker', 'a|b', '.*', '$(reboot)', 'x' * 65, 7, None])
def test_names_that_are_not_process_names_are_refused(value):
    with pytest.raises(ParseError, match='prefer: .* is not a process name'):
        plan.names([value], 'prefer')


def test_names_keep_order_and_drop_duplicates():
    assert plan.names(['gunicorn', 'celery', 'gunicorn'], 'prefer') == ['gunicorn', 'celery']


def test_unit_names():
    assert plan.unit_name('gunicorn', 'prefer_units') == 'gunicorn.service'
    assert plan.unit_name('postgresql@15-main.service', 'protect_units') == 'postgresql@15-main.service'
    assert plan.unit_name('postgresql*.service', 'protect_units') == 'postgresql*.service'
    for bad in ('../../etc/passwd', 'a b.service', 'x.service\nExecStart=/bin/sh', 3):
        with pytest.raises(ParseError, match='is not a systemd unit name'):
            plan.unit_name(bad, 'protect_units')


def test_the_earlyoom_drop_in_reads_back_as_the_same_command_line():
    """systemd doubles nothing for us: '$' must be '$$' or ^(x)$ loses its anchor; quotes keep the regex one word.
    The running earlyoom's command line (read by the diagnosis) is the argv this text gives."""
    args = plan.earlyoom_args(10, 10, ['gunicorn'], ['sshd', 'redis-server'])
    text = plan.earlyoom_dropin(args, container=False)
    line = [row for row in text.splitlines() if row.startswith('ExecStart=/')][0]
    assert line == ("ExecStart=/usr/bin/earlyoom -m 10,5 -s 10,5 -r 3600 --prefer '^(gunicorn)$$' "
                    "--avoid '^(sshd|redis-server)$$'")
    assert 'ExecStart=\n' in text and 'DynamicUser=no' not in text
    # what earlyoom then runs with, as systemd unquotes it (checked live in molecule/oom_guard)
    argv = ['/usr/bin/earlyoom'] + args
    assert earlyoom_settings(argv)['prefer'] == '^(gunicorn)$'
    assert 'DynamicUser=no' in plan.earlyoom_dropin(args, container=True)


def test_unit_drop_ins_per_guard():
    assert plan.unit_dropin(-900).splitlines()[1:] == ['[Service]', 'OOMScoreAdjust=-900']
    assert plan.unit_dropin(500, 'prefer', (50, 20)).splitlines()[1:] == [
        '[Service]', 'OOMScoreAdjust=500', 'ManagedOOMMemoryPressure=kill', 'ManagedOOMMemoryPressureLimit=50%']
    assert plan.unit_dropin(None, 'avoid').splitlines()[1:] == ['[Service]', 'ManagedOOMPreference=avoid']
    assert plan.ours(plan.unit_dropin(1)) and not plan.ours('[Service]\nOOMScoreAdjust=1\n') and not plan.ours(None)


def test_oomd_conf_is_read_back_by_the_diagnosis(tmp_path):
    conf = tmp_path / 'etc' / 'systemd' / 'oomd.conf.d'
    conf.mkdir(parents=True)
    (conf / '50-headroom.conf').write_text(plan.oomd_conf(90, 50, 20))
    assert oomd_settings(str(tmp_path)) == {'SwapUsedLimit': '90%', 'DefaultMemoryPressureLimit': '50%',
                                            'DefaultMemoryPressureDurationSec': '20s'}


def test_min_ttl_keeps_the_value_before_headroom_for_state_absent():
    text = plan.tmpfiles(1000, 0)
    assert 'w /sys/kernel/mm/lru_gen/min_ttl_ms - - - - 1000' in text
    assert plan.previous_min_ttl(text) == 0 and plan.previous_min_ttl(plan.tmpfiles(1000, 250)) == 250
    assert plan.previous_min_ttl('w /sys/kernel/mm/lru_gen/min_ttl_ms - - - - 5\n') is None


def test_mglru_is_turned_on_first_and_its_value_before_kept_for_state_absent():
    text = plan.tmpfiles(1000, 0, enable=True, previous_enabled='0x0000')
    assert text.index('w /sys/kernel/mm/lru_gen/enabled - - - - y') < text.index('w /sys/kernel/mm/lru_gen/min_ttl_ms - - - - 1000')
    assert plan.previous_enabled(text) == '0x0000' and plan.previous_min_ttl(text) == 0
    only = plan.tmpfiles(0, None, enable=True, previous_enabled='0x0000')
    assert 'min_ttl_ms' not in only and plan.previous_min_ttl(only) is None
    assert plan.previous_enabled(plan.tmpfiles(1000, 0)) is None  # headroom did not turn it on


# the module's own choice of what to write (plugins/modules/oom_guard.py _files), against the VM's MGLRU
# (Debian 12's 6.1: built in, off: tests/fixtures/vm/bookworm-6.1.0-57-amd64/whole-host/mglru)

def _guard_files(monkeypatch, files, **params):
    from ansible_collections.headroom.memory.plugins.modules import oom_guard as module
    monkeypatch.setattr(module, 'read_text', lambda path, *args: files.get(path))
    options = dict(state='present', min_ttl_ms=1000, mglru_enable=False, machine_wide=False, pressure_limit_pct=50.0,
                   pressure_seconds=20)
    options.update(params)
    skipped = []
    host = {'container': False, 'mglru': True, 'mglru_enabled': files.get(plan.LRU_GEN_ENABLED, '').strip() or None}
    written, ttl, enabled = module._files(options, 'kernel', host, {}, skipped)
    return written[plan.TMPFILES], ttl, enabled, skipped


def test_min_ttl_on_a_kernel_whose_mglru_is_off_is_written_and_said_to_do_nothing(monkeypatch):
    text, ttl, enabled, skipped = _guard_files(monkeypatch, {plan.LRU_GEN_ENABLED: '0x0000\n', plan.MIN_TTL: '0\n'})
    assert ttl == 1000 and enabled is None and 'enabled' not in text
    assert skipped == ['min_ttl_ms: written, but MGLRU is off on this kernel (/sys/kernel/mm/lru_gen/enabled is 0x0000) '
                       'and min_ttl_ms acts only while it is on: mglru_enable=true turns it on']


def test_mglru_enable_turns_it_on_and_absent_puts_back_what_it_was(monkeypatch):
    found = {plan.LRU_GEN_ENABLED: '0x0000\n', plan.MIN_TTL: '0\n'}
    text, ttl, enabled, skipped = _guard_files(monkeypatch, found, mglru_enable=True)
    assert (ttl, enabled, skipped) == (1000, 'y', [])
    assert plan.previous_enabled(text) == '0x0000'
    # a second run: MGLRU is on now (headroom's doing), and what it was before headroom is still 0x0000
    found.update({plan.TMPFILES: text, plan.LRU_GEN_ENABLED: '0x0007\n', plan.MIN_TTL: '1000\n'})
    again, ttl, enabled, _skipped = _guard_files(monkeypatch, found, mglru_enable=True)
    assert again == text and enabled == 'y'
    # asked no more: min_ttl_ms stays, MGLRU goes back as it was
    text, ttl, enabled, _skipped = _guard_files(monkeypatch, found)
    assert 'enabled' not in text and enabled == '0x0000' and ttl == 1000
    found[plan.TMPFILES] = again
    gone, ttl, enabled, _skipped = _guard_files(monkeypatch, found, state='absent')
    assert gone is None and (ttl, enabled) == (0, '0x0000')


def test_can_lower_reads_cap_sys_resource():
    # this machine's and its containers' effective sets (bit 24 missing), and a full set
    assert not plan.can_lower('CapEff:\t000001fffeffffff\n')
    assert not plan.can_lower('CapEff:\t00000000a80425fb\n')
    assert plan.can_lower('CapEff:\t000001ffffffffff\n')
    assert not plan.can_lower('') and not plan.can_lower(None)


@pytest.mark.parametrize('cgroup, inside', [
    ('0::/system.slice/gunicorn.service\n', True),
    ('12:memory:/docker/abc\n1:name=systemd:/docker/abc/system.slice/gunicorn.service\n0::/docker/abc\n', True),
    ('0::/system.slice/gunicorn.service/worker-3\n', True),  # a delegated child cgroup
    ('0::/system.slice/xgunicorn.service\n', False),
    ('0::/system.slice/gunicorn.service2\n', False),
    ('12:memory:/system.slice/gunicorn.service\n', False),  # only systemd's own hierarchy says the unit
    ('', False),
])
def test_a_process_belongs_to_a_unit_by_systemds_cgroup(cgroup, inside):
    assert plan.in_unit(cgroup, '/system.slice/gunicorn.service') is inside
    assert plan.in_unit(cgroup, '') is False


def test_a_kernel_knob_is_written_in_place(tmp_path):
    """sysfs has no room for a temporary file beside a knob: MGLRU's files are written in place (the same file,
    no file made beside it), as the first real run on Debian 12's 6.1 showed they must be (tests/vm)."""
    from ansible_collections.headroom.memory.plugins.modules import oom_guard as module
    knob = tmp_path / 'min_ttl_ms'
    knob.write_text('0\n')
    inode = knob.stat().st_ino
    module._write_knob(str(knob), '1000\n')
    assert knob.read_text() == '1000\n' and knob.stat().st_ino == inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ['min_ttl_ms']


class _Systemctl(object):
    def run_command(self, module, args, **kwargs):
        return 0, '', ''

    def get_bin_path(self, module, name, required=False, opt_dirs=None):
        return '/usr/bin/' + name


def _guard_with_fake_sysfs(tmp_path, min_ttl_text, kept=None):
    """The oom_guard module (backend kernel, no unit) on a stand-in host whose MGLRU files are in ``tmp_path``:
    min_ttl_ms starts as ``min_ttl_text``; ``kept``, when given, is what the kernel shows after the first write.
    Returns (result, the directory, min_ttl_ms's inode before the run)."""
    from module_glue import run_glue
    from ansible_collections.headroom.memory.plugins.module_utils.fix import lock
    sysfs = tmp_path / 'lru_gen'
    sysfs.mkdir()
    (sysfs / 'min_ttl_ms').write_text(min_ttl_text)
    (sysfs / 'enabled').write_text('0x0000\n')
    inode = (sysfs / 'min_ttl_ms').stat().st_ino
    saved = dict((name, getattr(plan, name)) for name in ('MIN_TTL', 'LRU_GEN_ENABLED', 'TMPFILES', 'OOMD_CONF'))

    def setup(module):
        plan.MIN_TTL = str(sysfs / 'min_ttl_ms')
        plan.LRU_GEN_ENABLED = str(sysfs / 'enabled')
        plan.TMPFILES = str(tmp_path / 'tmpfiles.d' / '50-headroom-mglru.conf')
        plan.OOMD_CONF = str(tmp_path / 'oomd.conf.d' / '50-headroom.conf')
        module.UNITS_DIR = str(tmp_path / 'system')
        real_host = module.Guard.host

        def host(self):
            found = dict(real_host(self), systemd=252, cgroup2=True, container=False, limit=None, running=[])
            return found
        module.Guard.host = host
        if kept is not None:
            real_write = module._write_knob

            first = []

            def write(path, text):
                real_write(path, text)
                if path == plan.MIN_TTL and not first:  # the kernel ignores the change, not the way back
                    first.append(text)
                    real_write(path, kept)
            module._write_knob = write
    try:
        return run_glue('oom_guard', {'backend': 'kernel', 'protect_units': [], 'min_ttl_ms': 1000}, _Systemctl(),
                        setup), sysfs, inode
    finally:
        for name, value in saved.items():
            setattr(plan, name, value)
        while lock._HELD:
            lock._HELD.pop().close()


def test_min_ttl_is_written_in_place_as_sysfs_needs(tmp_path):
    """sysfs has no room for a temporary file beside an attribute: the value is written into the file itself (the
    same inode), and no other file appears in its directory. (Before: a temporary file renamed over it, which the
    VM's kernel refused with EACCES and which crashed the module in its own rollback.)"""
    path = tmp_path / 'lru_gen' / 'min_ttl_ms'
    result, sysfs, inode = _guard_with_fake_sysfs(tmp_path, '0\n')
    assert result.get('failed') is not True, result
    assert path.read_text() == '1000\n' and path.stat().st_ino == inode
    assert result['undo']['min_ttl_ms'] == 0
    assert sorted(p.name for p in sysfs.iterdir()) == ['enabled', 'min_ttl_ms']
    assert any('MGLRU is off' in line for line in result['left_alone']), result['left_alone']


def test_a_min_ttl_the_kernel_did_not_keep_is_put_back_in_place(tmp_path):
    path = tmp_path / 'lru_gen' / 'min_ttl_ms'
    result, sysfs, inode = _guard_with_fake_sysfs(tmp_path, '0\n', kept='7\n')
    assert result['failed'] and 'kept 7 after writing 1000' in result['msg'] and 'rolled back' in result['msg'], result
    assert path.read_text() == '0\n' and path.stat().st_ino == inode
    assert sorted(p.name for p in sysfs.iterdir()) == ['enabled', 'min_ttl_ms']
    assert not (tmp_path / 'tmpfiles.d' / '50-headroom-mglru.conf').exists()


@pytest.mark.parametrize('role, current, value, wanted', [
    ('protect', '-1000', -900, None),  # sshd's listener protects itself more: kept (it was set to -900 before)
    ('protect', '0', -900, -900), ('protect', '-900', -900, None), ('protect', '-500', -900, -900),
    ('prefer', '0', 500, 500), ('prefer', '800', 500, 500), ('prefer', '500', 500, None),
    (None, '-1000', 0, 0),  # a unit whose drop-in went: its own value back, whatever the process had
    ('protect', '', -900, None), ('protect', 'garbage', -900, None)])
def test_a_running_process_keeps_a_stronger_protection_of_its_own(role, current, value, wanted):
    assert plan.live_value(role, current, value) == wanted


def test_apply_live_leaves_sshd_s_own_minus_1000_and_sets_the_rest(monkeypatch):
    """The module's live step on a stand-in host: ssh.service's listener at -1000 (as OpenSSH sets itself) keeps
    it; Redis goes from 0 to -900; gunicorn's processes to 500. (Before: the listener was written -900.)"""
    from module_glue import load
    module = load('oom_guard')
    adj = {101: '-1000', 202: '0', 303: '0', 304: '0'}
    written = {}

    class Guard(object):
        def show(self, unit, *props):
            value = {'ssh.service': -900, 'redis-server.service': -900, 'gunicorn.service': 500}[unit]
            return {'OOMScoreAdjust': str(value), 'ControlGroup': '/system.slice/' + unit, 'DropInPaths': ''}

        def pids(self, group):
            return {'/system.slice/ssh.service': [101], '/system.slice/redis-server.service': [202],
                    '/system.slice/gunicorn.service': [303, 304]}[group]

        def adjust(self, pid, value):
            written[pid] = value
            adj[pid] = str(value)
            return value
    monkeypatch.setattr(module, 'read_text', lambda path, *a: adj.get(int(path.split('/')[2])) if path.startswith('/proc/') else None)
    live = {'ssh.service': -900, 'redis-server.service': -900, 'gunicorn.service': 500}
    roles = {'ssh.service': 'protect', 'redis-server.service': 'protect', 'gunicorn.service': 'prefer'}
    result = {'units': [{'unit': unit, 'pids': []} for unit in live]}
    assert module._apply_live(Guard(), live, [], result, roles) is True
    assert written == {202: -900, 303: 500, 304: 500}
    assert adj[101] == '-1000'
