# -*- coding: utf-8 -*-
"""role_args: a role's variables checked against its meta/argument_specs.yml AND converted.

Ansible checks a role's variables against its argument spec when the role starts, but hands the
role the values as they came: ``-e swap_setup_priority=10`` passes the check as an int and then
reaches the role's tasks as the string '10', where ``'10' == -1`` is false and ``0 <= '10'`` fails
inside Jinja. Nor can the converted value be written back under the same name: extra vars
outrank every fact. So this action returns the converted values under the role's internal name,
``__<role>`` (``__swap_setup.priority``), and the role's tasks read only those.

    - name: Check and convert the role's variables
      role_args:

Options: none; the role is the one the task belongs to (its ``meta/argument_specs.yml``, entry
point ``main``, or ``entry_point``). Returns ``ansible_facts: {'__<role>': {name: value}}`` with
the role's prefix taken off each name, and fails naming every bad variable before anything runs.
When an option is ``no_log`` in the spec (a password), the result is hidden from every output.

An empty answer (``-e name=``, an unanswered AWX survey question) to an optional text option without
a default is unset; an empty path is refused by name (joined to a file name it points below ``/``).
With ``spec`` (options as in an argument spec) it checks a play's variables by the same rules, before
its roles run, and hands nothing over.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.yaml import yaml_load
from ansible.plugins.action import ActionBase


def blank_as_unset(spec, values):
    """``(values, errors)``: an empty answer (``-e name=``, an unanswered AWX survey question) to an
    optional text option without a default is no answer (None); an empty path is refused by name: it
    would be the directory the run started from, or below ``/`` once a file name is joined to it."""
    values = dict(values)
    errors = []
    for name, option in sorted(spec.items()):
        value = values.get(name)
        if not isinstance(value, str) or value.strip():
            continue
        if option.get('type') == 'path':
            errors.append('%s is empty: give a path, or leave it unset for its default' % name)
        elif option.get('type', 'str') == 'str' and 'default' not in option and not option.get('required'):
            values[name] = None
    return values, errors


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('entry_point', 'spec'))
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        role = self._task._role
        spec = self._task.args.get('spec')
        if spec is None and role is None:
            raise AnsibleError('role_args runs inside a role (it reads that role\'s meta/argument_specs.yml), '
                               'or checks the options given as spec')
        if spec is not None and not (isinstance(spec, dict) and all(isinstance(o, dict) for o in spec.values())):
            raise AnsibleError('role_args: spec must be a dict of options (name: {type, default, choices, ...}), '
                               'got %r' % (spec,))
        if spec is None:
            entry = self._task.args.get('entry_point', 'main')
            with open(os.path.join(role._role_path, 'meta', 'argument_specs.yml')) as handle:
                spec = yaml_load(handle)['argument_specs'][entry]['options']
        values = self._templar.template(dict((name, task_vars[name]) for name in spec if name in task_vars))
        values, empty = blank_as_unset(spec, values)
        validated = ArgumentSpecValidator(spec).validate(values)
        if empty or validated.error_messages:
            where = 'role %s' % role.get_name() if 'spec' not in self._task.args else 'variables'
            result.update(failed=True, msg='%s: %s' % (where, '; '.join(empty + validated.error_messages)))
            return result
        if 'spec' in self._task.args:
            result.update(changed=False)  # a play's check before its roles run: nothing to hand over
            return result
        prefix = role.get_name().split('.')[-1] + '_'
        converted = dict((name[len(prefix):] if name.startswith(prefix) else name, value)
                         for name, value in validated.validated_parameters.items())
        result.update(changed=False, ansible_facts={'__' + prefix[:-1]: converted})
        if any(option.get('no_log') for option in spec.values()):
            # the converted values include a secret (a password option): this result is never shown
            result['_ansible_no_log'] = True
        return result
