#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: memory_facts
short_description: One pass over a host's memory, and a verdict on it
description:
  - Collects in a single module call everything headroom's diagnosis needs from a host, so a fleet
    costs one round trip per host. C(free -b) and C(top -b -n1 -o %MEM) (both with C(LC_ALL=C)),
    C(/proc/meminfo), swap and reclaim rates from two samples of C(/proc/vmstat), memory pressure
    from C(/proc/pressure/memory) where the kernel has it, the cgroup memory limit when the host is
    itself a container, proportional set sizes from C(/proc/PID/smaps_rollup) for the largest
    processes, and the OOM killer's history from the kernel log.
  - Then judges the host with the thresholds in O(thresholds) and returns a verdict (C(ok),
    C(warning), C(critical)), the reasons for it and recommendations ranked in the order an operator
    would try them, cheapest first (processes, caches, code, swap, refactor, scale).
  - Read-only. A source the host lacks (no PSI, no permission to read the kernel log, no C(top)) is
    reported in C(gaps) and the rest still runs; output that cannot be parsed fails the module with a
    message that quotes the line.
version_added: "0.1.0"
author: headroom contributors (@headroom)
options:
  thresholds:
    description:
      - Overrides of the diagnosis thresholds; unknown keys fail. Keys and defaults
        C(available_warning_pct=20), C(available_critical_pct=10) (MemAvailable as a share of RAM or
        of the cgroup limit), C(swap_used_warning_pct=50), C(swap_used_critical_pct=90),
        C(swap_rate_warning_bytes=1048576), C(swap_rate_critical_bytes=16777216) (swap-in plus
        swap-out per second), C(direct_scan_warning_pages=1000) (direct reclaim, pages per second),
        C(psi_some_warning=10), C(psi_full_critical=20) (PSI avg10, percent),
        C(oom_kills_warning=1), C(runaway_pct=40), C(slab_unreclaimable_warning_pct=10),
        C(unknown_min_bytes=52428800), C(growth_warning_bytes=52428800) (RSS growth across top samples).
    type: dict
    default: {}
  allow:
    description:
      - Shell-style patterns (C(fnmatch)) of command names expected on the host. When set, a command
        that matches none of them and holds at least C(unknown_min_bytes) is reported as unknown.
    type: list
    elements: str
    default: []
  deny:
    description:
      - Shell-style patterns of command names that should not run on the host (a miner, a forgotten
        load test). Matching processes are reported and recommended for stopping; nothing is killed.
    type: list
    elements: str
    default: []
  top_limit:
    description:
      - How many processes (in C(top)'s order, biggest memory first) and command groups to return.
        The full list of a busy host is large to ship back; the groups are built from all processes.
    type: int
    default: 20
  pss_limit:
    description:
      - How many of the biggest processes get their PSS read from C(smaps_rollup). Reading it walks
        the process's page tables, so it is limited on hosts that are already short of memory.
    type: int
    default: 200
  top_samples:
    description:
      - How many times C(top) samples the processes, O(sample_seconds) apart in all. With two or more,
        processes whose RSS grows by C(growth_warning_bytes) or more are reported (a leak, or requests
        that need far more memory than others; the refactor step).
      - Each extra sample costs one C(top) pass on the host; the default of 1 keeps the diagnosis light.
    type: int
    default: 1
  instance_type:
    description:
      - The host's EC2 instance type (for example C(t3.large)). When the host lacks memory even after
        the cheaper fixes, the scale recommendation names the next size of its family that has enough.
    type: str
  sample_seconds:
    description:
      - Time between the two C(/proc/vmstat) samples that give swap and reclaim rates. The collection
        itself runs inside this window.
    type: float
    default: 1.0
  oom_history:
    description:
      - Read the OOM killer's history from C(journalctl -k), C(dmesg) or the kernel log file.
    type: bool
    default: true
  oom_since:
    description:
      - How far back the journal is read for the OOM history, as a C(journalctl --since) time
        (C(-30d), C(2026-11-01), C(yesterday)). Empty reads every boot the journal holds. A bound keeps
        the read short on a host with a large persistent journal. dmesg and the syslog tail are not
        bounded by it.
    type: str
  oom_events_limit:
    description: How many of the most recent OOM kills to return.
    type: int
    default: 20
attributes:
  check_mode:
    description: Supported; the module reads only.
    support: full
  diff_mode:
    description: Nothing on the host changes, so there is nothing to show.
    support: none
notes:
  - C(free) and C(top) inside a container show the host's memory; the verdict uses the cgroup limit
    when it is tighter than RAM.
  - Reading other users' C(smaps_rollup) and the kernel log needs root (C(become)); without it PSS
    falls back to RSS and the OOM history to the C(oom_kill) counter, both noted in C(gaps).
'''

EXAMPLES = r'''
- name: Diagnose this host
  memory_facts:

- name: Diagnose with a fleet's own policy
  memory_facts:
    thresholds:
      available_warning_pct: 25
    allow: [gunicorn, redis-server, nginx, sshd, systemd*]
    deny: [xmrig, stress*]
  become: true

- name: Say what is wrong
  ansible.builtin.debug:
    msg: "{{ ansible_facts.headroom.audit.summary }}"
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    headroom:
      description: The host's memory facts and the diagnosis. Sizes are in bytes.
      returned: always
      type: dict
      contains:
        memory:
          description:
            - C(total available used free shared buff_cache swap_total swap_used swap_free) from
              C(free -b) (from C(/proc/meminfo) when C(free) is missing), and C(available_meminfo),
              the kernel's own MemAvailable read in the same pass, as a cross-check.
          type: dict
        free:
          description: C(free -b) as parsed by the free_facts module.
          type: dict
        top:
          description: C(summary) and the first O(top_limit) C(processes) of C(top), as top_facts returns them.
          type: dict
        meminfo:
          description: C(/proc/meminfo), every key, sizes in bytes (C(HugePages_*) are counts).
          type: dict
        vmstat:
          description: C(oom_kill pswpin pswpout pgmajfault pgscan_direct) counters since boot.
          type: dict
        rates:
          description: Per second over the sample window, C(swap_bytes) (in plus out), C(pswpin),
            C(pswpout), C(pgscan_direct), C(pgmajfault), and C(seconds), the window.
          type: dict
        pressure:
          description: PSI from C(/proc/pressure/memory) (C(some), C(full) with C(avg10 avg60 avg300 total)),
            in a container its cgroup's C(memory.pressure) where the kernel has it (cgroup v2), or C(null)
            when the kernel has none (see C(gaps)).
          type: dict
        cgroup:
          description: The memory cgroup this host's processes run in (C(version limit current peak
            swap_limit swap_current events pressure)); C(limit) is C(null) when not limited.
          type: dict
        overcommit_memory:
          description: C(vm.overcommit_memory) (0 heuristic, 1 always, 2 strict).
          type: int
        container:
          description: Whether the host is a container (Docker, podman, systemd-nspawn, LXC).
          type: bool
        oom:
          description: C(kills) (the kernel's C(oom_kill) counter since boot, or the events found when the
            kernel has no counter; in a container the cgroup's own count, since the kernel's is the
            machine's), C(machine_wide) (true in a container, whose kernel log shows every container's
            kills), C(sources) (the logs read), and the last O(oom_events_limit) C(events)
            (C(time pid comm uid total_vm anon_rss file_rss shmem_rss constraint memcg task_memcg invoked_by)).
          type: dict
        growth:
          description: With O(top_samples) of 2 or more, processes whose RSS grew between the first and the
            last sample (C(pid command from to grew seconds)), biggest growth first.
          type: list
          elements: dict
        groups:
          description: Processes aggregated per command name, biggest first (C(command count memory measure
            rss pss pids users status)); C(memory) is the PSS sum where every member's PSS was read,
            else the RSS sum (C(measure) says which); C(status) is C(denied), C(allowed), C(unknown) or C(null).
          type: list
          elements: dict
        audit:
          description: The verdict (C(ok warning critical)), C(reasons), ranked C(recommendations)
            (C(rank step title detail role bytes)), C(effective_total), C(available), C(available_pct),
            C(limited_by_cgroup), C(swap_total) and C(swap_used) (the swap the workload may use; a cgroup
            swap limit caps the machine's), a one-line C(summary) and C(lines), the whole verdict as text
            for a person.
          type: dict
        gaps:
          description: Sources that could not be read on this host, each with the reason.
          type: list
          elements: str
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.headroom.audit import audit, classify, group_processes, growth, merge_policy
from ansible.module_utils.headroom.errors import ParseError
from ansible.module_utils.headroom.free import parse_free
from ansible.module_utils.headroom.kernel import (in_container, parse_meminfo, parse_vmstat,
                                                  read_cgroup_memory, read_pressure, read_smaps_rollup)
from ansible.module_utils.headroom.oom import collect_oom_history
from ansible.module_utils.headroom.top import TOP_ENV, parse_top, run_top

C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C'}
_VMSTAT_KEYS = ('oom_kill', 'pswpin', 'pswpout', 'pgmajfault', 'pgscan_direct')


class Collector(object):
    """Runs the commands and reads the files; every parse goes through module_utils."""

    def __init__(self, module):
        self.module = module
        self.gaps = []

    def read(self, path):
        try:
            with open(path) as handle:
                return handle.read()
        except (IOError, OSError) as err:
            self.gaps.append('%s: %s' % (path, err.strerror or err))
            return None

    def run(self, name, argv):
        """stdout of argv, or None (noted in gaps) when the tool is missing or fails."""
        path = self.module.get_bin_path(argv[0])
        if path is None:
            self.gaps.append('%s: not installed' % argv[0])
            return None
        rc, out, err = self.module.run_command([path] + argv[1:], environ_update=C_LOCALE)
        if rc != 0:
            self.gaps.append('%s: rc=%d %s' % (name, rc, (err or out).strip()[:200]))
            return None
        return out

    def vmstat(self):
        text = self.read('/proc/vmstat')
        return (parse_vmstat(text), time.time()) if text is not None else (None, time.time())

    def memory(self, meminfo):
        """free -b's figures, from meminfo the way free computes them when free is missing."""
        out = self.run('free -b', ['free', '-b'])
        if out is not None:
            free = parse_free(out, '-b')
            mem, swap = free['mem'], free['swap']
            return free, {'total': mem['total'], 'available': mem['available'], 'used': mem['used'],
                          'free': mem['free'], 'shared': mem['shared'], 'buff_cache': mem['buff_cache'],
                          'swap_total': swap['total'], 'swap_used': swap['used'], 'swap_free': swap['free']}
        if not meminfo or 'MemAvailable' not in meminfo:
            self.module.fail_json(msg='neither free nor /proc/meminfo (with MemAvailable) could be read: %s'
                                  % '; '.join(self.gaps))
        cache = meminfo.get('Buffers', 0) + meminfo.get('Cached', 0) + meminfo.get('SReclaimable', 0)
        return None, {'total': meminfo['MemTotal'], 'available': meminfo['MemAvailable'],
                      'used': meminfo['MemTotal'] - meminfo['MemAvailable'], 'free': meminfo['MemFree'],
                      'shared': meminfo.get('Shmem'), 'buff_cache': cache,
                      'swap_total': meminfo.get('SwapTotal', 0),
                      'swap_used': meminfo.get('SwapTotal', 0) - meminfo.get('SwapFree', 0),
                      'swap_free': meminfo.get('SwapFree', 0)}

    def top(self, samples, seconds):
        path = self.module.get_bin_path('top')
        if path is None:
            self.gaps.append('top: not installed: processes not read')
            return None
        delay = max(0.1, seconds / (samples - 1)) if samples > 1 else None
        try:
            out, busybox = run_top(lambda argv: self.module.run_command([path] + argv[1:], environ_update=TOP_ENV),
                                   samples, delay)
        except OSError as err:
            self.gaps.append('top: %s' % err)
            return None
        top = parse_top(out)
        if busybox:  # busybox top cannot sort by memory: its biggest first by VSZ
            for sample in top['samples']:
                sample['processes'].sort(key=lambda p: p.get('virt') or 0, reverse=True)
        return top

    def pss(self, processes, limit):
        sizes = {}
        for proc in processes[:limit]:
            rollup = read_smaps_rollup(proc['pid'])
            if rollup is not None:
                sizes[proc['pid']] = rollup['pss']
        if processes and not sizes:
            self.gaps.append('smaps_rollup: not readable (needs root, or kernel < 4.14): groups measured by RSS')
        return sizes

    def oom_events(self, since=None):
        """(sources, events): the journal when it has kernel lines, else dmesg merged with syslog."""
        def run(argv):
            path = self.module.get_bin_path(argv[0])
            if path is None:
                raise OSError('%s: not installed' % argv[0])
            return self.module.run_command([path] + argv[1:], environ_update=C_LOCALE,
                                           handle_exceptions=False)
        history = collect_oom_history(run, since=since)
        if not history['sources']:
            self.gaps.append('OOM history: no kernel log could be read (%s)' % '; '.join(
                '%s: %s' % (t['argv'][0], t['error'] or 'rc=%s' % t['rc']) for t in history['tried']))
        return history['sources'], history['events']


def rates(before, after, start, end, page_size):
    if before is None or after is None or end <= start:
        return None
    seconds = end - start
    per = dict((key, (after.get(key, 0) - before.get(key, 0)) / seconds) for key in _VMSTAT_KEYS[1:])
    per['swap_bytes'] = (per['pswpin'] + per['pswpout']) * page_size
    per['seconds'] = round(seconds, 3)
    return per


def main():
    module = AnsibleModule(
        argument_spec=dict(
            thresholds=dict(type='dict', default={}),
            allow=dict(type='list', elements='str', default=[]),
            deny=dict(type='list', elements='str', default=[]),
            top_limit=dict(type='int', default=20),
            pss_limit=dict(type='int', default=200),
            sample_seconds=dict(type='float', default=1.0),
            top_samples=dict(type='int', default=1),
            instance_type=dict(type='str'),
            oom_history=dict(type='bool', default=True),
            oom_since=dict(type='str'),
            oom_events_limit=dict(type='int', default=20),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        user_policy = dict(params['thresholds'], allow=params['allow'], deny=params['deny'])
        policy = merge_policy(user_policy)
    except ValueError as err:
        module.fail_json(msg='thresholds: %s' % err)

    if params['top_samples'] < 1:
        module.fail_json(msg='top_samples must be 1 or more, got %d' % params['top_samples'])

    collect = Collector(module)
    try:
        vm_before, start = collect.vmstat()
        meminfo_text = collect.read('/proc/meminfo')
        meminfo = parse_meminfo(meminfo_text) if meminfo_text is not None else None
        free, memory = collect.memory(meminfo)
        if meminfo:
            memory['available_meminfo'] = meminfo.get('MemAvailable')
        top = collect.top(params['top_samples'], params['sample_seconds'])
        processes = top['processes'] if top else []
        pss = collect.pss(processes, params['pss_limit'])
        pressure = read_pressure()
        if 'unavailable' in pressure:
            collect.gaps.append('/proc/pressure/memory: %s' % pressure['unavailable'])
            pressure = None
        cgroup = read_cgroup_memory()
        overcommit = collect.read('/proc/sys/vm/overcommit_memory')
        sources, events = collect.oom_events(params['oom_since'] or None) if params['oom_history'] else ([], [])
        remaining = params['sample_seconds'] - (time.time() - start)
        if remaining > 0:
            time.sleep(remaining)
        vm_after, end = collect.vmstat()
    except ParseError as err:
        module.fail_json(msg='cannot read this host\'s memory figures: %s' % err, gaps=collect.gaps)

    vmstat = dict((key, vm_after.get(key)) for key in _VMSTAT_KEYS) if vm_after else None
    container = in_container()
    if container and cgroup and cgroup.get('pressure'):
        pressure = cgroup['pressure']  # /proc/pressure is the machine's; the cgroup's is the container's
    if container:
        # /proc/vmstat and the kernel log are the whole machine's: count the cgroup's own kills
        cg_events = (cgroup or {}).get('events') or {}
        oom_kills = cg_events.get('oom_kill') or 0
        if cg_events.get('oom_kill') is None:
            collect.gaps.append('OOM kills: in a container the kernel counter is the machine\'s and the '
                                'cgroup has no oom_kill count; kills not counted')
        own_events = []
    else:
        oom_kills = vmstat['oom_kill'] if vmstat and vmstat.get('oom_kill') is not None else len(events)
        own_events = events
    groups = classify(group_processes(processes, pss), policy)
    facts = {
        'memory': memory,
        'free': free,
        'top': {'summary': top['summary'], 'processes': processes[:params['top_limit']]} if top else None,
        'meminfo': meminfo,
        'vmstat': vmstat,
        'rates': rates(vm_before, vm_after, start, end, os.sysconf('SC_PAGE_SIZE')),
        'pressure': pressure,
        'cgroup': cgroup,
        'overcommit_memory': int(overcommit) if overcommit and overcommit.strip().isdigit() else None,
        'container': container,
        'oom': {'kills': oom_kills, 'sources': sources, 'machine_wide': container,
                'events': events[-params['oom_events_limit']:] if params['oom_events_limit'] else []},
        'groups': groups[:params['top_limit']],
        'growth': growth(top.get('samples') if top else None, params['sample_seconds'])[:params['top_limit']],
        'gaps': collect.gaps,
    }
    facts['audit'] = audit({'memory': memory, 'meminfo': meminfo, 'cgroup': cgroup, 'rates': facts['rates'],
                            'pressure': pressure, 'oom_kills': oom_kills, 'oom_events': own_events,
                            'overcommit_memory': facts['overcommit_memory'], 'groups': groups,
                            'instance_type': params['instance_type'], 'growth': facts['growth']}, policy)
    module.exit_json(changed=False, ansible_facts={'headroom': facts})


if __name__ == '__main__':
    main()
