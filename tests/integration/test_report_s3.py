"""The report kept in S3 (headroom_report_s3_bucket), against a local moto server standing in for S3:
the files land under the prefix, the link reaches the summary and the artifacts, no credential is shown,
and a bucket that cannot be written fails the run with the report still written on the controller."""
import json
import os
import subprocess
import sys

import pytest

boto3 = pytest.importorskip('boto3')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def diagnose(*extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='json',
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_SHOW_CUSTOM_STATS='1')
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml', '-e', 'process_audit_sample_seconds=0']
                          + list(extra), cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)


def test_the_report_and_history_land_in_the_bucket(moto_server, tmp_path):
    s3 = boto3.client('s3', region_name='eu-west-1')
    s3.create_bucket(Bucket='ops-reports', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})
    proc = diagnose('-e', 'headroom_report_dir=%s' % tmp_path, '-e', 'headroom_report_s3_bucket=ops-reports',
                    '-e', 'headroom_report_s3_prefix=fleet/prod/', '-e', 'awx_job_id=77')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    keys = sorted(o['Key'] for o in s3.list_objects_v2(Bucket='ops-reports')['Contents'])
    assert keys == ['fleet/prod/headroom-77.html', 'fleet/prod/headroom-77.json', 'fleet/prod/headroom-77.md',
                    'fleet/prod/headroom.sqlite']
    body = s3.get_object(Bucket='ops-reports', Key='fleet/prod/headroom-77.json')['Body'].read()
    assert json.loads(body) == json.loads((tmp_path / 'headroom-77.json').read_text())
    stats = json.loads(proc.stdout)['global_custom_stats']
    link = 's3://ops-reports/fleet/prod/headroom-77.html'
    assert stats['headroom_fleet_report'] == link and link in stats['headroom_fleet_markdown']
    said = proc.stdout + proc.stderr
    assert 'it-s3cret-aws-key' not in said and 'AKIAHEADROOMTEST0000' not in said
    # a second run of the same job changes nothing in the bucket's copies of unchanged files... and a web address
    proc = diagnose('-e', 'headroom_report_dir=%s' % tmp_path, '-e', 'headroom_report_s3_bucket=ops-reports',
                    '-e', 'headroom_report_url=https://reports.example.com/', '-e', 'headroom_history=false')
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert json.loads(proc.stdout)['global_custom_stats']['headroom_fleet_report'] == \
        'https://reports.example.com/headroom/headroom.html'


def test_a_bucket_that_cannot_be_written_fails_the_run_and_keeps_the_report(moto_server, tmp_path):
    proc = diagnose('-e', 'headroom_report_dir=%s' % tmp_path, '-e', 'headroom_report_s3_bucket=no-such-bucket')
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert 'no-such-bucket' in proc.stdout and 'Upload the report' in proc.stdout
    assert (tmp_path / 'headroom.json').is_file() and (tmp_path / 'headroom.html').is_file()
    assert 'it-s3cret-aws-key' not in proc.stdout + proc.stderr


def test_check_mode_uploads_nothing(moto_server, tmp_path):
    s3 = boto3.client('s3', region_name='eu-west-1')
    s3.create_bucket(Bucket='ops-reports', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})
    proc = diagnose('--check', '-e', 'headroom_report_dir=%s' % tmp_path, '-e', 'headroom_report_s3_bucket=ops-reports')
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'Contents' not in s3.list_objects_v2(Bucket='ops-reports')
