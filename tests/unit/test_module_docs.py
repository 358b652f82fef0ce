"""Every module in library/: its DOCUMENTATION agrees with its argument_spec, option by option.

What ``ansible-test sanity`` (validate-modules) checks for a collection, applied to this playbook
project: every documented option exists in the argument_spec and the other way round, with the
same type, default, choices, required flag, elements and aliases (suboptions too); the docs, examples
and return blocks are valid YAML; check mode is supported and documented as such.

The argument_spec is taken from the module itself: its ``main()`` runs with AnsibleModule replaced by
a stand-in that records the keyword arguments and stops. Nothing else of the module runs.
"""
import glob
import importlib.util
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBRARY = os.path.join(ROOT, 'library')
FRAGMENTS = os.path.join(ROOT, 'collections', 'ansible_collections', 'headroom', 'memory', 'plugins', 'doc_fragments')
MODULES = sorted(glob.glob(os.path.join(LIBRARY, '*.py')))

pytest.importorskip('ansible.module_utils')


class _Stop(Exception):
    pass


class _Recorder(object):
    seen = None

    def __init__(self, *args, **kwargs):
        _Recorder.seen = dict(kwargs, _args=args)
        raise _Stop()


def load(path):
    name = 'headroom_doc_test_' + os.path.basename(path)[:-3]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documentation(module):
    """The module's DOCUMENTATION with the options of its doc fragments (doc_fragments/) merged in,
    as ansible-doc shows it; an option may not be both in a fragment and in the module."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = {}
    for name in doc.pop('extends_documentation_fragment', None) or []:
        assert name.startswith('headroom.memory.'), '%s: a fragment is named by its full name' % name
        fragment = load(os.path.join(FRAGMENTS, name.split('.')[-1] + '.py')).ModuleDocFragment
        for option, spec in (yaml.safe_load(fragment.DOCUMENTATION).get('options') or {}).items():
            assert option not in (doc.get('options') or {}), '%s: in fragment %s and in the module' % (option, name)
            options[option] = spec
    options.update(doc.get('options') or {})
    doc['options'] = options
    return doc


def recorded_spec(module):
    """The argument spec main() gives its HeadroomModule: every module is one (its result is checked
    for cycles and size before Ansible copies it, module_utils/module.py)."""
    original = module.HeadroomModule
    module.HeadroomModule = _Recorder
    _Recorder.seen = None
    try:
        module.main()
    except _Stop:
        pass
    finally:
        module.HeadroomModule = original
    assert _Recorder.seen is not None, 'main() did not create a HeadroomModule'
    return _Recorder.seen


def compare(doc_options, spec_options, where, problems):
    doc_options = doc_options or {}
    spec_options = spec_options or {}
    for name in sorted(set(doc_options) - set(spec_options)):
        problems.append('%s%s: documented but not in argument_spec' % (where, name))
    for name in sorted(set(spec_options) - set(doc_options)):
        problems.append('%s%s: in argument_spec but not documented' % (where, name))
    for name in sorted(set(doc_options) & set(spec_options)):
        doc, spec = doc_options[name] or {}, spec_options[name] or {}
        here = '%s%s' % (where, name)
        if not doc.get('description'):
            problems.append('%s: no description' % here)
        checks = (
            ('type', doc.get('type', 'str'), spec.get('type', 'str')),
            ('default', doc.get('default'), spec.get('default')),
            ('required', bool(doc.get('required', False)), bool(spec.get('required', False))),
            ('choices', list(doc.get('choices') or []), list(spec.get('choices') or [])),
            ('elements', doc.get('elements'), spec.get('elements')),
            ('aliases', sorted(doc.get('aliases') or []), sorted(spec.get('aliases') or [])),
        )
        for what, documented, coded in checks:
            # True == 1 in Python: a bool must stay a bool on both sides.
            if documented != coded or isinstance(documented, bool) != isinstance(coded, bool):
                problems.append('%s: %s documented %r, argument_spec %r' % (here, what, documented, coded))
        if doc.get('suboptions') or spec.get('options'):
            compare(doc.get('suboptions'), spec.get('options'), here + '.', problems)


@pytest.mark.parametrize('path', MODULES, ids=[os.path.basename(p) for p in MODULES])
def test_documentation_matches_argument_spec(path):
    module = load(path)
    doc = documentation(module)
    yaml.safe_load(module.EXAMPLES)
    returned = yaml.safe_load(module.RETURN)
    assert doc['module'] == os.path.basename(path)[:-3]
    assert doc.get('short_description') and doc.get('description')
    assert returned is None or isinstance(returned, dict)
    if not hasattr(module, 'main'):
        # the documentation of an action that runs on the controller only (role_args): its options
        # are what the action accepts (_VALID_ARGS, which Ansible enforces)
        action = load(os.path.join(ROOT, 'action_plugins', os.path.basename(path))).ActionModule
        assert sorted(doc.get('options') or {}) == sorted(action._VALID_ARGS)
        kwargs = {'supports_check_mode': action._supports_check_mode}
    else:
        kwargs = recorded_spec(module)
        problems = []
        compare(doc.get('options'), kwargs.get('argument_spec'), '', problems)
        assert problems == []
    # Project rule: every module supports check mode, and says so in its attributes.
    assert kwargs.get('supports_check_mode') is True
    support = ((doc.get('attributes') or {}).get('check_mode') or {}).get('support')
    assert support in ('full', 'partial'), 'attributes.check_mode.support not documented'


def test_every_module_is_covered():
    assert [os.path.basename(p) for p in MODULES]
    assert 'top_facts.py' in [os.path.basename(p) for p in MODULES]


def test_compare_finds_each_kind_of_mismatch():
    doc = {'a': {'description': 'x', 'type': 'int', 'default': 1},
           'b': {'description': 'x', 'type': 'bool', 'default': True},
           'c': {'description': 'x', 'choices': ['x', 'y']},
           'd': {'description': 'x'}}
    spec = {'a': {'type': 'int', 'default': 2}, 'b': {'type': 'bool', 'default': 1},
            'c': {'choices': ['x']}, 'e': {}}
    problems = []
    compare(doc, spec, '', problems)
    assert problems == [
        'd: documented but not in argument_spec',
        'e: in argument_spec but not documented',
        'a: default documented 1, argument_spec 2',
        "b: default documented True, argument_spec 1",
        "c: choices documented ['x', 'y'], argument_spec ['x']",
    ]
