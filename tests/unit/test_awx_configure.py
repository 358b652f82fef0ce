"""awx/configure.yml cannot run here (no AWX): every awx.awx task's arguments are checked against the
installed collection's own documentation of its module, so that a misspelled option, a wrong node
relation or a choice AWX does not offer fails here rather than against the API."""
import ast
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
awx = pytest.importorskip('ansible_collections.awx.awx')
MODULES = os.path.join(list(awx.__path__)[0], 'plugins', 'modules')


class Loader(yaml.SafeLoader):
    pass


Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def documentation(module):
    with open(os.path.join(MODULES, module + '.py')) as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == 'DOCUMENTATION':
            return yaml.safe_load(node.value.value)
    raise AssertionError('%s has no DOCUMENTATION' % module)


def names(options):
    known = set(options)
    for option in options.values():
        known.update(option.get('aliases') or [])
    return known


def check(args, options, where):
    """Every key documented, every choice offered, suboptions recursively; returns the problems."""
    problems = []
    for key, value in args.items():
        spec = options.get(key) or next((o for o in options.values() if key in (o.get('aliases') or [])), None)
        if spec is None:
            problems.append('%s: %s is not an option' % (where, key))
            continue
        if spec.get('choices') and isinstance(value, str) and '{{' not in value and value not in spec['choices']:
            problems.append('%s: %s=%s is not one of %s' % (where, key, value, spec['choices']))
        sub = spec.get('suboptions')
        if sub and isinstance(value, dict):
            problems += check(value, sub, '%s.%s' % (where, key))
        elif sub and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    problems += check(item, sub, '%s.%s[%d]' % (where, key, index))
    return problems


def tasks():
    with open(os.path.join(ROOT, 'awx', 'configure.yml')) as handle:
        play = yaml.load(handle, Loader=Loader)[0]
    return [(task['name'], key.split('.')[-1], task[key]) for task in play['tasks'] for key in task
            if key.startswith('awx.awx.')]


def test_every_awx_task_uses_only_what_its_module_documents():
    found = tasks()
    assert {module for _n, module, _a in found} >= {'project', 'job_template', 'workflow_job_template', 'schedule',
                                                      'notification_template', 'settings'}
    problems = []
    for name, module, args in found:
        problems += check(args, documentation(module)['options'], '%s (%s)' % (name, module))
    assert problems == []


def test_the_workflow_merges_after_every_slice_whatever_their_outcome():
    workflow = [args for _n, module, args in tasks() if module == 'workflow_job_template'][0]
    nodes = dict((node['identifier'], node) for node in workflow['workflow_nodes'])
    assert nodes['diagnose']['unified_job_template']['name'] == 'headroom diagnose'
    assert nodes['diagnose']['related']['always_nodes'] == [{'identifier': 'merge'}]
    templates = dict((args['name'], args) for _n, module, args in tasks() if module == 'job_template')
    assert templates['headroom merge']['playbook'] == 'merge.yml'
    assert nodes['merge']['unified_job_template']['name'] == 'headroom merge'
    assert os.path.isfile(os.path.join(ROOT, templates['headroom merge']['playbook']))


def test_the_check_can_fail():
    options = documentation('workflow_job_template')['options']
    assert check({'workflow_nodes': [{'identifier': 'a', 'related': {'alway_nodes': []}}]}, options, 'w')
    assert check({'nmae': 'x'}, documentation('job_template')['options'], 'j')
