#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: fleet_report
short_description: Write headroom's fleet report (JSON) from every host's diagnosis
description:
  - Builds one record per host from the C(ansible_facts.headroom) that the C(memory_facts) module returned, a fleet
    summary (counts per verdict, hosts worst first, recommended steps), and writes it as JSON to O(path)
    atomically. A host without a diagnosis (unreachable, or its collection failed) is recorded as
    C(failed).
  - Reports of several runs (AWX job slices) are merged with O(merge) into the report of the whole fleet.
  - Meant to run once, on the controller (a play on C(localhost), or C(delegate_to=localhost) with
    C(run_once=true)).
  - An action plugin of the same name (C(plugins/action/fleet_report.py)) does the same work inside the
    controller's worker process, without starting a module, so the report of a big fleet is written
    sooner. This module file is what runs where that plugin is not installed.
version_added: "0.1.0"
author: headroom contributors (@headroom)
options:
  path:
    description: Where to write the JSON report. Its directory is created when missing.
    type: path
    required: true
  hosts:
    description: The hosts of the play, in play order (C(ansible_play_hosts_all)).
    type: list
    elements: str
    default: []
  facts:
    description:
      - For each host of O(hosts), at the same position, its C(ansible_facts) (their C(headroom) key is
        read, a host without it has no diagnosis; C(headroom_redis), what the cache_flush role read of
        Redis, is kept beside it), or directly its C(ansible_facts.headroom), or V(null).
    type: list
    elements: raw
    default: []
  error_hosts:
    description:
      - Hosts whose diagnosis failed, with the reason at the same position in O(errors). A host of
        O(hosts) with no facts and not named here was unreachable.
    type: list
    elements: str
    default: []
  errors:
    description: Why each host of O(error_hosts) has no diagnosis (the failed task's message).
    type: list
    elements: str
    default: []
  gap_hosts:
    description:
      - Hosts where an optional reading failed (the Redis report of C(headroom_redis=true)), with
        what failed at the same position in O(gaps). The host keeps its memory diagnosis; the
        failure is added to its C(gaps), "what could not be read".
    type: list
    elements: str
    default: []
  gaps:
    description: What could not be read on each host of O(gap_hosts).
    type: list
    elements: str
    default: []
  before:
    description:
      - For each host of O(hosts), at the same position, its C(ansible_facts.headroom) from before
        remediation, or V(null); each record then carries C(before) and C(change).
    type: list
    elements: raw
  remediation:
    description:
      - For each host of O(hosts), at the same position, what remediate.yml recorded of its fixes, or V(null).
        That is C(dry_run), C(fixes) (the roles its diagnosis called for, cheapest first) and C(steps), one per
        fix and phase (C(plan) is the role's check, C(apply) the role), each C(role phase status why result) with
        C(status) V(ok), V(refused), V(failed) or V(stopped).
      - Each record then carries C(remediation) (C(status why dry_run fixes steps), per fix C(role status why
        changed done left_alone)) and the fleet C(remediation) (C(counts) per status, C(failed), C(stopped),
        C(lines)). A host's status is V(nothing to fix), V(unchanged), V(planned), V(applied), V(stopped),
        V(refused) or V(failed).
    type: list
    elements: raw
    version_added: "0.6.0"
  html:
    description:
      - Also write the report as one self-contained HTML page here (inline CSS, no script, nothing
        fetched), with per host a memory bar, top processes, OOM kills, reasons and ranked
        recommendations, and before/after when remediation ran. Its directory is created when missing.
    type: path
  link:
    description:
      - Where people open the page (an S3 address, a web server's URL), named by the Markdown summary; default
        O(html).
    type: str
  markdown:
    description:
      - Also write a short Markdown summary here, fit for a ticket or a chat message (worst hosts
        first, at most ten). It names O(html) when both are set.
    type: path
  history:
    description:
      - Keep the diagnosis over time in this SQLite file (created with its directory when missing), and
        give each host's record in the report what the runs together say - C(history) (C(path), C(runs),
        the host's newest 30 runs, oldest first, with their 4 biggest commands - C(epoch at verdict usable
        total swap_used swap_total kills counted last_kill top identity), C(at) when the host was read, C(top) its
        biggest commands with C(memory count pid started), C(identity) the machine and boot it read),
        C(trend) (C(runs span_seconds since slope_bytes_per_day r2 exhaustion_seconds reason machine) - when
        available memory reaches zero at the current rate, fitted over the runs of the machine the newest run
        read (over its reboots; C(machine) says why older runs were left out - another machine under the
        name, one that cannot be told, or its memory changed); C(slope_bytes_per_day) is null when the runs
        are fewer than 3 distinct moments (runs within 5 minutes are one) or span less than an hour, and
        C(exhaustion_seconds) is null with the C(reason) then, or when memory is not falling steadily beyond 1%
        of it; the C(reason) names the runs and the span a figure comes from) and C(leaks) (commands whose
        biggest process, the same pid and start time, grew run after run - C(command pid started runs from
        to grew since span_seconds r2 slope_bytes_per_day reason); C(slope_bytes_per_day) is null, with the
        C(reason), when they grew over too little history for a rate); and the fleet C(trend) (per run
        C(epoch hosts usable total)).
      - This run is recorded in one transaction (a run killed mid-write leaves the file as it was; two
        runs at once wait for each other), except in check mode. Hosts that failed are not recorded.
      - Unset, nothing is kept and the records have no C(history), C(trend) or C(leaks).
    type: path
  history_days:
    description: Runs older than this many days are deleted from O(history) by the run that writes.
    type: int
    default: 90
  history_runs:
    description: At most this many runs of a host are kept in O(history), the newest.
    type: int
    default: 1000
  fail_on:
    description:
      - Say in RV(fail_reason) that the run must fail when a host's verdict is at least this bad (a
        failed host is worse than V(critical)). The task itself does not fail, so the report is
        written and can be shown, mailed and published first.
    type: str
    choices: [never, warning, critical]
    default: never
  merge:
    description:
      - Paths of earlier reports (other job slices) to merge with this run's hosts; a host in several keeps
        its newest record. A missing file fails the task.
    type: list
    elements: path
    default: []
  slices:
    description:
      - AWX job slices' artifacts (what RV(slice) returned in each slice, published as C(headroom_slice_<id>)), to
        merge into the report of the whole fleet on a workflow's last node. A slice whose report file
        (its C(report)) can be read here contributes its whole records; otherwise its hosts' verdicts,
        summaries, memory and recommended steps from the artifact. A host in several keeps its newest.
    type: list
    elements: raw
    default: []
extends_documentation_fragment:
  - headroom.memory.attributes
attributes:
  check_mode:
    details: Supported; the module reads only, and in check mode writes no report.
    support: full
  diff_mode:
    details: Nothing on the host changes, so there is nothing to show.
    support: none
'''

EXAMPLES = r'''
- name: Write the fleet report on the controller
  fleet_report:
    path: reports/headroom.json
    hosts: "{{ ansible_play_hosts_all }}"
    facts: "{{ ansible_play_hosts_all | map('extract', hostvars, 'ansible_facts') | list }}"
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
path:
  description: The report written.
  returned: always
  type: str
html:
  description: The HTML page written, when O(html) was given.
  returned: when O(html) is set
  type: str
markdown:
  description: The Markdown summary written, when O(markdown) was given.
  returned: when O(markdown) is set
  type: str
fail_reason:
  description: Why the run must fail under O(fail_on) (C(fleet verdict critical (headroom_fail_on=warning))), or null.
  returned: always
  type: str
summary_markdown:
  description: The Markdown summary itself, for C(set_stats) and notifications.
  returned: always
  type: str
details:
  description: Every host that is not ok, worst first (at most 20), with its reasons and ranked
    recommendations, as lines for a person.
  returned: always
  type: list
  elements: str
slice:
  description:
    - This run's hosts as an AWX job slice publishes them (C(generated_at), C(report) the JSON report's path, and
      C(hosts), per host C(verdict summary usable effective_total usable_pct steps)), for O(slices) on the merge node.
  returned: always
  type: dict
fleet:
  description:
    - C(hosts), C(counts) per verdict (C(ok warning critical failed)), C(worst), C(order) (hosts worst
      first), C(available) and C(total) bytes over the fleet, and C(lines) for a person; after a remediation
      (O(remediation)) also C(remediation).
  returned: always
  type: dict
'''

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.report.files import (
    ARGUMENT_SPEC, ReportError, write_reports)


def main():
    module = HeadroomModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = write_reports(module.params, module.check_mode)
    except (ReportError, IOError, OSError) as err:
        module.fail_json(msg='cannot write the fleet report: %s' % err)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
