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
    itself a container (on a whole host, a limit only where one binds every process holding memory),
    proportional set sizes from C(/proc/PID/smaps_rollup) for the largest processes, and the OOM killer's
    history from the kernel log.
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
        1 to 100000.
    type: int
    default: 20
  pss_limit:
    description:
      - How many of the biggest processes get their PSS read from C(smaps_rollup). Reading it walks
        the process's page tables, so it is limited on hosts that are already short of memory.
        0 to 100000.
    type: int
    default: 200
  top_samples:
    description:
      - How many times C(top) samples the processes, O(sample_seconds) apart in all. With two or more,
        processes whose RSS grows by C(growth_warning_bytes) or more are reported (a leak, or requests
        that need far more memory than others; the refactor step).
      - Each extra sample costs one C(top) pass on the host; the default of 1 keeps the diagnosis light.
        1 to 100.
    type: int
    default: 1
  instance_type:
    description:
      - The host's EC2 instance type (for example C(t3.large)). When the host lacks memory even after
        the cheaper fixes, the scale recommendation names the next size of its family that has enough.
    type: str
  instance_sizes:
    description:
      - The memory in MiB of the sizes of O(instance_type)'s family as AWS answers today, by type (what the
        C(headroom.memory.ec2_sizes) lookup returns). Preferred to the table headroom ships (generated from the moto
        package's copy of AWS's instance-type data) when it names the host's own type.
    type: dict
    default: {}
  sample_seconds:
    description:
      - Time between the two C(/proc/vmstat) samples that give swap and reclaim rates. The collection
        itself runs inside this window. 0 to 600 seconds.
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
    description: How many of the most recent OOM kills to return, 0 to 100000.
    type: int
    default: 20
  watch_seconds:
    description:
      - Watch the host this many seconds (0 to 3600) after reading it, sampling every O(watch_interval), and
        keep its worst moment in C(watch) - the lowest available memory (in a memory cgroup, capped by the limit
        less its usage) with the biggest commands then, and the peak swap and direct-reclaim rates. The
        lowest is judged by the available thresholds. 0, the default, does not watch.
      - The host's task takes that much longer; each sample reads two small /proc files, and /proc/PID/stat of
        every process only when a new lowest is seen.
    type: float
    default: 0.0
  watch_interval:
    description: Seconds between two samples of the watch, 0.1 to 60.
    type: float
    default: 1.0
  previous_run:
    description:
      - This host's previous run from headroom's history (the C(headroom.memory.history) lookup gives it;
        C(diagnose.yml) passes it). Its C(at) (when it read the host; else C(epoch)), C(counted) and C(identity)
        are read. With it, only the kills since that run (and within the C(oom_window_hours) threshold) are
        judged, so a host that was fixed is ok at the next run; the older ones are reported with their time.
        Empty, the window alone decides.
      - Its kill counter is compared with this run's only when both runs read the same boot of the same machine
        (see RV(ansible_facts.headroom.identity)). After a reboot (or a container's restart) its time still bounds
        the kills judged but every kill the counter has is new; from another machine under the same name, or when
        which machine it read cannot be told (a record from before headroom recorded identities), nothing of it
        is used and the kills are judged as at a first run. The verdict's reasons say which, and why.
      - Its C(peaks) (the biggest process of each command over the host's runs) count for the worker budgets at
        their peak, and its C(redis) (what its Redis held and saved) for what a killed Redis lost.
    type: dict
    default: {}
  redis:
    description:
      - What C(headroom.memory.redis_memory_facts) read of this host's Redis in this run (C(diagnose.yml) passes it
        with C(headroom_redis=true)). A Redis the OOM killer killed since the last run is judged with it - whether
        the Redis answering now started after the kill, its keys now and at the last run, its last save before the
        kill (from O(previous_run)'s C(redis)). Empty, the verdict says only that a killed Redis lost what it took
        since its last save.
    type: dict
    default: {}
extends_documentation_fragment:
  - headroom.memory.attributes
attributes:
  check_mode:
    details: Supported; the module reads only.
    support: full
  diff_mode:
    details: Nothing on the host changes, so there is nothing to show.
    support: none
notes:
  - C(free) and C(top) inside a container show the host's memory; the verdict uses the cgroup limit
    when it is tighter than RAM.
  - Reading other users' C(smaps_rollup) and the kernel log needs root (C(become)); without it PSS
    falls back to RSS and the OOM history to the C(oom_kill) counter, both noted in C(gaps).
  - headroom also ships an action plugin of this name (C(action_plugins/memory_facts.py)), used where
    headroom's C(ansible.cfg) or the C(playbooks/) directory is in effect. The host then runs only the
    reading, as a small Python program sent on its interpreter's stdin where the connection pipelines
    (else in the command line), without AnsiballZ, and the verdict is made on the controller by the
    same code; options, facts and failures are the same. It costs a host
    under a third of this module's CPU time. It runs under C(ansible_python_interpreter) (or
    C(interpreter_python)) when one is set, else under the first Python of
    C(INTERPRETER_PYTHON_FALLBACK) the host has, as Ansible's discovery picks one; it does not
    support C(async).
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
          description:
            - The memory cgroup the figures are of (C(version path scope workload dir limit limit_cgroup high
              current peak reclaimable swap_limit swap_current events pressure kills)); C(limit) is C(null) when
              not limited. C(path) is the reading's own cgroup.
            - In a container, the container's (C(scope) is its root), with C(kills) counted in every cgroup below it.
            - On a whole host, the machine's, not the SSH session's the reading runs in - the root (C(scope) C(/),
              no C(limit); on cgroup v2 the root has no C(current), C(peak) or C(events), and the machine's kills
              are C(/proc/vmstat)'s), unless a limit binds every process holding memory (C(workload), the
              cgroup they all lie in), then the cgroup of the smallest such limit, with its own figures. A user
              slice's C(MemoryMax=) binds the session, not the server's units, and is not the host's.
          type: dict
        overcommit_memory:
          description: C(vm.overcommit_memory) (0 heuristic, 1 always, 2 strict).
          type: int
        container:
          description: Whether the host is a container (Docker, podman, systemd-nspawn, LXC).
          type: bool
        identity:
          description:
            - What identifies this machine and its boot, for the history - C(machine) (a keyed SHA-256 hash of
              C(/etc/machine-id), else of D-Bus's C(/var/lib/dbus/machine-id); the id itself never leaves the host,
              as machine-id(5) asks; null when neither holds one, and C(machine_from) says which file it came from
              or why none did), C(boot_id) (C(/proc/sys/kernel/random/boot_id), new at every boot), C(btime) (the
              boot's time), C(container), and in a container C(container_id) (Docker's or podman's), C(scope) (its
              cgroup, null for a cgroup namespace's C(/)) and C(init_ticks) (when its PID 1 started, in clock
              ticks since boot; a restart changes it).
            - C(previous) - how the previous run (O(previous_run)) relates, null without one - C(machine)
              (C(same other unknown)), C(boot) (C(same new unknown)), C(counters) (whether the kill counters
              were compared, which only the same boot of the same machine allows) and C(why) (the evidence, or what was missing).
          type: dict
        oom:
          description:
            - The OOM kills of this host's scope. On a host, the kernel's C(oom_kill) counter since boot
              and its log. In a container both are the machine's, so the kills counted are the
              container's cgroup's, in every cgroup below its root (cgroup v1 counts a kill only in the
              victim's own cgroup, such as C(system.slice/gunicorn.service)), and the log lines whose
              cgroup lies in the container.
            - C(kills) (all known, the larger of the counter and the log; null when neither could be
              read), C(recent) (in the last C(oom_window_hours) threshold, 24 by default; a kill with no
              time counts as recent), C(undated), C(window_hours), C(last) (epoch of the last kill),
              C(counted) and C(counted_by) (the counter and where it was read), C(logged) (kills in the
              log), C(victims) (commands, and units whose cgroup counted kills), C(by_cgroup)
              (C(cgroup oom_kill) below a container's root), C(scope) (the container's cgroup as the
              kernel names it), C(sources) (the logs read), C(complete) and C(incomplete) (why kills may
              be missing, such as a wrapped ring buffer, a log read only in part, no readable log or
              removed v1 cgroups), and the last O(oom_events_limit) C(events) (C(killer time epoch pid comm uid total_vm
              anon_rss file_rss shmem_rss constraint memcg task_memcg invoked_by unit unit_result cut trusted); an early
              OOM killer's also C(signal rss trigger processes)).
            - The early OOM killers' kills (earlyoom, systemd-oomd, nohang), read from their own lines - in the journal
              those under the daemon's unit with its command name - are kills too, counted in C(kills) and C(recent);
              C(by_killer) counts them apart (C(kernel earlyoom systemd-oomd nohang)), since the kernel's counter
              never does. C(judged_from) is the epoch from which kills are judged.
            - C(unit_stops) - units systemd stopped after an OOM kill (cgroup v2, C(OOMPolicy=stop), the default),
              from the log, C(systemctl show) and systemd's journal lines about each (the newest 5) - C(unit at killer
              victim main_killed restart_scheduled_at restarts restarted_at down_seconds still_down state
              memory_events); C(state) holds C(ActiveState SubState Result NRestarts OOMPolicy Restart) now.
            - Only the kernel's own lines make a kill (and systemd's, PID 1, its unit lines), as the source
              says who wrote them - the journal by its transport and facility, the ring buffer by the
              facility. C(unconfirmed) holds what a source that cannot tell who wrote a line (a syslog
              file, where any user can write the ident C(kernel)) claims and the kernel's own record does
              not hold - C(count), the last O(oom_events_limit) C(events) and C(sources) (C(source note)
              each). They are never counted, never a victim, never a reason for a fix.
          type: dict
        postmortem:
          description:
            - What held memory at each kill of C(oom.events), worst first (a system-wide OOM before a
              cgroup's, then the most memory in use), from the kernel's own report of the kill (its
              task dump and C(Mem-Info) or memory cgroup block, every kernel form read by its header).
            - Each is C(time epoch scope cgroup) (C(scope) C(global cgroup cpuset mempolicy); C(cgroup) whose
              limit was hit), C(victim) (C(pid command rss cgroup)), C(tasks) (per command, biggest first,
              at most 10 - C(command count rss swap anon pids), C(anon) where the kernel prints
              C(rss_anon)), C(other) (C(commands count rss swap) of the rest), C(task_count), C(rss),
              C(swap), and C(memory) (C(anon file shmem slab free usage limit swap), those the kernel
              printed, shmem counted once, apart; a system-wide report's C(swap_total swap_free swap_cache), the
              machine's swap at the kill).
            - The dump's fields are null when the log kept only the kill's own lines. From the journal,
              only the newest 5 kills are read again for their dumps (one C(journalctl) each, over the
              seconds around the kill); from dmesg and the syslog files every kill has its own.
          type: list
          elements: dict
        app_servers:
          description:
            - The app servers found (gunicorn, uWSGI, Celery, php-fpm, Puma, Unicorn; a JVM or Node process), one per
              master - C(kind master_pid workers private_per_worker shared preloaded preload_saves workers_that_fit
              peak workers_that_fit_at_peak settings measured). A worker's C(private) (smaps_rollup's Private_Clean + Private_Dirty) is what one
              more worker costs, C(shared) what it shares with the master and the others.
            - C(workers_that_fit) - how many workers of that private size the host (or its cgroup) holds once
              everything else in use stays and the C(available_warning_pct) threshold is kept free.
              C(preload_saves) - for a server that did not preload its app, about what preloading would share
              (a worker's private memory less the master's, once per worker but one).
            - C(peak) - the biggest a worker of the server was seen to cost, when more than at rest (else null) -
              C(bytes) (what one worker costs at that peak), C(measured) and C(measure) (C(rss), less the pages the
              workers share, or C(pss)), C(source) (C(watch) the watch window's biggest worker, C(kill) a process of
              the command the kernel killed, C(dump) the kernel's task dump of a kill, on average over the command's
              processes, C(history) the command's biggest process over the host's runs of O(previous_run)), C(at),
              C(pid), C(count); C(workers_that_fit_at_peak) how many fit at that size. The code step's budget is
              the peak's when there is one, and says what it is based on.
            - C(settings) - what the server was told, read from its command line and the config files it names
              (C(workers preload_app max_requests max_requests_jitter config), uWSGI C(workers max_requests), Celery
              C(workers max_tasks_per_child), php-fpm C(workers max_requests) from its pool files, a JVM's
              C(max_heap), Node's C(max_old_space)); numbers only, never a command line or a file's text.
          type: list
          elements: dict
        guard:
          description:
            - Whether an early OOM killer guards the host - C(running) (C(kind pid settings) of each earlyoom or
              systemd-oomd running; earlyoom's C(mem_percent swap_percent mem_kib swap_kib prefer avoid ignore) from
              its command line, systemd-oomd's C(SwapUsedLimit DefaultMemoryPressureLimit
              DefaultMemoryPressureDurationSec) from oomd.conf and its drop-ins) and C(mglru) (C(enabled min_ttl_ms)
              of /sys/kernel/mm/lru_gen, null on a kernel without MGLRU). The C(guard) step, for a host that stalls,
              says what runs and what to change.
          type: dict
        watch:
          description:
            - With O(watch_seconds), the worst moment of the watch - C(seconds interval samples), C(lowest)
              (C(at available commands), C(commands) the biggest by RSS then - C(command count rss)),
              C(peak_swap) (C(at bytes_per_second)), C(peak_reclaim) (C(at pages_per_second)) and C(workers) (per
              app server, the biggest RSS one of its workers reached - C(master_pid pid rss at)). Null without it.
          type: dict
        data_stores:
          description:
            - The data stores killed since the last run (or in the OOM window) - Redis, Valkey, KeyDB, memcached,
              PostgreSQL, MySQL, MariaDB, MongoDB by their process name, or by their unit in systemd's line about its
              main process killed by SIGKILL - one per command, newest first, C(command kind kills last pid unit by)
              (C(kind) C(redis memcached database); C(by) C(kernel), the OOM killer's log, or C(sigkill), only
              systemd's line). Each is a critical reason of its own, with what it lost where that can be known.
          type: list
          elements: dict
        app_deaths:
          description:
            - App-server workers killed by SIGKILL, the OOM killer's signal, as the servers themselves logged
              it (gunicorn, uWSGI, Celery, php-fpm; systemd for a unit's main process), from the journal
              (every unit, as far back as O(oom_since), else the C(oom_window_hours) threshold, since the
              search reads every unit's lines) and the tails of their log files (C(/var/log/gunicorn), C(/var/log/uwsgi),
              C(/var/log/uwsgi/app), C(/var/log/celery), C(/var/log/php*-fpm.log), C(/var/log/php-fpm)).
            - C(services) (per unit, or per log file - C(server service lost oom_killed recent first last),
              C(recent) in the last C(oom_window_hours), C(oom_killed) those joined to a kernel kill),
              C(deaths) (the last O(oom_events_limit) - C(server pid worker epoch dated unit source message
              kernel_pid); C(pid) as the server numbers it, C(kernel_pid) the kernel kill it was, joined by
              pid, or in a container by the unit or the server's command and the time), C(sources).
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
            (C(rank step title detail role bytes)), C(effective_total), C(usable) and C(usable_pct) (what the
            workload can still have, MemAvailable capped by the cgroup's limit when that is tighter, where
            C(memory.available) is the machine's), C(limited_by_cgroup), C(swap_total) and C(swap_used) (the swap the workload may use; a cgroup
            swap limit caps the machine's), a one-line C(summary) and C(lines), the whole verdict as text
            for a person.
          type: dict
        gaps:
          description: Sources that could not be read on this host, each with the reason.
          type: list
          elements: str
'''

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.read.collect import (
    Bounded, CollectError, OutOfTime, collect, run)
from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import (
    ARGUMENT_SPEC, diagnose, policy_of, read_options)
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError


def main():
    module = HeadroomModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        policy = policy_of(params)
    except ValueError as err:
        module.fail_json(msg=str(err))

    options = read_options(params, policy)
    # The reading's own runner, not run_command: it bounds each command's time, output and memory,
    # which a host short of memory needs and run_command does not do.
    try:
        with Bounded(options) as bounds:
            try:
                collected = collect(options, run, module.get_bin_path)
            except (MemoryError, OutOfTime) as err:
                module.fail_json(msg=bounds.failure(err))
    except (ParseError, CollectError) as err:
        module.fail_json(msg='cannot read this host\'s memory figures: %s' % err)
    module.exit_json(changed=False, ansible_facts={'headroom': diagnose(collected, params, policy)})


if __name__ == '__main__':
    main()
