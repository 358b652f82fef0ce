"""Each role's documentation in one place: its README's variable table says what its
meta/argument_specs.yml and defaults/main.yml say.

The argument spec is the source: every option is in the README's table and nothing else is; the
default the table shows is the one the spec and defaults/main.yml give. A table row may name two
variables (``cache_flush_redis_host`` / ``_port``) with their defaults in the same order.
"""
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = os.path.join(ROOT, 'collections', 'ansible_collections', 'headroom', 'memory', 'roles')
NAMES = sorted(name for name in os.listdir(ROLES) if os.path.isdir(os.path.join(ROLES, name)))
_CODE = re.compile(r'^`([^`]*)`$')


def _load(role, *path):
    with open(os.path.join(ROLES, role, *path)) as handle:
        return yaml.safe_load(handle) if path[-1].endswith('.yml') else handle.read()


def readme_table(role):
    """{variable: the default cell's text} from the README's rows that start with a variable."""
    rows = {}
    # the report role takes the playbooks' headroom_* variables
    prefixes = ('`' + role + '_', '`headroom_')
    for line in _load(role, 'README.md').splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if len(cells) < 3 or not cells[0].startswith(prefixes):
            continue
        names = [name.strip().strip('`') for name in cells[0].split(' / ')]
        first = names[0]
        names = [first] + [first.rsplit('_', 1)[0] + name if name.startswith('_') else name for name in names[1:]]
        defaults = [part.strip() for part in cells[1].split(' / ')] if len(names) > 1 else [cells[1]]
        assert len(defaults) == len(names), line
        for name, default in zip(names, defaults):
            assert name not in rows, '%s: %s twice in the table' % (role, name)
            rows[name] = default
    return rows


def _shown(cell):
    """The value a default cell shows, when it shows one value as code (`10`, `""`, `[]`); else None."""
    match = _CODE.match(cell)
    return yaml.safe_load(match.group(1)) if match else None


@pytest.mark.parametrize('role', NAMES)
def test_the_readme_table_names_every_option_of_the_argument_spec(role):
    options = _load(role, 'meta', 'argument_specs.yml')['argument_specs']['main']['options']
    table = readme_table(role)
    assert sorted(set(options) - set(table)) == [], 'in the spec, missing from README.md'
    assert sorted(set(table) - set(options)) == [], 'in README.md, not in the spec'


@pytest.mark.parametrize('role', NAMES)
def test_the_readme_defaults_are_the_roles_defaults(role):
    options = _load(role, 'meta', 'argument_specs.yml')['argument_specs']['main']['options']
    defaults = _load(role, 'defaults', 'main.yml') or {}
    problems = []
    for name, cell in sorted(readme_table(role).items()):
        if name not in defaults:
            if 'default' in options[name] or cell != 'unset':
                problems.append('%s: no default in defaults/main.yml, README shows %s' % (name, cell))
            continue
        if 'default' in options[name] and options[name]['default'] != defaults[name]:
            problems.append('%s: argument spec says %r, defaults/main.yml %r'
                            % (name, options[name]['default'], defaults[name]))
        if _CODE.match(cell) and _shown(cell) != defaults[name] and not isinstance(defaults[name], str):
            problems.append('%s: README shows %s, defaults/main.yml has %r' % (name, cell, defaults[name]))
        elif _CODE.match(cell) and isinstance(defaults[name], str) and str(_shown(cell)) != defaults[name] \
                and not ('{{' in defaults[name]):
            problems.append('%s: README shows %s, defaults/main.yml has %r' % (name, cell, defaults[name]))
    assert problems == []


def test_every_role_is_covered():
    assert NAMES == ['cache_flush', 'oom_guard', 'process_audit', 'report', 'swap_setup', 'unit_policy']
    for role in NAMES:
        assert readme_table(role), role


def _collection_table(kind):
    """The names the collection's README lists as ``headroom.memory.NAME`` in its table of ``kind``."""
    with open(os.path.join(os.path.dirname(ROLES), 'README.md')) as handle:
        text = handle.read()
    section = text.split('## %s\n' % kind, 1)[1].split('\n## ', 1)[0]
    return sorted(re.findall(r'^\| `headroom\.memory\.(\w+)` \|', section, re.M))


def test_the_collection_readme_lists_every_role_and_module():
    modules = os.path.join(os.path.dirname(ROLES), 'plugins', 'modules')
    assert _collection_table('Roles') == NAMES
    assert _collection_table('Modules') == sorted(
        name[:-3] for name in os.listdir(modules) if name.endswith('.py') and not name.startswith('_'))
