#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: top_facts
short_description: Summary and process list from C(top -b), memory in exact units of bytes
description:
  - Runs C(top -b -n1 -o %MEM -w 512) with C(LC_ALL=C) on the host and returns its summary and its
    processes, largest memory users first, as C(ansible_facts.top).
  - Or parses text given in O(output), captured earlier or pasted from a ticket.
  - Reads procps 3.2, procps(-ng) 3.3.x and 4.x (C(KiB/MiB/GiB/TiB/PiB/EiB Mem) headers, the older
    C(KiB Mem:) layout of 3.3.9, the C(sleep, d-sleep) Tasks line of 4.0.5 and later, suffixed memory
    columns from C(-e)/C(-E), any extra column in any order, several iterations, a pasted byte-order mark
    or CRLF) and busybox C(top) (and its C(-m) memory view).
  - busybox C(top) has neither C(-o) nor C(-w) (nor C(-c), it always shows the command line), so the
    module recognises it from C(top -V) and runs C(top -b -n N [-d S]), then orders the processes by
    VSZ (busybox prints no RES), largest first, before O(limit) applies.
  - When an old procps rejects C(-o)/C(-w) the module runs C(top -b -n N) without them; the list is
    then in top's own order (by CPU).
  - The user's C(toprc) is ignored (C(HOME) and C(XDG_CONFIG_HOME) point nowhere while top runs), so a
    personal layout cannot change what is parsed.
  - Fails with a message that quotes the offending line when the process table cannot be read; it
    never guesses a number (values that top cut with a trailing C(+) become V(null), so do figures top
    printed without their value, named in C(lost)).
  - A summary line it does not know (a future release, a translation, a graph drawn by a toprc) does
    not cost the processes; it is named in C(summary.unread) and in a warning, and its figures are
    V(null).
  - Under C(LC_ALL=C) top prints each byte of a name that is not ASCII as C(?). When the module ran
    top itself, such a name is taken back from the kernel (C(/proc/PID/comm)), bytes that are not
    UTF-8 shown as C(\\xNN).
version_added: "0.1.0"
author: headroom contributors (@headroom)
options:
  iterations:
    description:
      - How many samples top takes (C(-n)). With more than one, RV(ansible_facts.top.samples) lets a
        later task see a process grow; top waits O(delay) between samples.
    type: int
    default: 1
  delay:
    description:
      - Seconds between samples (C(-d)); top's own default (3 s for procps) when not given.
      - busybox C(top) only sleeps whole seconds, so for busybox the module runs C(top -b -n 1) once
        per sample and waits O(delay) itself between them (busybox's own 5 s when not given).
    type: float
  output:
    description:
      - Text printed by C(top -b) to parse instead of running top on the host. O(iterations),
        O(delay) and O(full_command) are then ignored; O(limit) still applies.
    type: str
  limit:
    description:
      - Keep only the first N processes of each sample (top's order, largest memory first when the
        module ran top). V(0) keeps them all.
      - The default keeps the answer small. A host with 5,000 processes gives about 2 MB of JSON for
        the full list, which Ansible holds in memory several times over on the controller for each
        host and each sample, and ships back over the connection; the processes that explain a memory
        shortage are at the head of a list sorted by memory.
    type: int
    default: 50
  full_command:
    description:
      - Show full command lines (C(-c)) rather than program names. Command lines can hold secrets
        (passwords given as arguments), which then end up in the facts and the logs.
    type: bool
    default: false
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
  - Reads only; changes nothing on the host.
  - The parser is C(plugins/module_utils/read/top.py); its docstring lists every convention.
'''

EXAMPLES = r'''
- name: Read the 50 largest memory users
  top_facts:

- name: Take three samples 5 seconds apart, full command lines, every process
  top_facts:
    iterations: 3
    delay: 5
    full_command: true
    limit: 0

- name: Parse top output pasted from a ticket
  top_facts:
    output: "{{ lookup('ansible.builtin.file', 'ticket-4711-top.txt') }}"

- name: Show the largest process
  ansible.builtin.debug:
    msg: "{{ ansible_facts.top.processes[0].command }} uses {{ ansible_facts.top.processes[0].res }} bytes"
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    top:
      description: What top printed, memory values in bytes (V(null) where the output lacks them).
      returned: always
      type: complex
      contains:
        format:
          description: C(procps-ng>=3.3.10), C(procps<=3.3.9), C(procps<=3.2) or C(busybox).
          type: str
          sample: procps-ng>=3.3.10
        summary:
          description:
            - The summary of the last sample. C(time) (as printed), C(uptime) (seconds, at minute
              precision; the text top printed when its form is unknown), C(users),
              C(tasks) (C(total running sleeping d_sleep stopped zombie); C(sleeping) counts every
              sleeping task, C(d_sleep) those in D state, printed apart by procps-ng 4.0.5 and later
              only, V(null) before), C(load_average) (1, 5, 15 min),
              C(cpu) (C(us sy ni id wa hi si st) in percent), C(mem) (C(total free used buff_cache
              available)), C(swap) (C(total free used)).
            - C(mem.used) always excludes buffers and cache (procps-ng 3.3.10 meaning); for procps 3.3.9
              and older and for busybox, whose C(used) includes them, the printed figures are kept in
              C(raw_mem) (bytes), V(null) otherwise.
            - C(truncated) lists the values top cut with C(+) (C(mem.total)); they are V(null).
            - C(lost) lists the figures top printed without their value, which are V(null); a zero at a
              unit that hides a MiB or more is one (C(top -E p) prints C(0.0 total) for 24 GiB).
            - C(unread) names the summary lines that could not be read (line number, why, the line),
              at most 8; their figures are V(null).
          type: dict
          sample: {time: '11:24:50', uptime: 120, users: 2,
                   tasks: {total: 112, running: 1, sleeping: 111, stopped: 0, zombie: 0},
                   load_average: [0.23, 0.22, 0.09],
                   cpu: {us: 5.9, sy: 5.9, ni: 0.0, id: 88.2, wa: 0.0, hi: 0.0, si: 0.0, st: 0.0},
                   mem: {total: 3954003968, free: 3529191424, used: 222146560, buff_cache: 202665984,
                         available: 3501420544},
                   swap: {total: 2147479552, free: 2147479552, used: 0}, raw_mem: null, truncated: [],
                   lost: [], unread: []}
        processes:
          description:
            - The processes of the last sample, in the order top printed them (largest memory first when
              the module ran procps top; by VSZ for busybox), at most O(limit).
            - Each has C(pid user priority nice virt res shr state cpu_percent mem_percent time command);
              C(priority) is the string C(rt) for real-time tasks; C(virt res shr) are bytes.
            - C(extra) holds every other column top printed (PSS, SWAP, USED, DATA, CODE, nTH ...) under
              top's header name; memory ones in bytes, counters as integers (C(13k) is 13000).
            - C(truncated) names the fields top cut with C(+); numbers among them are V(null), text
              keeps what top printed.
            - C(lost) names the fields top printed without their value (C(?), a blank of a toprc's zero
              suppression, C(0.0g)); they are V(null).
            - C(command_printed) is there when C(command) was taken from the kernel, and holds what top printed.
          type: list
          elements: dict
          sample: [{pid: 1224, user: root, priority: 20, nice: 0, virt: 589410304, res: 26845184,
                    shr: 13266944, state: S, cpu_percent: 0.0, mem_percent: 0.7, time: '0:00.41',
                    command: dockerd-current, extra: {}, truncated: [], lost: []}]
        samples:
          description: Every sample, oldest first, each a dict with C(summary) and C(processes).
          type: list
          elements: dict
        process_count:
          description: How many processes the last sample listed before O(limit) applied.
          type: int
          sample: 112
'''


from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.top import (
    TOP_ENV, parse_top, read_comm, restore_commands, run_top)


def run(module, iterations, delay, full_command):
    """top's output and whether it is busybox's; the module fails when top is missing or refuses."""
    top = module.get_bin_path('top')
    if top is None:
        module.fail_json(msg='top is not installed on this host (package procps, or busybox)')
    try:
        return run_top(lambda argv: module.run_command([top] + argv[1:], environ_update=TOP_ENV),
                       iterations, delay, full_command)
    except OSError as err:
        module.fail_json(msg=str(err))


def main():
    module = HeadroomModule(
        argument_spec=dict(
            iterations=dict(type='int', default=1),
            delay=dict(type='float'),
            output=dict(type='str'),
            limit=dict(type='int', default=50),
            full_command=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['iterations'] < 1:
        module.fail_json(msg='iterations must be at least 1, got %d' % params['iterations'])
    if params['delay'] is not None and params['delay'] <= 0:
        module.fail_json(msg='delay must be a positive number of seconds, got %s' % params['delay'])
    if params['limit'] < 0:
        module.fail_json(msg='limit must be 0 (no limit) or more, got %d' % params['limit'])
    output, busybox = params['output'], False
    if output is None:
        output, busybox = run(module, params['iterations'], params['delay'], params['full_command'])
    try:
        facts = parse_top(output)
    except ParseError as err:
        module.fail_json(msg='cannot read top output: %s' % err)
    for line in facts['summary']['unread']:
        module.warn('top summary line not read: %s' % line)
    facts['process_count'] = len(facts['processes'])
    limit = params['limit']
    for sample in facts['samples']:
        if busybox:
            sample['processes'].sort(key=lambda p: p['virt'] or 0, reverse=True)
        if limit:
            del sample['processes'][limit:]
        # top ran here: the kernel still has the names it could not print; a paste's host is not this one
        restore_commands(sample['processes'], read=read_comm if params['output'] is None else None)
    facts['processes'] = facts['samples'][-1]['processes']
    module.exit_json(changed=False, ansible_facts={'top': facts})


if __name__ == '__main__':
    main()
