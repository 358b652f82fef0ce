"""Real servers for the integration tests: a redis-server per need, on a free loopback port.

Each server runs from a config file in its own temp dir, with a password, no persistence,
and is stopped (and its dir removed) when the fixture ends, also when a test fails.
Helpers run headroom's modules and roles through ansible itself, never by import.
"""

import contextlib
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, '.venv', 'bin')
PASSWORD = 'it-s3cret-Pw'


# Swap files live in directories of this run (run_dir), named with its pid; its containers carry the label
# OWNER_LABEL=<pid>. A run killed midway (SIGKILL, a session's end) skips every finally: its swap stays on,
# named in /proc/swaps by its path inside a container gone since, and the next run would find the kernel
# with swap it never made. sweep_leftovers, at the start of every integration run, ends what runs no longer
# alive left: the containers, the swap files' swap, the directories. A live run's are never touched.
OWNER_LABEL = 'headroom.test-run'
RUN_DIR = re.compile(r'^headroom-[a-z]+-run(\d+)-')


def run_dir(kind):
    """A directory of this run under /var/tmp (on the host's own filesystem, where swapon works)."""
    return tempfile.mkdtemp(prefix='headroom-%s-run%d-' % (kind, os.getpid()), dir='/var/tmp')


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sweep_leftovers():
    """What dead runs left (see OWNER_LABEL); returns what was swept, for the session's header."""
    swept = []
    try:
        # (not -q: with it docker ignores --format and prints the ids alone)
        listed = subprocess.run(['docker', 'ps', '-a', '--filter', 'label=' + OWNER_LABEL, '--format',
                                 '{{.ID}} {{.Label "%s"}}' % OWNER_LABEL], capture_output=True, text=True,
                                timeout=60).stdout.split('\n')
    except (OSError, subprocess.TimeoutExpired):
        listed = []
    for line in listed:
        cid, _, owner = line.partition(' ')
        if cid and owner.isdigit() and not alive(int(owner)):
            subprocess.run(['docker', 'rm', '-f', cid], capture_output=True, timeout=120)
            swept.append('container %s of run %s' % (cid, owner))
    for directory in sorted(glob.glob('/var/tmp/headroom-*-run*-*')):
        match = RUN_DIR.match(os.path.basename(directory))
        if not match or alive(int(match.group(1))):
            continue
        for parent, _, names in os.walk(directory):
            for name in names:
                # swapoff refuses what is no swap area: only the files still on are switched off
                if subprocess.run(['swapoff', os.path.join(parent, name)], capture_output=True).returncode == 0:
                    swept.append('swap %s' % os.path.join(parent, name))
        shutil.rmtree(directory, ignore_errors=True)
        swept.append('directory %s' % directory)
    return swept


def pytest_sessionstart(session):
    if os.geteuid() == 0:
        for what in sweep_leftovers():
            print('headroom: swept what a run killed midway left: %s' % what)


def debian_image(release):
    """The headroom/debian image of a release (HEADROOM_IMAGE_<RELEASE> overrides it); skips the test
    when it is not built (scripts/docker-setup.sh builds them)."""
    image = os.environ.get('HEADROOM_IMAGE_%s' % release.upper(), 'headroom/debian:%s' % release)
    try:
        done = subprocess.run(['docker', 'image', 'inspect', image], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is None or done.returncode != 0:
        pytest.skip('docker image %s not built (scripts/docker-setup.sh)' % image)
    return image


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class RedisServer(object):
    """One redis-server process; ``extra`` lines go into its config file."""

    def __init__(self, password=PASSWORD, extra=()):
        binary = shutil.which('redis-server')
        if binary is None:
            pytest.fail('redis-server is not installed: run scripts/install-deps.sh '
                        '(scripts/deps/cache_flush.txt lists redis-server)')
        self.password = password
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='headroom-redis-')
        self.config_file = os.path.join(self.dir, 'redis.conf')
        lines = ['bind 127.0.0.1', 'port %d' % self.port, 'dir %s' % self.dir, 'save ""',
                 'appendonly no', 'daemonize no', 'logfile %s' % os.path.join(self.dir, 'redis.log'),
                 'unixsocket %s' % os.path.join(self.dir, 'redis.sock'), 'unixsocketperm 700']
        if password:
            lines.append('requirepass %s' % password)
        lines.extend(extra)
        with open(self.config_file, 'w') as handle:
            handle.write('\n'.join(lines) + '\n')
        self.unix_socket = os.path.join(self.dir, 'redis.sock')
        self.proc = subprocess.Popen([binary, self.config_file], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail('redis-server exited with %s; see its log' % self.proc.returncode)
            try:
                if self.client().ping():
                    return
            except Exception:  # not listening yet
                time.sleep(0.05)
        self.stop()
        pytest.fail('redis-server on port %d did not answer within %.0fs' % (self.port, timeout))

    def client(self, db=0):
        from ansible_collections.headroom.memory.plugins.module_utils.redis_client import connect
        return connect('127.0.0.1', self.port, None, None, self.password, db, 10.0)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def all_keys(self, databases=16):
        """``{(db, key), ...}`` of every key on the server (SCAN, fine for test sizes)."""
        keys = set()
        for db in range(databases):
            for key in self.client(db).scan_iter(count=1000):
                keys.add((db, key))
        return keys

    def conn_vars(self):
        return {'cache_flush_redis_host': '127.0.0.1', 'cache_flush_redis_port': self.port,
                'cache_flush_redis_password': self.password or ''}

    def module_args(self):
        return {'host': '127.0.0.1', 'port': self.port, 'password': self.password}


@pytest.fixture(scope='module')
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis_factory():
    """Start extra servers (replicas, renamed commands) that end with the test."""
    started = []

    def make(**kwargs):
        server = RedisServer(**kwargs)
        started.append(server)
        return server
    yield make
    for server in started:
        server.stop()


def _env():
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_NOCOLOR='1',
               ANSIBLE_DEPRECATION_WARNINGS='0',
               PATH=VENV_BIN + os.pathsep + env.get('PATH', ''))
    return env


def _json_output(proc):
    start = proc.stdout.find('{')
    if start < 0:
        raise AssertionError('ansible printed no JSON (rc %d):\n%s\n%s' % (proc.returncode, proc.stdout,
                                                                           proc.stderr))
    return json.loads(proc.stdout[start:])


def run_module(name, args, check=False, diff=False):
    """Run one module on localhost through ``ansible``; return (result dict, full output text)."""
    cmd = [os.path.join(VENV_BIN, 'ansible'), 'localhost', '-m', 'headroom.memory.' + name, '-a', json.dumps(args)]
    if check:
        cmd.append('--check')
    if diff:
        cmd.append('--diff')
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    data = _json_output(proc)
    result = data['plays'][0]['tasks'][0]['hosts']['localhost']
    return result, proc.stdout + proc.stderr


def run_playbook(playbook, extra_vars_file=None, check=False):
    """Run a playbook; return (rc, {task name without "role : ": result}, full output text)."""
    cmd = [os.path.join(VENV_BIN, 'ansible-playbook'), str(playbook)]
    if extra_vars_file:
        cmd += ['-e', '@%s' % extra_vars_file]
    if check:
        cmd.append('--check')
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    data = _json_output(proc)
    tasks = {}
    for play in data['plays']:
        for task in play['tasks']:
            # the json callback names role tasks "cache_flush : <name>"
            name = task['task']['name'].split(' : ', 1)[-1]
            tasks[name] = task['hosts'].get('localhost', {})
    return proc.returncode, tasks, proc.stdout + proc.stderr


def run_role(tmp_path, role_vars, check=False):
    """Apply roles/cache_flush to localhost with ``role_vars`` as extra vars."""
    playbook = tmp_path / 'cache_flush.yml'
    playbook.write_text('- name: Apply cache_flush\n  hosts: localhost\n  roles:\n    - role: headroom.memory.cache_flush\n')
    varsfile = tmp_path / 'vars.json'
    varsfile.write_text(json.dumps(role_vars))
    return run_playbook(playbook, varsfile, check)


class AnsibleRunner(object):
    """What the tests get from the ``ansible_run`` fixture."""
    module = staticmethod(run_module)
    role = staticmethod(run_role)
    playbook = staticmethod(run_playbook)
    free_port = staticmethod(free_port)


@pytest.fixture
def ansible_run():
    return AnsibleRunner()


# A memory-limited Debian container whose swap file can lie on a host directory (swapon refuses
# overlayfs), with the flags real swapon needs (docker-recipes.md).
LIMIT = 256 << 20


@contextlib.contextmanager
def limited_box(memory_swap='1g', writable_sysctl=True, systemd=False):
    """A bookworm container limited to LIMIT, its /swap a host directory; with ``systemd`` PID 1 is systemd
    (docker-recipes.md), else ``sleep``. Yields (container id, host directory); swap, container and
    directory are gone afterwards, also on failure."""
    host_dir = run_dir('swapbox')
    init = (['-v', '/sys/fs/cgroup:/sys/fs/cgroup:ro', '--tmpfs', '/run', '--tmpfs', '/run/lock',
             debian_image('bookworm'), '/lib/systemd/systemd'] if systemd
            else [debian_image('bookworm'), 'sleep', 'infinity'])
    cid = subprocess.run(['docker', 'run', '-d', '--rm', '--label', '%s=%d' % (OWNER_LABEL, os.getpid()), '--memory', str(LIMIT), '--memory-swap', memory_swap,
                          '--cap-add', 'SYS_ADMIN', '--security-opt', 'seccomp=unconfined',
                          '-v', '%s:/swap' % host_dir] + init,
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        if writable_sysctl:
            subprocess.run(['docker', 'exec', cid, 'mount', '-o', 'remount,rw', '/proc/sys'], check=True,
                           capture_output=True)
        yield cid, host_dir
    finally:
        subprocess.run(['docker', 'exec', cid, 'sh', '-c', 'swapoff /swap/* 2>/dev/null'], capture_output=True)
        for name in os.listdir(host_dir):
            subprocess.run(['swapoff', os.path.join(host_dir, name)], capture_output=True)
        subprocess.run(['docker', 'rm', '-f', cid], capture_output=True, check=False)
        shutil.rmtree(host_dir, ignore_errors=True)


@pytest.fixture
def moto_server(monkeypatch):
    """A local moto server standing in for AWS's EC2 and S3 APIs (AWS itself is out of reach here),
    with fake credentials in the environment as an AWX "Amazon Web Services" credential sets them;
    boto3, the amazon.aws plugins and headroom's lookups follow AWS_ENDPOINT_URL to it."""
    server = os.path.join(VENV_BIN, 'moto_server')
    if not os.access(server, os.X_OK):
        pytest.skip('moto[server] not installed (requirements-dev.txt)')
    port = free_port()
    proc = subprocess.Popen([server, '-H', '127.0.0.1', '-p', str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = 'http://127.0.0.1:%d' % port
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(('127.0.0.1', port), timeout=1):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError('moto_server did not listen on %s' % url)
        for key, value in (('AWS_ACCESS_KEY_ID', 'AKIAHEADROOMTEST0000'), ('AWS_SECRET_ACCESS_KEY', 'it-s3cret-aws-key'),
                           ('AWS_DEFAULT_REGION', 'eu-west-1'), ('AWS_ENDPOINT_URL', url)):
            monkeypatch.setenv(key, value)
        monkeypatch.delenv('AWS_PROFILE', raising=False)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
