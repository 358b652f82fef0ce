#!/usr/bin/env python3
"""The headroom test VM: a whole Debian 12 machine with its own kernel, booted with QEMU.

Used by tests/vm/conftest.py (the ``vm`` fixture) and from the command line:

    scripts/vm/headroom_vm.py build          build the image unless cached, print its directory
    scripts/vm/headroom_vm.py accel          which accelerator a boot would use, and why
    scripts/vm/headroom_vm.py shell [CMD]    boot a VM, run CMD over SSH (or an interactive shell), stop it
    scripts/vm/headroom_vm.py reap           stop what a killed run left behind (QEMU, its files)

The image (scripts/vm/build-image.sh) is cached outside the checkout; each boot runs on a qcow2 overlay
in a run directory of its own (/var/tmp/headroom-vm-*), with a key pair made for that run (its public
half reaches the guest on the kernel command line) and the host key the image was built with in the run's
known_hosts. Nothing is left running: QEMU dies with the process that started it (PR_SET_PDEATHSIG), the
fixture stops it on teardown, Ctrl-C and SIGTERM, and a pidfile lets the next start stop one that a
SIGKILL'd run left (``reap_stale``).

KVM is used where it works: ``/dev/kvm`` is not enough (a nested KVM that cannot run Debian's kernel is
common, see field-notes "A VM of our own"), so a probe boots the kernel under KVM and waits for it to
panic on purpose (no root device); a failure or a hang means TCG. The probe's answer is kept for the
machine's boot (its boot_id). HEADROOM_VM_ACCEL=kvm|tcg decides without a probe.
"""
import atexit
import base64
import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get('HEADROOM_VM_CACHE', '/var/cache/headroom/vm')
PIDS = os.path.join(CACHE, 'run')
MACHINE_LOCK = os.environ.get('HEADROOM_KERNEL_LOCK', '/var/lock/headroom-kernel.lock')
QEMU = os.environ.get('HEADROOM_VM_QEMU', 'qemu-system-x86_64')
MARK = 'headroom-vm'  # QEMU's -name starts with it: how a stale QEMU is told from any other process
TCG = ['-accel', 'tcg,thread=multi', '-cpu', 'max']
KVM = ['-accel', 'kvm', '-cpu', 'host']
# The kernel QEMU loads: Debian's own vmlinuz (bzImage). Booting the ELF vmlinux inside it through its
# PVH entry (no decompressor in the guest) was measured here against it, 2 boots each under TCG at a load
# of 3: 25.2 and 22.3 s to SSH against 27.1 and 22.2 s: no gain worth a second kernel file.
KERNEL = 'vmlinuz'


def log(message):
    sys.stderr.write('headroom vm: %s\n' % message)
    sys.stderr.flush()


class VMError(RuntimeError):
    pass


# --- the image ---------------------------------------------------------------------------------

def build_image():
    """(image directory, seconds taken, whether it was built now rather than found in the cache):
    scripts/vm/build-image.sh."""
    script = os.path.join(HERE, 'build-image.sh')
    key = subprocess.run([script, '--key'], capture_output=True, text=True, check=True).stdout.strip()
    cached = os.path.exists(os.path.join(CACHE, key, 'rootfs.raw')) and os.environ.get('HEADROOM_VM_REBUILD') != '1'
    started = time.monotonic()
    proc = subprocess.run([script], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise VMError('scripts/vm/build-image.sh failed (rc %d)' % proc.returncode)
    return proc.stdout.strip().splitlines()[-1], time.monotonic() - started, not cached


def image_versions(image):
    """The image's ``versions`` file as a dict (key, suite, kernel, package versions, built)."""
    found = {}
    with open(os.path.join(image, 'versions')) as handle:
        for line in handle:
            name, _, value = line.strip().partition(' ')
            found[name] = value
    return found


# --- the accelerator ---------------------------------------------------------------------------

def _boot_id():
    with open('/proc/sys/kernel/random/boot_id') as handle:
        return handle.read().strip()


def _qemu_version():
    proc = subprocess.run([QEMU, '--version'], capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()[0]


def probe_kvm(image, timeout=30.0):
    """(works, why): boot the image's kernel under KVM with no root device and wait for its panic."""
    with tempfile.TemporaryDirectory(prefix='headroom-vm-probe-', dir='/var/tmp') as tmp:
        console = os.path.join(tmp, 'console.log')
        argv = [QEMU, '-name', MARK + '-probe', '-nodefaults', '-no-reboot', '-display', 'none'] + KVM + [
            '-m', '256', '-smp', '1', '-kernel', os.path.join(image, KERNEL),
            '-append', 'console=ttyS0 panic=-1 root=/dev/headroom-none',
            '-serial', 'file:' + console]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=_child_setup)
        try:
            out, _ = proc.communicate(timeout=timeout)
            hung = False
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            hung = True
        with open(console, errors='replace') as handle:
            text = handle.read()
    if 'Kernel panic' in text and not hung:
        return True, 'the probe boot under KVM reached its kernel panic (no root device, on purpose)'
    last = (out.strip().splitlines() or text.strip().splitlines() or ['no output'])[-1][:200]
    if hung:
        return False, 'the probe boot under KVM did not reach its kernel panic in %.0f s (last: %s)' % (timeout, last)
    return False, 'QEMU with KVM exited with %s before the kernel panicked (%s)' % (proc.returncode, last)


def choose_accel(image):
    """(name, QEMU arguments, why): 'kvm' where a probe boot works under it, else 'tcg'."""
    forced = os.environ.get('HEADROOM_VM_ACCEL')
    if forced == 'tcg':
        return 'tcg', TCG, 'HEADROOM_VM_ACCEL=tcg'
    if forced == 'kvm':
        return 'kvm', KVM, 'HEADROOM_VM_ACCEL=kvm'
    if forced:
        raise VMError('HEADROOM_VM_ACCEL must be kvm or tcg, not %r' % forced)
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        return 'tcg', TCG, 'no usable /dev/kvm'
    key = {'boot_id': _boot_id(), 'qemu': _qemu_version(), 'kernel': image_versions(image).get('kernel')}
    answer = os.path.join(CACHE, 'kvm-probe.json')
    with contextlib.suppress(OSError, ValueError):
        with open(answer) as handle:
            kept = json.load(handle)
        if kept.get('key') == key:
            works, why = kept['works'], kept['why'] + ' (probed at this machine\'s boot, kept in %s)' % answer
            return ('kvm', KVM, why) if works else ('tcg', TCG, why)
    works, why = probe_kvm(image)
    with contextlib.suppress(OSError):
        with open(answer + '.tmp', 'w') as handle:
            json.dump({'key': key, 'works': works, 'why': why}, handle)
        os.replace(answer + '.tmp', answer)
    return ('kvm', KVM, why) if works else ('tcg', TCG, why)


# --- processes ---------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_setup():
    """In QEMU's child before exec: a session of its own (a Ctrl-C at the terminal reaches the test
    run, which stops the VM in order) and SIGKILL when the process that started it dies, however."""
    os.setsid()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_time(pid):
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return int(handle.read().rsplit(')', 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().split(b'\0')
    except OSError:
        return []


def reap_stale():
    """Stop each QEMU, and remove each run directory, whose test run is gone (killed with SIGKILL, or
    the machine's power...): found by the pidfiles in CACHE/run. A run that is still alive is left
    alone. Returns what was done, one line each."""
    done = []
    if not os.path.isdir(PIDS):
        return done
    for name in sorted(os.listdir(PIDS)):
        path = os.path.join(PIDS, name)
        try:
            with open(path) as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue
        owner = record.get('owner')
        if owner and _alive(owner) and _start_time(owner) == record.get('owner_start'):
            continue
        qemu = record.get('qemu')
        if qemu and _start_time(qemu) == record.get('qemu_start') and \
                (MARK + ':' + record['id']).encode() in _cmdline(qemu):
            os.kill(qemu, signal.SIGKILL)
            for _ in range(100):
                if not _alive(qemu):
                    break
                time.sleep(0.1)
            done.append('stopped QEMU %d left by test run %s' % (qemu, owner))
        run_dir = record.get('run_dir')
        if run_dir and os.path.basename(run_dir).startswith('headroom-vm-') and os.path.isdir(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
            done.append('removed %s' % run_dir)
        os.unlink(path)
    return done


# --- the machine lock --------------------------------------------------------------------------

def _ancestors():
    pid = os.getppid()
    while pid > 1:
        yield pid
        try:
            with open('/proc/%d/stat' % pid) as handle:
                pid = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return


def _holds_open(pid, path):
    fd_dir = '/proc/%d/fd' % pid
    try:
        for fd in os.listdir(fd_dir):
            with contextlib.suppress(OSError):
                if os.readlink(os.path.join(fd_dir, fd)) == path:
                    return True
    except OSError:
        pass
    return False


@contextlib.contextmanager
def machine_lock(timeout=None):
    """Hold the machine lock (flock on /var/lock/headroom-kernel.lock) while the VM runs: no Docker test
    or other VM runs beside it on this 2-core machine. A run started under ``flock LOCK ...`` already
    holds it through its ancestor: then nothing is taken (taking it again would wait forever)."""
    timeout = float(os.environ.get('HEADROOM_VM_LOCK_TIMEOUT', 3600)) if timeout is None else timeout
    real = os.path.realpath(MACHINE_LOCK)
    holder = next((pid for pid in _ancestors() if _holds_open(pid, real)), None)
    if holder is not None:
        log('the machine lock %s is held by this run\'s parent (pid %d): not taken again' % (MACHINE_LOCK, holder))
        yield 'held by pid %d' % holder
        return
    fd = os.open(MACHINE_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log('waiting for the machine lock %s (another test run holds it; up to %.0f s)' % (MACHINE_LOCK, timeout))
            # A blocking flock, as flock(1) waits: the kernel wakes the waiters in turn (polling with
            # LOCK_NB loses the lock to them again and again). SIGALRM ends the wait at the timeout.

            def expired(_signum, _frame):
                raise VMError('the machine lock %s was not free within %.0f s' % (MACHINE_LOCK, timeout))
            previous = signal.signal(signal.SIGALRM, expired)
            signal.alarm(max(1, int(timeout)))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, previous)
        yield 'taken'
    finally:
        os.close(fd)  # releases the lock


# --- the VM ------------------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class VM(object):
    """One boot of the image on a throw-away overlay. ``start()`` returns when SSH answers; ``stop()``
    powers it off and removes everything of the run (the console log is copied to ``keep_dir``)."""

    def __init__(self, image, memory_mib=1024, cpus=2, keep_dir=None, append='', forwards=()):
        self.image = image
        # guest TCP ports reached from this machine: QEMU forwards 127.0.0.1:<a free port> to each
        self.forwards = tuple(forwards)
        self.forwarded = {}
        self.memory_mib = memory_mib
        self.cpus = cpus
        self.keep_dir = keep_dir
        self.extra_append = append
        self.versions = image_versions(image)
        self.accel = self.accel_why = None
        self.proc = None
        self.run_dir = None
        self.port = None
        self.id = None
        self.pidfile = None
        self.boot_seconds = None
        self.qemu_cpu_seconds = None

    # paths in the run directory
    def _path(self, name):
        return os.path.join(self.run_dir, name)

    @property
    def key_file(self):
        return self._path('id_ed25519')

    @property
    def console_log(self):
        return self._path('console.log')

    @property
    def inventory(self):
        return self._path('inventory.yml')

    def ssh_options(self):
        return ['-i', self.key_file, '-p', str(self.port), '-o', 'UserKnownHostsFile=' + self._path('known_hosts'),
                '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
                '-o', 'ControlMaster=auto', '-o', 'ControlPath=' + self._path('cm-%C'), '-o', 'ControlPersist=900',
                '-o', 'ConnectTimeout=20', '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=8',
                '-o', 'LogLevel=ERROR']

    def start(self, timeout=None):
        timeout = float(os.environ.get('HEADROOM_VM_BOOT_TIMEOUT', 900)) if timeout is None else timeout
        for line in reap_stale():
            log(line)
        self.accel, accel_args, self.accel_why = choose_accel(self.image)
        log('accelerator: %s (%s)' % (self.accel, self.accel_why))
        self.run_dir = tempfile.mkdtemp(prefix='headroom-vm-', dir=os.environ.get('HEADROOM_VM_RUN_DIR', '/var/tmp'))
        self.id = os.path.basename(self.run_dir)[len('headroom-vm-'):]
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'headroom-test-run', '-f', self.key_file],
                       check=True)
        with open(self.key_file + '.pub') as handle:
            kind, blob = handle.read().split()[:2]
        if kind != 'ssh-ed25519' or base64.b64decode(blob)[:15] != b'\x00\x00\x00\x0bssh-ed25519':
            raise VMError('ssh-keygen made an unexpected key: %s' % kind)
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b',
                        os.path.join(self.image, 'rootfs.raw'), self._path('overlay.qcow2')], check=True)
        with open(os.path.join(self.image, 'ssh_host_ed25519_key.pub')) as handle:
            host_key = ' '.join(handle.read().split()[:2])
        append = ' '.join(filter(None, ['root=/dev/vda rw console=ttyS0', 'headroom.key=' + blob, self.extra_append]))
        started = time.monotonic()
        for attempt in range(3):  # the port chosen may be taken by someone else before QEMU binds it
            self.port = free_port()
            self.forwarded = dict((guest, free_port()) for guest in self.forwards)
            with open(self._path('known_hosts'), 'w') as handle:
                handle.write('[127.0.0.1]:%d %s\n' % (self.port, host_key))
            netdev = 'user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22' % self.port + ''.join(
                ',hostfwd=tcp:127.0.0.1:%d-:%d' % (host, guest) for guest, host in sorted(self.forwarded.items()))
            argv = [QEMU, '-name', '%s:%s' % (MARK, self.id), '-nodefaults', '-no-user-config', '-display', 'none']
            argv += accel_args + [
                '-m', str(self.memory_mib), '-smp', str(self.cpus),
                '-kernel', os.path.join(self.image, KERNEL), '-initrd', os.path.join(self.image, 'initrd.img'),
                '-append', append,
                '-drive', 'file=%s,if=virtio,format=qcow2,cache=unsafe' % self._path('overlay.qcow2'),
                '-netdev', netdev,
                '-device', 'virtio-net-pci,netdev=n0',
                '-device', 'virtio-rng-pci',
                '-serial', 'file:' + self.console_log]
            qemu_log = open(self._path('qemu.log'), 'w')
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT,
                                         preexec_fn=_child_setup, close_fds=True)
            qemu_log.close()
            self._write_pidfile()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(2)
            if self.proc.returncode is None:
                break
            text = self._read('qemu.log')
            self._forget_pidfile()
            if 'hostfwd' not in text and 'host forwarding' not in text:
                raise VMError('QEMU exited with %s: %s' % (self.proc.returncode, text.strip()[-2000:]))
            log('port %d taken before QEMU bound it (%s): another' % (self.port, text.strip()[-200:]))
        else:
            raise VMError('QEMU could not forward a free port in 3 tries')
        self._wait_for_ssh(started, timeout)
        self.boot_seconds = time.monotonic() - started
        self._write_inventory()
        return self

    def _read(self, name, limit=None):
        try:
            with open(self._path(name), errors='replace') as handle:
                text = handle.read()
        except OSError:
            return ''
        return text[-limit:] if limit else text

    def _write_pidfile(self):
        os.makedirs(PIDS, mode=0o700, exist_ok=True)
        self.pidfile = os.path.join(PIDS, '%s.json' % self.id)
        record = {'id': self.id, 'qemu': self.proc.pid, 'qemu_start': None, 'owner': os.getpid(),
                  'owner_start': _start_time(os.getpid()), 'run_dir': self.run_dir, 'port': self.port}
        for _ in range(50):  # QEMU's own start time, once it has exec'd (the marker is then in its cmdline)
            if (MARK + ':' + self.id).encode() in _cmdline(self.proc.pid) or self.proc.poll() is not None:
                break
            time.sleep(0.02)
        record['qemu_start'] = _start_time(self.proc.pid)
        with open(self.pidfile + '.tmp', 'w') as handle:
            json.dump(record, handle)
        os.replace(self.pidfile + '.tmp', self.pidfile)

    def _forget_pidfile(self):
        if self.pidfile:
            with contextlib.suppress(OSError):
                os.unlink(self.pidfile)
            self.pidfile = None

    def _wait_for_ssh(self, started, timeout):
        """Poll ``ssh true`` until the guest answers; QEMU's death or the timeout ends it with the console's tail."""
        deadline = started + timeout
        last = ''
        while True:
            if self.proc.poll() is not None:
                raise VMError('QEMU exited with %s before SSH answered\n%s\n--- console:\n%s' % (
                    self.proc.returncode, self._read('qemu.log', 2000), self._read('console.log', 4000)))
            try:
                done = subprocess.run(['ssh'] + self.ssh_options() + ['root@127.0.0.1', 'true'],
                                      capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
                if done.returncode == 0:
                    return
                last = done.stderr.strip()[-300:]
            except subprocess.TimeoutExpired:
                last = 'ssh true took over 60 s'
            if time.monotonic() > deadline:
                raise VMError('SSH did not answer within %.0f s (%s; last ssh: %s)\n--- console:\n%s' % (
                    timeout, self.accel, last, self._read('console.log', 4000)))
            time.sleep(1)

    def _write_inventory(self):
        """An Ansible inventory naming the VM ``vm``: as a user's inventory names a server."""
        ssh_args = ' '.join(self.ssh_options()[4:])  # -i and -p come from the variables below
        host = {
            'ansible_host': '127.0.0.1', 'ansible_port': self.port, 'ansible_user': 'root',
            'ansible_ssh_private_key_file': self.key_file, 'ansible_ssh_args': ssh_args,
            'ansible_ssh_pipelining': True, 'ansible_ssh_timeout': 60, 'ansible_ssh_retries': 3,
            'ansible_python_interpreter': '/usr/bin/python3',
        }
        with open(self.inventory, 'w') as handle:
            json.dump({'all': {'hosts': {'vm': host}}}, handle, indent=2)  # JSON is YAML

    def ssh(self, command, timeout=300, check=True, input=None):
        """Run ``command`` (a shell string) in the guest as root; CompletedProcess with text output."""
        done = subprocess.run(['ssh'] + self.ssh_options() + ['root@127.0.0.1', command], capture_output=True,
                              text=True, timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise VMError('in the VM, %r exited with %d:\n%s%s' % (command, done.returncode, done.stdout[-2000:],
                                                                   done.stderr[-2000:]))
        return done

    def boot_id(self):
        return self.ssh('cat /proc/sys/kernel/random/boot_id', timeout=120).stdout.strip()

    def reboot(self, timeout=None):
        """A real reboot of the guest (systemctl reboot: its shutdown, its kernel booted again; QEMU keeps running
        and keeps the disk), waited for by condition: SSH answers with another boot id. Returns the seconds taken."""
        timeout = float(os.environ.get('HEADROOM_VM_BOOT_TIMEOUT', 900)) if timeout is None else timeout
        before = self.boot_id()
        started = time.monotonic()
        self.ssh('systemctl reboot --no-block', timeout=60)
        # the SSH master's connection dies with the guest's sshd: close it here rather than wait for its timeout
        with contextlib.suppress(Exception):
            subprocess.run(['ssh'] + self.ssh_options() + ['-O', 'exit', 'root@127.0.0.1'],
                           capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        deadline = started + timeout
        last = ''
        while True:
            if self.proc.poll() is not None:
                raise VMError('QEMU exited with %s during the reboot\n--- console:\n%s' % (
                    self.proc.returncode, self._read('console.log', 4000)))
            try:
                argv = ['ssh'] + self.ssh_options() + ['-o', 'ConnectTimeout=10', 'root@127.0.0.1',
                                                       'cat /proc/sys/kernel/random/boot_id']
                done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
                if done.returncode == 0 and done.stdout.strip() and done.stdout.strip() != before:
                    return time.monotonic() - started
                last = (done.stderr.strip() or done.stdout.strip())[-300:]
            except subprocess.TimeoutExpired:
                last = 'ssh took over 60 s'
            if time.monotonic() > deadline:
                raise VMError('the guest did not come back from its reboot within %.0f s (last ssh: %s)\n--- console:\n%s'
                              % (timeout, last, self._read('console.log', 4000)))
            time.sleep(1)

    def cpu_seconds(self):
        """QEMU's CPU time so far (user + system), from /proc."""
        try:
            with open('/proc/%d/stat' % self.proc.pid) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / float(os.sysconf('SC_CLK_TCK'))
        except (OSError, ValueError, IndexError, AttributeError):
            return self.qemu_cpu_seconds

    def stop(self, timeout=120):
        """Power the guest off (systemctl poweroff over SSH, when SSH was up), wait for QEMU to exit, else
        SIGTERM, and SIGKILL whatever happens (a second Ctrl-C included); close the SSH master; keep the
        console log; remove the run directory and the pidfile. Safe to call twice."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.qemu_cpu_seconds = self.cpu_seconds()
                asked = False
                if self.boot_seconds is not None:  # SSH answered once: ask the guest to power off
                    with contextlib.suppress(Exception):
                        done = subprocess.run(['ssh'] + self.ssh_options() + ['root@127.0.0.1', 'systemctl poweroff --no-block'],
                                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
                        asked = done.returncode == 0
                if asked:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(timeout)
                if self.proc.poll() is None:
                    if asked:
                        log('the guest did not power off within %.0f s: SIGTERM to QEMU' % timeout)
                    self.proc.terminate()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(10)
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.run_dir and os.path.isdir(self.run_dir):
                with contextlib.suppress(Exception):
                    subprocess.run(['ssh'] + self.ssh_options() + ['-O', 'exit', 'root@127.0.0.1'],
                                   capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
                if self.keep_dir:
                    with contextlib.suppress(OSError):
                        os.makedirs(self.keep_dir, exist_ok=True)
                        for name in ('console.log', 'qemu.log'):
                            if os.path.exists(self._path(name)):
                                shutil.copy(self._path(name), os.path.join(self.keep_dir, name))
                shutil.rmtree(self.run_dir, ignore_errors=True)
            self._forget_pidfile()


@contextlib.contextmanager
def running(vm):
    """``vm`` (a VM not yet started) booted for the ``with`` block, and stopped however the block ends:
    an exception, Ctrl-C, SIGTERM or SIGHUP (turned into KeyboardInterrupt here), the interpreter's exit."""
    previous = {}

    def on_signal(signum, _frame):
        raise KeyboardInterrupt('signal %d' % signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, on_signal)
    atexit.register(vm.stop)
    try:
        vm.start()
        yield vm
    finally:
        try:
            vm.stop()
        finally:
            atexit.unregister(vm.stop)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def main(argv):
    command = argv[1] if len(argv) > 1 else 'help'
    if command == 'build':
        image, seconds, built = build_image()
        log('%s in %.0f s' % ('built' if built else 'cached', seconds))
        print(image)
    elif command == 'accel':
        image = build_image()[0]
        print('%s: %s' % choose_accel(image)[0::2])
    elif command == 'reap':
        for line in reap_stale():
            print(line)
    elif command == 'shell':
        image = build_image()[0]
        with machine_lock(), running(VM(image, keep_dir=os.path.join(ROOT, 'reports', 'vm'))) as vm:
            log('booted in %.0f s (%s); ssh %s root@127.0.0.1' % (vm.boot_seconds, vm.accel, ' '.join(vm.ssh_options())))
            if len(argv) > 2:
                return subprocess.call(['ssh'] + vm.ssh_options() + ['root@127.0.0.1', ' '.join(argv[2:])])
            return subprocess.call(['ssh', '-t'] + vm.ssh_options() + ['root@127.0.0.1'])
    else:
        print(__doc__)
        return 0 if command == 'help' else 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
