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
  before:
    description:
      - For each host of O(hosts), at the same position, its C(ansible_facts.headroom) from before
        remediation, or V(null); each record then carries C(before) and C(change).
    type: list
    elements: raw
  html:
    description:
      - Also write the report as one self-contained HTML page here (inline CSS, no script, nothing
        fetched), with per host a memory bar, top processes, OOM kills, reasons and ranked
        recommendations, and before/after when remediation ran. Its directory is created when missing.
    type: path
  markdown:
    description:
      - Also write a short Markdown summary here, fit for a ticket or a chat message (worst hosts
        first, at most ten). It names O(html) when both are set.
    type: path
  merge:
    description:
      - Paths of earlier reports (other job slices) to merge with this run's hosts; a host in several keeps
        its newest record. A missing file fails the task.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    description: Supported; the module reads only, and in check mode writes no report.
    support: full
  diff_mode:
    description: Nothing on the host changes, so there is nothing to show.
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
fleet:
  description:
    - C(hosts), C(counts) per verdict (C(ok warning critical failed)), C(worst), C(order) (hosts worst
      first), C(available) and C(total) bytes over the fleet, and C(lines) for a person.
  returned: always
  type: dict
'''

import io
import json
import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.headroom.render import render_html, render_markdown
from ansible.module_utils.headroom.report import build_report, merge_reports


def write(module, path, text):
    """Write text to path atomically, creating its directory."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix='.headroom-report-')
    # UTF-8 whatever the controller's locale: host names and commands can be anything
    with io.open(handle, 'w', encoding='utf-8') as out:
        out.write(text)
    module.atomic_move(tmp, path)


def host_facts(item):
    """A host's headroom facts from its ansible_facts (or the headroom facts themselves), with what
    the cache_flush role read of its Redis (ansible_facts.headroom_redis) when that ran."""
    if not isinstance(item, dict):
        return None
    if 'audit' in item:
        return item
    headroom = item.get('headroom')
    if headroom and item.get('headroom_redis'):
        headroom = dict(headroom, redis=item['headroom_redis'])
    return headroom


def details(report, limit=20):
    """The whole verdict of every host that is not ok, worst first, for the play's output."""
    records = dict((record['host'], record) for record in report['hosts'])
    bad = [records[host] for host in report['fleet']['order'] if records[host]['verdict'] != 'ok']
    lines = []
    for record in bad[:limit]:
        lines.append('%s: %s' % (record['host'], record['summary']))
        lines.extend(record['lines'][1:])
    if len(bad) > limit:
        lines.append('... and %d more host(s) not ok: see the report' % (len(bad) - limit))
    return lines


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            hosts=dict(type='list', elements='str', default=[]),
            facts=dict(type='list', elements='raw', default=[]),
            before=dict(type='list', elements='raw'),
            error_hosts=dict(type='list', elements='str', default=[]),
            errors=dict(type='list', elements='str', default=[]),
            merge=dict(type='list', elements='path', default=[]),
            html=dict(type='path'),
            markdown=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    path = module.params['path']
    now = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    facts = [host_facts(item) for item in module.params['facts']]
    if len(module.params['error_hosts']) != len(module.params['errors']):
        module.fail_json(msg='error_hosts and errors must have the same length')
    failed = dict(zip(module.params['error_hosts'], module.params['errors']))
    errors = [failed.get(host) for host in module.params['hosts']]
    try:
        report = build_report(module.params['hosts'], facts, now, module.params['before'], errors)
    except ValueError as err:
        module.fail_json(msg=str(err))
    earlier = []
    for other in module.params['merge']:
        try:
            with open(other) as handle:
                earlier.append(json.load(handle))
        except (IOError, OSError, ValueError) as err:
            module.fail_json(msg='cannot read report %s to merge: %s' % (other, err))
    if earlier:
        report = merge_reports(earlier + [report])
    html, markdown = module.params['html'], module.params['markdown']
    summary = render_markdown(report, link=html)
    extra = {'summary_markdown': summary}
    if not module.check_mode:
        write(module, path, json.dumps(report, indent=2, sort_keys=True))
        if html:
            write(module, html, render_html(report))
        if markdown:
            write(module, markdown, summary)
    if html:
        extra['html'] = html
    if markdown:
        extra['markdown'] = markdown
    module.exit_json(changed=True, path=path, fleet=report['fleet'], details=details(report), **extra)


if __name__ == '__main__':
    main()
