"""The diagnosis over time, for real: diagnose.yml run again and again, the history kept in a SQLite file,
the report read back.

Against a memory-limited container in which a process grows at a rate the test sets: runs seconds apart
are "not enough history" for a trend or a rate, whatever they saw, and the report says what the process
grew and in how long, against the truth the test knows (the rate). Against two containers under one
inventory name, the second with OOM kills of its own: its kills are judged, not taken for the first's,
and the report says the machine changed.
"""
import html
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, debian_image

from ansible_collections.headroom.memory.plugins.module_utils.report.history import duration
from ansible_collections.headroom.memory.plugins.module_utils.units import human

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


def diagnose(tmp_path, cid, name=None, playbook='diagnose.yml', extra=()):
    """diagnose.yml (or ``playbook``: remediate.yml) against container ``cid``, as inventory host ``name`` (the
    container's id when None); its report's record of the host."""
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(json.dumps({'all': {'hosts': {name or cid: {
        'ansible_host': cid, 'ansible_connection': 'community.docker.docker', 'ansible_python_interpreter': '/usr/bin/python3'}}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), PATH=BIN + os.pathsep + os.environ['PATH'])
    report = tmp_path / 'reports' / ('headroom.json' if playbook == 'diagnose.yml' else 'remediate.json')
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory), os.path.join(ROOT, playbook),
                           '-e', 'headroom_report_path=%s' % report,
                           '-e', 'headroom_history_path=%s' % (tmp_path / 'history.sqlite'),
                           '-e', 'process_audit_sample_seconds=0'] + list(extra),
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    with open(str(report)) as handle:
        return json.load(handle)['hosts'][0]


def test_runs_seconds_apart_say_what_grew_and_no_rate(tmp_path, box):
    """Four runs seconds apart while a process grows 8 MiB a second: no trend, no time to exhaustion and no rate
    per day (runs seconds apart are no history for them); the growing process is listed with what it grew
    and in how long, and that is the truth: the rate it was set to grow at, times that time."""
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
    last = records[-1]
    runs = last['history']['runs']
    assert len(runs) == 4
    span = runs[-1]['at'] - runs[0]['at']
    assert 0 < span < 3600
    trend = last['trend']
    assert (trend['slope_bytes_per_day'], trend['exhaustion_seconds'], trend['runs']) == (None, None, 4)
    assert trend['span_seconds'] == span
    assert trend['reason'] == 'not enough history: 4 runs over %s, at least 1.0 h needed' % duration(span)
    leaks = dict((leak['command'], leak) for leak in last['leaks'])
    assert list(leaks) == ['leaky-app'], last['leaks']  # nothing else in the box grows
    leak = leaks['leaky-app']
    assert leak['slope_bytes_per_day'] is None and leak['runs'] == 4 and leak['span_seconds'] == span
    assert leak['reason'] == 'not enough history for a rate: 4 runs over %s, at least 1.0 h needed' % duration(span)
    assert abs(leak['grew'] - RATE * span) <= 0.25 * RATE * span, (leak['grew'], RATE * span)
    with open(str(tmp_path / 'reports' / 'headroom.html')) as handle:
        page = handle.read()
    assert 'leaky-app (pid %s) grew %s in %s over 4 runs' % (leak['pid'], human(leak['grew']), duration(span)) in page
    assert ' a day' not in page and 'data-leak=' not in page


OOM_LIMIT = 96 * MIB
HOG = 'x = bytearray(%d)' % (512 * MIB)  # far past the limit: the kernel kills it


@pytest.fixture(name='boxes')
def fixture_boxes():
    """Two memory-limited containers without swap, made from one image: a server and its replacement."""
    made = []
    try:
        for _ in range(2):
            made.append(subprocess.run(['docker', 'run', '-d', '--rm', '--memory', str(OOM_LIMIT), '--memory-swap', str(OOM_LIMIT),
                                        debian_image('bookworm'), 'sleep', 'infinity'],
                                       capture_output=True, text=True, check=True).stdout.strip())
        yield made
    finally:
        for cid in made:
            subprocess.run(['docker', 'rm', '-f', cid], capture_output=True, check=False)


def oom_kills(cid):
    """The container's cgroup's own count of OOM kills (cgroup v1 memory.oom_control, kernel 4.13+)."""
    text = subprocess.run(['docker', 'exec', cid, 'cat', '/sys/fs/cgroup/memory/memory.oom_control'],
                          capture_output=True, text=True, check=True).stdout
    return int(dict(line.split() for line in text.splitlines())['oom_kill'])


def kill(cid, times):
    """``times`` processes OOM-killed in the container, each seen dead by SIGKILL and counted by its cgroup."""
    start = oom_kills(cid)
    for _ in range(times):
        done = subprocess.run(['docker', 'exec', cid, 'python3', '-c', HOG], capture_output=True, text=True)
        assert done.returncode == 137, (done.returncode, done.stderr[-500:])
    deadline = time.monotonic() + 60
    while oom_kills(cid) < start + times and time.monotonic() < deadline:
        time.sleep(0.2)
    assert oom_kills(cid) == start + times


def answers(cid, seconds=60):
    """Wait until the container runs commands again (a restarted one, on a loaded machine)."""
    deadline = time.monotonic() + seconds
    while subprocess.run(['docker', 'exec', cid, 'python3', '-c', 'pass'], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, '%s does not answer %d s after its restart' % (cid[:12], seconds)
        time.sleep(0.2)


def test_a_second_container_under_one_name_has_its_own_kills_judged(tmp_path, boxes):
    """The issue's case, for real: server web is replaced by another container (same image) under the same
    inventory name, which has had as many OOM kills as the first. The first's run sees its 2 kills; the
    second's counts its own 2 (not "no OOM kill since the last run; 2 before") and says the machine changed.
    Run again, the second compares with itself: no kill since. Restarted, it is the same machine started anew."""
    first, second = boxes
    kill(first, 2)
    kill(second, 2)  # before the first's run: even dated, these kills come before that run
    records = [diagnose(tmp_path, first, 'web')]
    assert records[0]['oom']['kills'] == 2 and records[0]['oom']['recent'] == 2
    assert records[0]['identity']['container_id'] == first and records[0]['identity']['previous'] is None

    records.append(diagnose(tmp_path, second, 'web'))
    now = records[-1]
    assert now['identity']['container_id'] == second
    relation = now['identity']['previous']
    assert relation['machine'] == 'other' and relation['counters'] is False
    assert relation['why'] == 'container id %s, the last run\'s %s' % (second[:12], first[:12])
    oom = now['oom']
    assert (oom['kills'], oom['counted'], oom['recent'], oom['judged_since_run']) == (2, 2, 2, False), oom
    assert now['verdict'] != 'ok'
    messages = [reason['message'] for reason in now['reasons']]
    changed = 'a different machine than the last run (container id %s, the last run\'s %s)' % (second[:12], first[:12])
    assert [m for m in messages if m.startswith(changed)], messages
    assert [m for m in messages if m.startswith('the OOM killer has killed 2 process(es) in the last 24 h')], messages
    assert not [m for m in messages if m.startswith('no OOM kill')], messages
    with open(str(tmp_path / 'reports' / 'headroom.html')) as handle:
        assert html.escape(changed) in handle.read()

    records.append(diagnose(tmp_path, second, 'web'))
    again = records[-1]
    assert again['identity']['previous'] == {'machine': 'same', 'boot': 'same', 'counters': True,
                                             'why': 'the same container id, the same boot id'}
    assert (again['oom']['kills'], again['oom']['recent'], again['oom']['judged_since_run']) == (2, 0, True)
    assert [r for r in again['reasons'] if r['message'].startswith('no OOM kill since the last run (')]

    subprocess.run(['docker', 'restart', '-t', '0', second], capture_output=True, check=True)
    answers(second)
    records.append(diagnose(tmp_path, second, 'web'))
    assert records[-1]['verdict'] != 'failed', records[-1]
    restarted = records[-1]['identity']['previous']
    assert (restarted['machine'], restarted['boot'], restarted['counters']) == ('same', 'new', False), restarted
    assert 'its PID 1 started anew' in restarted['why']


def test_remediate_judges_the_kills_since_the_last_run_and_is_a_run_itself(tmp_path, boxes):
    """A kill that diagnose.yml already judged is not judged again by remediate.yml's own diagnosis (before
    and after its fixes): both compare with the history's newest run, as diagnose.yml does. remediate.yml's
    run is recorded too, so the next diagnose.yml does not judge again the kill that remediation reported."""
    box = boxes[0]
    kill(box, 1)
    first = diagnose(tmp_path, box, 'web')
    assert (first['oom']['kills'], first['oom']['recent']) == (1, 1), first['oom']
    dry = ('-e', '{"headroom_fixes": []}')
    fixed = diagnose(tmp_path, box, 'web', 'remediate.yml', dry)
    for record in (fixed['before'], fixed):
        oom = record['oom']
        assert (oom['kills'], oom['recent'], oom['judged_since_run']) == (1, 0, True), oom
        assert oom['since_previous_run'] == first['read_at']
        assert [r for r in record['reasons'] if r['message'].startswith('no OOM kill since the last run (')], record['reasons']
    assert [run['at'] for run in fixed['history']['runs']] == [first['read_at'], fixed['read_at']]
    kill(box, 1)  # after remediation: this one is new
    again = diagnose(tmp_path, box, 'web')
    assert again['oom']['since_previous_run'] == fixed['read_at']
    assert (again['oom']['kills'], again['oom']['recent']) == (2, 1), again['oom']


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
