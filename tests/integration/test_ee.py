"""The execution environment: execution-environment.yml built with ansible-builder
(scripts/build-ee.sh: from a local base image, as quay.io and Galaxy cannot be reached here), then
diagnose.yml run inside it with ansible-navigator, and the collection's own playbook
(headroom.memory.diagnose) with ansible-runner's process isolation, as AWX runs a job."""
import json
import os
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, VENV_BIN

ansible_runner = pytest.importorskip('ansible_runner')
IMAGE = 'headroom-ee:local'
EE_FILE = os.path.join(ROOT, 'execution-environment.yml')

pytestmark = pytest.mark.skipif(shutil.which('docker') is None, reason='needs the Docker engine')


@pytest.fixture(scope='module')
def image():
    proc = subprocess.run([os.path.join(ROOT, 'scripts', 'build-ee.sh'), IMAGE], capture_output=True, text=True,
                          timeout=1500, env=dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ['PATH']))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return IMAGE


def _in_image(image, command):
    return subprocess.run(['docker', 'run', '--rm', image, 'sh', '-c', command], capture_output=True, text=True,
                          timeout=300)


def test_the_image_holds_the_pinned_collections_and_headroom_memory(image):
    with open(EE_FILE) as handle:
        pins = dict((entry['name'], entry['version'].lstrip('='))
                    for entry in yaml.safe_load(handle)['dependencies']['galaxy']['collections'] if 'version' in entry)
    with open(os.path.join(ROOT, 'collections', 'ansible_collections', 'headroom', 'memory', 'galaxy.yml')) as handle:
        pins['headroom.memory'] = yaml.safe_load(handle)['version']
    listed = _in_image(image, 'ansible-galaxy collection list --format json')
    assert listed.returncode == 0, listed.stderr
    # where ansible-builder installs collections (ansible-core's own internal ones are elsewhere)
    installed = json.loads(listed.stdout)['/usr/share/ansible/collections/ansible_collections']
    assert dict((name, info['version']) for name, info in installed.items()) == pins
    runner = _in_image(image, 'ansible-runner --version && python3 -c "import boto3" && ansible --version')
    assert runner.returncode == 0, runner.stderr
    assert 'core 2.19.' in runner.stdout


def test_diagnose_runs_inside_the_image_with_ansible_navigator(image, tmp_path):
    report = tmp_path / 'headroom.json'
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-navigator'), 'run', 'diagnose.yml', '--eei', image,
                           '--ce', 'docker', '--pp', 'never', '-m', 'stdout', '--pae', 'false',
                           '--eev', '%s:%s' % (tmp_path, tmp_path), '-e', 'headroom_report_path=%s' % report],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(report.read_text())
    assert [record['host'] for record in data['hosts']] == ['localhost']
    assert data['hosts'][0]['verdict'] in ('ok', 'warning', 'critical')


def test_the_collections_playbook_runs_with_ansible_runners_process_isolation(image, tmp_path):
    """No checkout inside: the playbook imports headroom.memory.diagnose, which only the image holds."""
    project = tmp_path / 'project'
    project.mkdir()
    (project / 'site.yml').write_text('- name: Diagnose\n  ansible.builtin.import_playbook: headroom.memory.diagnose\n')
    result = ansible_runner.run(private_data_dir=str(tmp_path), playbook='site.yml', process_isolation=True,
                                process_isolation_executable='docker', container_image=image, quiet=True,
                                extravars={'headroom_report_path': '/runner/report.json', 'headroom_hosts': 'localhost'})
    assert result.status == 'successful', result.stdout.read()[-3000:]
    data = json.loads((tmp_path / 'report.json').read_text())
    stats = [e for e in result.events if e['event'] == 'playbook_on_stats'][0]['event_data']
    assert stats['artifact_data']['headroom_fleet_verdict'] == data['fleet']['worst']
    assert data['fleet']['hosts'] == 1


def test_the_history_outlives_the_job_in_a_directory_exposed_to_it(image, tmp_path):
    """As AWX runs a job: in the execution environment's container, which is gone when the job ends.
    A directory of the host mounted into it ("Paths to expose to isolated jobs", here ansible-runner's
    container_volume_mounts) keeps the history: two jobs, one file, two runs."""
    project = tmp_path / 'project'
    project.mkdir()
    (project / 'site.yml').write_text('- name: Diagnose\n  ansible.builtin.import_playbook: headroom.memory.diagnose\n')
    kept = tmp_path / 'exposed'
    kept.mkdir()
    for job in range(2):
        result = ansible_runner.run(
            private_data_dir=str(tmp_path), playbook='site.yml', process_isolation=True,
            process_isolation_executable='docker', container_image=image, quiet=True,
            container_volume_mounts=['%s:/var/lib/headroom:Z' % kept],
            extravars={'headroom_report_path': '/runner/report-%d.json' % job, 'headroom_hosts': 'localhost',
                       'headroom_history_path': '/var/lib/headroom/history.sqlite', 'process_audit_sample_seconds': 0})
        assert result.status == 'successful', result.stdout.read()[-3000:]
    data = json.loads((tmp_path / 'report-1.json').read_text())
    assert data['hosts'][0]['history']['path'] == '/var/lib/headroom/history.sqlite'
    assert len(data['hosts'][0]['history']['runs']) == 2
    # localhost is each job's own container, gone with it: to the history a different machine each time
    # (another container id), so the second job's trend starts anew from its one run, and says why
    assert data['hosts'][0]['identity']['previous']['machine'] == 'other'
    assert data['hosts'][0]['trend']['reason'] == 'not enough history: 1 run(s), 3 needed'
    import sqlite3
    db = sqlite3.connect(str(kept / 'history.sqlite'))
    assert db.execute('SELECT count(*) FROM runs').fetchone()[0] == 2
