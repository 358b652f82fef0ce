#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: free_facts
short_description: Memory and swap figures from C(free), as exact bytes
description:
  - Runs C(free -b) with C(LC_ALL=C) on the host and returns its figures in bytes as
    C(ansible_facts.free).
  - Or parses text given in O(output), captured earlier or pasted from a ticket, with
    O(flags) saying which C(free) options produced it.
  - Reads procps 3.3.x (including the legacy C(-/+ buffers/cache) layout), procps-ng 4.x,
    busybox, every unit flag (C(-b -k -m -g --kilo --mega --giga --tera --si -h)), C(-w -t -l -v),
    repeated blocks (C(-s)/C(-c)), and localized headers shipped in procps's own translations.
  - Fails with a message that quotes the offending line on anything it cannot read; it never
    guesses a number.
version_added: "0.1.0"
author: headroom contributors (@headroom)
options:
  output:
    description:
      - Text printed by C(free) to parse instead of running C(free) on the host.
    type: str
  flags:
    description:
      - The options C(free) ran with to produce O(output), for example C(-h) or C(-m -w).
      - Without flags a bare number counts KiB, C(free)'s default.
      - A one-letter suffix (C(1.9G)) is ambiguous without flags (1024-based in procps before 3.3.13,
        1000-based under C(--si)), so such output needs O(flags).
      - Ignored when O(output) is not given (the module runs C(free -b)).
    type: str
    default: ''
  version:
    description:
      - What C(free -V) printed on the system that produced O(output) (or just the number, C(3.3.17)).
      - Needed only for output made with C(--si), which procps-ng 3.3.x and 4.x print differently
        (3.3.x keeps binary values under it); without it such output fails rather than being guessed.
    type: str
extends_documentation_fragment:
  - headroom.memory.attributes
attributes:
  check_mode:
    details: Runs in check mode and returns the same facts; it never changes anything.
    support: full
  diff_mode:
    details: Nothing changes, so there is nothing to show.
    support: none
notes:
  - Inside a container C(free) shows the host's memory, not the container's limit; the
    C(memory_facts) module reads the cgroup limit too.
seealso:
  - name: procps-ng free(1)
    description: The manual of C(free).
    link: https://man7.org/linux/man-pages/man1/free.1.html
'''

EXAMPLES = r'''
- name: Read this host's memory in bytes
  free_facts:

- name: Show what is really left
  ansible.builtin.debug:
    msg: "{{ (ansible_facts.free.mem.available / 1048576) | int }} MiB available"

- name: Parse output pasted from a ticket (free -h on procps 3.3.12)
  free_facts:
    output: |2
                    total        used        free      shared  buff/cache   available
      Mem:           7.7G        5.9G        318M        210M        1.5G        1.3G
      Swap:          2.0G        1.1G        923M
    flags: -h
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    free:
      description: The figures of C(free), in bytes; V(null) where the output lacks a figure.
      returned: always
      type: dict
      contains:
        format:
          description:
            - C(standard) (buff/cache and available), C(wide) (C(-w)), C(legacy) (procps 3.3.9 and
              older, busybox before 1.30), or C(line) (C(free -L)).
          type: str
          sample: standard
        mem:
          description:
            - C(total used free shared buffers cache buff_cache available).
            - C(buff_cache) is the sum of C(buffers) and C(cache) where they are printed apart.
            - C(used) is as printed; before procps 3.3.10 it includes buffers and cache.
            - V(null) also where procps 3.3.x C(-h) printed a small value as C(0.0Ki), a display bug.
          type: dict
          sample: {total: 8201379840, used: 2147483648, free: 318767104, shared: 220200960,
                   buffers: null, cache: null, buff_cache: 1610612736, available: 5737418240}
        swap:
          description: C(total used free).
          type: dict
          sample: {total: 2147483648, used: 1181116006, free: 966367641}
        low:
          description: The C(Low:) row of C(free -l).
          returned: when printed
          type: dict
        high:
          description: The C(High:) row of C(free -l).
          returned: when printed
          type: dict
        total:
          description: The C(Total:) row of C(free -t) (RAM plus swap).
          returned: when printed
          type: dict
        comm:
          description: The C(Comm:) row of C(free -v) (commit limit, committed, the rest).
          returned: when printed
          type: dict
        samples:
          description: Every block, oldest first, when C(free) printed several (C(-s), C(-c)).
          returned: when there was more than one block
          type: list
          elements: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.free import parse_free

C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C'}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            output=dict(type='str'),
            flags=dict(type='str', default=''),
            version=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    output, flags = module.params['output'], module.params['flags']
    if output is None:
        free = module.get_bin_path('free')
        if free is None:
            module.fail_json(msg='free is not installed on this host (package procps or busybox)')
        rc, output, err = module.run_command([free, '-b'], environ_update=C_LOCALE)
        if rc != 0:
            module.fail_json(msg='free -b failed (rc=%d): %s' % (rc, err.strip()), rc=rc)
        flags = '-b'
    try:
        facts = parse_free(output, flags, module.params['version'])
    except ParseError as err:
        module.fail_json(msg='cannot read free output: %s' % err)
    module.exit_json(changed=False, ansible_facts={'free': facts})


if __name__ == '__main__':
    main()
