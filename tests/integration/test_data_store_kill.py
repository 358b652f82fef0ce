"""The issue's case, for real: the kernel's OOM killer kills Redis, not a worker, and systemd restarts it empty
(no save yet: every session and cache key gone). The diagnosis after it names the data store as its own
critical reason, with what it lost: its keys now against the last run's, and its last save.

A headroom/debian:bookworm container with systemd as PID 1 (256 MiB, no swap) and the machine's kernel log
(--device /dev/kmsg, as a VM's journal has its own), Debian's redis-server and python3-redis, diagnosed over the
Docker connection with headroom_redis=true, as a user diagnoses a server. Needs the machine lock (Docker)."""
import json
import os
import subprocess
import time

import pytest

from conftest import ROOT, VENV_BIN, debian_image


def sh(cid, script, check=True):
    return subprocess.run(['docker', 'exec', cid, 'sh', '-c', script], capture_output=True, text=True, check=check)


def redis_pid(cid):
    done = sh(cid, "redis-cli INFO server | tr -d '\\r' | sed -n 's/^process_id://p'", check=False)
    return int(done.stdout) if done.stdout.strip().isdigit() else None


def wait_for(what, check, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError('%s: not within %.0f s' % (what, timeout))
        time.sleep(interval)


@pytest.fixture(name='server', scope='module')
def fixture_server():
    cid = subprocess.run(['docker', 'run', '-d', '--rm', '--memory', '256m', '--memory-swap', '256m', '--cap-add', 'SYS_ADMIN',
                          '--cap-add', 'SYSLOG', '--device', '/dev/kmsg', '--security-opt', 'seccomp=unconfined',
                          '-v', '/sys/fs/cgroup:/sys/fs/cgroup:ro', '--tmpfs', '/run', '--tmpfs', '/run/lock',
                          debian_image('bookworm'), '/lib/systemd/systemd'],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        wait_for('systemd to start', lambda: sh(cid, 'systemctl is-system-running', check=False).stdout.strip()
                 in ('running', 'degraded'), 60)
        # Debian's unit sets PrivateUsers=true, which a container cannot make (status 217/USER): as test_remediate_server
        sh(cid, 'mkdir -p /etc/systemd/system/redis-server.service.d && printf "[Service]\\nPrivateUsers=false\\n"'
                ' > /etc/systemd/system/redis-server.service.d/container.conf')
        sh(cid, 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server python3-redis >/dev/null')
        wait_for('redis-server to answer', lambda: redis_pid(cid), 60)
        yield cid
    finally:
        subprocess.run(['docker', 'rm', '-f', cid], capture_output=True, check=False)


def diagnose(tmp_path, cid, label):
    inventory = tmp_path / 'hosts.json'
    inventory.write_text(json.dumps({'all': {'hosts': {'web': {
        'ansible_host': cid, 'ansible_connection': 'community.docker.docker', 'ansible_python_interpreter': '/usr/bin/python3'}}}}))
    report = tmp_path / ('%s.json' % label)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), PATH=VENV_BIN + os.pathsep + os.environ['PATH'])
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', str(inventory), os.path.join(ROOT, 'diagnose.yml'),
                           '-e', 'headroom_report_path=%s' % report, '-e', 'headroom_history_path=%s' % (tmp_path / 'h.sqlite'),
                           '-e', 'headroom_redis=true', '-e', 'process_audit_sample_seconds=0'],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads(report.read_text())['hosts'][0]


def test_redis_killed_by_the_kernel_and_restarted_empty_is_named_with_what_it_lost(tmp_path, server):
    sh(server, "redis-cli CONFIG SET save ''")  # no save point: the seed's Redis had not saved yet
    for prefix, count in (('session', 30000), ('cache', 18210)):
        sh(server, "for i in $(seq %d); do printf 'SET %s:%%d %s\\r\\n' $i; done | redis-cli --pipe >/dev/null"
           % (count, prefix, 'x' * 64))
    before = diagnose(tmp_path, server, 'before')
    assert before['redis']['keys_total'] == 48210 and before['redis']['persistence']['rdb_saves'] == 0
    assert not [r for r in before['reasons'] if r['signal'] == 'data_store']
    killed = redis_pid(server)
    # 1 MiB values until the kernel kills redis-server in the container's 256 MiB; systemd restarts it
    sh(server, 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); head -c 1048576 /dev/zero | redis-cli -x SET big:$i '
               '>/dev/null 2>&1 || break; done', check=False)
    wait_for('systemd to restart redis-server', lambda: (redis_pid(server) or killed) != killed, 120)
    after = diagnose(tmp_path, server, 'after')
    stores = after['data_stores']
    assert [(s['command'], s['kind'], s['by']) for s in stores] == [('redis-server', 'redis', 'kernel')], stores
    assert after['verdict'] == 'critical'
    said, = [r for r in after['reasons'] if r['signal'] == 'data_store']
    assert said['level'] == 'critical'
    message = said['message']
    assert message.startswith('redis-server (pid %d) was OOM-killed at ' % stores[0]['pid']), message
    assert ' and restarted empty at ' in message and ': 0 key(s) now, 48,210 at the last run (' in message, message
    assert '; its last save was never: none since it started at ' in message, message
    assert after['redis']['keys_total'] == 0
