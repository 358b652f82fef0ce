"""fleet_report's action plugin (what playbooks run) against its module, run for real: the plugin
through ansible-playbook, the module as Ansible runs one (an arguments file), with the same inputs:
they must write the same report. The facts are real (tests/fixtures/reports/localhost-facts.json)."""
import json
import os
import subprocess
import sys

import pytest

from library_module import run_library_module

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACTS = os.path.join(ROOT, 'tests', 'fixtures', 'reports', 'localhost-facts.json')


def facts():
    with open(FACTS) as handle:
        return json.load(handle)


PLAYBOOK = '''
- hosts: localhost
  gather_facts: false
  vars:
    headroom: "{{ lookup('ansible.builtin.file', '%(facts)s') | from_json }}"
  tasks:
    - headroom.memory.fleet_report: %(args)s
      register: out
    - ansible.builtin.copy:
        content: "{{ out | to_json }}"
        dest: "%(result)s"
'''



def run_plugin(tmp_path, args):
    """Run fleet_report in a playbook from the checkout (so its action plugin is used); its result."""
    playbook = tmp_path / 'play.yml'
    result = tmp_path / 'plugin-result.json'
    playbook.write_text(PLAYBOOK % {'facts': FACTS, 'args': json.dumps(args), 'result': result})
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
                           '-i', 'inventory/localhost.yml', str(playbook)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    return proc, (json.loads(result.read_text()) if result.exists() else None)


def test_the_action_plugin_and_the_module_write_the_same_report(tmp_path):
    pytest.importorskip('ansible')
    plugin_dir, module_dir = tmp_path / 'plugin', tmp_path / 'module'
    args = {'hosts': ['web-1', 'lost-2'], 'error_hosts': [], 'errors': []}
    proc, by_plugin = run_plugin(tmp_path, dict(args, path=str(plugin_dir / 'r.json'),
                                                facts=['{{ headroom }}', None]))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    by_module = run_library_module('fleet_report', dict(args, path=str(module_dir / 'r.json'), facts=[facts(), None]),
                                   tmp_path)
    assert not by_module.get('failed'), by_module
    plugin_report = json.loads((plugin_dir / 'r.json').read_text())
    module_report = json.loads((module_dir / 'r.json').read_text())
    plugin_report.pop('generated_at'), module_report.pop('generated_at')
    assert plugin_report == module_report
    assert by_plugin['fleet'] == by_module['fleet'] and by_plugin['details'] == by_module['details']


def test_the_action_plugin_names_a_bad_option(tmp_path):
    pytest.importorskip('ansible')
    proc, _ = run_plugin(tmp_path, {'path': str(tmp_path / 'r.json'), 'hosts': ['a'], 'colour': 'red'})
    assert proc.returncode == 2
    assert 'colour' in proc.stdout and not (tmp_path / 'r.json').exists()
