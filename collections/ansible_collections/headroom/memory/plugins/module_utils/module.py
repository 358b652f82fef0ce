"""The AnsibleModule every headroom module is: its result is checked (module_utils/result.py) before
Ansible copies and sends it, so that no result can cost the host more than its bound."""

from ansible.module_utils.basic import AnsibleModule

from .result import result_problem


class HeadroomModule(AnsibleModule):
    """AnsibleModule whose exit_json and fail_json refuse a result with a cycle or over its bound:
    the task fails saying so (a defect of headroom's), instead of a host copying it without end."""

    def exit_json(self, **kwargs):
        self._refuse(kwargs)
        super(HeadroomModule, self).exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        self._refuse(dict(kwargs, msg=msg))
        super(HeadroomModule, self).fail_json(msg, **kwargs)

    def _refuse(self, result):
        problem = result_problem(result)
        if problem is not None:
            super(HeadroomModule, self).fail_json(
                msg='headroom: %s\'s result is not sent: %s; this is a defect of headroom, please report it'
                    % (self._name, problem))
