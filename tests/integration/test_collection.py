"""headroom.memory as its users get it: the collection built into a tarball, installed into a fresh
collections path, and used by its full names from a directory that has no ansible.cfg and knows
nothing of the checkout, against a real container (with real swapon, so this test switches off all
the swap it switches on)."""
import json
import os
import subprocess
import tarfile

import pytest
import yaml

from conftest import ROOT, VENV_BIN, _json_output, limited_box

COLLECTION = os.path.join(ROOT, 'collections', 'ansible_collections', 'headroom', 'memory')


def _version():
    with open(os.path.join(COLLECTION, 'galaxy.yml')) as handle:
        return yaml.safe_load(handle)['version']


def _clean_env(collections_path):
    """The environment of someone else's project: none of the checkout's ANSIBLE_* settings."""
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith('ANSIBLE_'))
    env.update(ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR='1',
               PATH=VENV_BIN + os.pathsep + env.get('PATH', ''))
    return env


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(tarball, collections path, elsewhere): built and installed once for this module's tests."""
    work = tmp_path_factory.mktemp('collection')
    build = subprocess.run([os.path.join(VENV_BIN, 'ansible-galaxy'), 'collection', 'build', COLLECTION,
                            '--output-path', str(work)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = work / ('headroom-memory-%s.tar.gz' % _version())
    assert tarball.exists(), build.stdout
    collections = work / 'collections'
    install = subprocess.run([os.path.join(VENV_BIN, 'ansible-galaxy'), 'collection', 'install', str(tarball),
                              '-p', str(collections)], capture_output=True, text=True, timeout=300,
                             env=_clean_env(str(collections)), cwd=str(work))
    assert install.returncode == 0, install.stdout + install.stderr
    elsewhere = work / 'someone-elses-project'
    elsewhere.mkdir()
    return tarball, collections, elsewhere


def test_the_tarball_holds_the_collection_and_nothing_of_the_checkout(installed):
    tarball = installed[0]
    with tarfile.open(str(tarball)) as tar:
        names = tar.getnames()
        links = [member.name for member in tar.getmembers() if member.issym() or member.islnk()]
        manifest = json.load(tar.extractfile('MANIFEST.json'))
    assert manifest['collection_info']['version'] == _version()
    assert manifest['collection_info']['license'] == ['GPL-3.0-or-later']
    for needed in ('README.md', 'LICENSE', 'CHANGELOG.md', 'plugins/modules/swapfile.py', 'plugins/action/memory_facts.py',
                   'plugins/module_utils/read/collect.py', 'roles/process_audit/meta/argument_specs.yml',
                   'playbooks/diagnose.yml'):
        assert needed in names, needed
    assert not [name for name in names if '__pycache__' in name or name.startswith('tests/output')]
    assert links == []


def test_ansible_doc_shows_the_installed_module(installed):
    _, collections, elsewhere = installed
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-doc'), 'headroom.memory.swapfile'], cwd=str(elsewhere),
                          env=_clean_env(str(collections)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert str(collections / 'ansible_collections' / 'headroom' / 'memory' / 'plugins' / 'modules' / 'swapfile.py') \
        in proc.stdout
    assert 'Creates, resizes, activates and removes one swap file' in ' '.join(proc.stdout.split())


PLAYBOOK = '''
- name: Use headroom.memory by its full names
  hosts: all
  gather_facts: false
  roles:
    - role: headroom.memory.process_audit
      process_audit_show: false
  tasks:
    - name: Make a swap file
      headroom.memory.swapfile:
        path: /swap/file
        size: 32M
        min_free_disk: 1M
      register: made

    - name: Read the swap areas
      ansible.builtin.command: cat /proc/swaps
      register: swaps
      changed_when: false

    - name: Remove it again
      headroom.memory.swapfile:
        path: /swap/file
        state: absent
      register: removed
'''


def test_a_playbook_elsewhere_uses_the_installed_role_and_module_by_fqcn(installed):
    _, collections, elsewhere = installed
    (elsewhere / 'site.yml').write_text(PLAYBOOK)
    with limited_box() as (cid, host_dir):
        (elsewhere / 'hosts.yml').write_text(yaml.safe_dump({'all': {'hosts': {cid: {
            'ansible_connection': 'community.docker.docker', 'ansible_python_interpreter': '/usr/bin/python3'}}}}))
        env = _clean_env(str(collections))
        env.update(ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_GATHERING='explicit')
        proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', 'hosts.yml', 'site.yml'],
                              cwd=str(elsewhere), env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        played = _json_output(proc)['plays'][0]['tasks']
        tasks = dict((task['task']['name'].split(' : ', 1)[-1], task['hosts'][cid]) for task in played)
        paths = dict((task['task']['name'].split(' : ', 1)[-1], task['task']['path']) for task in played)
        assert not os.listdir(host_dir), 'the swap file is gone'
    # the role that ran is the installed one
    assert paths['Collect memory facts and judge the host'].startswith(str(collections / 'ansible_collections'))
    headroom = tasks['Collect memory facts and judge the host']['ansible_facts']['headroom']
    assert headroom['audit']['verdict'] in ('ok', 'warning', 'critical')
    assert headroom['memory']['total'] > 0
    assert tasks['Make a swap file']['changed'] is True
    assert '/swap/file' in tasks['Read the swap areas']['stdout']
    assert tasks['Remove it again']['changed'] is True
