"""What the scenarios of the VM stage do to the VM, as its users would: the seed's app (tests/vm/app/) installed and
filled, traffic from this machine through a forwarded port, ps sampled in the guest, playbooks run over SSH, and
the kernel's and systemd's log lines read back. Used by tests/vm/test_d_* and after; each waits for conditions,
never for a fixed time."""
import base64
import functools
import io
import json
import os
import shlex
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request

import waiting
from conftest import REPORTS, ROOT, STATS, VENV_BIN

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'app')
APP_DIR = '/srv/headroom-app'
APP_PORT = 8000
PAGE = 4096


def wait_for(what, check, timeout, interval=1.0):
    """waiting.wait_for, once a second by default: each check is an SSH round trip into an emulated machine."""
    return waiting.wait_for(what, check, timeout, interval)


def vmstat(vm):
    return dict((name, int(value)) for name, value in (line.split() for line in vm.ssh('cat /proc/vmstat').stdout.splitlines()))


def meminfo(vm):
    """/proc/meminfo of the VM in bytes (kB fields) or counts."""
    found = {}
    for line in vm.ssh('cat /proc/meminfo').stdout.splitlines():
        name, value = line.split(':', 1)
        words = value.split()
        found[name] = int(words[0]) * (1024 if words[1:] == ['kB'] else 1)
    return found


def show(vm, unit, *props):
    """``systemctl show -p`` of a unit as a dict."""
    text = vm.ssh('systemctl show -p %s -- %s' % (','.join(props), shlex.quote(unit))).stdout
    return dict(line.split('=', 1) for line in text.splitlines() if '=' in line)


def measured(name, started):
    """Keep a step's seconds in the stage's figures (reports/vm/stage.json); returns them."""
    seconds = round(time.monotonic() - started, 1)
    STATS.setdefault('steps', {})[name] = seconds
    return seconds


def capture(vm, label, files):
    """Write ``files`` ({name: text}) under reports/vm/captures/<label>-<kernel>/, with the VM's versions."""
    kernel = vm.versions['kernel']
    where = os.path.join(REPORTS, 'captures', '%s-%s' % (label, kernel))
    os.makedirs(where, exist_ok=True)
    files = dict(files)
    files.setdefault('versions.txt', vm.ssh('uname -r; uname -v; systemctl --version | head -n 1; cat /etc/debian_version; '
                                            'dpkg-query -W -f="\\${Package} \\${Version}\\n" procps util-linux systemd '
                                            'gunicorn python3-django redis-server earlyoom systemd-oomd').stdout)
    for name, text in files.items():
        with open(os.path.join(where, name), 'w') as handle:
            handle.write(text)
    return where


# --- the app ----------------------------------------------------------------------------------------------------

def install_app(vm):
    """tests/vm/app/ into /srv/headroom-app, its unit enabled and started; returns when the site answers."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as tar:
        for name in ('headroom_app', 'seed.py'):
            tar.add(os.path.join(APP, name), arcname=name,
                    filter=lambda info: None if '__pycache__' in info.name else info)
    vm.ssh('mkdir -p %s && base64 -d | tar -x -C %s -f - && chown -R root:root %s' % (APP_DIR, APP_DIR, APP_DIR),
           input=base64.b64encode(buffer.getvalue()).decode('ascii'))
    with open(os.path.join(APP, 'gunicorn.service')) as handle:
        vm.ssh('cat >/etc/systemd/system/gunicorn.service', input=handle.read())
    vm.ssh('systemctl daemon-reload && systemctl enable --now gunicorn.service')
    return wait_for('the site to answer', lambda: workers(vm, 4) and health(vm), timeout=300)


def url(vm, path):
    return 'http://127.0.0.1:%d%s' % (vm.forwarded[APP_PORT], path)


def health(vm, timeout=10):
    try:
        with urllib.request.urlopen(url(vm, '/health'), timeout=timeout) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def workers(vm, count=None):
    """The gunicorn master's pid and its workers' pids, from the unit's main pid and its children; with ``count``,
    None until that many workers run."""
    main = int(show(vm, 'gunicorn.service', 'MainPID')['MainPID'])
    if not main:
        return None
    children = vm.ssh('cat /proc/%d/task/%d/children 2>/dev/null || true' % (main, main)).stdout.split()
    found = {'master': main, 'workers': sorted(int(pid) for pid in children)}
    return found if count is None or len(found['workers']) == count else None


def site_back(vm, what, timeout=300):
    """Wait for the site (4 workers, /health answering); fail at once, with the unit's state and log, when
    gunicorn.service has stopped for good (failed or inactive, seen twice: a unit systemd restarts is
    'activating' in between), rather than wait out the timeout for workers that cannot come back."""
    gone = []

    def check():
        found = workers(vm, 4)
        if found and health(vm):
            return found
        state = show(vm, 'gunicorn.service', 'ActiveState', 'SubState', 'Result', 'MainPID')
        if state['ActiveState'] not in ('failed', 'inactive'):
            del gone[:]
            return None
        gone.append(state)
        if len(gone) >= 2:
            log = vm.ssh('journalctl -b -o short-iso --no-pager -n 40 -u gunicorn.service').stdout
            raise AssertionError('%s: gunicorn.service stopped for good: %s\n%s' % (what, state, log))
        return None
    return wait_for(what, check, timeout=timeout, interval=2)


def seed(vm, report_mib, sessions):
    """The site's Redis as traffic filled it (seed.py, run as the app's user); returns its counts."""
    done = vm.ssh('cd %s && runuser -u www-data -- python3 seed.py %d %d' % (APP_DIR, report_mib, sessions), timeout=900)
    return json.loads(done.stdout.strip().splitlines()[-1])


KEY_CLASSES = {'reports': ':1:report:*', 'sessions': ':1:django.contrib.sessions.cache*', 'settings': ':1:settings:*'}


def redis_keys(vm):
    """Keys of the app's Redis (DB 0) by class, and its used_memory."""
    found = {}
    for name, pattern in KEY_CLASSES.items():
        found[name] = int(vm.ssh('redis-cli --scan --pattern %s | wc -l' % shlex.quote(pattern)).stdout)
    found['all'] = int(vm.ssh('redis-cli dbsize').stdout)
    info = vm.ssh('redis-cli info memory').stdout
    found['used_memory'] = int(next(line.split(':')[1] for line in info.splitlines() if line.startswith('used_memory:')))
    return found


# --- traffic ----------------------------------------------------------------------------------------------------

class Traffic(object):
    """The seed's traffic from this machine: light requests at a steady rate, and ``heavy`` clients each asking for
    the heavy endpoint again and again (``mb`` MiB held ``hold`` s). Every request is recorded: its start and end
    (this machine's monotonic clock), its kind, and whether it was answered (HTTP 200)."""

    def __init__(self, vm, heavy=3, mb=200, hold=1.0, light_per_second=4.0, timeout=60):
        self.vm = vm
        self.heavy = heavy
        self.mb = mb
        self.hold = hold
        self.light_per_second = light_per_second
        self.timeout = timeout
        self.records = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []

    def _request(self, kind, path):
        started = time.monotonic()
        ok, detail = False, None
        try:
            with urllib.request.urlopen(url(self.vm, path), timeout=self.timeout) as answer:
                body = answer.read()
                ok = answer.status == 200
                detail = json.loads(body).get('pid') if kind != 'health' else None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            detail = '%s: %s' % (type(exc).__name__, exc)
        with self.lock:
            self.records.append({'kind': kind, 'start': started, 'end': time.monotonic(), 'ok': ok, 'detail': detail})

    def _heavy_loop(self):
        while not self.stopping.is_set():
            self._request('heavy', '/heavy?mb=%d&hold=%g' % (self.mb, self.hold))
            if self.records and not self.records[-1]['ok']:
                self.stopping.wait(0.5)  # a refused connection comes back at once: no busy loop

    def _light_loop(self):
        interval = 1.0 / self.light_per_second
        next_at = time.monotonic()
        while not self.stopping.is_set():
            thread = threading.Thread(target=self._request, args=('light', '/'), daemon=True)
            thread.start()
            self.threads.append(thread)
            next_at += interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def start(self):
        self.started = time.monotonic()
        for target in [self._light_loop] + [self._heavy_loop] * self.heavy:
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self):
        self.stopping.set()
        for thread in list(self.threads):
            thread.join(self.timeout + 5)
        self.stopped = time.monotonic()
        return self

    def window(self, start, seconds, kind='light'):
        """(answered, failed) of the ``kind`` requests started within ``seconds`` after ``start``."""
        chosen = [r for r in self.records if r['kind'] == kind and start <= r['start'] < start + seconds]
        return sum(1 for r in chosen if r['ok']), sum(1 for r in chosen if not r['ok'])

    def summary(self):
        light_ok, light_failed = self.window(self.started, self.stopped - self.started)
        heavy_ok, heavy_failed = self.window(self.started, self.stopped - self.started, 'heavy')
        return {'seconds': round(self.stopped - self.started, 1), 'light_ok': light_ok, 'light_failed': light_failed,
                'heavy_ok': heavy_ok, 'heavy_failed': heavy_failed}


def run_traffic(vm, label, until_kill=True, after_kill=15.0, longest=600.0, least=0.0, **shape):
    """The same traffic every time: runs at least ``least`` s; with ``until_kill``, until the kernel's oom_kill counter
    moved (seen from here) and ``after_kill`` s more, at most ``longest`` s. Returns (traffic, figures): figures has
    the kills seen, when (this machine's clock, an upper bound of the kill's time), and the light requests answered
    and failed in the ``after_kill`` s from then."""
    before = vmstat(vm)['oom_kill']
    traffic = Traffic(vm, **shape).start()
    seen_at = None
    try:
        while True:
            now = time.monotonic()
            if seen_at is None and vmstat(vm)['oom_kill'] > before:
                seen_at = time.monotonic()
            elapsed = now - traffic.started
            if elapsed > longest:
                break
            if elapsed >= least and (not until_kill or (seen_at is not None and now - seen_at >= after_kill)):
                break
            time.sleep(0.5)
    finally:
        traffic.stop()
    figures = dict(traffic.summary(), kills=vmstat(vm)['oom_kill'] - before)
    if seen_at is not None:
        answered, failed = traffic.window(seen_at, after_kill)
        figures.update(kill_seen_after=round(seen_at - traffic.started, 1), window_seconds=after_kill,
                       window_answered=answered, window_failed=failed)
    STATS.setdefault('traffic', {})[label] = figures
    return traffic, figures


# --- ps sampled in the guest, to hold the kernel's task dump against ---------------------------------------------

# What `ps -e -o pid=,rss=,comm=` prints, read where ps reads it: procps-ng 4.0.2 (Debian 12) takes RSS from
# /proc/PID/status VmRSS (library/pids.c: PIDS_VM_RSS is f_status's vm_rss; src/ps/output.c pr_rss prints it in
# KiB). ps itself is not run: before a global OOM the machine stalls for seconds (its file pages evicted), and a
# new ps then waits for its own pages with everything else: its last output came 23 s before the kill in the
# VM. This sampler locks its memory (mlockall) and keeps reading.
SAMPLER = r'''
import ctypes, json, os, signal, sys, time
ctypes.CDLL(None, use_errno=True).mlockall(3)  # MCL_CURRENT | MCL_FUTURE
kept, stop = [], []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
def row(pid):
    try:
        with open('/proc/%s/status' % pid) as handle:
            fields = dict(line.split(':', 1) for line in handle.read().splitlines() if ':' in line)
    except (OSError, ValueError):
        return None
    rss = fields.get('VmRSS')
    return [pid, rss.split()[0] if rss else '0', fields.get('Name', '').strip()] if 'Name' in fields else None
while not stop:
    at = time.clock_gettime(time.CLOCK_MONOTONIC)
    rows = [r for r in (row(pid) for pid in os.listdir('/proc') if pid.isdigit()) if r]
    kept.append({'at': at, 'rows': rows})
    del kept[:-80]
    time.sleep(0.25)
with open(sys.argv[1] + '.tmp', 'w') as handle:
    json.dump(kept, handle)
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
'''


class PsSampler(object):
    """What ps prints (pid, RSS in KiB, command) every 0.25 s in the guest, the last 80 samples kept with their
    CLOCK_MONOTONIC time, from a unit of its own that the OOM killer never takes (OOMScoreAdjust=-1000) and whose
    memory is locked."""

    def __init__(self, vm, name='headroom-ps'):
        self.vm = vm
        self.name = name
        self.out = '/run/%s.json' % name

    def start(self):
        self.vm.ssh('cat >/run/%s.py' % self.name, input=SAMPLER)
        self.vm.ssh('rm -f %s; systemd-run --unit=%s -p OOMScoreAdjust=-1000 /usr/bin/python3 /run/%s.py %s' % (
            self.out, self.name, self.name, self.out))
        return self

    def stop(self):
        """The samples: [{'at': monotonic seconds, 'rows': [[pid, rss KiB, comm]]}]."""
        self.vm.ssh('systemctl stop %s' % self.name)
        text = wait_for('the sampler\'s samples', lambda: self.vm.ssh('cat %s 2>/dev/null || true' % self.out).stdout,
                        timeout=60)
        self.vm.ssh('rm -f %s /run/%s.py' % (self.out, self.name))
        return json.loads(text)


def before(samples, monotonic):
    """The last sample taken before ``monotonic`` (seconds), or None."""
    earlier = [sample for sample in samples if sample['at'] < monotonic]
    return earlier[-1] if earlier else None


# --- the kernel's and systemd's words ------------------------------------------------------------------------------

def journal(vm, *args):
    """journalctl -o json entries (dicts) of this boot."""
    text = vm.ssh('journalctl -b -o json --no-pager %s' % ' '.join(shlex.quote(a) for a in args), timeout=300).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def kernel_kills(vm, since_cursor=None):
    """The kernel's 'Out of memory: Killed process' entries of this boot, after ``since_cursor``."""
    args = ['_TRANSPORT=kernel', '--grep', 'Killed process']
    if since_cursor:
        args += ['--after-cursor', since_cursor]
    done = vm.ssh('journalctl -b -o json --no-pager %s' % ' '.join(shlex.quote(a) for a in args), check=False)
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def cursor(vm):
    """The journal's cursor now: what a later reading starts after."""
    return vm.ssh('journalctl -n 0 --show-cursor --no-pager -q').stdout.strip().split('cursor: ', 1)[-1]


# --- Ansible against the VM, as a user runs it -----------------------------------------------------------------------

def ansible_playbook(vm, history_dir, label, playbook, extra=(), check=False, diff=False):
    """ansible-playbook PLAYBOOK against the VM from this checkout; returns (rc, output, recap of the host 'vm').
    The output is kept in reports/vm/<label>.log and its seconds in the stage's figures."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', vm.inventory, playbook]
    for item in extra:
        argv += ['-e', item if isinstance(item, str) else json.dumps(item)]
    argv += (['--check'] if check else []) + (['--diff'] if diff else [])
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=str(history_dir), env=env, capture_output=True, text=True, timeout=1800)
    STATS.setdefault('playbooks', []).append({'label': label, 'playbook': os.path.basename(playbook),
                                              'seconds': round(time.monotonic() - started, 1), 'rc': proc.returncode})
    os.makedirs(REPORTS, exist_ok=True)
    with open(os.path.join(REPORTS, '%s.log' % label), 'w') as handle:
        handle.write(' '.join(shlex.quote(a) for a in argv) + '\n' + proc.stdout + proc.stderr)
    recap = {}
    for line in proc.stdout.splitlines():
        if line.startswith('vm ') and ' : ok=' in line:
            recap = dict((key, int(value)) for key, value in (item.split('=') for item in line.split(':', 1)[1].split()))
    return proc.returncode, proc.stdout + proc.stderr, recap


# --- the scenario's steps: each runs once per session, in order, whoever asks first -----------------------------

_DONE = {}


class EarlierStepFailed(AssertionError):
    pass


def step(function):
    """A step of the session's scenario (the VM's state builds on each): it runs once, and its result, or its
    failure, is what every later caller gets (a failed step is not run again by each test that needs it)."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        name = function.__name__
        if name not in _DONE:
            try:
                _DONE[name] = (True, function(*args, **kwargs))
            except Exception as exc:
                _DONE[name] = (False, '%s: %s' % (type(exc).__name__, str(exc)[-2000:]))
                raise
        ok, value = _DONE[name]
        if not ok:
            raise EarlierStepFailed('the step %s failed: %s' % (name, value))
        return value
    return run
