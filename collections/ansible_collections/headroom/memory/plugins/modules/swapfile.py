#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create, resize, activate and remove a swap file as one idempotent operation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: swapfile
short_description: Manage a swap file, its fstab line and its sysctls as one operation
description:
  - Creates, resizes, activates and removes one swap file, with its C(/etc/fstab) line, so that
    the host ends either fully in the wanted state or exactly as it started.
  - The file is created with mode 0600 and owner root from the first byte (O_EXCL, umask 077),
    under a temporary name in the same directory, allocated with C(fallocate) where the filesystem
    supports swap on fallocated files and with C(dd) elsewhere (btrfs files are made NOCOW with
    C(chattr +C) first), prepared with C(mkswap), renamed into place, activated with C(swapon), and
    only then declared in fstab with C(nofail). Any failure undoes every step taken.
  - Swap the module did not make (partitions, zram, other files) is never switched off; with
    O(size=auto) it counts toward the target so nothing is doubled.
  - A resize builds the new file next to the old one and swaps them; a resize or removal of an
    active file runs C(swapoff) only when MemAvailable can absorb what is swapped out.
  - Optionally writes a sysctl drop-in (for example C(vm.swappiness)), applies it live and reports
    later sysctl files that would override it at boot.
version_added: "0.1.0"
author: headroom contributors (@headroom)
options:
  backend:
    description:
      - V(file) manages a swap file at O(path). V(zram) manages one compressed swap device in RAM
        (C(/dev/zramN), made with C(/sys/class/zram-control/hot_add)) instead; O(path),
        O(min_free_disk), O(method), O(fstab) and O(check_filesystem) are then ignored, and the
        device is rebuilt at boot from O(zram_config) by the role's C(headroom-zram.service).
    type: str
    choices: [file, zram]
    default: file
  zram_algorithm:
    description: zram compressor; V(auto) picks zstd, then lz4, then lzo-rle among those the kernel offers.
    type: str
    default: auto
  zram_config:
    description: File that records the zram device's size, compressor and priority for the boot unit.
    type: path
    default: /etc/headroom/zram.conf
  zram_state_file:
    description: Where the module remembers which C(zramN) device is headroom's (under /run it vanishes with the device at reboot).
    type: path
    default: /run/headroom-zram.device
  path:
    description: Absolute path of the swap file. Must not be a symlink.
    type: path
    default: /swapfile
  state:
    description: V(present) creates or resizes and activates the file; V(absent) deactivates and deletes it.
    type: str
    choices: [present, absent]
    default: present
  size:
    description:
      - Wanted size. Bytes as an integer, a size like V(2G), V(512M), V(1.5GiB) (powers of 1024) or
        V(4GB) (powers of 1000), rounded up to a whole MiB; or V(auto).
      - V(auto) follows Red Hat's table for hosts without hibernation (twice RAM up to 2 GiB,
        equal to RAM up to 8 GiB, 4 GiB above), minus the swap the host already has, rounded up
        to 128 MiB. When existing swap covers it, the file is not needed and is removed.
        An existing file within 10% of an automatic target is kept.
      - With O(backend=zram), V(auto) is zram-generator's default, half of RAM and at most 4 GiB
        (the size bounds uncompressed data; the RAM used is what the compressed pages take).
    type: str
    default: auto
  priority:
    description:
      - Swap priority (0 to 32767) for C(swapon -p) and C(pri=) in fstab. Omitted, the kernel
        assigns one for a file; a zram device gets 100 (zram-generator's), above disk swap.
    type: int
  min_free_disk:
    description:
      - Free space that must remain on the file's filesystem after allocation, as a size (V(2G))
        or a percentage of the filesystem (V(10%)). The module refuses to allocate otherwise.
    type: str
    default: 10%
  swapoff_min_available:
    description:
      - Memory that must stay available (MemAvailable) after a C(swapoff) of this file, as a size
        (V(2G)) or a share of RAM (V(10%), earlyoom's SIGTERM line). A resize, priority change or
        removal that would go below it is refused and the current swap keeps working.
        Nothing swapped out to the file is always safe to switch off.
    type: str
    default: 10%
  method:
    description: Allocation method. V(auto) picks C(fallocate) on ext4, btrfs and xfs (kernel 4.18+), C(dd) elsewhere.
    type: str
    choices: [auto, fallocate, dd]
    default: auto
  fstab:
    description: The fstab file to maintain.
    type: path
    default: /etc/fstab
  check_filesystem:
    description:
      - Refuse filesystems that cannot hold swap (overlayfs, tmpfs, NFS, ...) before touching anything.
      - V(false) lets C(swapon) decide instead; the module still rolls back when it refuses.
        Meant for tests and for filesystems headroom does not know yet.
    type: bool
    default: true
  sysctl:
    description:
      - Kernel settings to persist in O(sysctl_file) and apply live, keys as in C(sysctl.conf),
        for example C(vm.swappiness) set to 10. Empty leaves sysctls alone. With O(state=absent) the drop-in is
        deleted (live values are left as they are).
    type: dict
    default: {}
  machine_sysctl:
    description:
      - Inside a container, allow O(sysctl) to set C(vm.*) settings. They are the whole machine's, shared
        by every container on its kernel (cgroup v1 gives each container its own C(memory.swappiness),
        which only the host can set), so by default the module refuses them there, naming the
        container's own value. Outside a container this option changes nothing.
    type: bool
    default: false
  sysctl_file:
    description: The drop-in that holds O(sysctl).
    type: path
    default: /etc/sysctl.d/60-headroom-swap.conf
extends_documentation_fragment:
  - headroom.memory.attributes
attributes:
  check_mode:
    details: Reports exactly what would change (RV(actions), the predicted RV(after)) and runs the same refusals.
    support: full
  diff_mode:
    details: Shows the fstab change, the sysctl drop-in change and a one-line summary of the swap file.
    support: full
notes:
  - Needs root, C(mkswap), C(swapon), C(swapoff) and C(fallocate) or C(dd) on the managed host.
'''

EXAMPLES = r'''
- name: Give the host the swap Red Hat's table recommends, counting the swap it already has
  swapfile:
    path: /swapfile
    size: auto

- name: Keep a 2 GiB swap file at priority 10 and a low swappiness
  swapfile:
    path: /var/swap/headroom.swap
    size: 2G
    priority: 10
    min_free_disk: 2G
    sysctl:
      vm.swappiness: 10

- name: Use compressed swap in RAM instead of a disk (cloud disks with burst credits)
  swapfile:
    backend: zram
    size: auto

- name: Remove headroom's swap file (refused while memory cannot absorb what it holds)
  swapfile:
    path: /swapfile
    state: absent
'''

RETURN = r'''
file:
  description: The swap file managed (not C(path), which Ansible would decorate with file attributes).
  returned: always
  type: str
size:
  description: Wanted size in bytes (0 when O(size=auto) found the existing swap sufficient or O(state=absent)).
  returned: always
  type: int
actions:
  description: Steps taken (or, in check mode, that would be taken), in order, among
    cleanup, create, replace, fix_mode, swapoff, swapon, remove, fstab, sysctl_file, sysctl_live.
  returned: always
  type: list
  elements: str
before:
  description: The file before the run. Keys C(exists), C(size), C(mode) (octal string),
    C(uid), C(active), C(priority), C(used) (bytes swapped out to it), C(fstab_line).
  returned: always
  type: dict
after:
  description: The file after the run, same keys as RV(before); predicted in check mode.
  returned: always
  type: dict
zram:
  description: With O(backend=zram), C(device) (V(zram1)), C(algorithm), C(available) compressors.
  returned: when O(backend=zram)
  type: dict
sizing:
  description: How O(size=auto) was computed. Keys C(mem_total) (inside a container, its cgroup limit
    when that is tighter than the machine's RAM), C(memory_scope) (which of the two it is),
    C(recommended), C(rule), C(guidance), C(other_swap), C(target), all sizes in bytes.
  returned: when O(size=auto) and O(state=present)
  type: dict
filesystem:
  description: C(fstype), C(mount_point) and the allocation C(method) of the file's filesystem.
  returned: when the file is created or resized
  type: dict
sysctl:
  description: C(file), the wanted C(values), the C(live) values before the run, and
    C(overrides), a list of C({file, key, value}) set by sysctl files read after the drop-in at boot.
  returned: when O(sysctl) is set or O(state=absent)
  type: dict
'''

import errno
import fcntl
import glob
import hashlib
import os
import re
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.fix import swap
from ansible_collections.headroom.memory.plugins.module_utils.read import kernel

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


# Where the per-target locks live: memory only, gone at reboot, like the runs they guard.
LOCK_DIRS = ('/run/lock', '/run', '/tmp')
# The lock files this run holds open (and so locked) until its process ends.
_HELD = []


def take_lock(module, target):
    """An exclusive lock on ``target`` (a swap file's real path, or 'zram') for this run, or a failure
    naming the run that holds it. The kernel drops it when this process ends, however it ends."""
    directory = next((d for d in LOCK_DIRS if os.path.isdir(d) and os.access(d, os.W_OK)), None)
    if directory is None:
        module.fail_json(msg='no writable directory for the lock of %s (tried %s)' % (target, ', '.join(LOCK_DIRS)))
    name = os.path.join(directory, 'headroom-swapfile-%s.lock' % hashlib.sha256(target.encode('utf-8')).hexdigest()[:16])
    handle = open(name, 'a+')
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (IOError, OSError) as err:
        if err.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        handle.seek(0)
        holder = handle.read().strip() or 'another process'
        module.fail_json(msg='another swapfile run (%s) is working on %s right now (lock %s): nothing was '
                             'changed; run again when it has finished' % (holder, target, name))
    handle.seek(0)
    handle.truncate()
    handle.write('pid %d\n' % os.getpid())
    handle.flush()
    _HELD.append(handle)


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
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = module.params['path']
        self.undo = []
        self.actions = []
        directory, name = os.path.split(self.path)
        self.directory = directory or '/'
        # /proc/swaps shows the path with symlinks in its directories resolved.
        self.kernel_path = os.path.join(os.path.realpath(self.directory), name)
        self.tmp = os.path.join(self.directory, '.%s.headroom-new' % name)
        self.old = os.path.join(self.directory, '.%s.headroom-old' % name)

    # --- reading ---------------------------------------------------------------------------

    def areas(self):
        return swap.parse_proc_swaps(read_text('/proc/swaps'))

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
        rc, out, err = self.module.run_command(argv, environ_update={'LC_ALL': 'C'})
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
            rc, out, err = self.module.run_command(['fallocate', '-l', str(size), target],
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
            self.module.atomic_move(tmp, target, unsafe_writes=False)
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


def wanted_size(module, sf, state, areas, scope):
    """(bytes, auto, sizing) for the size option; ``auto`` sizes from ``scope`` (swap.memory_scope):
    a container's cgroup limit, not the machine's RAM it cannot use."""
    if state == 'absent':
        return 0, False, None
    spec = module.params['size']
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
    lines = ['# Managed by headroom (swapfile module): later files in the sysctl.d',
             '# directories, in name order, override these values.']
    lines += ['%s = %s' % (key, values[key]) for key in sorted(values)]
    return '\n'.join(lines) + '\n'


def sysctl_plan(module, state, container=False, cgroup=None):
    """(values, target) of the sysctl option, refused before anything changes when the kernel lacks a
    key, a value is out of its range, the drop-in's directory is missing or /proc/sys cannot be
    written: a refusal found after the swap file was made would leave half a change.

    Inside a container every vm.* sysctl is the whole machine's: setting it would change every other
    container and leave this one's own (cgroup v1 memory.swappiness) as it was. It is refused unless
    O(machine_sysctl) says that is meant.
    """
    values = dict((k, str(v)) for k, v in module.params['sysctl'].items())
    target = module.params['sysctl_file']
    if state == 'absent' or not values:
        return values, target
    problems = []
    machine_wide = sorted(key for key in values if key.startswith('vm.'))
    if container and machine_wide and not module.params['machine_sysctl']:
        own = ''
        if cgroup and cgroup.get('version') == 1 and 'vm.swappiness' in values:
            own = ('; this container\'s own swappiness is %s/memory.swappiness (%s), set from the host '
                   '(docker run --memory-swappiness)' % (cgroup['dir'], read_text(
                       os.path.join(cgroup['dir'], 'memory.swappiness'), default='?').strip()))
        module.fail_json(msg='%s: in a container these are the whole machine\'s, shared by every container '
                             'on it%s; set machine_sysctl=true to change them for all of them, or leave '
                             'sysctl empty; nothing was changed' % (', '.join(machine_wide), own))
    directory = os.path.dirname(target) or '/'
    if not os.path.isdir(directory):
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
        module.fail_json(msg='; '.join(problems) + '; nothing was changed')
    return values, target


def apply_sysctl(module, sf, state, values, target, diffs):
    """Persist and apply the sysctl option as steps of the same operation: each registers its undo,
    so a failure later in the run puts the drop-in and the live values back as they were."""
    before = read_text(target, default='')
    existed = os.path.exists(target)
    result = {'file': target, 'values': values, 'live': {}, 'overrides': []}

    def restore():
        if existed:
            sf.write_file(target, before)
        else:
            sf.unlink_if_present(target)
    if state == 'absent' or not values:
        if state == 'absent' and existed:
            diffs.append({'before_header': target, 'after_header': target, 'before': before, 'after': ''})
            sf.actions.append('sysctl_file')
            if not module.check_mode:
                os.unlink(target)
                sf.undo.append(('restore %s' % target, restore))
        return result
    after = sysctl_text(values)
    if after != before:
        diffs.append({'before_header': target, 'after_header': target, 'before': before, 'after': after})
        sf.actions.append('sysctl_file')
        if not module.check_mode:
            sf.write_file(target, after)
            sf.undo.append(('restore %s' % target, restore))
    live_changed = False
    for key, value in sorted(values.items()):
        proc = '/proc/sys/' + key.replace('.', '/')
        live = read_text(proc).strip()
        result['live'][key] = live
        if live.split() != value.split():
            live_changed = True
            if not module.check_mode:
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
        module.warn('%s sets %s = %s and is read after %s: it overrides headroom at boot'
                    % (where, found['key'], found['value'], target))
    return result


def write_proc(proc, value):
    try:
        with open(proc, 'w') as handle:
            handle.write(value)
    except (IOError, OSError) as err:
        raise StepFailed('cannot set %s to %s: %s' % (proc, value, err))


def oom_kills():
    """The kernel's OOM kill counter, to tell whether a run cost a process its life; None when unknown."""
    try:
        return kernel.parse_vmstat(read_text('/proc/vmstat')).get('oom_kill')
    except (IOError, OSError, ParseError):
        return None


def after_failure(module, sf, err, snapshot, now, result):
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
    kills = oom_kills()
    if snapshot.get('oom_kill') is not None and kills is not None and kills > snapshot['oom_kill']:
        differences.append('processes: the kernel OOM-killed %d while this ran' % (kills - snapshot['oom_kill']))
    result = dict(result, actions=sf.actions)
    if not problems and not differences:
        result['changed'] = False
        module.fail_json(msg='%s; rolled back: the host is as it was before this run' % err, **result)
    stands = ['undo failed: %s' % problem for problem in problems] + [
        'not as before: %s' % what for what in differences]
    result.update(changed=True, stands=stands)
    module.fail_json(msg='%s; ROLLBACK INCOMPLETE: %s' % (err, '; '.join(stands)), **result)


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


def container_scope():
    """(in a container, its memory cgroup or None): the limits swap is sized and guarded against.

    A container that stands for the machine (kernel.stands_for_machine) is not one here: its sysctls
    are meant to be the machine's.
    """
    if not kernel.in_container():
        return False, None
    try:
        cgroup = kernel.read_cgroup_memory(container=True)
    except ParseError:
        return True, None
    if kernel.stands_for_machine((cgroup or {}).get('scope'), kernel.container_id()):
        return False, cgroup
    return True, cgroup


def refuse_swapoff(module, active, scope, path, min_available, result):
    """Fail, changing nothing, when memory cannot take back what the active swap area holds: in a
    container, memory is what its cgroup limit leaves, since the pages come back into it."""
    try:
        refusal = swap.swapoff_guard(active['used'], scope['available'], scope['total'], path,
                                     min_available, scope['scope'])
    except ParseError as err:
        module.fail_json(msg=str(err), **result)
    if refusal:
        module.fail_json(msg=refusal, **result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/swapfile'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            size=dict(type='str', default='auto'),
            priority=dict(type='int'),
            min_free_disk=dict(type='str', default='10%'),
            swapoff_min_available=dict(type='str', default='10%'),
            method=dict(type='str', choices=['auto', 'fallocate', 'dd'], default='auto'),
            fstab=dict(type='path', default='/etc/fstab'),
            check_filesystem=dict(type='bool', default=True),
            sysctl=dict(type='dict', default={}),
            sysctl_file=dict(type='path', default='/etc/sysctl.d/60-headroom-swap.conf'),
            backend=dict(type='str', choices=['file', 'zram'], default='file'),
            zram_algorithm=dict(type='str', default='auto'),
            zram_config=dict(type='path', default='/etc/headroom/zram.conf'),
            zram_state_file=dict(type='path', default='/run/headroom-zram.device'),
            machine_sysctl=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['path'].startswith('/'):
        # one spelling for the file: //swap/./f is /swap/f, in fstab, the lock and the result alike
        params['path'] = swap.same_file_name(params['path'])
    path = params['path']
    state = params['state']
    priority = params['priority']
    if not os.path.isabs(path):
        module.fail_json(msg='path must be absolute, got %r' % path)
    if priority is not None and not 0 <= priority <= 32767:
        module.fail_json(msg='priority must be between 0 and 32767, got %d' % priority)
    if os.geteuid() != 0:
        module.fail_json(msg='swapfile needs root (swapon, mkswap, /etc/fstab)')
    take_lock(module, 'zram' if params['backend'] == 'zram' else os.path.realpath(path))
    if params['backend'] == 'zram':
        zram_main(module)
    directory = os.path.dirname(path) or '/'
    if not os.path.isdir(directory):
        module.fail_json(msg='the directory of %s, %s, does not exist (or is not a directory): create it '
                             'first; nothing was changed' % (path, directory))

    sf = SwapFile(module)
    result = {'changed': False, 'file': path, 'state': state}
    try:
        fstab_text = read_text(params['fstab'], default='')
        meminfo = kernel.parse_meminfo(read_text('/proc/meminfo'), need=swap.MEMINFO_NEEDS)
        container, cgroup = container_scope()
        scope = swap.memory_scope(meminfo, cgroup)
        areas = sf.areas()
        for leftover in (sf.tmp, sf.old):
            if os.path.lexists(leftover):
                if not made_by_headroom(leftover):
                    module.fail_json(msg='%s is in the way of this run and is not a leftover of headroom '
                                         '(not a root-owned 0600 swap file): it may be data, so it is left as '
                                         'it is; move it away, then run again' % leftover)
                if sf.leftover_active(leftover):
                    module.fail_json(msg='%s is an active swap area left by an interrupted run: swapoff it'
                                         ' and delete it, then run again' % leftover)
                sf.actions.append('cleanup')
                if not module.check_mode:
                    os.unlink(leftover)
        current = sf.describe(fstab_text)
        size, auto, sizing = wanted_size(module, sf, state, areas, scope)
        if sizing:
            result['sizing'] = sizing
        decision = swap.plan(state, size, auto, priority, current, fstab_text, path, os.path.realpath)
    except ParseError as err:
        module.fail_json(msg=str(err), **result)
    except (IOError, OSError) as err:
        module.fail_json(msg='cannot inspect %s: %s' % (path, err), **result)

    steps = decision['steps']
    result['size'] = size
    active = current['active']

    # Refusals, before anything changes (and in check mode too).
    if 'create' in steps or 'replace' in steps:
        mount = sf.filesystem()
        if params['check_filesystem']:
            capable, why = swap.swap_capable(mount['fstype'])
            if not capable:
                module.fail_json(msg='refusing to put swap on %s (mounted on %s): %s'
                                 % (sf.directory, mount['mount_point'], why), **result)
        try:
            alloc = swap.allocation(mount['fstype'], os.uname()[2], params['method'])
            vfs = os.statvfs(sf.directory)
            refusal = swap.disk_guard(vfs.f_bavail * vfs.f_frsize, vfs.f_blocks * vfs.f_frsize, size,
                                      params['min_free_disk'], '%s (%s)' % (mount['mount_point'], mount['fstype']))
        except ParseError as err:
            module.fail_json(msg=str(err), **result)
        if refusal:
            module.fail_json(msg=refusal, **result)
        result['filesystem'] = {'fstype': mount['fstype'], 'mount_point': mount['mount_point'],
                                'method': alloc['method']}
    if active and ('swapoff' in steps or 'replace' in steps):
        refuse_swapoff(module, active, scope, path, params['swapoff_min_available'], result)

    before = sf.public(current)
    values, target = sysctl_plan(module, state, container, cgroup) if (params['sysctl'] or state == 'absent') \
        else ({}, None)
    diffs = []
    if decision['fstab'] != fstab_text:
        diffs.append({'before_header': params['fstab'], 'after_header': params['fstab'],
                      'before': fstab_text, 'after': decision['fstab']})
    sysctl_diffs = []
    if not module.check_mode:
        snapshot = {'swap file': summary(before), 'fstab': fstab_text, 'oom_kill': oom_kills()}
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
                result['sysctl'] = apply_sysctl(module, sf, state, values, target, sysctl_diffs)
            finish(sf, steps)
        except (StepFailed, IOError, OSError) as err:
            after_failure(module, sf, err, snapshot, now, dict(result, before=before))
        after = sf.public(sf.describe(read_text(params['fstab'], default='')))
    else:
        after = predict(before, steps, size, priority, decision['fstab'], path, state)
        sf.actions.extend(steps)
        if target:
            result['sysctl'] = apply_sysctl(module, sf, state, values, target, sysctl_diffs)
    if steps:
        diffs.append({'before_header': '%s (swap file)' % path, 'after_header': '%s (swap file)' % path,
                      'before': summary(before), 'after': summary(after)})
    diffs.extend(sysctl_diffs)

    result.update(changed=bool(sf.actions), actions=sf.actions, before=before, after=after)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


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


ZRAM_CONTROL = '/sys/class/zram-control'


def sysfs_read(path):
    return read_text(path).strip()


def sysfs_write(path, value):
    with open(path, 'w') as handle:
        handle.write(str(value))


class Zram(SwapFile):
    """headroom's zram device: the device it made, remembered in a state file under /run."""

    def __init__(self, module):
        super(Zram, self).__init__(module)
        self.device = None
        self.path = None
        state = read_text(module.params['zram_state_file'], default='').strip()
        if re.match(r'^zram\d+$', state, flags=re.ASCII) and os.path.isdir('/sys/block/%s' % state):
            self.use(state)

    def use(self, device):
        self.device = device
        self.path = '/dev/' + device
        self.sys = '/sys/block/' + device

    def describe(self):
        if self.device is None:
            return None
        available, current = swap.parse_comp_algorithms(sysfs_read(self.sys + '/comp_algorithm'))
        return {'device': self.device, 'disksize': int(sysfs_read(self.sys + '/disksize')),
                'algorithm': current, 'available': available,
                'active': self.active_area(self.areas(), self.path)}

    @staticmethod
    def public(info):
        if info is None:
            return {'exists': False, 'device': None, 'size': 0, 'algorithm': None, 'active': False,
                    'priority': None, 'used': 0}
        active = info['active']
        return {'exists': True, 'device': info['device'], 'size': info['disksize'],
                'algorithm': info['algorithm'], 'active': bool(active),
                'priority': active['priority'] if active else None, 'used': active['used'] if active else 0}

    def configure(self, size, algorithm):
        sysfs_write(self.sys + '/comp_algorithm', algorithm)
        sysfs_write(self.sys + '/disksize', size)
        self.run(['mkswap', self.path], 'mkswap %s' % self.path)

    def reset(self):
        sysfs_write(self.sys + '/reset', 1)

    def create(self, size, algorithm):
        number = sysfs_read(ZRAM_CONTROL + '/hot_add')
        self.use('zram' + number)
        self.undo.append(('hot_remove zram%s' % number,
                          lambda: sysfs_write(ZRAM_CONTROL + '/hot_remove', number)))
        state_file = self.params['zram_state_file']
        self.write_file(state_file, self.device + '\n')
        self.undo.append(('unlink %s' % state_file, lambda: self.unlink_if_present(state_file)))
        self.configure(size, algorithm)

    def remove(self):
        self.reset()
        sysfs_write(ZRAM_CONTROL + '/hot_remove', self.device[len('zram'):])
        self.unlink_if_present(self.params['zram_state_file'])
        self.device = self.path = None


def zram_main(module):
    params = module.params
    state = params['state']
    zr = Zram(module)
    result = {'changed': False, 'state': state, 'backend': 'zram'}
    if state == 'present' and not os.path.isdir(ZRAM_CONTROL):
        module.fail_json(msg='this kernel has no zram hot_add (%s is missing): load the zram module'
                             ' (modprobe zram) or use backend=file' % ZRAM_CONTROL, **result)
    try:
        meminfo = kernel.parse_meminfo(read_text('/proc/meminfo'), need=swap.MEMINFO_NEEDS)
        container, cgroup = container_scope()
        scope = swap.memory_scope(meminfo, cgroup)
        current = zr.describe()
        size = algorithm = priority = None
        if state == 'present':
            spec = params['size']
            if str(spec).strip().lower() == 'auto':
                size = swap.zram_auto_size(scope['total'])
            else:
                size = swap.round_up(swap.parse_size_arg(spec), swap.MIB)
            if current is not None:
                available = current['available']
            elif os.path.exists('/sys/block/zram0/comp_algorithm'):
                available = swap.parse_comp_algorithms(sysfs_read('/sys/block/zram0/comp_algorithm'))[0]
            else:
                available = list(swap.ZRAM_ALGORITHMS)
            algorithm = swap.pick_algorithm(available, params['zram_algorithm'])
            priority = params['priority'] if params['priority'] is not None else swap.ZRAM_PRIORITY
            result['zram'] = {'device': zr.device, 'algorithm': algorithm, 'available': available}
        steps = swap.zram_plan(state, size, algorithm, priority, current)
        config_before = read_text(params['zram_config'], default='')
        config_after = swap.zram_config_text(size, algorithm, priority) if state == 'present' else ''
    except ParseError as err:
        module.fail_json(msg=str(err), **result)
    except (IOError, OSError) as err:
        module.fail_json(msg='cannot inspect zram: %s' % err, **result)

    result['size'] = size or 0
    active = current['active'] if current else None
    if active and 'swapoff' in steps:
        refuse_swapoff(module, active, scope, zr.path, params['swapoff_min_available'], result)

    before = zr.public(current)
    values, target = sysctl_plan(module, state, container, cgroup) if (params['sysctl'] or state == 'absent') \
        else ({}, None)
    diffs = []
    if not module.check_mode:
        snapshot = {'zram device': repr(before), 'zram config': config_before, 'oom_kill': oom_kills()}
        if target:
            snapshot['sysctl file'] = read_text(target, default='')

        def now(what):
            if what == 'zram device':
                return repr(Zram.public(Zram(module).describe()))  # as a new run would find it
            return read_text(params['zram_config'] if what == 'zram config' else target, default='')
        try:
            zram_execute(zr, steps, current, size, algorithm, priority)
            if config_after != config_before:
                if config_after:
                    directory = os.path.dirname(params['zram_config'])
                    if not os.path.isdir(directory):
                        os.makedirs(directory, 0o755)
                    zr.write_file(params['zram_config'], config_after)
                    zr.undo.append(('restore %s' % params['zram_config'],
                                    lambda: zr.write_file(params['zram_config'], config_before) if config_before
                                    else zr.unlink_if_present(params['zram_config'])))
                else:
                    zr.unlink_if_present(params['zram_config'])
                    try:
                        # The directory was made for this file; leave it only if it holds others.
                        os.rmdir(os.path.dirname(params['zram_config']))
                    except OSError:
                        pass
            zr.actions.extend(steps)
            if config_after != config_before:
                zr.actions.append('zram_config')
            if target:
                result['sysctl'] = apply_sysctl(module, zr, state, values, target, diffs)
            zr.undo = []
        except (StepFailed, IOError, OSError) as err:
            after_failure(module, zr, err, snapshot, now, dict(result, before=before))
        after = zr.public(zr.describe())
        if 'zram' in result:
            result['zram']['device'] = zr.device
    else:
        after = zram_predict(before, steps, size, algorithm, priority)
        zr.actions.extend(steps)
        if config_after != config_before:
            zr.actions.append('zram_config')
        if target:
            result['sysctl'] = apply_sysctl(module, zr, state, values, target, diffs)
    if config_after != config_before:
        diffs.insert(0, {'before_header': params['zram_config'], 'after_header': params['zram_config'],
                         'before': config_before, 'after': config_after})
    result.update(changed=bool(zr.actions), actions=zr.actions, before=before, after=after)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


def zram_predict(before, steps, size, algorithm, priority):
    if 'remove' in steps:
        return Zram.public(None)
    after = dict(before)
    if 'create' in steps or 'rebuild' in steps:
        after.update(exists=True, size=size, algorithm=algorithm, used=0)
    if 'swapon' in steps:
        after.update(active=True, priority=priority)
    return after


def zram_execute(zr, steps, current, size, algorithm, priority):
    """Carry out a zram plan; every step registers its undo before the next one runs."""
    old_priority = current['active']['priority'] if current and current['active'] else None
    for step in steps:
        if step == 'create':
            zr.create(size, algorithm)
        elif step == 'rebuild':
            zr.reset()
            zr.undo.append(('configure %s as before' % zr.device,
                            lambda: (zr.reset(), zr.configure(current['disksize'], current['algorithm']))))
            zr.configure(size, algorithm)
        elif step == 'mkswap':
            zr.run(['mkswap', zr.path], 'mkswap %s' % zr.path)
        elif step == 'swapoff':
            zr.swapoff()
            zr.undo.append(('swapon %s again' % zr.path, lambda: zr.swapon(old_priority)))
        elif step == 'swapon':
            zr.swapon(priority)
            zr.undo.append(('swapoff %s' % zr.path, zr.swapoff))
        elif step == 'remove':
            zr.remove()


if __name__ == '__main__':
    main()
