"""The amazon.aws.aws_ec2 inventory example, and headroom's ec2_sizes lookup, against a local moto server
standing in for the EC2 API: the instance type an EC2 host has reaches the diagnosis's scale step."""
import json
import os
import subprocess
import sys

import pytest

boto3 = pytest.importorskip('boto3')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def launch(instance_type, tags):
    ec2 = boto3.client('ec2')
    image = ec2.describe_images(Owners=['amazon'])['Images'][0]['ImageId']
    done = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType=instance_type,
                             TagSpecifications=[{'ResourceType': 'instance',
                                                 'Tags': [{'Key': k, 'Value': v} for k, v in tags.items()]}])
    return done['Instances'][0]['PrivateIpAddress']


def run(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='json',
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
    return subprocess.run(list(args), cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)


def test_the_inventory_example_gives_each_host_its_instance_type(moto_server):
    web = launch('c5.large', {'headroom': 'enabled', 'Role': 'web'})
    launch('m5.large', {'Role': 'other'})  # not tagged for headroom: not in the inventory
    proc = run(os.path.join(BIN, 'ansible-inventory'), '-i', 'inventory/example.aws_ec2.yml', '--list')
    assert proc.returncode == 0, proc.stderr
    inventory = json.loads(proc.stdout)
    assert list(inventory['_meta']['hostvars']) == [web]
    # ansible-core 2.19 marks what came from outside as unsafe in --list's JSON
    assert inventory['_meta']['hostvars'][web]['instance_type'] in ('c5.large', {'__ansible_unsafe': 'c5.large'})
    assert web in inventory['role_web']['hosts']


def test_the_instance_type_and_aws_sizes_reach_the_scale_step(moto_server, tmp_path):
    host = launch('c5.large', {'headroom': 'enabled', 'Role': 'web'})
    report = tmp_path / 'r.json'
    # the EC2 host is diagnosed on this machine (a local connection): its memory is this machine's, its
    # instance type is the one EC2 gave it; a 100% available threshold makes it short, so the scale step shows
    proc = run(os.path.join(BIN, 'ansible-playbook'), '-i', 'inventory/example.aws_ec2.yml', 'diagnose.yml',
               '-e', 'ansible_connection=local', '-e', 'ansible_python_interpreter=%s' % sys.executable,
               '-e', 'headroom_report_path=%s' % report, '-e', 'headroom_history=false',
               '-e', '{"process_audit_thresholds": {"available_warning_pct": 100, "available_critical_pct": 100}}')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    record = json.loads(report.read_text())['hosts'][0]
    assert record['host'] == host
    scale = [r for r in record['recommendations'] if r['step'] == 'scale'][0]
    assert 'the next size with that headroom is c5.' in scale['detail'], scale['detail']
    # the sizes were asked of the (stand-in) EC2 API once for the play, c5's family and nothing else
    tasks = [t for play in json.loads(proc.stdout)['plays'] for t in play['tasks']
             if t['task']['name'] == "Ask EC2 for the memory of the fleet's instance families"]
    sizes = tasks[0]['hosts'][host]['ansible_facts']['process_audit_instance_sizes']
    assert sizes['c5.9xlarge'] == 72 * 1024 and 'c5.8xlarge' not in sizes and 'c5.metal' not in sizes
    assert set(name.split('.')[0] for name in sizes) == {'c5'}
    assert 'it-s3cret-aws-key' not in proc.stdout + proc.stderr + report.read_text()


def test_the_lookup_asks_nothing_without_credentials_and_warns_on_an_error(moto_server, monkeypatch):
    lookup = "{{ lookup('headroom.memory.ec2_sizes', 'c5.large', 'nonsense', '') }}"
    proc = run(os.path.join(BIN, 'ansible'), 'localhost', '-m', 'debug', '-a', 'msg="%s"' % lookup)
    assert proc.returncode == 0, proc.stderr
    assert '"c5.large": 4096' in proc.stdout
    monkeypatch.setenv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9')  # nothing listens: an error, not a stall
    proc = run(os.path.join(BIN, 'ansible'), 'localhost', '-m', 'debug', '-a', 'msg="%s"' % lookup)
    assert proc.returncode == 0 and '"msg": {}' in proc.stdout, proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr  # the json callback carries the warnings
    assert 'EC2 instance sizes not asked of AWS' in said and '127.0.0.1:9' in said and 'it-s3cret-aws-key' not in said
    for key in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'):
        monkeypatch.delenv(key)
    monkeypatch.setenv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent')
    monkeypatch.setenv('AWS_CONFIG_FILE', '/nonexistent')
    monkeypatch.setenv('AWS_EC2_METADATA_DISABLED', 'true')
    proc = run(os.path.join(BIN, 'ansible'), 'localhost', '-m', 'debug', '-a', 'msg="%s"' % lookup)
    assert proc.returncode == 0 and '"msg": {}' in proc.stdout and 'not asked' not in proc.stdout + proc.stderr
