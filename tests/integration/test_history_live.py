"""The diagnosis over time, for real: diagnose.yml run again and again against a memory-limited container
in which a process grows at a rate the test sets, the history kept in a SQLite file, the report read back.

Two runs are "not enough history"; from the third on, the report gives a time to exhaustion that the
test checks against the truth it knows (the rate, and the room left under the cgroup's limit, read
here from the cgroup itself), and flags the growing process as a leak with its slope.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, debian_image

BIN = os.path.dirname(sys.executable)
MIB = 1 << 20
LIMIT = 768 * MIB
RATE = 8 * MIB  # bytes a second the process grows by
GROW = r'''import sys, time
chunks, start = [], time.time()
while len(chunks) < 600:  # up to 600 MiB, one MiB at a time on the schedule of RATE
    due = int((time.time() - start) * %d) // (1 << 20)
    while len(chunks) < min(due, 600):
        chunks.append(b'\x01' * (1 << 20))
    time.sleep(0.05)
time.sleep(3600)
''' % RATE


@pytest.fixture(name='box')
def fixture_box():
    cid = subprocess.run(['docker', 'run', '-d', '--rm', '--memory', str(LIMIT), '--memory-swap', str(LIMIT),
                          debian_image('bookworm'), 'sleep', 'infinity'],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        yield cid
    finally:
        subprocess.run(['docker', 'rm', '-f', cid], capture_output=True, check=False)


def diagnose(tmp_path, cid):
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(json.dumps({'all': {'hosts': {cid: {
        'ansible_connection': 'community.docker.docker', 'ansible_python_interpreter': '/usr/bin/python3'}}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), PATH=BIN + os.pathsep + os.environ['PATH'])
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory), os.path.join(ROOT, 'diagnose.yml'),
                           '-e', 'headroom_report_path=%s' % (tmp_path / 'reports' / 'headroom.json'),
                           '-e', 'headroom_history_path=%s' % (tmp_path / 'history.sqlite'),
                           '-e', 'process_audit_sample_seconds=0'],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    with open(str(tmp_path / 'reports' / 'headroom.json')) as handle:
        return json.load(handle)['hosts'][0]


def cgroup_usage(cid):
    return int(subprocess.run(['docker', 'exec', cid, 'cat', '/sys/fs/cgroup/memory/memory.usage_in_bytes'],
                              capture_output=True, text=True, check=True).stdout)


def test_a_growing_process_is_a_leak_and_the_time_to_exhaustion_is_right(tmp_path, box):
    subprocess.run(['docker', 'exec', box, 'ln', '-s', '/usr/bin/python3', '/usr/local/bin/leaky-app'], check=True)
    subprocess.run(['docker', 'exec', '-d', box, 'leaky-app', '-c', GROW], check=True)
    time.sleep(2)
    records = []
    for _run in range(2):
        records.append(diagnose(tmp_path, box))
    assert records[-1]['trend']['exhaustion_seconds'] is None
    assert records[-1]['trend']['reason'] == 'not enough history: 2 run(s), 3 needed'
    assert records[-1]['leaks'] == []
    for _run in range(2):
        records.append(diagnose(tmp_path, box))
        usage, read_at = cgroup_usage(box), time.time()
    last = records[-1]
    assert len(last['history']['runs']) == 4
    # the truth: the room left under the limit when the last run read the host, at the rate set here
    runs = last['history']['runs']
    room_then = LIMIT - usage - RATE * (read_at - runs[-1]['at'])
    truth = room_then / RATE
    predicted = last['trend']['exhaustion_seconds']
    assert predicted is not None, last['trend']
    assert abs(predicted - truth) <= 0.25 * truth, (predicted, truth, last['trend'])
    assert last['trend']['r2'] >= 0.8
    leaks = dict((leak['command'], leak) for leak in last['leaks'])
    assert 'leaky-app' in leaks, last['leaks']
    per_second = leaks['leaky-app']['slope_bytes_per_day'] / 86400.0
    assert abs(per_second - RATE) <= 0.25 * RATE, per_second
    assert leaks['leaky-app']['runs'] == 4
    # nothing else in the box grows: sleep and the diagnosis's own Python are no leak
    assert list(leaks) == ['leaky-app']


LOOKUP = '''
- name: Read the history as diagnose.yml does
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Look up two hosts
      ansible.builtin.debug:
        msg: "{{ lookup('headroom.memory.history', 'a', 'b', path=history_path, wantlist=true) }}"
'''


def test_the_lookup_reads_the_previous_run_and_warns_on_a_file_it_cannot_use(tmp_path):
    from ansible_collections.headroom.memory.plugins.module_utils.report import history
    playbook = tmp_path / 'lookup.yml'
    playbook.write_text(LOOKUP)
    good = str(tmp_path / 'good.sqlite')
    history.record_runs(good, 1796000000.0, [{'host': 'a', 'verdict': 'ok', 'usable': 5}])
    other = tmp_path / 'other.sqlite'
    other.write_bytes(b'x' * 4096)
    found = {}
    for name, path in (('good', good), ('other', str(other)), ('missing', str(tmp_path / 'none.sqlite'))):
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
                   PATH=BIN + os.pathsep + os.environ['PATH'])
        proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), str(playbook), '-e', 'history_path=%s' % path],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        data = json.loads(proc.stdout[proc.stdout.index('{'):])
        result = data['plays'][0]['tasks'][0]['hosts']['localhost']
        # Ansible 2.19 hands a plugin's warning to the task's result (the json callback keeps it there)
        found[name] = (result['msg'], ' '.join(str(w) for w in result.get('warnings') or []) + proc.stderr)
    runs, _ = found['good']
    assert runs[0]['usable'] == 5 and runs[0]['epoch'] == 1796000000.0 and runs[1] == {}
    assert found['other'][0] == [{}, {}] and 'headroom history not read' in found['other'][1]
    assert found['missing'][0] == [{}, {}] and not os.path.exists(str(tmp_path / 'none.sqlite'))
    assert other.read_bytes() == b'x' * 4096
