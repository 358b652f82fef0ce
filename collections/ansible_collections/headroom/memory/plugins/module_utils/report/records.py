"""The fleet report: one record per host, a summary over them, and merging of partial reports.

Pure functions. A record is what a person and a program need of one host; a
report is {'generated_at', 'fleet', 'hosts': [records]}. Reports of job slices
(AWX splits a fleet into slices run apart) merge into the report of the whole.

A slice also publishes its hosts as an AWX artifact, ``slice_artifact()``, under a key of its own
(``headroom_slice_<id>``): AWX hands a workflow's next node the artifacts of every slice merged with
a shallow ``dict.update`` (the last slice to finish wins a shared key), so only keys unique per
slice add up. ``slice_records()`` turns those artifacts back into records for the fleet's summary.
"""

from ..units import human
from .remediation import fleet_remediation, host_remediation

VERDICTS = ('ok', 'warning', 'critical', 'failed')
# A run that diagnosed no host proves nothing about the fleet: its verdict is failed, not ok, so that a
# schedule does not read an empty inventory, a mistyped host pattern or a --limit that matched nothing as health.
NO_HOSTS = 'no host was diagnosed: the inventory, the host pattern (headroom_hosts) or --limit matched none'
_KEEP = ('memory', 'cgroup', 'pressure', 'rates', 'oom', 'postmortem', 'app_deaths', 'groups', 'growth', 'top', 'gaps',
         'redis', 'read_at', 'watch', 'app_servers', 'guard', 'identity', 'data_stores')


def host_record(host, facts, error=None):
    """The record of one host; ``facts`` is its ``ansible_facts.headroom``, None when it was not reached.

    ``error`` says why a host has no diagnosis when that is known (the failed task's message).
    """
    if not facts or 'audit' not in facts:
        why = error or 'host unreachable or the collection failed'
        return {'host': host, 'verdict': 'failed', 'summary': 'failed: no diagnosis (%s)' % why,
                'error': error, 'reasons': [], 'recommendations': [], 'lines': []}
    result = facts['audit']
    record = {'host': host, 'verdict': result['verdict'], 'summary': result['summary'],
              'usable': result['usable'], 'effective_total': result['effective_total'],
              'usable_pct': result['usable_pct'], 'swap_total': result.get('swap_total'),
              'swap_used': result.get('swap_used'), 'reasons': result['reasons'],
              'recommendations': result['recommendations'], 'lines': result['lines'], 'stall': result.get('stall')}
    for key in _KEEP:
        record[key] = facts.get(key)
    return record


def fleet_summary(records):
    """Counts per verdict, the worst verdict, hosts worst first, and lines for a person."""
    order = sorted(records, key=lambda r: (-VERDICTS.index(r['verdict']), r.get('usable_pct') or 0, r['host']))
    counts = dict((verdict, 0) for verdict in VERDICTS)
    for record in records:
        counts[record['verdict']] += 1
    worst = order[0]['verdict'] if order else 'failed'
    tally = ', '.join('%d %s' % (counts[v], v) for v in VERDICTS if counts[v])
    text = ['fleet: %d host(s): %s' % (len(records), tally or NO_HOSTS)]
    text.extend('  %-9s %s  %s' % (r['verdict'], r['host'], r['summary'].split(': ', 1)[-1]) for r in order)
    steps = {}
    for record in records:
        for rec in record['recommendations']:
            steps.setdefault(rec['step'], set()).add(record['host'])
    if steps:
        text.append('  recommended: ' + ', '.join('%s on %d host(s)' % (step, len(hosts))
                                                  for step, hosts in sorted(steps.items())))
    total = sum(r.get('effective_total') or 0 for r in records)
    usable = sum(r.get('usable') or 0 for r in records)
    return {'hosts': len(records), 'counts': counts, 'worst': worst,
            'order': [r['host'] for r in order], 'usable': usable, 'total': total,
            'lines': text + (['  fleet memory: %s of %s available' % (human(usable), human(total))]
                             if total else [])}


def build_report(hosts, facts, generated_at, before=None, errors=None, remediation=None):
    """The report of one run: ``hosts`` in play order, ``facts`` the matching headroom facts (or None).

    ``before``, when given, holds each host's facts from before remediation at the same position:
    its record then carries them as ``before`` and says what changed. ``remediation``, when given, holds
    what remediate.yml recorded of each host's fixes (remediation.py): its record then carries
    ``remediation`` (what was applied, refused, failed and why), and the fleet what it adds up to.
    """
    if len(hosts) != len(facts) or (before is not None and len(before) != len(hosts)) \
            or (errors is not None and len(errors) != len(hosts)):
        raise ValueError('got %d hosts but %d sets of facts%s' % (
            len(hosts), len(facts), '' if before is None else ' and %d from before' % len(before)))
    if remediation is not None and len(remediation) != len(hosts):
        raise ValueError('got %d hosts but %d remediation records' % (len(hosts), len(remediation)))
    errors = errors or [None] * len(hosts)
    records = [host_record(host, item, error) for host, item, error in zip(hosts, facts, errors)]
    for record, earlier in zip(records, before or []):
        if earlier:
            previous = host_record(record['host'], earlier)
            previous.pop('before', None)
            record['before'] = previous
            record['change'] = change(previous, record)
    fleet = fleet_summary(records)
    if remediation is not None:
        for index, (record, item) in enumerate(zip(records, remediation)):
            diagnosed = before is None or bool(before[index] and 'audit' in before[index])
            record['remediation'] = host_remediation(item, diagnosed, errors[index])
        fleet['remediation'] = fleet_remediation(records)
        fleet['lines'] = fleet['lines'] + fleet['remediation']['lines']
    return {'generated_at': generated_at, 'fleet': fleet, 'hosts': records}


def change(before, after):
    """What remediation changed on a host: verdicts and usable bytes, before and after."""
    delta = (after.get('usable') or 0) - (before.get('usable') or 0)
    text = '%s -> %s, available %s%s' % (before['verdict'], after['verdict'], '+' if delta >= 0 else '-',
                                         human(abs(delta)))
    if (before.get('swap_total') or 0) != (after.get('swap_total') or 0):
        text += ', swap %s -> %s' % (human(before.get('swap_total')), human(after.get('swap_total')))
    return {'verdict': [before['verdict'], after['verdict']],
            'usable': [before.get('usable'), after.get('usable')],
            'swap_total': [before.get('swap_total'), after.get('swap_total')],
            'summary': text}


def newest_per_host(dated):
    """Each host's newest record, sorted by host; ``dated`` yields (generated_at, record) pairs, and of
    two records of one host generated at the same time the later one in ``dated`` wins."""
    newest = {}
    for generated_at, record in dated:
        kept = newest.get(record['host'])
        if kept is None or generated_at >= kept[0]:
            newest[record['host']] = (generated_at, record)
    return [record for _host, (_at, record) in sorted(newest.items())]


def merge_reports(reports):
    """One report from several (AWX job slices); a host in two reports keeps its newest record."""
    records = newest_per_host((report.get('generated_at') or '', record)
                              for report in reports for record in report.get('hosts', []))
    generated = max([r.get('generated_at') or '' for r in reports] or [''])
    return {'generated_at': generated, 'fleet': fleet_summary(records), 'hosts': records}


# what a slice's artifact keeps of each host: enough for the fleet's verdict, counts, order and lines
_COMPACT = ('verdict', 'summary', 'usable', 'effective_total', 'usable_pct')


def slice_artifact(report, link=None):
    """What a slice publishes with set_stats: each host's verdict, summary and memory, the steps
    recommended to it, and where the slice's whole report is (``link``)."""
    hosts = {}
    for record in report['hosts']:
        compact = dict((key, record.get(key)) for key in _COMPACT)
        compact['steps'] = [rec['step'] for rec in record.get('recommendations') or []]
        hosts[record['host']] = compact
    return {'generated_at': report['generated_at'], 'hosts': hosts, 'report': link}


def slice_records(artifacts):
    """Records (each host's newest) from slices' artifacts, for fleet_summary(); ValueError names an
    artifact that is not one."""
    dated = []
    for index, artifact in enumerate(artifacts):
        if not isinstance(artifact, dict) or not isinstance(artifact.get('hosts'), dict):
            raise ValueError('slice %d is not a headroom slice artifact (a dict with hosts): %r' % (index, artifact))
        for host, compact in artifact['hosts'].items():
            if not isinstance(compact, dict) or compact.get('verdict') not in VERDICTS:
                raise ValueError('slice %d: host %s has no verdict' % (index, host))
            record = dict((key, compact.get(key)) for key in _COMPACT)
            record.update(host=host, summary=compact.get('summary') or compact['verdict'], reasons=[],
                          recommendations=[{'step': step, 'title': step} for step in compact.get('steps') or []],
                          lines=[])
            dated.append((artifact.get('generated_at') or '', record))
    return newest_per_host(dated)


def fail_reason(fleet, fail_on):
    """Why the run must fail: a host at least as bad as ``fail_on`` (never, warning or critical; a
    failed host is worse than critical), or None. What a scheduler sees as the run's exit code."""
    if fail_on == 'never' or VERDICTS.index(fleet['worst']) < VERDICTS.index(fail_on):
        return None
    if not fleet.get('hosts'):
        return '%s (headroom_fail_on=%s)' % (NO_HOSTS, fail_on)
    return 'fleet verdict %s (headroom_fail_on=%s)' % (fleet['worst'], fail_on)
