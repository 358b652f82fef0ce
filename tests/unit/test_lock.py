"""The one lock of a fixing module's run (swapfile, oom_guard): a real flock held by another process."""
import os
import subprocess
import sys

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.fix import lock

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'collections'))
HOLDER = '''import sys
sys.path.insert(0, %r)
from ansible_collections.headroom.memory.plugins.module_utils.fix import lock
lock.take_lock(None, sys.argv[1], sys.argv[2])
print("held", flush=True)
sys.stdin.read()
'''


class Failed(Exception):
    pass


class Task(object):
    def fail_json(self, msg):
        raise Failed(msg)


@pytest.fixture
def target(tmp_path):
    """A target of its own (its lock file is removed afterwards) and a way to let go of the locks taken."""
    name = str(tmp_path / 'target')
    yield name
    while lock._HELD:
        lock._HELD.pop().close()
    for module in ('swapfile', 'oom_guard'):
        path = lock.lock_path(module, name)
        if path and os.path.exists(path):
            os.unlink(path)


def test_a_second_run_fails_naming_the_first_and_runs_once_it_has_ended(target):
    holder = subprocess.Popen([sys.executable, '-c', HOLDER % COLLECTIONS, 'oom_guard', target],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == 'held\n'
        with pytest.raises(Failed, match=r'another oom_guard run \(pid %d\) is working on %s right now \(lock %s\): '
                                         r'nothing was changed' % (holder.pid, target, lock.lock_path('oom_guard', target))):
            lock.take_lock(Task(), 'oom_guard', target)
        lock.take_lock(Task(), 'swapfile', target)  # another module's lock on the same target is another lock
    finally:
        holder.communicate('')
    lock.take_lock(Task(), 'oom_guard', target)  # the kernel let go when the holder ended
    with open(lock.lock_path('oom_guard', target)) as handle:
        assert handle.read() == 'pid %d\n' % os.getpid()


def test_the_lock_lives_in_the_first_writable_directory(tmp_path):
    assert lock.lock_path('oom_guard', 'x', dirs=(str(tmp_path / 'missing'),)) is None
    assert lock.lock_path('oom_guard', 'x', dirs=(str(tmp_path),)).startswith(str(tmp_path) + '/headroom-oom_guard-')
