"""diagnose.yml through ansible-runner, as AWX runs it: no ansible.cfg in effect, events and set_stats
artifacts checked as AWX would read them."""
import json
import os
import sys

import pytest

ansible_runner = pytest.importorskip('ansible_runner')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    # ansible-runner finds ansible-playbook on PATH, as in an execution environment
    monkeypatch.setenv('PATH', os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])


def run(tmp_path, playbook, extravars):
    empty_cfg = tmp_path / 'empty.cfg'
    empty_cfg.write_text('')
    (tmp_path / 'pdd').mkdir()
    return ansible_runner.run(
        private_data_dir=str(tmp_path / 'pdd'),
        project_dir=ROOT,
        playbook=playbook,
        inventory=os.path.join(ROOT, 'inventory', 'localhost.yml'),
        extravars=extravars,
        # AWX may ignore the project's ansible.cfg (a world-writable checkout): so do we
        envvars={'ANSIBLE_CONFIG': str(empty_cfg), 'ANSIBLE_GATHERING': 'implicit'},
        quiet=True,
    )


@pytest.mark.parametrize('playbook', ['diagnose.yml', 'playbooks/diagnose.yml'])
def test_diagnose_runs_without_the_projects_ansible_cfg(tmp_path, playbook):
    report = tmp_path / 'report.json'
    result = run(tmp_path, playbook, {'headroom_report_path': str(report)})
    assert result.status == 'successful', result.stdout.read()[-3000:]
    assert result.rc == 0
    events = list(result.events)
    names = [e['event_data'].get('task') for e in events if e['event'] == 'runner_on_ok']
    assert 'Collect memory facts and judge the host' in names
    stats = [e for e in events if e['event'] == 'playbook_on_stats'][0]['event_data']
    assert stats['failures'] == {} and stats['dark'] == {}
    # what an AWX workflow branches on and a notification carries
    artifact = stats['artifact_data']
    data = json.loads(report.read_text())
    assert artifact['headroom_fleet_verdict'] == data['fleet']['worst']
    assert artifact['headroom_fleet_counts'] == data['fleet']['counts']
    assert artifact['headroom_fleet_summary'].startswith('fleet: 1 host(s)')
    facts = [e for e in events if e['event'] == 'runner_on_ok'
             and e['event_data'].get('task') == 'Collect memory facts and judge the host'][0]
    headroom = facts['event_data']['res']['ansible_facts']['headroom']
    assert headroom['audit']['verdict'] == data['hosts'][0]['verdict']


def test_remediate_dry_run_through_runner_changes_nothing_on_the_host(tmp_path):
    def headroom_swap():
        with open('/proc/swaps') as handle:
            return [line for line in handle if line.startswith('/swapfile ')], os.path.exists('/swapfile')

    swap_before = headroom_swap()
    report = tmp_path / 'remediate.json'
    result = run(tmp_path, 'remediate.yml', {'headroom_report_path': str(report)})
    assert result.status == 'successful', result.stdout.read()[-3000:]
    assert headroom_swap() == swap_before, 'a dry run must not touch swap'
    stats = [e for e in result.events if e['event'] == 'playbook_on_stats'][0]['event_data']
    data = json.loads(report.read_text())
    assert stats['artifact_data']['headroom_remediate_verdict'] == data['fleet']['worst']
    record = data['hosts'][0]
    assert record['before']['host'] == 'localhost' and 'change' in record
