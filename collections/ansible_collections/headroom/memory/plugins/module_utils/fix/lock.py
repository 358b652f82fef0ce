"""The one lock of a fixing module's run: two runs of one module on one target never work at once."""

import errno
import fcntl
import hashlib
import os

# Where the locks live: memory only, gone at reboot, like the runs they guard.
LOCK_DIRS = ('/run/lock', '/run', '/tmp')
# The lock files this run holds open (and so locked) until its process ends.
_HELD = []


def lock_path(module, target, dirs=LOCK_DIRS):
    """The lock file of ``module``'s runs on ``target``, in the first writable of ``dirs``, or None."""
    directory = next((d for d in dirs if os.path.isdir(d) and os.access(d, os.W_OK)), None)
    if directory is None:
        return None
    return os.path.join(directory, 'headroom-%s-%s.lock' % (
        module, hashlib.sha256(target.encode('utf-8')).hexdigest()[:16]))


def take_lock(task, module, target):
    """An exclusive lock on ``target`` for this run of ``module``, or a failure naming the run that holds
    it, before anything is changed. The kernel drops it when this process ends, however it ends."""
    name = lock_path(module, target)
    if name is None:
        task.fail_json(msg='no writable directory for the lock of %s (tried %s)' % (target, ', '.join(LOCK_DIRS)))
    handle = open(name, 'a+')
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (IOError, OSError) as err:
        if err.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        handle.seek(0)
        holder = handle.read().strip() or 'another process'
        task.fail_json(msg='another %s run (%s) is working on %s right now (lock %s): nothing was '
                           'changed; run again when it has finished' % (module, holder, target, name))
    handle.seek(0)
    handle.truncate()
    handle.write('pid %d\n' % os.getpid())
    handle.flush()
    _HELD.append(handle)
