# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: history
short_description: A host's previous run from headroom's history
description:
  - Reads, on the controller, the newest run of each host named in the terms from the SQLite history that
    C(headroom.memory.fleet_report) keeps (its O(headroom.memory.fleet_report#module:history) option).
  - C(diagnose.yml) hands it to C(memory_facts) as O(headroom.memory.memory_facts#module:previous_run), so that
    kills since the last run, not only those of the last hours, drive the verdict.
  - A history file that does not exist yet gives an empty dict for every host; reading never creates it. One that
    cannot be read (not a SQLite file, another program's, a newer headroom's) gives empty dicts too, with a
    warning that names it, and the diagnosis then judges the window alone.
version_added: "0.5.0"
author: headroom contributors (@headroom)
options:
  _terms:
    description: Host names, as the report names them (C(inventory_hostname)).
    type: list
    elements: str
    required: true
  path:
    description: The history file, relative to the directory the run starts from.
    type: path
    default: reports/headroom.sqlite
'''

EXAMPLES = r'''
- name: Diagnose, judging the kills since this host's last run
  headroom.memory.memory_facts:
    previous_run: "{{ lookup('headroom.memory.history', inventory_hostname, path='reports/headroom.sqlite') }}"
'''

RETURN = r'''
_raw:
  description:
    - For each host, its newest run (C(epoch at verdict usable total swap_used swap_total kills counted last_kill
      top identity)), or an empty dict when the history has none. C(at) is when that run read the host, C(epoch)
      when its report was written; C(identity) what identified the machine and its boot then (null in a record
      written before headroom kept it), so that C(memory_facts) compares the kill counter only within one boot
      of one machine.
    - C(peaks) (per command, C(memory measure pid at)) - the biggest single process of each command in the host's newest
      30 runs of the machine the newest run read, for the worker budgets at their peak.
  type: list
  elements: dict
'''

from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.headroom.memory.plugins.module_utils.report.history import HistoryError, previous_run


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        path = self.get_option('path')
        try:
            return [previous_run(path, str(host)) for host in terms]
        except (HistoryError, IOError, OSError) as err:
            Display().warning('headroom history not read, the OOM window alone judges: %s' % err)
            return [{} for _host in terms]
