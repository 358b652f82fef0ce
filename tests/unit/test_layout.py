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
