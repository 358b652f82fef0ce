"""The diagnosis run for real on this machine, through Ansible, checked against `free -b` taken around it."""
import json
import os
import subprocess
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def ansible(*args, **kwargs):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='json',
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_SHOW_CUSTOM_STATS='1')
    return subprocess.run(list(args), cwd=ROOT, env=env, capture_output=True, text=True, check=False, **kwargs)


def free_b():
    out = subprocess.run(['free', '-b'], env={'LC_ALL': 'C', 'PATH': os.environ['PATH']},
                         capture_output=True, text=True, check=True).stdout.splitlines()
    mem = [int(v) for v in out[1].split()[1:]]
    swap = [int(v) for v in out[2].split()[1:]]
    return {'total': mem[0], 'available': mem[5], 'swap_total': swap[0], 'swap_used': swap[1]}


def free_during(*args):
    """Run Ansible with ``args`` while free -b is read in a loop; (the process, the readings).

    The module reads memory while the controller, its worker and the module's own Python hold some,
    which a reading taken only before and after the run would not see: the readings taken beside
    it, from before the run to after it, bound what the module may have seen.
    """
    readings = [free_b()]
    done = threading.Event()

    def sample():
        while not done.is_set():
            readings.append(free_b())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        proc = ansible(*args)
    finally:
        done.set()
        sampler.join()
    readings.append(free_b())
    assert len(readings) > 10, 'too few readings of free beside the run'
    return proc, readings


def within_readings(available, readings, slack=16 << 20):
    """available lies in what the readings spanned, give or take ``slack`` (memory moves between two
    readings)."""
    seen = [r['available'] for r in readings]
    return min(seen) - slack <= available <= max(seen) + slack


def test_memory_facts_matches_free_taken_around_it():
    proc, readings = free_during(os.path.join(BIN, 'ansible'), 'localhost', '-m', 'headroom.memory.memory_facts',
                                 '-a', 'sample_seconds=0')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = json.loads(proc.stdout[proc.stdout.index('{'):])['plays'][0]['tasks'][0]['hosts']['localhost']
    memory = facts['ansible_facts']['headroom']['memory']
    assert all(memory['total'] == r['total'] for r in readings)
    # other suites may switch swap on or off meanwhile: it is one of the readings
    assert memory['swap_total'] in [r['swap_total'] for r in readings]
    assert within_readings(memory['available'], readings), (memory['available'], readings)
    assert abs(memory['available'] - memory['available_meminfo']) <= 64 << 20
    headroom = facts['ansible_facts']['headroom']
    assert headroom['audit']['verdict'] in ('ok', 'warning', 'critical')
    assert headroom['top']['processes'], 'top found no process'
    assert headroom['groups'][0]['memory'] >= headroom['groups'][-1]['memory']


def test_diagnose_playbook_writes_a_report_that_matches_the_host(tmp_path):
    report = tmp_path / 'fleet.json'
    proc, readings = free_during(os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml',
                                 '-e', 'headroom_report_path=%s' % report)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    data = json.loads(report.read_text())
    assert data['fleet']['hosts'] == 1
    record = data['hosts'][0]
    assert record['host'] == 'localhost'
    assert record['memory']['total'] == readings[0]['total']
    assert within_readings(record['memory']['available'], readings), (record['memory']['available'], readings)
    stats = json.loads(proc.stdout[proc.stdout.index('{'):])
    assert stats['global_custom_stats']['headroom_fleet_verdict'] == data['fleet']['worst']


def test_fail_on_makes_a_scheduler_see_a_bad_verdict(tmp_path):
    # an available threshold of 100% makes this host critical whatever its state
    args = ['-e', 'headroom_report_path=%s' % (tmp_path / 'r.json'),
            '-e', '{"process_audit_thresholds": {"available_warning_pct": 100, "available_critical_pct": 100}}']
    proc = ansible(os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml', *args)
    assert proc.returncode == 0, 'without headroom_fail_on the run succeeds whatever the verdict'
    proc = ansible(os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml', '-e', 'headroom_fail_on=critical', *args)
    assert proc.returncode == 2
    assert 'fleet verdict critical' in proc.stdout


def test_a_run_that_matched_no_host_says_so_and_fails_under_fail_on(tmp_path):
    """A mistyped host pattern must not look like a healthy fleet to a schedule."""
    report = tmp_path / 'r.json'
    args = ['-e', 'headroom_hosts=no-such-host', '-e', 'headroom_report_path=%s' % report]
    proc = ansible(os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml', *args)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert 'no host was diagnosed' in proc.stderr + proc.stdout  # Ansible's warning, and the fleet's line
    fleet = json.loads(report.read_text())['fleet']
    assert fleet['hosts'] == 0 and fleet['worst'] == 'failed'
    proc = ansible(os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml', '-e', 'headroom_fail_on=critical', *args)
    assert proc.returncode == 2, proc.stdout[-2000:]
    assert 'no host was diagnosed' in proc.stdout and 'headroom_fail_on=critical' in proc.stdout


def test_bad_threshold_fails_with_a_clear_message(tmp_path):
    proc = ansible(os.path.join(BIN, 'ansible'), 'localhost', '-m', 'headroom.memory.memory_facts',
                   '-a', '{"thresholds": {"avail": 5}}')
    assert proc.returncode != 0
    assert "unknown threshold 'avail'" in proc.stdout


def test_oom_since_bounds_the_journal_query(tmp_path, monkeypatch):
    """The option reaches journalctl. No journald runs here, so a stand-in journalctl records its
    arguments (test_kernel_live runs the same query against a real journald in a container)."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    calls = tmp_path / 'calls'
    fake = bindir / 'journalctl'
    fake.write_text('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\n' % calls)
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ['PATH']))
    proc = ansible(os.path.join(BIN, 'ansible'), 'localhost', '-m', 'headroom.memory.memory_facts',
                   '-a', 'sample_seconds=0 oom_since=-30d')
    assert proc.returncode == 0, proc.stdout[-2000:]
    queries = calls.read_text().splitlines()
    # every query of kills and deaths is bounded by it; the probe that follows a --grep without a match asks
    # only whether the journal holds a kernel line at all: its newest one (read/oom.py grep_probe_command)
    probes = [q for q in queries if '--output-fields=_TRANSPORT -n 1 ' in q]
    assert len(probes) <= 1 and (not probes or queries[1:2] == probes), queries
    assert queries and all('--since -30d' in q for q in queries if q not in probes), queries
    assert '--grep' in queries[0]


def test_a_mistyped_role_variable_stops_the_run_before_any_host_is_read(tmp_path):
    report = tmp_path / 'r.json'
    proc = ansible(os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml', '-e', 'headroom_report_path=%s' % report,
                   '-e', 'process_audit_top_limit=twenty')
    assert proc.returncode == 2
    assert "argument 'process_audit_top_limit' is of type str" in proc.stdout
    assert 'Collect memory facts' not in proc.stdout and not report.exists()


@pytest.mark.parametrize('playbook', ['diagnose.yml', 'playbooks/diagnose.yml'])
def test_check_mode_changes_no_host(playbook, tmp_path):
    proc = ansible(os.path.join(BIN, 'ansible-playbook'), playbook, '--check', '--diff',
                   '-e', 'headroom_report_path=%s' % (tmp_path / 'r.json'))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert (tmp_path / 'r.json').exists()


MIXED = """
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
    ghost:
      ansible_host: 127.0.0.1
      ansible_port: 1
      ansible_connection: ssh
    broken:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
      process_audit_thresholds: {nonsense: 1}
"""


def test_unreachable_and_failing_hosts_are_reported_and_the_run_goes_on(tmp_path):
    inventory = tmp_path / 'mixed.yml'
    inventory.write_text(MIXED)
    report = tmp_path / 'r.json'
    proc = ansible(os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory), 'diagnose.yml',
                   '-e', 'headroom_report_path=%s' % report)
    assert proc.returncode == 0, proc.stdout[-3000:]
    data = json.loads(report.read_text())
    records = dict((r['host'], r) for r in data['hosts'])
    assert records['ghost']['verdict'] == 'failed'
    assert 'unreachable' in records['ghost']['summary']
    assert records['broken']['verdict'] == 'failed'
    assert "unknown threshold 'nonsense'" in records['broken']['error']
    assert records['localhost']['verdict'] in ('ok', 'warning', 'critical')
    assert data['fleet']['counts']['failed'] == 2 and data['fleet']['worst'] == 'failed'
    assert data['fleet']['order'][:2] == sorted(['ghost', 'broken'])
    proc = ansible(os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory), 'diagnose.yml',
                   '-e', 'headroom_report_path=%s' % report, '-e', 'headroom_fail_on=critical')
    assert proc.returncode == 2
