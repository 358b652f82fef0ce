"""remediate.yml on the seed's server: a container with systemd standing for a server, under a 256 MiB
memory limit, with no swap, a ballast holding most of the limit, and Redis holding a Django view cache
(declared disposable) beside sessions, another app's keys and a Celery queue (not declared).

Nothing in the inventory names a sysctl or machine_sysctl: swap_setup and cache_flush run at their
defaults, /proc/sys is read-only as Docker mounts it. The runs go through ansible-runner, as AWX runs
them (the set_stats artifacts are read as AWX reads them), one after another on the same container:

1. the dry run: succeeds, plans cache_flush and swap_setup, changes nothing;
2. a refusal known before the first change (an explicit swappiness in a container, a swap file bigger
   than the disk): nothing changes on the host, the report says refused and why, rc != 0, artifacts;
3. the rollout: two inventory names of this server, one refused, serial 1: the first bad batch stops
   the rollout, the second name is not touched either;
4. a failure only the change can meet (an /etc/fstab that cannot be replaced): what was applied before
   it (the cache) and the failure are both in the report, rc != 0;
5. the apply at the defaults: cache trimmed of the declared keys only, swap made, the machine's sysctls
   left alone and said so, the report written, the verdict published; a second run changes nothing.

Docker, swap and containers are the machine's: run under the machine lock (flock
/var/lock/headroom-kernel.lock). The container and its swap are removed at the end, also on failure.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import LIMIT, ROOT, limited_box
from waiting import wait_for

ansible_runner = pytest.importorskip('ansible_runner')

PASSWORD = 'it-Rem-s3cret'
SWAPFILE = '/swap/remediate.swap'
# What the server's Redis holds: db, key prefix, how many, value size, and whether the inventory's
# cache_flush_redis_patterns make them disposable (molecule/remediate's seed).
SEED = [
    {'db': 0, 'prefix': ':1:views.decorators.cache.cache_page.', 'count': 20000, 'size': 1000, 'doomed': True},
    {'db': 0, 'prefix': ':1:views.decorators.cache.cache_header.', 'count': 2000, 'size': 64, 'doomed': True},
    {'db': 0, 'prefix': 'django.contrib.sessions.cache', 'count': 500, 'size': 200, 'doomed': False},
    {'db': 0, 'prefix': ':1:other_app.key.', 'count': 100, 'size': 16, 'doomed': False},
    {'db': 1, 'prefix': 'celery-task-meta-', 'count': 300, 'size': 100, 'doomed': False},
]
# MiB of private memory the ballast holds: with systemd, journald and Redis (~25 MiB of keys) the
# server has under 20% of its limit available, so its diagnosis calls for cache_flush and swap_setup.
BALLAST_MIB = 165


def sh(cid, script, check=True, timeout=600):
    proc = subprocess.run(['docker', 'exec', cid, 'sh', '-c', script], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError('%s: rc %d\n%s\n%s' % (script, proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


class Server(object):
    """The container and what the tests read of it."""

    def __init__(self, cid, host_dir):
        self.cid = cid
        self.host_dir = host_dir

    def redis(self, args):
        return sh(self.cid, 'REDISCLI_AUTH=%s redis-cli %s' % (PASSWORD, args)).strip()

    def count(self, db, prefix):
        out = self.redis("-n %d --scan --pattern '%s*'" % (db, prefix))
        return len([line for line in out.splitlines() if line])

    def keys(self):
        """{prefix: keys} of every seeded prefix."""
        return dict((entry['prefix'], self.count(entry['db'], entry['prefix'])) for entry in SEED)

    def seed(self):
        sh(self.cid, "REDISCLI_AUTH=%s python3 /usr/local/bin/seed_redis.py '%s'" % (PASSWORD, json.dumps(SEED)),
           timeout=300)

    def start_ballast(self):
        sh(self.cid, "systemd-run --unit ballast python3 -c \"import time; b = b'\\x01' * (%d << 20); "
                     "time.sleep(86400)\"" % BALLAST_MIB)
        wait_for('the ballast holds its memory', lambda: int(sh(
            self.cid, "awk '/^VmRSS:/ { print $2 }' /proc/$(systemctl show -p MainPID --value ballast)/status",
            check=False).strip() or 0) >= BALLAST_MIB * 1024)

    def reseed(self):
        """The cache back as it was: the ballast leaves no room for the seeding, so it waits meanwhile."""
        sh(self.cid, 'systemctl stop ballast; systemctl reset-failed ballast 2>/dev/null; true')
        self.seed()
        self.start_ballast()

    def maxmemory(self):
        return self.redis('config get maxmemory').splitlines()[1]

    def swaps(self):
        """The kernel's active swap areas, as the container lists them."""
        return [line.split()[0] for line in sh(self.cid, 'cat /proc/swaps').splitlines()[1:]]

    def exists(self, path):
        return sh(self.cid, 'test -e %s && echo yes || true' % path).strip() == 'yes'

    def ballast_alive(self):
        return sh(self.cid, 'systemctl is-active ballast', check=False).strip() == 'active'

    def untouched(self):
        """Nothing a remediation changes has changed: every seeded key, Redis's limit, no swap file, no
        swap, no sysctl drop-in, the ballast alive."""
        assert self.keys() == dict((e['prefix'], e['count']) for e in SEED)
        assert self.maxmemory() == '0'
        assert not self.exists(SWAPFILE) and os.listdir(self.host_dir) == []
        assert self.swaps() == []
        assert not self.exists('/etc/sysctl.d/60-headroom-swap.conf')
        assert self.ballast_alive()


@pytest.fixture(scope='module')
def server():
    with open('/proc/swaps') as handle:
        if handle.read().splitlines()[1:]:
            pytest.fail('swap is active on this kernel: the server would see it as its own and need none '
                        '(run under the machine lock, with no other swap on)')
    # /proc/sys stays read-only, as Docker mounts it: the seed's server
    with limited_box(memory_swap=str(3 * LIMIT), writable_sysctl=False, systemd=True) as (cid, host_dir):
        wait_for('systemd booted', lambda: sh(cid, 'systemctl is-system-running --wait', check=False).strip()
                 in ('running', 'degraded'))
        # Debian's unit sets PrivateUsers=true, which a container cannot make (status 217/USER)
        sh(cid, 'mkdir -p /etc/systemd/system/redis-server.service.d && printf "[Service]\\nPrivateUsers=false\\n"'
                ' > /etc/systemd/system/redis-server.service.d/container.conf')
        sh(cid, 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends '
                'redis-server python3-redis && apt-get clean', timeout=900)
        sh(cid, "sed -i 's/^# *requirepass .*/requirepass %s/' /etc/redis/redis.conf && systemctl restart redis-server"
           % PASSWORD)
        subprocess.run(['docker', 'cp', os.path.join(ROOT, 'molecule', 'shared', 'seed_redis.py'),
                        '%s:/usr/local/bin/seed_redis.py' % cid], check=True, capture_output=True)
        box = Server(cid, host_dir)
        wait_for('Redis answers', lambda: sh(cid, 'REDISCLI_AUTH=%s redis-cli ping' % PASSWORD, check=False).strip()
                 == 'PONG')
        box.seed()
        box.start_ballast()
        yield box


class Run(object):
    """One remediate.yml run: rc, status, the set_stats artifacts, the report and what the play printed."""

    def __init__(self, result, report_path):
        self.rc = result.rc
        self.status = result.status
        self.stdout = result.stdout.read()
        stats = [e for e in result.events if e['event'] == 'playbook_on_stats']
        self.artifacts = stats[0]['event_data'].get('artifact_data') or {} if stats else {}
        self.report = json.loads(report_path.read_text()) if report_path.exists() else None

    def record(self, host='server'):
        assert self.report is not None, 'no report written:\n' + self.stdout[-4000:]
        records = [r for r in self.report['hosts'] if r['host'] == host]
        assert len(records) == 1, self.report['hosts']
        return records[0]

    def steps(self, host='server'):
        return dict((step['role'], step) for step in self.record(host)['remediation']['steps'])


def remediate(tmp_path, server, apply, names=('server',), extravars=None, hostvars=None, apply_in_inventory=False):
    """remediate.yml on the server under ``names`` (several names: the same server, as several hosts).
    ``headroom_apply`` is an extra var (as AWX's survey gives it), or with ``apply_in_inventory`` a variable of
    the inventory (as molecule gives it), which a play's hosts pattern cannot see."""
    hostvars = hostvars or {}
    inventory = {'all': {
        'hosts': dict((name, dict({'ansible_connection': 'community.docker.docker', 'ansible_host': server.cid,
                                   'ansible_python_interpreter': '/usr/bin/python3'}, **hostvars.get(name, {})))
                      for name in names),
        'vars': {'cache_flush_redis_password': PASSWORD,
                 'cache_flush_redis_patterns': [{'db': 0, 'match': ':1:views.decorators.cache.*'}],
                 'swap_setup_path': SWAPFILE}}}
    if apply_in_inventory:
        inventory['all']['vars']['headroom_apply'] = apply
    pdd = tmp_path / ('pdd-%d' % len(list(tmp_path.glob('pdd-*'))))
    (pdd / 'runner').mkdir(parents=True)
    (pdd / 'inventory.json').write_text(json.dumps(inventory))
    report = pdd / 'remediate.json'
    variables = {'headroom_report_path': str(report), 'headroom_serial': 1, 'headroom_history': False}
    if not apply_in_inventory:
        variables['headroom_apply'] = apply
    variables.update(extravars or {})
    result = ansible_runner.run(
        private_data_dir=str(pdd / 'runner'), project_dir=ROOT, playbook='remediate.yml',
        inventory=str(pdd / 'inventory.json'), extravars=variables, quiet=True,
        # one fork: several names of one server never diagnose it at once (the ballast leaves room for one)
        envvars={'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'), 'ANSIBLE_FORKS': '1'})
    return Run(result, report)


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    # ansible-runner finds ansible-playbook on PATH, as in an execution environment
    monkeypatch.setenv('PATH', os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])


def machine_sysctls():
    return dict((name, open('/proc/sys/vm/%s' % name).read().strip()) for name in ('swappiness', 'vfs_cache_pressure'))


def test_the_dry_run_at_the_defaults_plans_both_fixes_and_changes_nothing(tmp_path, server):
    sysctls = machine_sysctls()
    run = remediate(tmp_path, server, apply=False)
    assert run.rc == 0 and run.status == 'successful', run.stdout[-4000:]
    record = run.record()
    before = record['before']
    assert before['effective_total'] == LIMIT and before['memory']['swap_total'] == 0
    assert sorted(r['role'] for r in before['recommendations'] if r['role']) == ['cache_flush', 'swap_setup'], before['lines']
    remediation = record['remediation']
    assert remediation['dry_run'] is True and remediation['status'] == 'planned', remediation
    steps = run.steps()
    assert sorted(steps) == ['cache_flush', 'swap_setup']
    assert steps['cache_flush']['status'] == 'would change'
    assert any('22000 key' in line for line in steps['cache_flush']['done']), steps['cache_flush']
    assert steps['swap_setup']['status'] == 'would change'
    assert any(SWAPFILE in line for line in steps['swap_setup']['done']), steps['swap_setup']
    left = ' '.join(steps['swap_setup']['left_alone'])
    assert 'vm.swappiness' in left and 'vm.vfs_cache_pressure' in left and 'machine_sysctl' in left
    assert run.artifacts['headroom_remediate_verdict'] == run.report['fleet']['worst']
    assert run.artifacts['headroom_remediate_outcome']['counts']['planned'] == 1
    server.untouched()
    assert machine_sysctls() == sysctls


@pytest.mark.parametrize('refused, why', [
    ({'swap_setup_swappiness': 30}, "vm.swappiness: in a container these are the whole machine's"),
    ({'swap_setup_size': '1T'}, 'refusing to allocate'),
])
@pytest.mark.parametrize('apply', [False, True])
def test_a_refusal_known_upfront_changes_nothing_and_is_reported(tmp_path, server, refused, why, apply):
    run = remediate(tmp_path, server, apply=apply, hostvars={'server': refused})
    assert run.rc != 0 and run.status == 'failed', run.stdout[-4000:]
    remediation = run.record()['remediation']
    assert remediation['status'] == 'refused', remediation
    steps = run.steps()
    assert steps['swap_setup']['status'] == 'refused' and why in steps['swap_setup']['why'], steps
    # the cheaper fix the host would have got first is not applied either
    assert steps['cache_flush']['status'] != 'applied'
    assert run.artifacts['headroom_remediate_outcome']['counts']['refused'] == 1
    assert 'server' in run.artifacts['headroom_remediate_outcome']['failed']
    assert run.artifacts['headroom_remediate_verdict'] == run.report['fleet']['worst']
    assert any('refused' in line for line in run.report['fleet']['lines']), run.report['fleet']['lines']
    server.untouched()


def test_the_first_bad_batch_stops_the_rollout(tmp_path, server):
    """Two inventory names of the server, one batch each: the first is refused, and with
    headroom_max_fail_percentage 0 the second batch never starts."""
    run = remediate(tmp_path, server, apply=True, names=('a-refused', 'b-later'),
                    hostvars={'a-refused': {'swap_setup_size': '1T'}}, apply_in_inventory=True)
    assert run.rc != 0, run.stdout[-4000:]
    assert run.record('a-refused')['remediation']['status'] == 'refused'
    later = run.record('b-later')['remediation']
    assert later['status'] == 'stopped' and 'a-refused' in later['why'], later
    assert run.artifacts['headroom_remediate_outcome']['counts'] == dict(
        run.report['fleet']['remediation']['counts'])
    server.untouched()


def test_a_failure_while_applying_is_reported_with_what_was_applied_before_it(tmp_path, server):
    """/etc/fstab bind-mounted read-only onto itself: swapfile makes and activates the file, cannot
    replace fstab, and rolls its own steps back; cache_flush had already trimmed the cache."""
    sh(server.cid, 'mount --bind /etc/fstab /etc/fstab && mount -o remount,ro,bind /etc/fstab')
    try:
        run = remediate(tmp_path, server, apply=True, apply_in_inventory=True)
    finally:
        sh(server.cid, 'umount /etc/fstab')
    assert run.rc != 0 and run.status == 'failed', run.stdout[-4000:]
    remediation = run.record()['remediation']
    assert remediation['status'] == 'failed', remediation
    steps = run.steps()
    assert steps['cache_flush']['status'] == 'applied', steps
    assert steps['swap_setup']['status'] == 'failed' and '/etc/fstab' in steps['swap_setup']['why'], steps
    assert run.artifacts['headroom_remediate_outcome']['counts']['failed'] == 1
    kept = server.keys()
    assert all(kept[e['prefix']] == (0 if e['doomed'] else e['count']) for e in SEED), kept
    assert server.swaps() == [] and not server.exists(SWAPFILE), steps['swap_setup']['why']
    server.reseed()  # the cache back, for the apply below


def test_the_apply_at_the_defaults_fixes_the_server_and_leaves_the_machines_sysctls_alone(tmp_path, server):
    sysctls = machine_sysctls()
    run = remediate(tmp_path, server, apply=True)
    assert run.rc == 0 and run.status == 'successful', run.stdout[-4000:]
    record = run.record()
    assert record['remediation']['status'] == 'applied', record['remediation']
    steps = run.steps()
    assert steps['cache_flush']['status'] == steps['swap_setup']['status'] == 'applied', steps
    left = ' '.join(steps['swap_setup']['left_alone'])
    assert 'vm.swappiness' in left and 'swap_setup_machine_sysctl=true' in left, steps['swap_setup']
    # the declared cache only: sessions, the other app's keys and the queue are all there
    kept = server.keys()
    assert all(kept[e['prefix']] == (0 if e['doomed'] else e['count']) for e in SEED), kept
    assert server.swaps() == [SWAPFILE]
    assert record['memory']['swap_total'] > 0 and record['before']['memory']['swap_total'] == 0
    assert not server.exists('/etc/sysctl.d/60-headroom-swap.conf')
    assert machine_sysctls() == sysctls
    assert server.ballast_alive()
    assert run.artifacts['headroom_remediate_verdict'] == run.report['fleet']['worst']
    assert run.artifacts['headroom_remediate_outcome']['counts']['applied'] == 1
    assert 'left alone: vm.swappiness' in run.stdout

    again = remediate(tmp_path, server, apply=True)
    assert again.rc == 0, again.stdout[-4000:]
    assert again.record()['remediation']['status'] in ('unchanged', 'nothing to fix'), again.record()['remediation']
