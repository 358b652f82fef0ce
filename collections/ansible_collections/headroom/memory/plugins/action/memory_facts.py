# -*- coding: utf-8 -*-
"""memory_facts as an action plugin: the host only reads, the controller judges.

The host runs module_utils/read/collect.py, shipped on the standard input of its Python where
the connection pipelines, else inside the command line (remote.py), and sends back what it read;
the verdict is made here, in the controller's worker, by the module's own code (module_utils/judge/memory_facts.py).
One round trip per host as before, without AnsiballZ: the host compiles the few parsers it needs
instead of ansible.module_utils.basic. Options, facts and failures are the module's
(plugins/modules/memory_facts.py documents them, and runs the same code on a host where this plugin is
not installed)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible import constants as C
from ansible.plugins.action import ActionBase

from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import (
    ARGUMENT_SPEC, diagnose, policy_of, read_options)
from ansible_collections.headroom.memory.plugins.module_utils.read.remote import command

_AUTO = ('', 'auto', 'auto_legacy', 'auto_silent', 'auto_legacy_silent')


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True  # it only reads
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            policy = policy_of(params)
        except ValueError as err:
            return dict(result, failed=True, msg=str(err))

        fallback = C.config.get_config_value('INTERPRETER_PYTHON_FALLBACK', variables=task_vars)
        try:
            cmd, stdin = command(read_options(params, policy), self._interpreter(task_vars), fallback,
                                 stdin=self._connection.is_pipelining_enabled(),
                                 environment=self._compute_environment_string(), cache=C.DEFAULT_LOCAL_TMP)
        except ValueError as err:
            return dict(result, failed=True, msg=str(err))
        done = self._low_level_execute_command(cmd, in_data=stdin.encode('utf-8') if stdin else None)

        try:
            answer = json.loads(done['stdout'])
        except ValueError:
            answer = None
        if done['rc'] != 0 or not isinstance(answer, dict):
            detail = (done['stderr'] or done['stdout']).strip()[-2000:] or 'no output'
            return dict(result, failed=True, rc=done['rc'],
                        msg='reading memory on the host failed (rc=%s): %s' % (done['rc'], detail))
        if answer.get('failed'):
            return dict(result, failed=True, msg=answer['msg'])
        result.update(changed=False, ansible_facts={'headroom': diagnose(answer['collected'], params, policy)})
        return result

    def _interpreter(self, task_vars):
        """The Python a module would run under, as Ansible picks it: the controller's own where the
        connection runs modules on the controller (_remote_is_local), else ansible_python_interpreter
        or interpreter_python, else the one a discovery found earlier. None lets the host pick the
        first of INTERPRETER_PYTHON_FALLBACK, as discovery does."""
        if getattr(self._connection, '_remote_is_local', False) and task_vars.get('ansible_playbook_python'):
            return task_vars['ansible_playbook_python']
        configured = C.config.get_config_value('INTERPRETER_PYTHON', variables=task_vars)
        configured = self._templar.template(configured) if configured else configured
        if configured and configured not in _AUTO:
            return configured
        return (task_vars.get('ansible_facts') or {}).get('discovered_interpreter_python')
