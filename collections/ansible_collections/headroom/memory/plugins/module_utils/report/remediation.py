"""What a remediation did to each host, and to the fleet: the report's ``remediation`` record.

remediate.yml records, per host, the fixes its diagnosis called for (``fixes``, cheapest first) and one
step per fix and phase (``steps``): the ``plan`` phase ran the role's validate entry point (check mode,
nothing changed), the ``apply`` phase the role itself (not on a dry run, which is its plan). A step is
``{role, phase, status, why, result}`` with ``status`` ``ok``, ``refused`` (plan), ``failed`` (apply) or
``stopped`` (the rollout stopped before it), and ``result`` the role's exported result
(``swap_setup_plan``/``_result``, ``cache_flush_plan``/``cache_flush_report``, ``oom_guard_plan``/``_result``,
``unit_policy_plan``/``_result``).

Pure functions: ``host_remediation()`` turns that into what a person reads per fix and per host,
``fleet_remediation()`` counts it over the fleet. A host's ``status``, best to worst: nothing to fix,
unchanged, planned (a dry run that would change), applied, stopped, refused, failed.
"""

from ..units import human

HOST_STATUSES = ('nothing to fix', 'unchanged', 'planned', 'applied', 'stopped', 'refused', 'failed')
# the statuses that make the run fail at its end (stopped: another host's failure stopped the rollout)
FAILED = ('refused', 'failed')
_ROLES = ('cache_flush', 'swap_setup', 'oom_guard', 'unit_policy')
_SEVERITY = {'ok': 0, 'stopped': 1, 'failed': 2, 'refused': 3}
# a refusal's or failure's message as the task gave it (a module's traceback can be long): the report keeps this much
WHY_CHARS = 2000


def _why(text):
    if text is None:
        return None
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= WHY_CHARS else text[:WHY_CHARS - 1] + '…'


def _unreachable(value, depth=0):
    """The message of an unreachable result anywhere in a role's result (a task of the role met a host
    that stopped answering, which ignore_unreachable lets through as a result), or None."""
    if depth > 4:
        return None
    if isinstance(value, dict):
        if value.get('unreachable') is True:
            return value.get('msg') or 'the host stopped answering'
        for item in value.values():
            found = _unreachable(item, depth + 1)
            if found:
                return found
    return None


def _sub(result, key):
    item = result.get(key) if isinstance(result, dict) else None
    return item if isinstance(item, dict) else {}


def _swap_setup(result):
    """(changed, done) of swap_setup's swapfile result."""
    actions = [a for a in result.get('actions') or [] if isinstance(a, str)]
    where = result.get('file') or (result.get('zram') or {}).get('device') or 'swap'
    done = []
    swap_actions = [a for a in actions if not a.startswith('sysctl')]
    if swap_actions:
        size = ' (%s)' % human(result['size']) if isinstance(result.get('size'), int) and result['size'] else ''
        done.append('%s: %s%s' % (where, ', '.join(swap_actions), size))
    sysctl = _sub(result, 'sysctl')
    if any(a.startswith('sysctl') for a in actions):
        done.append('sysctl %s' % ', '.join('%s = %s' % kv for kv in sorted((sysctl.get('values') or {}).items())))
    if not done:
        done.append('%s: as wanted already' % where)
    return bool(actions), done


def _cache_flush(result):
    """(changed, done) of cache_flush's report or plan (redis_limit, redis_flush, page_cache)."""
    done = []
    changed = False
    limit = _sub(result, 'redis_limit')
    if limit:
        changed = changed or bool(limit.get('applied')) or bool(limit.get('config_file_changed'))
        applied = limit.get('applied') or {}
        done.append('Redis %s' % (', '.join('%s %s' % kv for kv in sorted(applied.items())) if applied
                                  else 'maxmemory and policy as wanted already')
                    + (' (config file %s)' % limit['config_file'] if limit.get('config_file_changed') else ''))
    flush = _sub(result, 'redis_flush')
    if flush:
        changed = changed or bool(flush.get('keys'))
        targets = [t for t in flush.get('targets') or [] if isinstance(t, dict)]
        size = ' (%s by MEMORY USAGE)' % human(flush['bytes']) if isinstance(flush.get('bytes'), int) else ''
        done.append('Redis: %d key(s)%s of %s' % (flush.get('keys') or 0, size, ', '.join(
            'db %s %s' % (t.get('db'), t.get('match') if t.get('match') is not None else '(whole DB)')
            for t in targets) or 'nothing declared disposable'))
    page = _sub(result, 'page_cache')
    if page:
        changed = changed or bool(page.get('dropped'))
        if page.get('dropped'):
            done.append('page cache: %s' % page.get('reason'))
    return changed, done


def _oom_guard(result):
    """(changed, done) of oom_guard's module result."""
    done = ['guard: %s' % result.get('backend')] if result.get('backend') else []
    files = [f for f in result.get('files') or [] if isinstance(f, str)]
    if files:
        done.append('files: %s' % ', '.join(files))
    if isinstance(result.get('package'), str):
        done.append('package: %s' % result['package'])
    # the validate run reports changed false (it changes nothing): what it would write tells instead; a plan
    # that would only set live values or min_ttl_ms again shows as unchanged
    return bool(files or result.get('restart') or result.get('changed')), done


def _unit_policy(result):
    """(changed, done) of unit_policy's module result (oom_policy): each unit's OOMPolicy= and Restart= before
    and after; in a plan (check mode: nothing changed yet), the drop-in it would write."""
    files = [f for f in result.get('files') or [] if isinstance(f, str)]
    done = []
    for unit in result.get('units') or []:
        if not isinstance(unit, dict) or not isinstance(unit.get('unit'), str):
            continue
        before = unit.get('before') if isinstance(unit.get('before'), dict) else {}
        after = unit.get('after') if isinstance(unit.get('after'), dict) else {}
        if unit.get('dropin') not in files:
            done.append('%s: OOMPolicy=%s, Restart=%s already' % (unit['unit'], after.get('OOMPolicy'), after.get('Restart')))
        elif after != before:
            done.append('%s: OOMPolicy=%s -> %s, Restart=%s -> %s' % (
                unit['unit'], before.get('OOMPolicy'), after.get('OOMPolicy'), before.get('Restart'), after.get('Restart')))
        else:
            done.append('%s: OOMPolicy=%s, Restart=%s; the drop-in %s changes them' % (
                unit['unit'], before.get('OOMPolicy'), before.get('Restart'), unit['dropin']))
    if files:
        done.append('files: %s' % ', '.join(files))
    return bool(files), done


_DONE = {'swap_setup': _swap_setup, 'cache_flush': _cache_flush, 'oom_guard': _oom_guard, 'unit_policy': _unit_policy}


def _left_alone(result):
    return [text for text in (result.get('left_alone') or []) if isinstance(text, str)] \
        if isinstance(result, dict) else []


def _fix(role, plan, apply, dry_run, refused_roles):
    """The record of one fix from its plan and apply steps (either may be None); a dry run is its plan."""
    latest = apply if apply and apply.get('status') == 'ok' and not dry_run else plan
    result = (latest or {}).get('result') if isinstance((latest or {}).get('result'), dict) else {}
    changed, done = _DONE.get(role, lambda r: (bool(r.get('changed')), []))(result) if result else (False, [])
    fix = {'role': role, 'changed': changed, 'done': done, 'left_alone': _left_alone(result), 'why': None}
    lost = _unreachable(result)
    if plan and plan.get('status') != 'ok':  # a check that did not pass is a refusal, whatever it is called
        fix.update(status='refused', why=_why(plan.get('why')))
    elif plan and lost and not apply:
        fix.update(status='refused', why=_why('unreachable: %s' % lost))
    elif refused_roles:
        fix.update(status='not run', why='nothing changes on a host whose plan has a refusal (%s refused)'
                   % ', '.join(refused_roles))
    elif dry_run and plan:
        fix['status'] = 'would change' if changed else 'unchanged'
    elif not apply:
        fix.update(status='not run', why='the fix did not run')
    elif apply.get('status') in ('failed', 'stopped'):
        fix.update(status=apply['status'], why=_why(apply.get('why')))
    elif lost:
        fix.update(status='failed', why=_why('unreachable: %s; what was applied is unknown' % lost))
    elif changed:
        fix['status'] = 'would change' if dry_run else 'applied'
    else:
        fix['status'] = 'unchanged'
    return fix


def host_remediation(remediation, diagnosed=True, error=None):
    """The report's ``remediation`` record of one host from what remediate.yml recorded (or None when
    nothing was): ``status``, ``why``, ``dry_run``, ``fixes`` (the roles called for) and ``steps`` (one per fix:
    ``role status why changed done left_alone``). ``diagnosed`` False: the host had no diagnosis before the
    fixes (``error`` says why), so it got none."""
    remediation = remediation if isinstance(remediation, dict) else {}
    dry_run = bool(remediation.get('dry_run'))
    fixes = [role for role in remediation.get('fixes') or [] if isinstance(role, str)]
    steps = [step for step in remediation.get('steps') or [] if isinstance(step, dict)]
    record = {'status': None, 'why': None, 'dry_run': dry_run, 'fixes': fixes, 'steps': []}
    if not diagnosed:
        record.update(status='failed', why=_why('no diagnosis before the fixes, so none ran (%s)'
                                                % (error or 'host unreachable or the collection failed')))
        return record
    by_phase = {}
    for step in steps:  # one per fix and phase; should there be more, the worst is what happened
        key = (step.get('role'), step.get('phase'))
        if key not in by_phase or _SEVERITY.get(step.get('status'), 0) > _SEVERITY.get(by_phase[key].get('status'), 0):
            by_phase[key] = step
    refused = [role for role in fixes if (role, 'plan') in by_phase and (by_phase[(role, 'plan')].get('status') != 'ok'
               or (_unreachable(by_phase[(role, 'plan')].get('result')) and (role, 'apply') not in by_phase))]
    ordered = [role for role in _ROLES if role in fixes] + [role for role in fixes if role not in _ROLES]
    record['steps'] = [_fix(role, by_phase.get((role, 'plan')), by_phase.get((role, 'apply')), dry_run,
                            [other for other in refused if other != role])
                       for role in ordered]
    statuses = [fix['status'] for fix in record['steps']]
    for status, host_status in (('refused', 'refused'), ('failed', 'failed'), ('stopped', 'stopped'),
                                ('applied', 'applied'), ('would change', 'planned'), ('not run', 'stopped')):
        if status in statuses:
            record['status'] = host_status
            break
    else:
        record['status'] = 'unchanged' if fixes else 'nothing to fix'
    if record['status'] in ('refused', 'failed', 'stopped'):
        record['why'] = '; '.join('%s %s: %s' % (fix['role'], fix['status'], fix['why'])
                                  for fix in record['steps'] if fix['status'] == record['status']
                                  or (record['status'] == 'stopped' and fix['status'] == 'not run'))
    return record


def fleet_remediation(records):
    """Over the records of a remediation: ``counts`` per host status, ``failed`` ({host: why} of the hosts
    refused or failed, which fail the run), ``stopped`` (hosts the rollout did not reach) and ``lines``."""
    counts = dict((status, 0) for status in HOST_STATUSES)
    failed, stopped = {}, []
    for record in records:
        remediation = record.get('remediation') or {}
        status = remediation.get('status')
        if status not in counts:
            continue
        counts[status] += 1
        if status in FAILED:
            failed[record['host']] = remediation.get('why')
        elif status == 'stopped':
            stopped.append(record['host'])
    dry_run = any((record.get('remediation') or {}).get('dry_run') for record in records)
    tally = ', '.join('%d %s' % (counts[s], s) for s in reversed(HOST_STATUSES) if counts[s])
    lines = ['remediation%s: %s' % (' (dry run)' if dry_run else '', tally or 'no host')]
    for record in records:
        remediation = record.get('remediation') or {}
        if remediation.get('status') in FAILED + ('stopped',):
            lines.append('  %-9s %s  %s' % (remediation['status'], record['host'], remediation.get('why')))
    return {'counts': counts, 'failed': failed, 'stopped': sorted(stopped), 'dry_run': dry_run, 'lines': lines}
