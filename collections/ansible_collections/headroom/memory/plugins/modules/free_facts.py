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
  - Reads procps 3.2, procps-ng 3.3.x (including the legacy C(-/+ buffers/cache) layout) and 4.x,
    busybox, every unit flag (C(-b -k -m -g --kilo --mega --giga --tera --peta --kibi ... --pebi --si -h)),
    C(-w -t -l -v -L), repeated blocks (C(-s)/C(-c)), and every header and row label procps's own
    translations print, also where a label runs into its number (C(Speicher:25276182528)).
  - Fails with a message that quotes the offending line on anything it cannot read; it never
    guesses a number or a unit.
  - Bounded whatever it is given, O(output) of at most 1 MiB (1048576 characters), at most 10 blocks
    kept in the result, which is plain data.
version_added: "0.1.0"
author: headroom contributors (@headroom)
options:
  output:
    description:
      - Text printed by C(free) to parse instead of running C(free) on the host.
      - At most 1 MiB (1048576 characters); longer text fails (C(free -s) without C(-c) runs until stopped, so
        give its last blocks). A byte-order mark at the start and CRLF line ends are fine.
    type: str
  flags:
    description:
      - The options C(free) ran with to produce O(output), as typed, for example C(-h), C(-m -w) or C(-bs1 -c2).
      - Read as each release's C(free) reads them (getopt_long), with clusters (C(-bw)), arguments glued or apart
        (C(-c2), C(-c 2), C(--count=2), C(--count 2)), unique abbreviations of long options (C(--by)), C(--);
        busybox C(free) looks at the second letter of its first argument only. Flags that release refuses
        (C(-bm), several units, or C(--me), ambiguous) fail, naming the option.
      - Without flags a bare number counts KiB, C(free)'s default.
      - A one-letter suffix (C(1.9G)) is ambiguous without flags (1024-based in procps before 3.3.13,
        1000-based under C(--si)), so such output needs O(flags).
      - Ignored when O(output) is not given (the module runs C(free -b)).
    type: str
    default: ''
  version:
    description:
      - What C(free -V) printed on the system that produced O(output) (or just the number, C(3.3.17)), or
        C(BusyBox v1.35.0) for busybox C(free).
      - Needed only where releases print the same flags in different units, and such output fails without it
        rather than being guessed; C(--si) (KiB in 3.3.x, kB in 4.x), C(--kilo) (KiB before 3.3.11),
        C(--mega) (1024000 bytes in 3.3.11 and 3.3.12), C(-h --si), and busybox's C(-bh) (bytes) or
        C(-k --si) (KiB).
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

- name: Parse what free -bs1 -c2 printed on a German Debian 12 host (two blocks; the newest is the result)
  free_facts:
    output: "{{ lookup('ansible.builtin.file', 'ticket-4711-free.txt') }}"
    flags: -bs1 -c2
    version: free from procps-ng 4.0.2
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
          description:
            - The C(Comm:) row of C(free -v) (procps-ng 4.0+) - C(total) is CommitLimit, C(used) Committed_AS,
              C(free) CommitLimit minus Committed_AS.
            - C(free) is the one figure of the result that may be negative, and C(used) may exceed C(total), as
              Committed_AS above CommitLimit is normal with C(vm.overcommit_memory=0). procps-ng 4.0.0 to 4.0.5
              print it negative (C(-6817910784), C(-6Gi)); 4.0.6 and later as an unsigned number wrapped around
              2**64 (C(18446744066891640832)), read back here to the same negative figure.
            - V(null) where C(free -h) of 4.0.6+ printed the wrapped figure (C(16383Pi)), which keeps too few digits.
          returned: when printed
          type: dict
        blocks:
          description: How many blocks C(free) printed (C(-s), C(-c)).
          returned: when there was more than one block
          type: int
        samples:
          description:
            - The newest blocks, oldest first, at most 10 of them, when C(free) printed several (C(-s), C(-c));
              the other keys are the newest block's. C(blocks) says how many there were.
          returned: when there was more than one block
          type: list
          elements: dict
'''

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.free import MAX_TEXT, parse_free

C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C'}
ECHOED = 512  # characters of output echoed back in the result's invocation


def main():
    module = HeadroomModule(
        argument_spec=dict(
            output=dict(type='str'),
            flags=dict(type='str', default=''),
            version=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    output, flags = module.params['output'], module.params['flags']
    if output is not None and len(output) > MAX_TEXT:
        module.fail_json(msg='output is %d characters long; free_facts reads at most %d (free -s without -c '
                             'runs until stopped: give its last blocks)' % (len(output), MAX_TEXT))
    if output is None:
        free = module.get_bin_path('free')
        if free is None:
            module.fail_json(msg='free is not installed on this host (package procps or busybox)')
        rc, output, err = module.run_command([free, '-b'], environ_update=C_LOCALE)
        if rc != 0:
            module.fail_json(msg='free -b failed (rc=%d): %s' % (rc, err.strip()), rc=rc)
        flags = '-b'
    # Ansible echoes the arguments back as `invocation`: not 1 MiB of pasted output, its size and start
    params = dict(module.params)
    if params['output'] is not None and len(params['output']) > ECHOED:
        params['output'] = '%s... (%d characters)' % (params['output'][:ECHOED], len(params['output']))
    try:
        facts = parse_free(output, flags, module.params['version'])
    except ParseError as err:
        module.fail_json(msg='cannot read free output: %s' % err, invocation={'module_args': params})
    module.exit_json(changed=False, ansible_facts={'free': facts}, invocation={'module_args': params})


if __name__ == '__main__':
    main()
