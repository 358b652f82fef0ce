"""The program the memory_facts action plugin sends to a host, run in the three Debian releases
(Python 3.9, 3.11, 3.13; procps-ng 3.3.17, 4.0.2, 4.0.4) inside a memory-limited container, with no
interpreter named: the host picks one the way Ansible's discovery does."""
import contextlib
import json
import os
import subprocess

import pytest

from conftest import ROOT, VENV_BIN, _env, _json_output, debian_image
from ansible_collections.headroom.memory.plugins.module_utils.read import remote
from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import (
    ARGUMENT_SPEC, diagnose, policy_of)

MIB = 1 << 20
OPTIONS = {'top_limit': 20, 'pss_limit': 200, 'top_samples': 1, 'sample_seconds': 0.2, 'oom_history': True,
           'oom_since': None, 'oom_events_limit': 20, 'app_since': '-24h', 'watch_seconds': 0, 'watch_interval': 1.0}


@contextlib.contextmanager
def box(tmp_path, release, setup, **hostvars):
    """A container of ``release`` that sleeps, ``setup`` run in it, and an inventory with it as host
    ``box`` over the docker connection (no interpreter named); removed on the way out."""
    cid = subprocess.run(['docker', 'run', '-d', '--rm', debian_image(release), 'sleep', 'infinity'],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(['docker', 'exec', cid, 'sh', '-c', setup], check=True, capture_output=True)
        inventory = tmp_path / 'hosts.yml'
        inventory.write_text(json.dumps({'all': {'hosts': {'box': dict(
            hostvars, ansible_connection='community.docker.docker', ansible_host=cid)}}}))
        yield cid, inventory
    finally:
        subprocess.run(['docker', 'rm', '-f', cid], capture_output=True, check=False)


@pytest.mark.parametrize('stdin', [False, True], ids=['in the command line', 'on stdin'])
@pytest.mark.parametrize('release', ['bullseye', 'bookworm', 'trixie'])
def test_a_limited_container_is_judged_by_its_limit(release, stdin):
    image = debian_image(release)
    cmd, data = remote.command(OPTIONS, stdin=stdin)
    done = subprocess.run(['docker', 'run', '-i', '--rm', '--memory', '256m', image, 'sh', '-c', 'sleep 30 & ' + cmd],
                          input=data, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    collected = json.loads(done.stdout)['collected']
    assert collected['container'] is True
    assert collected['cgroup']['limit'] == 256 * MIB
    assert 'sleep' in [g['command'] for g in collected['groups']]
    params = dict((key, spec.get('default')) for key, spec in ARGUMENT_SPEC.items())
    facts = diagnose(collected, params, policy_of(params))
    assert facts['audit']['limited_by_cgroup'] is True
    assert facts['audit']['effective_total'] == 256 * MIB
    assert facts['oom']['scope'] == collected['cgroup']['scope'] and facts['oom']['kills'] == 0


@pytest.mark.parametrize('pipelining', ['True', 'False'])
def test_become_reads_what_only_root_may(tmp_path, pipelining):
    """Through Ansible (the action plugin), as an unprivileged user and then with become (sudo):
    only root reads the PSS of root's processes. With pipelining the program goes on stdin through
    sudo, without it in the command line."""
    with box(tmp_path, 'bookworm', 'useradd -m tester && echo "tester ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/tester',
             ansible_user='tester') as (_cid, inventory):
        sleeping = {}
        for become in (False, True):
            cmd = [os.path.join(VENV_BIN, 'ansible'), 'box', '-i', str(inventory), '-m', 'headroom.memory.memory_facts',
                   '-a', 'sample_seconds=0'] + (['--become'] if become else [])
            proc = subprocess.run(cmd, cwd=ROOT, env=dict(_env(), ANSIBLE_PIPELINING=pipelining),
                                  capture_output=True, text=True, timeout=120)
            result = _json_output(proc)['plays'][0]['tasks'][0]['hosts']['box']
            assert proc.returncode == 0, result
            groups = result['ansible_facts']['headroom']['groups']
            sleeping[become] = [g for g in groups if g['command'] == 'sleep'][0]
    assert sleeping[False]['measure'] == 'rss' and sleeping[False]['pss'] is None
    assert sleeping[True]['measure'] == 'pss' and 0 < sleeping[True]['pss'] <= sleeping[True]['rss']


@pytest.mark.parametrize('pipelining', ['True', 'False'])
def test_the_task_environment_reaches_the_commands(tmp_path, pipelining):
    """`environment:` on the task, as for a module: here a PATH with a journalctl of its own first,
    with no interpreter named: the discovery loop's exec of the interpreter carries the environment."""
    fake = ('mkdir /opt/fake && printf "%s\\n" "#!/bin/sh" "echo \\"\\$*\\" >> /tmp/journalctl-args" "exit 1" '
            '> /opt/fake/journalctl && chmod 755 /opt/fake/journalctl')
    with box(tmp_path, 'trixie', fake) as (cid, inventory):
        playbook = tmp_path / 'play.yml'
        playbook.write_text(json.dumps([{'hosts': 'box', 'gather_facts': False, 'tasks': [{
            'headroom.memory.memory_facts': {'sample_seconds': 0, 'oom_since': '-1d'},
            'environment': {'PATH': '/opt/fake:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'}}]}]))
        proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', str(inventory), str(playbook)],
                              cwd=ROOT, env=dict(_env(), ANSIBLE_PIPELINING=pipelining),
                              capture_output=True, text=True, timeout=120)
        result = _json_output(proc)['plays'][0]['tasks'][0]['hosts']['box']
        calls = subprocess.run(['docker', 'exec', cid, 'cat', '/tmp/journalctl-args'],
                               capture_output=True, text=True).stdout
    assert proc.returncode == 0, result
    assert '--grep' in calls and '--since -1d' in calls, calls


SPIKE = ("import time; time.sleep(1.5); held = b'\\x01' * (420 << 20); time.sleep(1.0); del held; time.sleep(60)")


def test_the_watch_keeps_the_worst_moment_of_a_spike_that_is_gone_when_the_reading_ends():
    """A 512 MiB container where a process (`spiky`) takes 420 MiB for one second while the host is
    watched for 5 s: the reading at the end sees the memory back, the watch keeps the moment it was
    gone, with `spiky` the biggest command then; the verdict judges that moment (under 20% left)."""
    options = dict(OPTIONS, watch_seconds=5, watch_interval=0.2)
    cmd, data = remote.command(options, stdin=True)
    script = ('ln -s /usr/bin/python3 /usr/local/bin/spiky && (spiky -c "%s" &) && %s' % (SPIKE, cmd))
    done = subprocess.run(['docker', 'run', '-i', '--rm', '--memory', '512m', '--memory-swap', '512m',
                           debian_image('bookworm'), 'sh', '-c', script],
                          input=data, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    collected = json.loads(done.stdout)['collected']
    watched = collected['watch']
    assert watched['seconds'] == 5 and 15 <= watched['samples'] <= 26
    lowest = watched['lowest']
    # at its worst the spike held 420 MiB of the 512: under 92 MiB were left
    assert lowest['available'] < 92 * MIB
    assert lowest['commands'][0]['command'] == 'spiky' and lowest['commands'][0]['rss'] >= 420 * MIB
    # and at the end it was gone again
    params = dict((key, spec.get('default')) for key, spec in ARGUMENT_SPEC.items())
    params.update(watch_seconds=5, watch_interval=0.2)
    facts = diagnose(collected, params, policy_of(params))
    assert facts['audit']['usable'] > lowest['available'] + 350 * MIB
    said = [r for r in facts['audit']['reasons'] if r['signal'] == 'watch']
    assert len(said) == 1 and said[0]['level'] in ('warning', 'critical') and 'spiky' in said[0]['message']
    assert said[0]['message'].startswith('during the 5 s watch, available memory fell to ')
    assert watched['peak_reclaim'] is not None and watched['peak_swap']['bytes_per_second'] >= 0


def test_a_running_earlyoom_is_found_with_its_settings():
    """Debian's earlyoom, started as its unit would start it, in a container: the reading names it and
    its thresholds and preferences, read from its command line."""
    cmd, data = remote.command(dict(OPTIONS, sample_seconds=0), stdin=True)
    script = ('apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq earlyoom >/dev/null '
              '&& (earlyoom -m 5,2 --prefer "^(gunicorn|celery)$" --avoid "^(sshd|redis-server)$" >/dev/null 2>&1 &) '
              '&& sleep 1 && ' + cmd)
    done = subprocess.run(['docker', 'run', '-i', '--rm', debian_image('bookworm'), 'sh', '-c', script],
                          input=data, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)['collected']['guard']
    assert [g['kind'] for g in found['running']] == ['earlyoom']
    assert found['running'][0]['settings'] == {'mem_percent': '5,2', 'prefer': '^(gunicorn|celery)$',
                                               'avoid': '^(sshd|redis-server)$'}
    assert found['mglru'] is None or 'enabled' in found['mglru']
