"""The checkout's layout around the collection: what Ansible sees beside the top-level playbooks."""
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = os.path.join(ROOT, 'collections', 'ansible_collections', 'headroom', 'memory')


def test_no_module_utils_name_shadows_ansibles_own():
    """Ansible adds the module_utils/ beside a playbook to ansible.module_utils: diagnose.yml at the
    top has the collection's module_utils there, so a file named like one of Ansible's (errors.py)
    would replace Ansible's own inside every module's AnsiballZ payload."""
    ansible_module_utils = pytest.importorskip('ansible.module_utils')
    ours = set(name[:-3] if name.endswith('.py') else name
               for name in os.listdir(os.path.join(COLLECTION, 'plugins', 'module_utils'))
               if name != '__pycache__')
    theirs = set(name[:-3] if name.endswith('.py') else name
                 for name in os.listdir(os.path.dirname(ansible_module_utils.__file__))
                 if name != '__pycache__')
    assert ours and not ours & theirs


@pytest.mark.parametrize('name, target', [
    ('library', 'plugins/modules'), ('module_utils', 'plugins/module_utils'), ('action_plugins', 'plugins/action'),
    ('roles', 'roles'), ('LICENSE', 'LICENSE'),
])
def test_the_top_level_points_into_the_collection(name, target):
    """One source: what the checkout shows at its top is the collection's, not a copy."""
    assert os.path.islink(os.path.join(ROOT, name))
    assert os.path.realpath(os.path.join(ROOT, name)) == os.path.realpath(os.path.join(COLLECTION, target))


def test_the_playbooks_directory_finds_the_collection_beside_it():
    """playbooks/diagnose.yml run without ansible.cfg (AWX may ignore it) finds the collection as
    Ansible finds collections beside a playbook: playbooks/collections."""
    for name in ('diagnose.yml', 'remediate.yml', 'vars'):
        path = os.path.join(ROOT, 'playbooks', name)
        assert os.path.realpath(path) == os.path.realpath(os.path.join(COLLECTION, 'playbooks', name))
    assert os.path.realpath(os.path.join(ROOT, 'playbooks', 'collections')) == os.path.join(ROOT, 'collections')


def _plays_running_the_audit(playbook):
    import yaml
    with open(os.path.join(COLLECTION, 'playbooks', playbook)) as handle:
        plays = yaml.safe_load(handle)
    found = []
    for play in plays:
        text = yaml.safe_dump(play.get('tasks') or [])
        if 'headroom.memory.process_audit' in text:
            found.append(play)
    return found


@pytest.mark.parametrize('playbook, diagnoses', [('diagnose.yml', 1), ('remediate.yml', 2)])
def test_every_diagnosis_judges_the_kills_since_the_history_s_last_run(playbook, diagnoses):
    """Each play that diagnoses (the process_audit role) hands memory_facts the host's previous run from the
    history (process_audit_previous_run, the headroom.memory.history lookup): remediate.yml's diagnoses
    before and after the fixes too, or they judge again a kill an earlier run already reported."""
    import yaml
    plays = _plays_running_the_audit(playbook)
    assert len(plays) == diagnoses
    with open(os.path.join(COLLECTION, 'playbooks', 'vars', 'previous_run.yml')) as handle:
        shared = yaml.safe_load(handle)
    assert "lookup('headroom.memory.history', inventory_hostname" in shared['process_audit_previous_run']
    for play in plays:
        assert 'vars/previous_run.yml' in (play.get('vars_files') or []), play['name']
        assert 'process_audit_previous_run' not in (play.get('vars') or {}), play['name']


def test_remediation_records_its_run_in_the_history():
    """The report of remediate.yml records the diagnosis after the fixes as a run, as diagnose.yml's does."""
    import yaml
    with open(os.path.join(COLLECTION, 'roles', 'report', 'tasks', 'main.yml')) as handle:
        tasks = yaml.safe_load(handle)
    report = [task for task in tasks if 'headroom.memory.fleet_report' in task][0]['headroom.memory.fleet_report']
    assert "__report.run in ['diagnose', 'remediate']" in report['history']
