"""The swapfile module's work, without Ansible: one swap file (or zram device, zram.py) made,
resized, activated or removed so that the host ends in the wanted state or exactly as it started.

``apply(task)`` does it for the file backend, ``prepare(task)`` checks and locks for both. ``task``
is what the module hands over (``Task``): its params, check and diff mode, and the host's command
runner, ``warn`` and ``atomic_move``, injected as collect.Collector takes its runner, so that the
steps and their undo order are unit-tested with a stand-in runner. A refusal or a failure raises
``Refused`` with the message and the result so far; the module turns it into fail_json.
The decisions themselves are pure functions in swap.py.
"""

import errno
import glob
import os
import stat
import tempfile
import time

from ..parse_error import ParseError
from ..read import kernel, swapped
from . import swap
from .lock import take_lock


class Refused(Exception):
    """The run stops here: ``msg`` says why, ``result`` is the module's result so far."""

    def __init__(self, msg, result):
        super(Refused, self).__init__(msg)
        self.msg = msg
        self.result = result


class Task(object):
    """What the work needs of the module: its params, check mode and diff mode, and the host.
    ``root`` stands for ``/`` where the swapoff guard reads /proc and the cgroups (tests point it at a
    captured tree)."""

    def __init__(self, params, check_mode, diff, run_command, warn, atomic_move, root='/'):
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        self.run_command = run_command
        self.warn = warn
        self.atomic_move = atomic_move
        self.root = root
        # what the run chose not to do, and why (sysctl_plan: a recommended value that is the machine's)
        self.left_alone = []

    def fail_json(self, msg, **result):
        raise Refused(msg, result)


SYSCTL_DIRS = ('/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d')


class StepFailed(Exception):
    """A step that failed after earlier steps changed the host: rolled back by the caller."""


def read_text(path, default=None):
    try:
        with open(path) as handle:
            return handle.read()
    except IOError as err:
        if err.errno == errno.ENOENT and default is not None:
            return default
        raise


def made_by_headroom(path):
    """Whether a leftover temporary name holds what an interrupted run of this module left: a regular
    root-owned 0600 file with mkswap's signature, or one still all zeros (allocated, not yet mkswap'd).
    Anything else at that name is somebody's data, and is never deleted."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o7777 != 0o600:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        head = os.read(fd, 65536)
    finally:
        os.close(fd)
    return swap.has_swap_signature(head) or head.count(b'\0') == len(head)


class SwapFile(object):
    def __init__(self, task):
        self.task = task
        self.params = task.params
        self.path = task.params['path']
        self.undo = []
        self.actions = []
        # swapoffs run (or tried): whether a process may have been OOM-killed by this run
        self.swapoffs = 0
        directory, name = os.path.split(self.path)
        self.directory = directory or '/'
        # /proc/swaps shows the path with symlinks in its directories resolved.
        self.kernel_path = os.path.join(os.path.realpath(self.directory), name)
        self.tmp = os.path.join(self.directory, '.%s.headroom-new' % name)
        self.old = os.path.join(self.directory, '.%s.headroom-old' % name)

    # --- reading ---------------------------------------------------------------------------

    def areas(self):
        return swap.parse_proc_swaps(read_text(os.path.join(self.task.root, 'proc/swaps')))

    def active_area(self, areas, path):
        for area in areas:
            if area['path'] == path and not area['deleted']:
                return area
        return None

    @staticmethod
    def swap_busy(path):
        """Whether the kernel uses this very inode as swap.

        /proc/swaps names areas by path only, and containers sharing a kernel can each have
        their own /swap/x listed under the same name; the kernel refuses fallocate on an
        active swap file (ETXTBSY), whoever looks. One byte at offset 0 is always allocated
        in a file mkswap has written, so on an inactive file the call changes nothing.
        """
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
        except OSError as err:
            # Some kernels refuse even the open of an active swap file for writing.
            if err.errno == errno.ETXTBSY:
                return True
            raise
        try:
            os.posix_fallocate(fd, 0, 1)
        except OSError as err:
            if err.errno == errno.ETXTBSY:
                return True
            if err.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                return None
            raise
        finally:
            os.close(fd)
        return False

    def leftover_active(self, path):
        """Whether a leftover of an interrupted run is an active swap area (only a file with
        mkswap's signature can be; others are never probed, so nothing is written to them)."""
        if os.path.islink(path) or not os.path.isfile(path):
            return False
        with open(path, 'rb') as handle:
            if not swap.has_swap_signature(handle.read(65536)):
                return False
        return bool(self.swap_busy(path))

    def own_area(self, areas, path, size):
        """The /proc/swaps area of the file at ``path``, or None when it is not active."""
        candidates = [a for a in areas if a['path'] == os.path.join(
            os.path.realpath(os.path.dirname(path)), os.path.basename(path)) and not a['deleted']]
        busy = self.swap_busy(path)
        if busy is None:
            # No way to ask the inode: trust the name.
            return candidates[0] if candidates else None
        if not busy:
            return None
        if len(candidates) == 1:
            return candidates[0]
        # Active, but listed under another name or under a name several areas share: what
        # is swapped out to it is unknown, so assume all of it (the swapoff guard stays safe).
        priorities = [a['priority'] for a in candidates]
        wanted = self.params['priority']
        return {'path': path, 'type': 'file', 'size': size, 'used': size, 'deleted': False,
                'priority': wanted if wanted in priorities else (priorities[0] if priorities else None)}

    def describe(self, fstab_text):
        """What is at self.path now: the ``current`` dict swap.plan() takes."""
        info = {'exists': False, 'regular': False, 'size': 0, 'signature': False, 'mode': 0, 'uid': 0}
        try:
            st = os.lstat(self.path)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise
        else:
            info.update(exists=True, regular=stat.S_ISREG(st.st_mode), size=st.st_size,
                        mode=st.st_mode, uid=st.st_uid)
            if info['regular']:
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    info['signature'] = swap.has_swap_signature(os.read(fd, 65536))
                finally:
                    os.close(fd)
        info['active'] = None
        if info['signature']:
            info['active'] = self.own_area(self.areas(), self.path, info['size'])
        lines = fstab_text.splitlines()
        entries = swap.fstab_entries(fstab_text, self.path, os.path.realpath)
        info['fstab_line'] = lines[entries[0]] if entries else None
        return info

    @staticmethod
    def public(info):
        active = info.get('active')
        return {
            'exists': info['exists'],
            'size': info['size'],
            'mode': '%04o' % (info['mode'] & 0o7777) if info['exists'] else None,
            'uid': info['uid'] if info['exists'] else None,
            'active': bool(active),
            'priority': active['priority'] if active else None,
            'used': active['used'] if active else 0,
            'fstab_line': info.get('fstab_line'),
        }

    def filesystem(self):
        mounts = swap.parse_mountinfo(read_text('/proc/self/mountinfo'))
        mount = swap.mount_of(mounts, os.path.realpath(self.directory))
        return mount

    # --- acting ----------------------------------------------------------------------------

    def run(self, argv, what):
        rc, out, err = self.task.run_command(argv, environ_update={'LC_ALL': 'C'})
        if rc != 0:
            raise StepFailed('%s failed (rc=%d): %s' % (what, rc, (err or out).strip()))
        return out

    def create_file(self, target, size, alloc):
        """A new swap area at ``target``: 0600 root from creation, allocated, mkswap'd."""
        old_umask = os.umask(0o077)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        finally:
            os.umask(old_umask)
        self.undo.append(('unlink %s' % target, lambda: self.unlink_if_present(target)))
        try:
            os.fchown(fd, 0, 0)
        finally:
            os.close(fd)
        if alloc['nocow']:
            # Only an empty file can become NOCOW; btrfs refuses swapon on anything else.
            self.run(['chattr', '+C', target], 'chattr +C %s' % target)
        method = alloc['method']
        if method == 'fallocate':
            rc, out, err = self.task.run_command(['fallocate', '-l', str(size), target],
                                                 environ_update={'LC_ALL': 'C'})
            if rc != 0:
                if 'No space left' in err or 'Disk quota' in err:
                    raise StepFailed('fallocate %s: %s' % (target, err.strip()))
                # Filesystems without fallocate support: write every block instead.
                method = 'dd'
        if method == 'dd':
            self.run(['dd', 'if=/dev/zero', 'of=%s' % target, 'bs=1M', 'count=%d' % (size // swap.MIB),
                      'conv=notrunc,fsync', 'status=none'], 'dd to %s' % target)
        actual = os.stat(target).st_size
        if actual != size:
            raise StepFailed('%s is %d bytes after allocation, %d wanted' % (target, actual, size))
        self.run(['mkswap', target], 'mkswap %s' % target)
        return method

    def unlink_if_present(self, target):
        try:
            os.unlink(target)
        except OSError as err:
            if err.errno != errno.ENOENT:
                raise

    def swapon(self, priority):
        argv = ['swapon']
        if priority is not None and priority >= 0:
            argv += ['-p', str(priority)]
        self.run(argv + [self.path], 'swapon %s' % self.path)

    def swapoff(self):
        """swapoff, checked again first: the check before the first change may be minutes old (a new
        file of some GiB was written since), and a rollback switches off what this run switched on."""
        areas = self.areas()
        name = os.path.join(os.path.realpath(os.path.dirname(self.path)), os.path.basename(self.path))
        area = self.active_area(areas, name)
        # an area that cannot be told by its name: it may hold all there is in swap
        used = area['used'] if area else sum(a['used'] for a in areas)
        try:
            refusal, _reading = swapoff_refusal(self.task, used, self.path)
        except ParseError as err:
            raise StepFailed('swapoff %s not run: %s' % (self.path, err))
        if refusal:
            raise StepFailed(refusal)
        self.swapoffs += 1
        self.run(['swapoff', self.path], 'swapoff %s' % self.path)

    def write_file(self, target, text, mode=0o644):
        """Atomically replace ``target`` with ``text`` (temp file in the same directory + rename).

        A symlink is followed: the file it names is edited and the link stays (an fstab option
        pointing at /etc/fstab.d/swap, say, must not turn that link into a file of its own).
        """
        target = os.path.realpath(target)
        if os.path.lexists(target) and not os.path.isfile(target):
            raise StepFailed('%s is not a regular file: refusing to replace it' % target)
        directory = os.path.dirname(target) or '/'
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(target))
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            if not os.path.exists(target):
                os.chmod(tmp, mode)
            try:
                self.task.atomic_move(tmp, target, unsafe_writes=False)
            except Exception as err:  # pylint: disable=broad-except
                # ansible-core's atomic_move raises a bare Exception (its cause the OSError: EBUSY where
                # /etc/fstab is a bind mount): uncaught it would end the module with no rollback
                cause = getattr(err, '__cause__', None)
                detail = str(err) if cause is None else '%s (%s)' % (err, cause)
                raise StepFailed('cannot replace %s: %s' % (target, detail))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def rollback(self):
        errors = []
        while self.undo:
            what, action = self.undo.pop()
            try:
                action()
            except Exception as err:  # noqa: BLE001 -- report every undo that failed, keep undoing
                errors.append('%s: %s' % (what, err))
        return errors


def wanted_size(task, sf, state, areas, scope):
    """(bytes, auto, sizing) for the size option; ``auto`` sizes from ``scope`` (swap.memory_scope):
    a container's cgroup limit, not the machine's RAM it cannot use."""
    if state == 'absent':
        return 0, False, None
    spec = task.params['size']
    if str(spec).strip().lower() == 'auto':
        sizing = swap.auto_size(scope['total'], areas, sf.kernel_path)
        sizing['memory_scope'] = scope['scope']
        return sizing['target'], True, sizing
    size = swap.round_up(swap.parse_size_arg(spec), swap.MIB)
    if size < swap.MIN_SWAP_SIZE:
        raise ParseError('size %r is below the minimum swap file size of 1 MiB' % (spec,))
    return size, False, None


def sysctl_files():
    """(path, text) of the sysctl files in the order the boot applies them."""
    by_name = {}
    for directory in SYSCTL_DIRS:
        for path in glob.glob(os.path.join(directory, '*.conf')):
            # A file in /etc hides one of the same name in /run or /usr/lib.
            by_name.setdefault(os.path.basename(path), path)
    files = []
    for name in sorted(by_name):
        try:
            files.append((by_name[name], read_text(by_name[name])))
        except IOError:
            continue
    return files


def sysctl_text(values):
    lines = ['# Managed by headroom (swapfile task): later files in the sysctl.d',
             '# directories, in name order, override these values.']
    lines += ['%s = %s' % (key, values[key]) for key in sorted(values)]
    return '\n'.join(lines) + '\n'


def machine_wide_sysctls(keys):
    """The keys among ``keys`` that are the whole machine's inside a container.

    The kernel registers vm.* in one global table (kernel/sysctl.c sysctl_init_bases,
    register_sysctl_init("vm", vm_table), Linux 6.1 to 6.14; later releases register the same table
    from mm/), not per namespace as net.* (register_net_sysctl) or the ipc and uts keys are: a container
    that writes /proc/sys/vm/swappiness sets it for the machine. Nor does it reach the container's own
    reclaim on cgroup v1, which reads memory.swappiness of its memcg, set by the host (include/linux/swap.h
    mem_cgroup_swappiness; cgroup v2 has none and reads the global value).
    """
    return sorted(key for key in keys if key.startswith('vm.'))


def sysctl_scope(values, optional, container, machine_sysctl):
    """``(values, left_alone, refused)``: what of the sysctl option this host sets.

    ``optional`` names the keys the caller recommends rather than asks for (a role's defaults). Inside a
    container (that does not stand for the machine), without ``machine_sysctl``, a machine-wide key is
    left alone when it is optional (named in ``left_alone``), and refused when it was asked for.
    """
    if not container or machine_sysctl:
        return dict(values), [], []
    shared = machine_wide_sysctls(values)
    left = [key for key in shared if key in optional]
    refused = [key for key in shared if key not in optional]
    kept = dict((key, value) for key, value in values.items() if key not in left)
    return kept, ['%s is the machine\'s, not this container\'s: set machine_sysctl=true to change it for every '
                  'container on the machine' % key for key in left], refused


def sysctl_plan(task, state, container=False, cgroup=None):
    """(values, target) of the sysctl option, refused before anything changes when the kernel lacks a
    key, a value is out of its range, the drop-in's directory is missing or /proc/sys cannot be
    written: a refusal found after the swap file was made would leave half a change.

    Inside a container every vm.* sysctl is the whole machine's: setting it would change every other
    container and leave this one's own (cgroup v1 memory.swappiness) as it was. A key the caller asked
    for is refused unless O(machine_sysctl) says that is meant; a key in O(sysctl_optional) (a
    recommendation, not an ask) is left alone instead and named in ``task.left_alone``, so that a
    setting nobody asked for never blocks the swap somebody did ask for.
    """
    values = dict((k, str(v)) for k, v in task.params['sysctl'].items())
    target = task.params['sysctl_file']
    if state == 'absent' or not values:
        return values, target
    values, task.left_alone, machine_wide = sysctl_scope(
        values, set(task.params.get('sysctl_optional') or []), container, task.params['machine_sysctl'])
    if machine_wide:
        own = ''
        if cgroup and cgroup.get('version') == 1 and 'vm.swappiness' in machine_wide:
            own = ('; this container\'s own swappiness is %s/memory.swappiness (%s), set from the host '
                   '(docker run --memory-swappiness)' % (cgroup['dir'], read_text(
                       os.path.join(cgroup['dir'], 'memory.swappiness'), default='?').strip()))
        task.fail_json(msg='%s: in a container these are the whole machine\'s, shared by every container '
                           'on it%s; set machine_sysctl=true to change them for all of them, or leave '
                           'sysctl empty; nothing was changed' % (', '.join(machine_wide), own))
    problems = []
    directory = os.path.dirname(target) or '/'
    if values and not os.path.isdir(directory):
        problems.append('the directory of sysctl_file %s does not exist' % target)
    for key, value in sorted(values.items()):
        proc = '/proc/sys/' + key.replace('.', '/')
        problem = swap.sysctl_value_problem(key, value, os.uname()[2])
        if not os.path.exists(proc):
            problems.append('sysctl %s does not exist on this kernel (%s is missing)' % (key, proc))
        elif problem:
            problems.append(problem)
        elif not os.access(proc, os.W_OK):
            problems.append('%s cannot be written (a read-only /proc/sys, as in a container without '
                            'remount?)' % proc)
    if problems:
        task.fail_json(msg='; '.join(problems) + '; nothing was changed')
    return values, target


def apply_sysctl(task, sf, state, values, target, diffs):
    """Persist and apply the sysctl option as steps of the same operation: each registers its undo,
    so a failure later in the run puts the drop-in and the live values back as they were."""
    before = read_text(target, default='')
    existed = os.path.exists(target)
    result = {'file': target, 'values': values, 'live': {}, 'overrides': [], 'left_alone': list(task.left_alone)}

    def restore():
        if existed:
            sf.write_file(target, before)
        else:
            sf.unlink_if_present(target)
    if state == 'absent' or not values:
        if state == 'absent' and existed:
            diffs.append({'before_header': target, 'after_header': target, 'before': before, 'after': ''})
            sf.actions.append('sysctl_file')
            if not task.check_mode:
                os.unlink(target)
                sf.undo.append(('restore %s' % target, restore))
        return result
    after = sysctl_text(values)
    if after != before:
        diffs.append({'before_header': target, 'after_header': target, 'before': before, 'after': after})
        sf.actions.append('sysctl_file')
        if not task.check_mode:
            sf.write_file(target, after)
            sf.undo.append(('restore %s' % target, restore))
    live_changed = False
    for key, value in sorted(values.items()):
        proc = '/proc/sys/' + key.replace('.', '/')
        live = read_text(proc).strip()
        result['live'][key] = live
        if live.split() != value.split():
            live_changed = True
            if not task.check_mode:
                write_proc(proc, value)
                sf.undo.append(('set %s back to %s' % (key, live), lambda proc=proc, live=live: write_proc(proc, live)))
    if live_changed:
        sf.actions.append('sysctl_live')
    files = sysctl_files()
    if target not in [path for path, _text in files]:
        files.append((target, after))
        files.sort(key=lambda item: os.path.basename(item[0]))
    result['overrides'] = swap.sysctl_overrides(target, files, set(values))
    for found in result['overrides']:
        real = os.path.realpath(found['file'])
        where = found['file'] if real == found['file'] else '%s (-> %s)' % (found['file'], real)
        task.warn('%s sets %s = %s and is read after %s: it overrides headroom at boot'
                  % (where, found['key'], found['value'], target))
    return result


def write_proc(proc, value):
    try:
        with open(proc, 'w') as handle:
            handle.write(value)
    except (IOError, OSError) as err:
        raise StepFailed('cannot set %s to %s: %s' % (proc, value, err))


def oom_kills(root='/'):
    """The kernel's OOM kill counter, to tell whether a run cost a process its life; None when unknown
    (no ``oom_kill`` in /proc/vmstat before Linux 4.13). It is the machine's, in a container too."""
    try:
        return kernel.parse_vmstat(read_text(os.path.join(root, 'proc/vmstat'))).get('oom_kill')
    except (IOError, OSError, ParseError):
        return None


def oom_kills_since(sf, before):
    """What this run must say about OOM kills since the ``before`` count: ``(killed, unknown)``, the
    kills counted meanwhile (0 when none or unknown), and the reason they cannot be known when a swapoff
    ran and the kernel counts none (a swapoff is what can make the kernel kill)."""
    after = oom_kills(sf.task.root)
    if before is not None and after is not None:
        return max(after - before, 0), None
    if sf.swapoffs:
        return 0, ('whether the kernel OOM-killed a process while this ran cannot be checked (this kernel'
                   ' has no oom_kill count in /proc/vmstat: Linux 4.13 and later have)')
    return 0, None


def note_oom_kills(task, sf, before, result):
    """After a run that worked: never let the result stand silent over a process the kernel killed
    meanwhile (the swapoff guard passed, and the kernel killed anyway)."""
    killed, unknown = oom_kills_since(sf, before)
    if killed:
        result['oom_kills'] = killed
        task.warn('the kernel OOM-killed %d process(es) on this machine while this ran%s: see the kernel log'
                  % (killed, ' (during swapoff of %s)' % sf.path if sf.swapoffs else ''))
    elif unknown:
        task.warn(unknown)


def after_failure(task, sf, err, snapshot, now, result):
    """Roll back, then say what really stands: a rollback is claimed only when the host was checked
    to be as it was (the swap file, fstab, the drop-in, no process OOM-killed meanwhile)."""
    problems = sf.rollback()
    differences = []
    for what, text in sorted(snapshot.items()):
        if what == 'oom_kill':
            continue
        try:
            if now(what) != text:
                differences.append(what)
        except (IOError, OSError) as exc:
            differences.append('%s (cannot be checked: %s)' % (what, exc))
    killed, unknown = oom_kills_since(sf, snapshot.get('oom_kill'))
    if killed:
        differences.append('processes: the kernel OOM-killed %d while this ran' % killed)
        result['oom_kills'] = killed
    elif unknown:
        differences.append('processes: %s' % unknown)
    result = dict(result, actions=sf.actions)
    if not problems and not differences:
        result['changed'] = False
        task.fail_json(msg='%s; rolled back: the host is as it was before this run' % err, **result)
    stands = ['undo failed: %s' % problem for problem in problems] + [
        'not as before: %s' % what for what in differences]
    result.update(changed=True, stands=stands)
    task.fail_json(msg='%s; ROLLBACK INCOMPLETE: %s' % (err, '; '.join(stands)), **result)


def summary(info):
    if not info['exists']:
        return 'absent\n'
    text = '%d bytes, mode %s, uid %s' % (info['size'], info['mode'], info['uid'])
    if info['active'] and info['priority'] is not None:
        text += ', active (priority %s)' % info['priority']
    elif info['active']:
        text += ', active (priority chosen by the kernel)'
    else:
        text += ', inactive'
    return text + '\n'


def container_scope(root='/'):
    """(in a container, its memory cgroup or None): the limits swap is sized and guarded against.

    A container that stands for the machine (kernel.stands_for_machine) is not one here: its sysctls
    are meant to be the machine's.
    """
    if not kernel.in_container(root):
        return False, None
    try:
        cgroup = kernel.read_cgroup_memory(root=root, container=True)
    except ParseError:
        return True, None
    if kernel.stands_for_machine((cgroup or {}).get('scope'), kernel.container_id(root)):
        return False, cgroup
    return True, cgroup


# Memory cgroups the result lists (those with the most in swap): the result stays small on any host.
GUARD_CGROUPS = 20


def swapoff_refusal(task, used, path):
    """(the refusal or None, what the guard read) for a swapoff of ``path`` with ``used`` bytes on it.

    Two checks, both before anything is switched off: the machine's (or, in a container, its cgroup
    limit's) MemAvailable must absorb ``used`` and keep swapoff_min_available; and every memory-limited
    cgroup must take back, within its own limit, what it may have on the area (fix/swap.py
    cgroup_swapoff_reasons): a swap file holds the pages of processes in other containers and in
    systemd units with MemoryMax=, and the kernel charges each page back to its cgroup, where past the
    limit it OOM-kills, whatever the machine has free. Raises ParseError on what cannot be read."""
    root = task.root
    meminfo = kernel.parse_meminfo(read_text(os.path.join(root, 'proc/meminfo')), need=kernel.MEMINFO_NEEDS)
    scope = swap.memory_scope(meminfo, container_scope(root)[1])
    started = time.monotonic()
    reading = swapped.read_swapped(root)
    seconds = time.monotonic() - started
    reasons = swap.cgroup_swapoff_reasons(reading, used)
    machine = swap.swapoff_reason(used, scope['usable'], scope['total'], task.params['swapoff_min_available'],
                                  scope['scope'])
    refusal = swap.swapoff_refusal(path, reasons + [machine] if machine else reasons, cgroups=bool(reasons)) \
        if reasons or machine else None
    return refusal, guard_summary(reading, seconds)


def guard_summary(reading, seconds):
    """What the result says of the guard's reading, bounded: the memory-limited cgroups with pages in
    swap (the GUARD_CGROUPS with most), how many limited cgroups and processes were read, how long it took."""
    holding = sorted((group for group in reading['cgroups'] if group['swapped']),
                     key=lambda group: (-group['swapped'], group['cgroup']))
    return {
        'hierarchy': reading['hierarchy'],
        'complete': reading['complete'],
        'limited_cgroups': len(reading['cgroups']),
        'cgroups': [dict(group, room=swap.cgroup_room(group)) for group in holding[:GUARD_CGROUPS]],
        'processes': reading['processes'],
        'seconds': round(seconds, 3),
    }


def refuse_swapoff(task, active, path, result):
    """Fail, changing nothing, when a swapoff of the active area ``path`` would make the kernel
    OOM-kill (swapoff_refusal); the guard's reading goes into the result either way."""
    try:
        refusal, result['swapoff_guard'] = swapoff_refusal(task, active['used'], path)
    except ParseError as err:
        task.fail_json(msg='swapoff of %s not checked, so not run: %s; nothing was changed' % (path, err),
                       **result)
    if refusal:
        task.fail_json(msg=refusal, **result)


def prepare(task):
    """The checks both backends share, and the lock on what this run works on; the path in its one
    spelling. Raises Refused."""
    params = task.params
    if params['path'].startswith('/'):
        # one spelling for the file: //swap/./f is /swap/f, in fstab, the lock and the result alike
        params['path'] = swap.same_file_name(params['path'])
    path = params['path']
    priority = params['priority']
    if not os.path.isabs(path):
        task.fail_json(msg='path must be absolute, got %r' % path)
    if priority is not None and not 0 <= priority <= 32767:
        task.fail_json(msg='priority must be between 0 and 32767, got %d' % priority)
    if os.geteuid() != 0:
        task.fail_json(msg='swapfile needs root (swapon, mkswap, /etc/fstab)')
    take_lock(task, 'swapfile', 'zram' if params['backend'] == 'zram' else os.path.realpath(path))


def apply(task):
    """The file backend: the module's result, or Refused."""
    params = task.params
    path = params['path']
    state = params['state']
    priority = params['priority']
    directory = os.path.dirname(path) or '/'
    if not os.path.isdir(directory):
        task.fail_json(msg='the directory of %s, %s, does not exist (or is not a directory): create it '
                           'first; nothing was changed' % (path, directory))

    sf = SwapFile(task)
    result = {'changed': False, 'file': path, 'state': state}
    try:
        fstab_text = read_text(params['fstab'], default='')
        meminfo = kernel.parse_meminfo(read_text('/proc/meminfo'), need=kernel.MEMINFO_NEEDS)
        container, cgroup = container_scope()
        scope = swap.memory_scope(meminfo, cgroup)
        areas = sf.areas()
        for leftover in (sf.tmp, sf.old):
            if os.path.lexists(leftover):
                if not made_by_headroom(leftover):
                    task.fail_json(msg='%s is in the way of this run and is not a leftover of headroom '
                                       '(not a root-owned 0600 swap file): it may be data, so it is left as '
                                       'it is; move it away, then run again' % leftover)
                if sf.leftover_active(leftover):
                    task.fail_json(msg='%s is an active swap area left by an interrupted run: swapoff it'
                                       ' and delete it, then run again' % leftover)
                sf.actions.append('cleanup')
                if not task.check_mode:
                    os.unlink(leftover)
        current = sf.describe(fstab_text)
        size, auto, sizing = wanted_size(task, sf, state, areas, scope)
        if sizing:
            result['sizing'] = sizing
        decision = swap.plan(state, size, auto, priority, current, fstab_text, path, os.path.realpath)
    except ParseError as err:
        task.fail_json(msg=str(err), **result)
    except (IOError, OSError) as err:
        task.fail_json(msg='cannot inspect %s: %s' % (path, err), **result)

    steps = decision['steps']
    result['size'] = size
    active = current['active']

    # Refusals, before anything changes (and in check mode too).
    if 'create' in steps or 'replace' in steps:
        mount = sf.filesystem()
        if params['check_filesystem']:
            capable, why = swap.swap_capable(mount['fstype'])
            if not capable:
                task.fail_json(msg='refusing to put swap on %s (mounted on %s): %s'
                               % (sf.directory, mount['mount_point'], why), **result)
        try:
            alloc = swap.allocation(mount['fstype'], os.uname()[2], params['method'])
            vfs = os.statvfs(sf.directory)
            refusal = swap.disk_guard(vfs.f_bavail * vfs.f_frsize, vfs.f_blocks * vfs.f_frsize, size,
                                      params['min_free_disk'], '%s (%s)' % (mount['mount_point'], mount['fstype']))
        except ParseError as err:
            task.fail_json(msg=str(err), **result)
        if refusal:
            task.fail_json(msg=refusal, **result)
        result['filesystem'] = {'fstype': mount['fstype'], 'mount_point': mount['mount_point'],
                                'method': alloc['method']}
    if active and ('swapoff' in steps or 'replace' in steps):
        refuse_swapoff(task, active, path, result)

    before = sf.public(current)
    values, target = sysctl_plan(task, state, container, cgroup) if (params['sysctl'] or state == 'absent') \
        else ({}, None)
    diffs = []
    if decision['fstab'] != fstab_text:
        diffs.append({'before_header': params['fstab'], 'after_header': params['fstab'],
                      'before': fstab_text, 'after': decision['fstab']})
    sysctl_diffs = []
    if not task.check_mode:
        snapshot = {'swap file': summary(before), 'fstab': fstab_text, 'oom_kill': oom_kills(task.root)}
        if target:
            snapshot['sysctl file'] = read_text(target, default='')

        def now(what):
            if what == 'swap file':
                return summary(sf.public(sf.describe(read_text(params['fstab'], default=''))))
            return read_text(params['fstab'] if what == 'fstab' else target, default='')
        try:
            execute(sf, steps, current, size, priority, fstab_text, decision['fstab'],
                    result.get('filesystem'), alloc if ('create' in steps or 'replace' in steps) else None)
            sf.actions.extend(steps)
            if target:
                result['sysctl'] = apply_sysctl(task, sf, state, values, target, sysctl_diffs)
            finish(sf, steps)
        except (StepFailed, IOError, OSError) as err:
            after_failure(task, sf, err, snapshot, now, dict(result, before=before))
        note_oom_kills(task, sf, snapshot['oom_kill'], result)
        after = sf.public(sf.describe(read_text(params['fstab'], default='')))
    else:
        after = predict(before, steps, size, priority, decision['fstab'], path, state)
        sf.actions.extend(steps)
        if target:
            result['sysctl'] = apply_sysctl(task, sf, state, values, target, sysctl_diffs)
    if steps:
        diffs.append({'before_header': '%s (swap file)' % path, 'after_header': '%s (swap file)' % path,
                      'before': summary(before), 'after': summary(after)})
    diffs.extend(sysctl_diffs)

    result.update(changed=bool(sf.actions), actions=sf.actions, before=before, after=after)
    if task.diff:
        result['diff'] = diffs
    return result


def predict(before, steps, size, priority, fstab_after, path, state):
    after = dict(before)
    if state == 'absent' or 'remove' in steps:
        return {'exists': False, 'size': 0, 'mode': None, 'uid': None, 'active': False,
                'priority': None, 'used': 0, 'fstab_line': None}
    if 'create' in steps or 'replace' in steps:
        after.update(exists=True, size=size, mode='0600', uid=0, used=0)
    if 'fix_mode' in steps:
        after.update(mode='0600', uid=0)
    if 'swapon' in steps:
        after.update(active=True, priority=priority if priority is not None and priority >= 0 else None)
    lines = fstab_after.splitlines()
    entries = swap.fstab_entries(fstab_after, path, os.path.realpath)
    after['fstab_line'] = lines[entries[0]] if entries else None
    return after


def execute(sf, steps, current, size, priority, fstab_before, fstab_after, fs, alloc):
    """Carry out the plan; every step that changes the host registers its undo first."""
    active = current['active']
    old_priority = active['priority'] if active else None
    for step in steps:
        if step == 'create':
            fs['method'] = sf.create_file(sf.tmp, size, alloc)
            os.rename(sf.tmp, sf.path)
            sf.undo.append(('unlink %s' % sf.path, lambda: sf.unlink_if_present(sf.path)))
        elif step == 'replace':
            fs['method'] = sf.create_file(sf.tmp, size, alloc)
            if active:
                sf.swapoff()
                sf.undo.append(('swapon the previous %s' % sf.path, lambda: sf.swapon(old_priority)))
            # Keep the old file reachable until the new one is active: its name is the undo.
            os.link(sf.path, sf.old)
            sf.undo.append(('unlink %s' % sf.old, lambda: sf.unlink_if_present(sf.old)))
            os.rename(sf.tmp, sf.path)
            sf.undo.append(('put the previous %s back' % sf.path, lambda: os.rename(sf.old, sf.path)))
        elif step == 'fix_mode':
            os.chown(sf.path, 0, 0)
            os.chmod(sf.path, 0o600)
        elif step == 'swapoff':
            sf.swapoff()
            sf.undo.append(('swapon %s again' % sf.path, lambda: sf.swapon(old_priority)))
        elif step == 'swapon':
            sf.swapon(priority)
            sf.undo.append(('swapoff %s' % sf.path, sf.swapoff))
        elif step == 'remove':
            # Deleting is the one step that cannot be undone: finish() does it, after everything else.
            continue
        elif step == 'fstab':
            sf.write_file(sf.params['fstab'], fstab_after)
            sf.undo.append(('restore %s' % sf.params['fstab'],
                            lambda: sf.write_file(sf.params['fstab'], fstab_before)))


def finish(sf, steps):
    """What cannot be undone, once every other step (the sysctls too) has worked: delete the file
    being removed, or the previous file a resize replaced."""
    sf.undo = []
    if 'remove' in steps:
        sf.unlink_if_present(sf.path)
    if 'replace' in steps:
        sf.unlink_if_present(sf.old)
