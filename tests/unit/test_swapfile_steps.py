"""The swapfile module's steps and their undo, run for real on files in a temporary directory with
a stand-in runner for the commands (fallocate, mkswap, swapon, swapoff): what is done, in which
order, and what a failure halfway leaves after the rollback. Real swapon is in
tests/integration/test_swapfile.py; here the order is the point."""
import os

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.fix import swapfile
from module_glue import load

MIB = 1 << 20
SIZE = 4 * MIB


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


def _task(tmp_path, runner, fstab=None):
    params = dict((name, spec.get('default')) for name, spec in ARGUMENT_SPEC.items())
    params.update(path=str(tmp_path / 'swapfile'), fstab=str(fstab or tmp_path / 'fstab'), priority=None)
    return swapfile.Task(params, check_mode=False, diff=False, run_command=runner, warn=lambda msg: None,
                         atomic_move=lambda src, dst, unsafe_writes=False: os.rename(src, dst))


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
