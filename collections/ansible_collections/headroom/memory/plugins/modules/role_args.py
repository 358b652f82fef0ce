#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the role_args action (plugins/action/role_args.py): it runs on the controller only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: role_args
short_description: Check a role's variables against its argument spec and hand them to it converted
description:
  - Ansible checks a role's variables against its C(meta/argument_specs.yml) when the role starts, but the
    role's tasks then see the values as they came; with C(-e swap_setup_priority=10) that is the string
    C('10').
  - This action checks the variables of the role it runs in against that spec and returns the converted
    values under the role's internal name, C(__<role>), with the role's prefix taken off each variable
    (C(__swap_setup.priority) is the number 10). Extra vars outrank facts, so the values cannot be written
    back under their own names.
  - It fails naming every bad variable before anything else of the role runs.
  - An empty value (C(-e name=), an unanswered AWX survey question) of an optional text variable without a
    default counts as unset. An empty path is refused by name; joined to a file name it would point below C(/).
  - With O(spec), it checks those options from a play, before the play's roles run, by the same rules, and
    hands nothing over.
  - When an option of the spec is C(no_log) (a password), the whole result is hidden from every output.
version_added: 0.4.0
author: headroom contributors (@headroom)
options:
  entry_point:
    description: The entry point of C(meta/argument_specs.yml) whose options are checked.
    type: str
    default: main
  spec:
    description:
      - Options to check instead of the role's, as in C(meta/argument_specs.yml) (name, C(type), C(choices),
        C(default)). Works outside a role, and returns nothing but the check.
    type: dict
extends_documentation_fragment:
  - headroom.memory.attributes
attributes:
  check_mode:
    support: full
    details: It only reads the role's variables.
  diff_mode:
    support: none
    details: It changes nothing, so there is nothing to show.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: all
    details: It runs on the controller, inside the role's task.
notes:
  - Without O(spec) it runs only inside a role (a task of C(roles/NAME/tasks/)); elsewhere it fails.
'''

EXAMPLES = r'''
# roles/swap_setup/tasks/main.yml: the first task of the role
- name: Check and convert the role's variables
  headroom.memory.role_args:

# later tasks read the converted values
- name: Show the priority, a number even when it came from -e
  ansible.builtin.debug:
    msg: "{{ __swap_setup.priority + 1 }}"

- name: Check the report role's variables from a play, before any host is read
  headroom.memory.role_args:
    spec: "{{ (lookup('ansible.builtin.file', 'roles/report/meta/argument_specs.yml') | from_yaml).argument_specs.main.options }}"
  run_once: true
'''

RETURN = r'''
ansible_facts:
  description: The role's variables, converted, under C(__<role>) with the role's prefix taken off.
  returned: success
  type: dict
  sample: {"__swap_setup": {"priority": 10, "size": "auto", "state": "present"}}
'''
