"""An AWX sliced job, reproduced: diagnose.yml run once per slice with ansible_runner.run() on the hosts
AWX gives slice k of N (sorted[k-1::N]), the slices' artifacts merged exactly as AWX's workflow code
merges them (combined.update(artifacts), in the order the jobs finished), then merge.yml run with the
result as its extra vars, as a workflow's next node gets them. The fleet's verdict and counts must be those
of one unsliced run on the same hosts."""
import json
import os
import sys

import pytest

ansible_runner = pytest.importorskip('ansible_runner')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOSTS = ['db-1', 'db-2', 'web-1', 'web-2', 'web-3', 'worker-1', 'worker-2']
# a 100% threshold makes a host critical (or warning) whatever this machine's memory
CRITICAL = {'available_warning_pct': 100, 'available_critical_pct': 100}
WARNING = {'available_warning_pct': 100, 'available_critical_pct': 0}
SLICES = 3


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    monkeypatch.setenv('PATH', os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])


@pytest.fixture
def inventory(tmp_path):
    """Seven hosts, each this machine over a local connection, judged by thresholds of their own."""
    hosts = {}
    for name in HOSTS:
        hosts[name] = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    hosts['db-2']['process_audit_thresholds'] = CRITICAL
    hosts['web-3']['process_audit_thresholds'] = WARNING
    hosts['worker-1']['process_audit_thresholds'] = WARNING
    path = tmp_path / 'inventory.json'
    path.write_text(json.dumps({'all': {'hosts': hosts}}))
    return str(path)


def run(tmp_path, name, playbook, inventory, extravars, limit=None):
    (tmp_path / name).mkdir()
    result = ansible_runner.run(private_data_dir=str(tmp_path / name), project_dir=ROOT, playbook=playbook,
                                inventory=inventory, limit=limit, extravars=extravars, quiet=True,
                                envvars={'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg')})
    assert result.status == 'successful', result.stdout.read()[-3000:]
    stats = [e for e in result.events if e['event'] == 'playbook_on_stats'][0]['event_data']
    return stats['artifact_data']


@pytest.mark.parametrize('shared', [True, False], ids=['reports in a directory every job sees', 'artifacts alone'])
def test_sliced_diagnose_adds_up_to_the_unsliced_one(tmp_path, inventory, shared):
    # the thresholds alone decide: this machine's kernel log holds the kills of every test run on it (a Redis
    # the OOM killer killed is critical, whatever the thresholds), which are not what slicing is about
    common = {'process_audit_sample_seconds': 0, 'headroom_history': False, 'process_audit_oom_history': False}
    whole = run(tmp_path, 'whole', 'diagnose.yml', inventory,
                dict(common, headroom_report_dir=str(tmp_path / 'whole-reports')))
    assert whole['headroom_fleet_counts']['critical'] >= 1 and whole['headroom_fleet_counts']['warning'] >= 2

    reports = tmp_path / 'shared'
    combined = {}
    for k in range(1, SLICES + 1):
        hosts = sorted(HOSTS)[k - 1::SLICES]
        artifacts = run(tmp_path, 'slice%d' % k, 'diagnose.yml', inventory,
                        dict(common, awx_job_id=1000 + k, headroom_report_dir=str(reports if shared else tmp_path / ('own%d' % k))),
                        limit=','.join(hosts))
        assert sorted(artifacts['headroom_slice_%d' % (1000 + k)]['hosts']) == hosts
        combined.update(artifacts)  # AWX: WorkflowJob.get_effective_artifacts
    if not shared:  # each job's files went with its execution environment
        for k in range(1, SLICES + 1):
            for suffix in ('json', 'html', 'md'):
                os.unlink(tmp_path / ('own%d' % k) / ('headroom-%d.%s' % (1000 + k, suffix)))
    # the shared key holds the last slice's verdict alone: why the slices publish keys of their own
    assert combined['headroom_fleet_counts'] != whole['headroom_fleet_counts']

    merged = run(tmp_path, 'merge', 'merge.yml', inventory, dict(combined, headroom_report_dir=str(reports)))
    for key in ('headroom_fleet_verdict', 'headroom_fleet_counts'):
        assert merged[key] == whole[key], key
    assert merged['headroom_fleet_summary'].split('\n')[0] == whole['headroom_fleet_summary'].split('\n')[0]
    assert not [key for key in merged if key.startswith('headroom_slice_')]
    report = json.loads((reports / 'headroom.json').read_text())
    assert sorted(r['host'] for r in report['hosts']) == sorted(HOSTS)
    # with the slices' files at hand the fleet's report has each host's whole record, else what the artifact had
    assert all(bool(r['lines']) == shared for r in report['hosts'])


def test_merge_without_slices_fails_and_says_why(tmp_path, inventory):
    (tmp_path / 'merge').mkdir()
    result = ansible_runner.run(private_data_dir=str(tmp_path / 'merge'), project_dir=ROOT, playbook='merge.yml',
                                inventory=inventory, extravars={'headroom_report_dir': str(tmp_path)}, quiet=True)
    assert result.status == 'failed'
    assert 'no headroom_slice_* artifact reached this run' in result.stdout.read()
    assert not (tmp_path / 'headroom.json').exists()
