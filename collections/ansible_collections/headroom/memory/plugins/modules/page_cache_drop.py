#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: sync and drop the kernel's clean caches, only when memory is short."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: page_cache_drop
short_description: Drop clean kernel caches (sync, then vm.drop_caches) only when available memory is short
description:
  - Decides from the available-memory percentage, given by the caller (from the host's
    diagnosis) or read from C(/proc/meminfo) (C(MemAvailable) / C(MemTotal)).
  - Below I(threshold_percent) it runs C(sync), writes I(level) to C(/proc/sys/vm/drop_caches)
    and reports the caches and free memory before and after. At or above it, changes
    nothing and says why.
  - Dropping caches frees nothing a process holds; it helps only a host whose memory is
    held by cache that the kernel is slow to reclaim, and costs re-reads afterwards.
version_added: "0.1.0"
options:
  threshold_percent:
    description: Drop only when available memory is below this percentage of RAM.
    type: float
    default: 10
  available_percent:
    description:
      - Available memory in percent of RAM as the caller's diagnosis measured it. Omitted,
        the module reads C(/proc/meminfo).
    type: float
  level:
    description: C(vm.drop_caches) value, 1 page cache, 2 dentries and inodes, 3 both.
    type: int
    default: 1
    choices: [1, 2, 3]
  sync:
    description: Run C(sync) first, so that dirty pages become clean and droppable.
    type: bool
    default: true
  machine_wide:
    description:
      - The caches are the kernel's, shared by every container on the machine. Inside a container (one that does
        not stand for the machine) they are left alone, and said so in RV(left_alone), unless this is true.
    type: bool
    default: false
    version_added: "0.6.0"
notes:
  - Supports check mode (decides and reports, drops nothing), with the same refusal as a real run.
  - A drop that C(/proc/sys/vm/drop_caches) cannot take (read-only C(/proc/sys), as in a container without
    remount) is refused before anything is done, in check mode too.
author: headroom contributors (@headroom)
extends_documentation_fragment:
  - headroom.memory.attributes
attributes:
  check_mode:
    details: Supported; decides and reports, drops nothing.
    support: full
  diff_mode:
    details: No file changes.
    support: none
'''

EXAMPLES = r'''
- name: Drop clean caches if MemAvailable is under 10%
  page_cache_drop:
    threshold_percent: 10
    available_percent: "{{ ansible_facts.headroom.mem_available_percent | default(omit) }}"
'''

RETURN = r'''
dropped:
  description: Whether caches were dropped (in check mode, whether they would be).
  returned: always
  type: bool
reason:
  description: Why the module dropped or left the caches alone.
  returned: always
  type: str
available_percent:
  description: The available-memory percentage the decision used.
  returned: always
  type: float
source:
  description: Where it came from, C(caller) or C(/proc/meminfo).
  returned: always
  type: str
left_alone:
  description: Why caches that memory being short called for were not dropped (a container without O(machine_wide)).
  returned: always
  type: list
  elements: str
regained:
  description:
    - cache_bytes_before, cache_bytes_after, cache_bytes_dropped (the caches I(level) targets),
      mem_free_gained, mem_available_before, mem_available_after, in bytes. Null when
      nothing was dropped.
  returned: always
  type: dict
'''

import os

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.kernel import MEMINFO_NEEDS, parse_meminfo
from ansible_collections.headroom.memory.plugins.module_utils.fix.pagecache import (
    LEVELS, available_percent, decide, on_a_shared_kernel, regained)
from ansible_collections.headroom.memory.plugins.module_utils.fix.swapfile import container_scope

MEMINFO = '/proc/meminfo'
DROP_CACHES = '/proc/sys/vm/drop_caches'


def _meminfo(module):
    try:
        with open(MEMINFO) as handle:
            return parse_meminfo(handle.read(), need=MEMINFO_NEEDS)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read %s: %s' % (MEMINFO, exc))
    except ParseError as exc:
        module.fail_json(msg='%s: %s' % (MEMINFO, exc))


def main():
    module = HeadroomModule(
        argument_spec=dict(
            threshold_percent=dict(type='float', default=10.0),
            available_percent=dict(type='float'),
            level=dict(type='int', default=1, choices=[1, 2, 3]),
            sync=dict(type='bool', default=True),
            machine_wide=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    before = _meminfo(module)
    if p['available_percent'] is None:
        available, source = available_percent(before), MEMINFO
    else:
        available, source = p['available_percent'], 'caller'
    try:
        drop, reason = decide(available, p['threshold_percent'])
    except ParseError as exc:
        module.fail_json(msg='threshold_percent: %s' % exc)
    drop, reason, left_alone = on_a_shared_kernel(drop, reason, container_scope()[0] if drop else False,
                                                  p['machine_wide'])
    if drop and not os.access(DROP_CACHES, os.W_OK):
        # refused before sync, and in check mode too: the validation of a plan must meet it
        module.fail_json(msg='cannot write %s (a container needs CAP_SYS_ADMIN and a writable /proc/sys); '
                             'caches not dropped' % DROP_CACHES)
    result = dict(changed=drop, dropped=drop, reason=reason, available_percent=available, source=source,
                  level=p['level'], regained=None, left_alone=left_alone)
    if not drop or module.check_mode:
        if drop:
            result['reason'] += ' (check mode: %s not dropped)' % LEVELS[p['level']]
        module.exit_json(**result)

    if p['sync']:
        rc, out, err = module.run_command(['sync'], environ_update=dict(LC_ALL='C'))
        if rc != 0:
            module.fail_json(msg='sync failed (rc %d): %s; caches not dropped' % (rc, (err or out).strip()))
    try:
        with open(DROP_CACHES, 'w') as handle:
            handle.write('%d\n' % p['level'])
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot write %s: %s (a container needs CAP_SYS_ADMIN and a writable /proc/sys); '
                             'caches not dropped' % (DROP_CACHES, exc))
    result['regained'] = regained(before, _meminfo(module), p['level'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
