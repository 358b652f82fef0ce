"""What the fleet_report task does, shared by its action plugin (the controller, in-process) and
its module (plugins/modules/fleet_report.py, which runs the same code where the action plugin is not used).

``ARGUMENT_SPEC`` is the task's interface; ``write_reports(params, check_mode)`` builds the report,
writes its files (atomically) unless ``check_mode``, and returns the task's result. Bad input
raises ``ReportError`` with a message for the user, before anything is written.
"""

import io
import json
import os
import sqlite3
import tempfile
import time

from ..directory import make_parent
from .history import CHART_COMMANDS, HistoryError, fleet_trend, leaks, load_runs, record_runs, trend
from .render import render_html, render_markdown
from .records import NO_HOSTS, build_report, fail_reason, fleet_summary, merge_reports, slice_artifact, slice_records

ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    hosts=dict(type='list', elements='str', default=[]),
    facts=dict(type='list', elements='raw', default=[]),
    before=dict(type='list', elements='raw'),
    remediation=dict(type='list', elements='raw'),
    error_hosts=dict(type='list', elements='str', default=[]),
    errors=dict(type='list', elements='str', default=[]),
    gap_hosts=dict(type='list', elements='str', default=[]),
    gaps=dict(type='list', elements='str', default=[]),
    merge=dict(type='list', elements='path', default=[]),
    slices=dict(type='list', elements='raw', default=[]),
    fail_on=dict(type='str', choices=['never', 'warning', 'critical'], default='never'),
    html=dict(type='path'),
    link=dict(type='str'),
    markdown=dict(type='path'),
    history=dict(type='path'),
    history_days=dict(type='int', default=90),
    history_runs=dict(type='int', default=1000),
)


class ReportError(ValueError):
    """The task's input cannot make a report; the message says why."""


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


def write_texts(files):
    """Write each (path, text) of ``files`` as a whole or none of them: every text goes to a temporary file
    beside its path first (its directory made), and only when all are there are they renamed into place.
    A report's JSON, page and summary so do not disagree after a write that failed halfway (a full disk,
    a file where the page's directory must be); only a rename failing after another one succeeded, which
    within one directory takes a vanished directory, would leave them apart. UTF-8 whatever the locale."""
    umask = os.umask(0)
    os.umask(umask)
    staged = []
    try:
        for path, text in files:
            handle, tmp = tempfile.mkstemp(dir=make_parent(path), prefix='.headroom-report-')
            staged.append((tmp, path))
            with io.open(handle, 'w', encoding='utf-8') as out:
                out.write(text)
            os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would have made it, not mkstemp's 0600
        while staged:
            tmp, path = staged[0]
            os.rename(tmp, path)
            staged.pop(0)
    finally:
        for tmp, dummy in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def with_history(report, params, check_mode, epoch):
    """Record this run in the history (unless ``check_mode``) and give each host's record what the
    runs together say: ``history`` (``path``, ``runs``), ``trend`` and ``leaks``; the fleet's
    ``trend`` (its available memory run by run)."""
    for name, most in (('history_days', 36500), ('history_runs', 10 ** 6)):
        value = params[name]
        if not 1 <= value <= most:  # -e headroom_history_days=1e400 is an int of 400 digits to Ansible
            raise ReportError('%s must be 1 to %d, got %s' % (
                name, most, value if abs(value) < 10 ** 20 else 'a number of more than 20 digits'))
    path = params['history']
    hosts = [record['host'] for record in report['hosts']]
    try:
        if not check_mode:
            record_runs(path, epoch, report['hosts'], params['history_days'], params['history_runs'])
        runs = load_runs(path, hosts)
    except (HistoryError, IOError, OSError, sqlite3.Error) as err:
        # the report of this run is not lost to a history that cannot be used: it says so instead
        report['history_error'] = 'history not kept: %s' % err
        return
    for record in report['hosts']:
        mine = runs.get(record['host']) or []
        record['trend'] = trend(mine)
        record['leaks'] = leaks(mine)
        record['history'] = {'path': path, 'runs': [dict(run, top=(run.get('top') or [])[:CHART_COMMANDS]) for run in mine]}
    report['fleet']['trend'] = fleet_trend(runs)


def with_slices(report, merge, slices):
    """This run's report merged with earlier reports (``merge``, paths) and AWX slices' artifacts
    (``slices``): a slice's whole report where its file can be read here (a directory every job
    sees), else its hosts as the artifact has them."""
    try:
        compact = slice_records(slices)
    except ValueError as err:
        raise ReportError(str(err))
    paths = list(merge) + [item['report'] for item in slices
                           if isinstance(item.get('report'), str) and os.path.isfile(item['report'])]
    earlier = []
    for other in paths:
        try:
            with open(other) as handle:
                earlier.append(json.load(handle))
        except (IOError, OSError, ValueError) as err:
            raise ReportError('cannot read report %s to merge: %s' % (other, err))
    if earlier:
        report = merge_reports(earlier + [report])
    have = set(record['host'] for record in report['hosts'])
    extra = [record for record in compact if record['host'] not in have]
    if extra:
        records = sorted(report['hosts'] + extra, key=lambda record: record['host'])
        report = dict(report, fleet=fleet_summary(records), hosts=records)
    return report


def write_reports(params, check_mode, now=None, epoch=None):
    """Build the report from the task's ``params`` (validated against ARGUMENT_SPEC), write the JSON,
    HTML and Markdown files unless ``check_mode``, and return the task's result."""
    if now is None:
        now = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    if len(params['error_hosts']) != len(params['errors']):
        raise ReportError('error_hosts and errors must have the same length')
    if len(params['gap_hosts']) != len(params['gaps']):
        raise ReportError('gap_hosts and gaps must have the same length')
    facts = [host_facts(item) for item in params['facts']]
    failed = dict(zip(params['error_hosts'], params['errors']))
    errors = [failed.get(host) for host in params['hosts']]
    try:
        report = build_report(params['hosts'], facts, now, params['before'], errors, params['remediation'])
    except ValueError as err:
        raise ReportError(str(err))
    records = dict((record['host'], record) for record in report['hosts'])
    for host, gap in zip(params['gap_hosts'], params['gaps']):
        if host in records:
            records[host]['gaps'] = list(records[host].get('gaps') or []) + [gap]
    report = with_slices(report, params['merge'], params['slices'])
    if params['history']:
        with_history(report, params, check_mode, time.time() if epoch is None else epoch)
    html, markdown = params['html'], params['markdown']
    summary = render_markdown(report, link=params['link'] or html)
    if not check_mode:
        write_texts([(params['path'], json.dumps(report, indent=2, sort_keys=True))]
                    + ([(html, render_html(report))] if html else []) + ([(markdown, summary)] if markdown else []))
    result = dict(changed=True, path=params['path'], fleet=report['fleet'], details=details(report),
                  summary_markdown=summary, fail_reason=fail_reason(report['fleet'], params['fail_on']),
                  slice=slice_artifact(report, os.path.abspath(params['path'])))
    result['warnings'] = [text for text in (report.get('history_error'), None if report['hosts'] else NO_HOSTS) if text]
    if not result['warnings']:
        del result['warnings']
    if html:
        result['html'] = html
    if markdown:
        result['markdown'] = markdown
    return result
