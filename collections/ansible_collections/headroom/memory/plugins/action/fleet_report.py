# -*- coding: utf-8 -*-
"""fleet_report as an action plugin: the report is built and written inside the controller's worker
process. As a module it would cost a Python start, AnsiballZ and the transfer of every host's facts
for one local call; the options, the result and the files written are the module's
(plugins/modules/fleet_report.py documents them; module_utils/report/files.py does the work)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.headroom.memory.plugins.module_utils.report.files import (
    ARGUMENT_SPEC, ReportError, write_reports)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        # Fails the task with every bad option named; 'path' options come back with ~ and $VARS expanded.
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            result.update(write_reports(params, self._task.check_mode))
        except (ReportError, IOError, OSError) as err:
            result.update(failed=True, msg='cannot write the fleet report: %s' % err)
        return result
