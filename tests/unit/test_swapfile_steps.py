"""The swapfile module's steps and their undo, run for real on files in a temporary directory with
a stand-in runner for the commands (fallocate, mkswap, swapon, swapoff): what is done, in which
order, and what a failure halfway leaves after the rollback. Real swapon is in
tests/integration/test_swapfile.py; here the order is the point."""
import os
import shutil

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.fix import swapfile
from module_glue import load
from swap_trees import FIXTURES, build

MIB = 1 << 20
SIZE = 4 * MIB
SWAPS_HEADER = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n'


class Runner(object):
    """Answers the commands create_file, swapon and swapoff run; ``fail`` names one that fails."""

    def __init__(self, fail=None):
        self.fail = fail
        self.calls = []

    def __call__(self, argv, environ_update=None, **kwargs):
        self.calls.append(list(argv))
        if self.fail and argv[0] == self.fail:
            return 255, '', '%s: Operation not permitted' % argv[0]
        if argv[0] == 'fallocate':
            with open(argv[-1], 'r+b') as handle:
                handle.truncate(int(argv[2]))
        return 0, '', ''


def host(root, cgroups=None, processes=(), swaps=(), oom_kill=0):
    """A host under ``root`` for the swapoff guard: the captured meminfo (24 GiB, most of it
    available) and vmstat, /proc/swaps with ``swaps`` ([(path, used bytes)]), memory cgroups v1
    (swap_trees.build). ``oom_kill`` None: a kernel before 4.13, whose vmstat has no such line."""
    build(str(root), 1, cgroups or {}, list(processes))
    shutil.copy(os.path.join(FIXTURES, 'kernel', 'host', 'meminfo'), str(root / 'proc' / 'meminfo'))
    set_oom_kills(root, oom_kill)
    (root / 'proc' / 'swaps').write_text(SWAPS_HEADER + ''.join(
        '%s file\t\t%d\t\t%d\t\t-2\n' % (path, 4 * MIB // 1024, used // 1024) for path, used in swaps))
    return str(root)


def set_oom_kills(root, count):
    with open(os.path.join(FIXTURES, 'kernel', 'host', 'vmstat')) as handle:
        lines = [line for line in handle if not line.startswith('oom_kill ')]
    if count is not None:
        lines.append('oom_kill %d\n' % count)
    (root / 'proc' / 'vmstat').write_text(''.join(lines))


_HOST = {}


@pytest.fixture(autouse=True)
def calm_host(tmp_path_factory):
    """Every task reads a host of its own, never this machine's swap and cgroups: by default one
    with no swap in use and no memory-limited cgroup."""
    _HOST['root'] = host(tmp_path_factory.mktemp('host'))


def _task(tmp_path, runner, fstab=None, root=None, warnings=None):
    params = dict((name, spec.get('default')) for name, spec in ARGUMENT_SPEC.items())
    params.update(path=str(tmp_path / 'swapfile'), fstab=str(fstab or tmp_path / 'fstab'), priority=None)
    return swapfile.Task(params, check_mode=False, diff=False, run_command=runner,
                         warn=(warnings.append if warnings is not None else lambda msg: None),
                         atomic_move=lambda src, dst, unsafe_writes=False: os.rename(src, dst),
                         root=root or _HOST['root'])


ARGUMENT_SPEC = load('swapfile').ARGUMENT_SPEC


@pytest.fixture(autouse=True)
def not_root(monkeypatch):
    """The unit tier runs without root: the chown to root of a new file is what root would do."""
    monkeypatch.setattr(swapfile.os, 'fchown', lambda fd, uid, gid: None)
    monkeypatch.setattr(swapfile.os, 'chown', lambda path, uid, gid: None)


def _undo_names(sf, tmp_path):
    return [what.replace(str(tmp_path) + '/', '') for what, _ in sf.undo]


def test_create_then_a_failing_swapon_leaves_nothing(tmp_path):
    runner = Runner(fail='swapon')
    sf = swapfile.SwapFile(_task(tmp_path, runner))
    current = {'active': None}
    with pytest.raises(swapfile.StepFailed, match='swapon .* failed'):
        swapfile.execute(sf, ['create', 'swapon', 'fstab'], current, SIZE, None, '', 'x\n', {},
                         {'method': 'fallocate', 'nocow': False})
    # each step registered its undo before the next began
    assert _undo_names(sf, tmp_path) == ['unlink .swapfile.headroom-new', 'unlink swapfile']
    assert [call[0] for call in runner.calls] == ['fallocate', 'mkswap', 'swapon']
    assert sf.rollback() == []
    assert os.listdir(str(tmp_path)) == []  # neither the file nor its temporary name, no fstab written


def test_a_resize_that_fails_at_fstab_puts_the_previous_file_back_active(tmp_path):
    (tmp_path / 'swapfile').write_bytes(b'previous')
    runner = Runner()
    # fstab in a directory that does not exist: writing it fails after the new file is active
    sf = swapfile.SwapFile(_task(tmp_path, runner, fstab=tmp_path / 'missing' / 'fstab'))
    current = {'active': {'priority': 5}}
    with pytest.raises((swapfile.StepFailed, OSError)):
        swapfile.execute(sf, ['replace', 'swapon', 'fstab'], current, SIZE, 7, '', 'x\n', {},
                         {'method': 'fallocate', 'nocow': False})
    assert _undo_names(sf, tmp_path) == [
        'unlink .swapfile.headroom-new',
        'swapon the previous swapfile',
        'unlink .swapfile.headroom-old',
        'put the previous swapfile back',
        'swapoff swapfile',
    ]
    runner.calls = []
    assert sf.rollback() == []
    path = str(tmp_path / 'swapfile')
    # undone newest first: the new file off, the previous one back under its name and on again
    assert runner.calls == [['swapoff', path], ['swapon', '-p', '5', path]]
    assert (tmp_path / 'swapfile').read_bytes() == b'previous'
    assert sorted(os.listdir(str(tmp_path))) == ['swapfile']


def test_a_replace_the_core_refuses_is_a_failed_step_and_everything_before_it_is_undone(tmp_path):
    """ansible-core's atomic_move raises a bare Exception (a rename refused with EBUSY: /etc/fstab
    bind-mounted read-only, as tests/integration/test_remediate_server.py makes it): the swap file made
    and switched on before it must be switched off and removed, not left active without its fstab line."""
    runner = Runner()
    task = _task(tmp_path, runner)

    def refused(src, dst, unsafe_writes=False):
        try:
            raise OSError(16, 'Device or resource busy')
        except OSError as busy:
            raise Exception('Unable to make %r into to %r, failed final rename' % (src, dst)) from busy
    task.atomic_move = refused
    sf = swapfile.SwapFile(task)
    with pytest.raises(swapfile.StepFailed, match=r'cannot replace .*fstab: Unable to make .*Device or resource busy'):
        swapfile.execute(sf, ['create', 'swapon', 'fstab'], {'active': None}, SIZE, None, '', 'x\n', {},
                         {'method': 'fallocate', 'nocow': False})
    runner.calls = []
    assert sf.rollback() == []
    assert runner.calls == [['swapoff', str(tmp_path / 'swapfile')]]
    assert os.listdir(str(tmp_path)) == []  # no swap file, no fstab, no temporary file


def test_a_failing_undo_is_reported_and_the_others_still_run(tmp_path):
    runner = Runner()
    sf = swapfile.SwapFile(_task(tmp_path, runner))
    done = []
    sf.undo = [('first', lambda: done.append('first')), ('broken', lambda: 1 / 0), ('last', lambda: done.append('last'))]
    problems = sf.rollback()
    assert problems == ['broken: division by zero'] and done == ['last', 'first'] and sf.undo == []


def test_removal_deletes_the_file_only_in_finish_after_every_other_step(tmp_path):
    (tmp_path / 'swapfile').write_bytes(b'swap')
    runner = Runner()
    sf = swapfile.SwapFile(_task(tmp_path, runner))
    current = {'active': {'priority': None}}
    swapfile.execute(sf, ['swapoff', 'remove', 'fstab'], current, 0, None, 'old\n', '', {}, None)
    assert (tmp_path / 'swapfile').exists(), 'nothing that cannot be undone before finish()'
    assert _undo_names(sf, tmp_path) == ['swapon swapfile again', 'restore fstab']
    swapfile.finish(sf, ['swapoff', 'remove', 'fstab'])
    assert not (tmp_path / 'swapfile').exists() and sf.undo == []
    assert (tmp_path / 'fstab').read_text() == ''


# --- the swapoff guard at the moment of each swapoff (issue 20, class 6) -------------------

def full_cgroup_host(root, path, used=100 * MIB):
    """A host whose swap file ``path`` holds pages of a 64 MiB container that is full: its swapoff
    would make the kernel OOM-kill in it, with GiBs free on the machine."""
    return host(root, {'/docker/full': {'limit': 64 * MIB, 'own': 64 * MIB, 'swap': used}},
                [(4242, 'python3', '/docker/full', used // 1024)], swaps=[(path, used)])


def test_each_swapoff_is_checked_again_right_before_it_runs(tmp_path, tmp_path_factory):
    """The check before the first change may be minutes old (a resize writes GiBs first): the pages
    that came into the area since are judged at the swapoff itself, and nothing is switched off."""
    (tmp_path / 'swapfile').write_bytes(b'swap')
    runner = Runner()
    root = full_cgroup_host(tmp_path_factory.mktemp('host'), str(tmp_path / 'swapfile'))
    sf = swapfile.SwapFile(_task(tmp_path, runner, root=root))
    with pytest.raises(swapfile.StepFailed) as err:
        swapfile.execute(sf, ['swapoff', 'remove', 'fstab'], {'active': {'priority': None}}, 0, None, 'old\n', '', {}, None)
    assert 'refusing to swapoff %s: memory cgroup /docker/full has 100.0 MiB in swap' % (tmp_path / 'swapfile') in str(err.value)
    assert 'pid 4242 python3 VmSwap 100.0 MiB' in str(err.value)
    assert runner.calls == [] and sf.undo == [] and sf.swapoffs == 0


def test_a_resize_refused_at_its_swapoff_removes_the_new_file_and_keeps_the_old_one_on(tmp_path, tmp_path_factory):
    (tmp_path / 'swapfile').write_bytes(b'previous')
    runner = Runner()
    root = full_cgroup_host(tmp_path_factory.mktemp('host'), str(tmp_path / 'swapfile'))
    sf = swapfile.SwapFile(_task(tmp_path, runner, root=root))
    with pytest.raises(swapfile.StepFailed, match='refusing to swapoff'):
        swapfile.execute(sf, ['replace', 'swapon', 'fstab'], {'active': {'priority': 5}}, SIZE, 5, '', 'x\n', {},
                         {'method': 'fallocate', 'nocow': False})
    assert [call[0] for call in runner.calls] == ['fallocate', 'mkswap']
    assert sf.rollback() == []
    assert sorted(os.listdir(str(tmp_path))) == ['swapfile'] and (tmp_path / 'swapfile').read_bytes() == b'previous'


def test_a_rollback_does_not_swapoff_what_would_make_the_kernel_kill(tmp_path, tmp_path_factory):
    """The undo of a swapon is a swapoff too: when the area it switched on already holds what a full
    cgroup cannot take back, the undo is refused and reported, not run."""
    runner = Runner()
    sf = swapfile.SwapFile(_task(tmp_path, runner, fstab=tmp_path / 'missing' / 'fstab'))
    with pytest.raises((swapfile.StepFailed, OSError)):
        swapfile.execute(sf, ['create', 'swapon', 'fstab'], {'active': None}, SIZE, None, '', 'x\n', {},
                         {'method': 'fallocate', 'nocow': False})
    sf.task.root = full_cgroup_host(tmp_path_factory.mktemp('host'), str(tmp_path / 'swapfile'))
    runner.calls = []
    problems = sf.rollback()
    assert len(problems) == 1 and problems[0].startswith('swapoff %s: refusing to swapoff' % (tmp_path / 'swapfile'))
    assert runner.calls == []


def _failed(tmp_path, sf, snapshot):
    task = sf.task
    with pytest.raises(swapfile.Refused) as refused:
        swapfile.after_failure(task, sf, swapfile.StepFailed('fstab failed'), snapshot, lambda what: snapshot[what], {})
    return refused.value


def test_a_process_killed_while_it_ran_is_never_a_rollback_as_it_was(tmp_path, tmp_path_factory):
    root = tmp_path_factory.mktemp('host')
    sf = swapfile.SwapFile(_task(tmp_path, Runner(), root=host(root, oom_kill=3)))
    snapshot = {'fstab': '', 'oom_kill': swapfile.oom_kills(sf.task.root)}
    sf.swapoffs = 1
    set_oom_kills(root, 4)
    refused = _failed(tmp_path, sf, snapshot)
    assert 'ROLLBACK INCOMPLETE' in refused.msg and 'the kernel OOM-killed 1 while this ran' in refused.msg
    assert refused.result['changed'] is True and refused.result['oom_kills'] == 1


def test_without_an_oom_counter_a_swapoff_that_ran_is_not_claimed_harmless(tmp_path, tmp_path_factory):
    """Before Linux 4.13 /proc/vmstat has no oom_kill: after a swapoff, whether it killed is unknown,
    and the result says so instead of "the host is as it was"."""
    sf = swapfile.SwapFile(_task(tmp_path, Runner(), root=host(tmp_path_factory.mktemp('host'), oom_kill=None)))
    snapshot = {'fstab': '', 'oom_kill': swapfile.oom_kills(sf.task.root)}
    assert snapshot['oom_kill'] is None
    sf.swapoffs = 1
    refused = _failed(tmp_path, sf, snapshot)
    assert 'ROLLBACK INCOMPLETE' in refused.msg and 'cannot be checked' in refused.msg
    assert refused.result['changed'] is True
    # no swapoff ran: nothing of this run could make the kernel kill, the rollback stands
    sf.swapoffs = 0
    refused = _failed(tmp_path, sf, snapshot)
    assert 'rolled back: the host is as it was' in refused.msg and refused.result['changed'] is False


def test_a_run_that_worked_says_when_the_kernel_killed_meanwhile(tmp_path, tmp_path_factory):
    root = tmp_path_factory.mktemp('host')
    warnings = []
    sf = swapfile.SwapFile(_task(tmp_path, Runner(), root=host(root, oom_kill=0), warnings=warnings))
    sf.swapoffs = 1
    result = {}
    swapfile.note_oom_kills(sf.task, sf, 0, result)
    assert result == {} and warnings == []
    set_oom_kills(root, 2)
    swapfile.note_oom_kills(sf.task, sf, 0, result)
    assert result == {'oom_kills': 2}
    assert warnings == ['the kernel OOM-killed 2 process(es) on this machine while this ran (during swapoff of %s):'
                        ' see the kernel log' % (tmp_path / 'swapfile')]
