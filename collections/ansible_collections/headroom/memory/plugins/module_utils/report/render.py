"""The fleet report for people: one self-contained HTML page, and a short Markdown summary.

Pure functions: a report (``report.build_report``'s dict, read back from its JSON)
in, a string out. Host names, commands, users and log fields come from the hosts,
so every one of them is escaped; nothing from a host reaches an attribute unquoted,
a style or an id. The page loads nothing (no scripts, fonts or images) so it can be
mailed, attached to a ticket or opened offline, and it reads without JavaScript.

Exact byte counts sit in ``data-*`` attributes and ``title`` tooltips beside the
human units shown, so a program (the browser test) can check the page against the
JSON it came from.
"""

from html import escape

from ..judge.verdict import swap_words, when
from ..units import human
from .history import duration, rate, when_read
from .records import NO_HOSTS, VERDICTS

# Hosts listed in the Markdown summary before "... and N more": chat messages and
# ticket comments get truncated or ignored when long.
MARKDOWN_HOSTS = 10
# Rows of the per-host tables; the JSON keeps the rest.
_GROUP_ROWS = 10
_PROCESS_ROWS = 10
_OOM_ROWS = 10

_STEP_HINTS = {
    'processes': 'stop or identify a process',
    'caches': 'trim a cache',
    'code': 'slim the application',
    'swap': 'add swap',
    'refactor': 'profile the code',
    'scale': 'add memory',
}

_CSS = """
:root { --ink: #1f2933; --soft: #52606d; --faint: #9aa5b1; --line: #e4e7eb; --page: #f7f8fa; --card: #fff;
  --used: #52667a; --held: #8094a8; --cache: #b4c7d8; --free: #e6ebf0; --avail: #2f8f5b; --swap: #c8692a;
  --swapfree: #f3e3d6;
  --ok: #2f8f5b; --warning: #b7791f; --critical: #c53030; --failed: #6b7280; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 22px; margin: 0 0 2px; font-weight: 600; }
h2 { font-size: 18px; margin: 0; font-weight: 600; display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
h3 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--soft); margin: 18px 0 6px;
  font-weight: 600; }
.meta, .note { color: var(--soft); margin: 0; }
.note { font-size: 12.5px; }
.empty { color: var(--failed); font-weight: 600; margin: 8px 0 0; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px;
  margin-top: 18px; }
section.host { border-left: 5px solid var(--v); }
.counts { display: flex; gap: 10px; flex-wrap: wrap; margin: 14px 0 6px; }
.count { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 96px; background: #fbfcfd; }
.count b { display: block; font-size: 22px; line-height: 1.1; color: var(--v); }
.count.zero b { color: var(--faint); }
.badge { display: inline-block; border-radius: 999px; padding: 1px 10px; font-size: 12px; font-weight: 600;
  color: #fff; background: var(--v); text-transform: uppercase; letter-spacing: .04em; }
.v-ok { --v: var(--ok); } .v-warning { --v: var(--warning); } .v-critical { --v: var(--critical); }
.v-failed { --v: var(--failed); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th { text-align: left; color: var(--soft); font-weight: 600; border-bottom: 1px solid var(--line); padding: 5px 8px; }
td { border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr:last-child td { border-bottom: 0; }
a { color: inherit; }
h2 .mono { font-size: 16px; font-weight: 600; }
code, .mono { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
.bar { display: flex; height: 22px; border-radius: 5px; overflow: hidden; background: var(--free); }
.bar.mini { height: 10px; width: 110px; border-radius: 3px; }
.bar span { display: block; height: 100%; }
.seg-used { background: var(--used); }
.seg-held { background: var(--held); }
.seg-cache { background: var(--cache); }
.seg-free { background: var(--free); }
.seg-swap { background: var(--swap); } .seg-swapfree { background: var(--swapfree); }
.seg-avail { background: var(--avail); }
.meter { margin: 12px 0 4px; }
.meter .caption { font-size: 12px; font-weight: 600; color: var(--soft); text-transform: uppercase;
  letter-spacing: .04em; }
.meter .row { display: grid; grid-template-columns: 60px 1fr 96px; gap: 10px; align-items: center; margin-top: 4px; }
.meter .rl { font-size: 12px; color: var(--soft); }
.meter .rv { font-size: 12px; color: var(--soft); text-align: right; white-space: nowrap;
  font-variant-numeric: tabular-nums; }
.meter .avail-v { color: var(--avail); }
.avail-mark { position: relative; height: 8px; margin-top: -2px; }
.avail-mark span { position: absolute; right: 0; top: 0; height: 6px; border: 2px solid var(--avail);
  border-top: 0; border-radius: 0 0 4px 4px; }
.swapbar { height: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 8px 0 0; padding: 0; list-style: none;
  font-size: 13px; }
.legend i + i { margin-left: -6px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px;
  vertical-align: -1px; }
.legend .avail-key { background: none; border: 2px solid var(--avail); border-top: 0; height: 7px; }
.headline { font-size: 15px; margin: 8px 0 0; }
.headline b { font-size: 17px; }
.reasons { list-style: none; padding: 0; margin: 0; }
.reasons li { padding: 3px 0 3px 12px; border-left: 3px solid var(--v); margin: 4px 0; }
ol.recs { margin: 0; padding: 0; list-style: none; counter-reset: none; }
ol.recs li { display: grid; grid-template-columns: 28px 1fr; gap: 2px 8px; padding: 8px 0;
  border-bottom: 1px solid var(--line); }
ol.recs li:last-child { border-bottom: 0; }
.rank { grid-row: span 2; width: 24px; height: 24px; border-radius: 50%; background: #eef2f6; color: var(--ink);
  font-weight: 600; display: flex; align-items: center; justify-content: center; font-size: 13px; }
.step { display: inline-block; font-size: 11px; color: var(--soft); border: 1px solid var(--line); border-radius: 4px;
  padding: 0 6px; margin-right: 6px; text-transform: uppercase; letter-spacing: .04em; }
.detail { color: var(--soft); font-size: 13px; }
.role { font-size: 12px; color: var(--soft); }
.change { display: inline-flex; align-items: center; gap: 6px; }
.delta-up { color: var(--ok); font-weight: 600; } .delta-down { color: var(--critical); font-weight: 600; }
.gaps { margin: 0; padding-left: 18px; color: var(--soft); font-size: 12.5px; }
.fixes { margin: 0; padding-left: 18px; }
.fixes .why { color: var(--critical); }
.fixes .left { color: var(--soft); font-size: 12.5px; }
.status { font-size: 11px; border-radius: 4px; padding: 0 5px; border: 1px solid currentColor; }
.status-denied { color: var(--critical); }
.status-unknown { color: var(--warning); }
.status-allowed { color: var(--ok); }
table.oom td { white-space: nowrap; }
table.oom td:last-child { white-space: normal; overflow-wrap: anywhere; }
table.oom td code { overflow-wrap: normal; }
details summary { cursor: pointer; color: var(--soft); font-size: 12.5px; margin-top: 6px; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 0 28px; }
@media (max-width: 760px) { .cols { grid-template-columns: 1fr; } }
footer { color: var(--faint); font-size: 12px; margin-top: 24px; text-align: center; }
svg.chart { width: 100%; max-width: 640px; height: auto; display: block; }
svg.chart text { font-size: 11px; fill: var(--soft); }
svg.chart .axis { stroke: var(--line); }
svg.chart polyline { fill: none; stroke-width: 2; }
.s0 { stroke: #2f6fdf; fill: #2f6fdf; } .s1 { stroke: #d9822b; fill: #d9822b; } .s2 { stroke: #7a4fc9; fill: #7a4fc9; }
.s3 { stroke: #2a9d6f; fill: #2a9d6f; } .s4 { stroke: #c0392b; fill: #c0392b; }
.legend span { font-size: 12px; margin-right: 12px; } .legend i { display: inline-block; width: 10px; height: 3px;
  vertical-align: middle; margin-right: 4px; }
"""


def _e(value):
    """Text of a host, escaped for an element or a quoted attribute."""
    return escape('' if value is None else str(value), quote=True)


def _num(value):
    """An exact byte count for a data attribute: digits only, whatever the JSON held."""
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return ''


def _pct(part, whole):
    if not whole or not part or part < 0:
        return 0.0
    return min(100.0, 100.0 * part / whole)


def _bytes_title(label, value):
    return '%s: %s (%s bytes)' % (label, human(value), '{:,}'.format(int(value or 0)))


def _verdict(record):
    verdict = record.get('verdict')
    return verdict if verdict in VERDICTS else 'failed'


def _badge(verdict):
    return '<span class="badge v-%s" data-field="verdict">%s</span>' % (verdict, verdict)


def _host_ids(report):
    """Stable anchors that carry nothing of the (untrusted) host name."""
    return dict((record.get('host'), 'host-%d' % index) for index, record in enumerate(report.get('hosts') or [], 1))


def _ordered(report):
    """Records worst first, in the fleet's order, then any the order does not name."""
    records = report.get('hosts') or []
    by_host = dict((r.get('host'), r) for r in records)
    order = [by_host[h] for h in (report.get('fleet') or {}).get('order') or [] if h in by_host]
    seen = set(id(r) for r in order)
    return order + [r for r in records if id(r) not in seen]


def _segment(css, label, value, total, part=None):
    return ('<span class="%s" style="width:%.3f%%" data-part="%s" data-bytes="%s" title="%s"></span>'
            % (css, _pct(value, total), part or css[4:], _num(value), _e(_bytes_title(label, value))))


def ram_parts(memory):
    """RAM cut into parts that do not overlap and add up to the total, whatever free(1) printed.

    free's ``used`` changed meaning (procps 4.0.1 made it total - available, so it overlaps
    buff/cache; before 3.3.10 it included the cache), so it is not drawn as printed:
    ``used`` = total - free - buff/cache, buff/cache splits into the part the kernel can
    reclaim (available - free) and the part it holds (tmpfs, dirty and mapped pages), and
    reclaimable + free is then what MemAvailable counts, drawn as one bracket.
    """
    total = memory.get('total') or 0
    free = min(memory.get('free') or 0, total)
    cache = min(memory.get('buff_cache') or 0, total - free)
    reclaimable = max(0, min((memory.get('available') or 0) - free, cache))
    return {'used': total - free - cache, 'cache_held': cache - reclaimable, 'cache_reclaimable': reclaimable,
            'free': free}


def _memory_meter(memory, caption, cgroup=None, judged=None):
    """RAM (see ram_parts) with the available memory as a bracket from the right, swap below on
    the same scale so that a small swap looks small, and the workload's cgroup, when its limit is
    tighter than RAM, on a scale of its own. Then the bracket, the swap and the legend are the ones
    the verdict used (``judged``: the record's ``usable``, ``swap_total``, ``swap_used``), and the
    machine's RAM, which the container cannot use, is context without a bracket."""
    total = memory.get('total') or 0
    parts = ram_parts(memory)
    cache, available = memory.get('buff_cache') or 0, memory.get('available') or 0
    swap_total, swap_used = memory.get('swap_total') or 0, memory.get('swap_used') or 0
    out = ['<div class="meter" data-memory="%s" data-total="%s" data-available="%s" data-used="%s" '
           'data-buff-cache="%s" data-free="%s" data-swap-total="%s" data-swap-used="%s">'
           % (_e(caption), _num(total), _num(available), _num(memory.get('used')), _num(cache),
              _num(memory.get('free')), _num(swap_total), _num(swap_used))]
    if caption != 'memory':
        out.append('<div class="caption">%s</div>' % _e(caption))
    # the cgroup first: the workload is judged on it, the host's RAM is context
    limit = (cgroup or {}).get('limit')
    limited = bool(limit and total and limit < total)
    if limited:
        current = min(cgroup.get('current') or 0, limit)
        reclaimable = min(cgroup.get('reclaimable') or 0, current)
        out.append('<div class="row" data-cgroup-limit="%s" data-cgroup-current="%s"><span class="rl">cgroup</span>'
                   '<div class="bar" role="img" aria-label="%s">%s%s%s</div><span class="rv" title="%s">limit %s'
                   '</span></div>'
                   % (_num(limit), _num(current), _e('cgroup uses %s of its %s limit' % (human(current), human(limit))),
                      _segment('seg-used', 'cgroup in use', current - reclaimable, limit, 'cgroup-used'),
                      _segment('seg-cache', 'cgroup page cache', reclaimable, limit, 'cgroup-cache'),
                      _segment('seg-free', 'cgroup headroom', limit - current, limit, 'cgroup-free'),
                      _e(_bytes_title('cgroup limit', limit)), human(limit)))
    if limited:
        judged = judged or {}
        available = judged.get('usable') if judged.get('usable') is not None else available
        swap_total = judged.get('swap_total') if judged.get('swap_total') is not None else swap_total
        swap_used = judged.get('swap_used') if judged.get('swap_used') is not None else swap_used
        out.append('<div class="row"><span></span><div class="avail-mark"><span style="width:%.3f%%" title="%s">'
                   '</span></div><span class="rv avail-v" data-judged-usable="%s">%s avail.</span></div>'
                   % (_pct(available, limit), _e(_bytes_title('available under the limit', available)),
                      _num(available), human(available)))
    out.extend(['<div class="row"><span class="rl">%s</span>' % ('machine RAM' if limited else 'RAM') +
                '<div class="bar" role="img" aria-label="%s">' % _e(
                    'used %s, buff/cache %s, free %s, available %s of %s'
                    % (human(parts['used']), human(cache), human(parts['free']), human(available), human(total))),
                _segment('seg-used', 'used (total - free - buff/cache)', parts['used'], total, 'used'),
                _segment('seg-held', 'buff/cache the kernel holds', parts['cache_held'], total, 'cache_held'),
                _segment('seg-cache', 'buff/cache it can reclaim', parts['cache_reclaimable'], total,
                         'cache_reclaimable'),
                _segment('seg-free', 'free', parts['free'], total, 'free'),
                '</div><span class="rv" title="%s">%s</span></div>' % (_e(_bytes_title('RAM', total)), human(total))])
    if not limited:
        out.append('<div class="row"><span></span><div class="avail-mark"><span style="width:%.3f%%" title="%s"></span>'
                   '</div><span class="rv avail-v">%s avail.</span></div>'
                   % (_pct(available, total), _e(_bytes_title('available', available)), human(available)))
    if swap_total:
        out.append('<div class="row"><span class="rl">swap</span><div><div class="bar swapbar" style="width:%.3f%%" '
                   'role="img" aria-label="%s">'
                   % (max(_pct(swap_total, limit if limited else total), 3.0),
                      _e('swap %s used of %s' % (human(swap_used), human(swap_total)))))
        out.append(_segment('seg-swap', 'swap used', swap_used, swap_total))
        out.append(_segment('seg-swapfree', 'swap free', swap_total - swap_used, swap_total))
        out.append('</div></div><span class="rv" title="%s">%s</span></div>'
                   % (_e(_bytes_title('swap', swap_total)), human(swap_total)))
    out.append('<ul class="legend">')
    out.append('<li title="%s"><i class="seg-used"></i>used %s</li>'
               % (_e(_bytes_title('used (total - free - buff/cache)', parts['used'])), human(parts['used'])))
    out.append('<li title="%s"><i class="seg-held"></i><i class="seg-cache"></i>buff/cache %s, %s reclaimable</li>'
               % (_e(_bytes_title('buff/cache', cache)), human(cache), human(parts['cache_reclaimable'])))
    out.append('<li title="%s"><i class="seg-free"></i>free %s</li>'
               % (_e(_bytes_title('free', parts['free'])), human(parts['free'])))
    if limited:
        out.append('<li title="%s"><i class="avail-key"></i>available %s under the limit (machine available %s)</li>'
                   % (_e(_bytes_title('available under the limit', available)), human(available),
                      human(memory.get('available'))))
    else:
        out.append('<li title="%s"><i class="avail-key"></i>available %s</li>'
                   % (_e(_bytes_title('available', available)), human(available)))
    if swap_total:
        out.append('<li title="%s"><i class="seg-swap"></i>swap used %s of %s</li>'
                   % (_e(_bytes_title('swap used', swap_used)), human(swap_used), human(swap_total)))
    else:
        out.append('<li><i class="seg-swapfree"></i>no swap</li>')
    if limited:
        out.append('<li>cgroup: %s in use of its %s limit</li>' % (human(cgroup.get('current')), human(limit)))
    out.append('</ul></div>')
    return '\n'.join(out)


def _mini_bar(record):
    total, available = record.get('effective_total'), record.get('usable')
    if not total:
        return '<div class="bar mini"></div>'
    return ('<div class="bar mini" title="%s">%s%s</div>'
            % (_e('%s of %s available' % (human(available), human(total))),
               '<span class="seg-used" style="width:%.3f%%"></span>' % (100.0 - _pct(available, total)),
               '<span class="seg-avail" style="width:%.3f%%"></span>' % _pct(available, total)))


def _headline(record, attrs=True):
    """'X of Y available (Z%)': the numbers the fleet is judged on, the cgroup's when it is tighter."""
    if record.get('effective_total') is None:
        return '<p class="headline">%s</p>' % _e(record.get('summary') or 'no diagnosis')
    available, total = record.get('usable'), record.get('effective_total')
    memory = record.get('memory') or {}
    scope = ' of the cgroup limit' if memory.get('total') and total != memory.get('total') else ''
    data = (' data-usable="%s" data-total="%s"' % (_num(available), _num(total))) if attrs else ''
    return ('<p class="headline"%s><b data-field="usable" title="%s">%s</b> of '
            '<span data-field="total" title="%s">%s</span>%s available (%s%%)</p>'
            % (data, _e(_bytes_title('available', available)), human(available),
               _e(_bytes_title('total', total)), human(total), scope, _e(record.get('usable_pct'))))


def _before_after(record):
    """Verdicts and available memory before and after; both bars only when something moved,
    since a host remediation left alone differs by a few pages of cache at most."""
    before = record['before']
    was, now = _verdict(before), _verdict(record)
    out = ['<h3>Before and after remediation</h3>',
           '<p class="change" data-before-verdict="%s" data-after-verdict="%s">%s <span>&rarr;</span> %s'
           % (was, now, _badge(was), _badge(now))]
    moved = was != now
    if before.get('usable') is not None and record.get('usable') is not None:
        delta = record['usable'] - before['usable']
        moved = moved or abs(delta) >= 0.01 * (record.get('effective_total') or 0)
        out.append('<span class="%s" data-delta="%d" title="%s">available %s%s</span>'
                   % ('delta-up' if delta > 0 else 'delta-down' if delta < 0 else 'note', delta,
                      _e(_bytes_title('before', before['usable'])), '+' if delta >= 0 else '&minus;',
                      human(abs(delta))))
    if not moved:
        out.append('<span class="note">remediation left it as it was</span></p>')
        if record.get('memory'):
            out.append(_memory_meter(record['memory'], 'memory', record.get('cgroup'), record))
        return '\n'.join(out)
    out.append('</p>')
    out.append('<div class="cols"><div>')
    out.append(_memory_meter(before['memory'], 'before', before.get('cgroup'), before) if before.get('memory') else
               '<p class="note">before: %s</p>' % _e(before.get('summary')))
    out.append('</div><div>')
    out.append(_memory_meter(record['memory'], 'after', record.get('cgroup'), record) if record.get('memory') else
               '<p class="note">after: %s</p>' % _e(record.get('summary')))
    out.append('</div></div>')
    return '\n'.join(out)


def _remediation(record):
    """What remediation did to the host, fix by fix: applied, refused or failed and why, what it left alone."""
    remediation = record.get('remediation')
    if not remediation:
        return ''
    status = remediation.get('status') or '?'
    out = ['<h3>Remediation%s: <span data-field="remediation" data-status="%s">%s</span></h3>'
           % (' (dry run)' if remediation.get('dry_run') else '', _e(status), _e(status))]
    items = []
    for fix in remediation.get('steps') or []:
        parts = ['<b class="mono">%s</b> %s' % (_e(fix.get('role')), _e(fix.get('status')))]
        if fix.get('done'):
            parts.append(_e('; '.join(fix['done'])))
        if fix.get('why'):
            parts.append('<span class="why">%s</span>' % _e(fix['why']))
        parts.extend('<span class="left">left alone: %s</span>' % _e(text) for text in fix.get('left_alone') or [])
        items.append('<li data-role="%s" data-status="%s">%s</li>' % (_e(fix.get('role')), _e(fix.get('status')),
                                                                      ' &middot; '.join(parts)))
    if items:
        out.append('<ul class="fixes">%s</ul>' % ''.join(items))
    elif remediation.get('why'):
        out.append('<p class="note">%s</p>' % _e(remediation['why']))
    return '\n'.join(out)


def _now(record):
    """' now' in headings of a remediated host, whose reasons and steps are those after the fixes."""
    return ' now' if record.get('before') else ''


def _reasons(record):
    reasons = record.get('reasons') or []
    if not reasons:
        return '<h3>Reasons%s</h3><p class="note">Nothing of concern.</p>' % _now(record)
    items = ''.join('<li class="v-%s"><b>%s</b> &middot; %s</li>'
                    % (r.get('level') if r.get('level') in VERDICTS else 'failed', _e(r.get('level')),
                       _e(r.get('message'))) for r in reasons)
    return '<h3>Reasons%s</h3><ul class="reasons">%s</ul>' % (_now(record), items)


def _recommendations(record):
    recs = sorted(record.get('recommendations') or [], key=lambda r: r.get('rank') or 0)
    if not recs:
        return '<h3>Recommendations%s</h3><p class="note">None: leave this host as it is.</p>' % _now(record)
    out = ['<h3>Recommendations%s, cheapest first</h3><ol class="recs">' % _now(record)]
    for rec in recs:
        extra = []
        if rec.get('bytes'):
            extra.append('<span title="%s">%s</span>' % (_e(_bytes_title('memory', rec['bytes'])), human(rec['bytes'])))
        if rec.get('role'):
            extra.append('role <code>%s</code>' % _e(rec['role']))
        out.append('<li data-rank="%s"><span class="rank">%s</span><div><span class="step" title="%s">%s</span>'
                   '<b>%s</b>%s</div><div class="detail">%s</div></li>'
                   % (_num(rec.get('rank')), _e(rec.get('rank')), _e(_STEP_HINTS.get(rec.get('step'), '')),
                      _e(rec.get('step')), _e(rec.get('title')),
                      (' <span class="role">&middot; %s</span>' % ' &middot; '.join(extra)) if extra else '',
                      _e(rec.get('detail'))))
    out.append('</ol>')
    return '\n'.join(out)


def _groups(record):
    groups = record.get('groups') or []
    if not groups:
        return ''
    rows = []
    for group in groups[:_GROUP_ROWS]:
        status = group.get('status')
        rows.append('<tr><td><code>%s</code>%s</td><td class="num">%s</td><td class="num" title="%s" data-bytes="%s">'
                    '%s <span class="note">%s</span></td><td>%s</td><td class="mono">%s</td></tr>'
                    % (_e(group.get('command')),
                       ' <span class="status status-%s">%s</span>' % (_e(status), _e(status)) if status else '',
                       _e(group.get('count')), _e(_bytes_title('memory', group.get('memory'))),
                       _num(group.get('memory')), human(group.get('memory')), _e(group.get('measure') or '').upper(),
                       _e(', '.join(str(u) for u in group.get('users') or [])),
                       _e(', '.join(str(p) for p in (group.get('pids') or [])[:5]))
                       + (' &hellip;' if (group.get('count') or 0) > 5 else '')))
    more = len(groups) - _GROUP_ROWS
    return ('<h3>Top processes by command</h3><table class="groups"><thead><tr><th>command</th>'
            '<th class="num">procs</th><th class="num">memory</th><th>users</th><th>pids</th></tr></thead>'
            '<tbody>%s</tbody></table>%s'
            % (''.join(rows), '<p class="note">%d more in the JSON report</p>' % more if more > 0 else ''))


def _processes(record):
    processes = ((record.get('top') or {}).get('processes')) or []
    if not processes:
        return ''
    rows = ''.join('<tr><td class="num">%s</td><td>%s</td><td><code>%s</code></td><td class="num" title="%s">%s</td>'
                   '<td class="num">%s</td><td class="num">%s</td></tr>'
                   % (_e(p.get('pid')), _e(p.get('user')), _e(p.get('command')), _e(_bytes_title('RES', p.get('res'))),
                      human(p.get('res')), _e(p.get('mem_percent')), _e(p.get('cpu_percent')))
                   for p in processes[:_PROCESS_ROWS])
    return ('<details><summary>the %d biggest processes as top saw them</summary><table class="procs"><thead><tr>'
            '<th class="num">pid</th><th>user</th><th>command</th><th class="num">RES</th><th class="num">%%MEM</th>'
            '<th class="num">%%CPU</th></tr></thead><tbody>%s</tbody></table></details>'
            % (min(len(processes), _PROCESS_ROWS), rows))


def _victim_size(event):
    """(what, bytes) of a victim: the kernel's anon-rss, or the RSS an early OOM killer printed."""
    if (event.get('killer') or 'kernel') == 'kernel':
        return 'anon-rss', event.get('anon_rss')
    return 'RSS (as %s printed it)' % event['killer'], event.get('rss')


def _unit_stops(stops):
    """The units systemd stopped after an OOM kill: when, which kill, how long they were down, or still are."""
    if not stops:
        return ''
    rows = []
    for stop in stops:
        state = stop.get('state') or {}
        victim = stop.get('victim') or {}
        if stop.get('still_down'):
            after = '<span class="status status-denied">still down</span>'
        elif stop.get('restarted_at') is not None:
            after = 'restarted at %s' % _e(when(stop['restarted_at']))
        else:
            after = 'not known'
        rows.append('<tr data-unit="%s" data-down-seconds="%s"><td><code>%s</code></td><td class="mono">%s</td><td>%s</td>'
                    '<td class="num">%s</td><td>%s</td><td>%s</td></tr>'
                    % (_e(stop.get('unit')), _num(stop.get('down_seconds')), _e(stop.get('unit')), _e(when(stop['at'])),
                       _e('%s took %s%s' % (stop.get('killer') or 'kernel', 'its main process' if stop.get('main_killed')
                                            else 'a process', ' (%s, pid %s)' % (victim.get('command'), victim.get('pid'))
                                            if victim.get('pid') else '')),
                       _e('%s s' % stop['down_seconds'] if stop.get('down_seconds') is not None else ''), after,
                       _e(', '.join('%s=%s' % (key, state[key]) for key in ('OOMPolicy', 'Restart', 'NRestarts') if key in state))))
    return ('<h4>Units systemd stopped after an OOM kill</h4><p class="note">their cgroup, with its memory.events, went '
            'with them: their kills are counted from the log</p><table class="oom"><thead><tr><th>unit</th><th>stopped</th>'
            '<th>after</th><th class="num">down</th><th>since</th><th>policy</th></tr></thead><tbody>%s</tbody></table>'
            % ''.join(rows))


def _oom(record):
    oom = record.get('oom')
    if not oom:
        return ''
    kills = oom.get('kills') or 0
    events = list(reversed(oom.get('events') or []))
    sources = ', '.join(str(s) for s in oom.get('sources') or [])
    recent = oom.get('recent')
    when_text = ''
    if recent is not None:
        when_text = '; <b data-oom-recent="%s">%s</b> %s' % (
            _num(recent), _e(recent), 'since the last run (%s)' % _e(when(oom['since_previous_run']))
            if oom.get('judged_since_run') else 'in the last %s h' % _e(oom.get('window_hours')))
    if oom.get('last'):
        when_text += ', the last at %s' % _e(when(oom['last']))
    head = ('<h3>OOM kills</h3><p class="note" data-oom-kills="%s"><b>%s</b> kill(s) known%s; %s</p>'
            % (_num(kills), _e(kills), when_text, 'history from %s' % _e(sources) if sources else
               'no kernel log could be read to say which processes'))
    early = [(killer, count) for killer, count in sorted((oom.get('by_killer') or {}).items()) if killer != 'kernel' and count]
    if early:  # the early OOM killers' own kills, which the kernel's counter never counts
        head += '<p class="note" data-oom-killers="%s">by killer: the kernel %s, %s</p>' % (
            _e(','.join(killer for killer, _count in early)), _e((oom.get('by_killer') or {}).get('kernel') or 0),
            ', '.join('%s %s' % (_e(killer), _e(count)) for killer, count in early))
    if oom.get('by_cgroup'):
        head += '<p class="note">counted by cgroup: %s</p>' % ', '.join(
            '<code>%s</code> %s' % (_e(item['cgroup']), _e(item['oom_kill'])) for item in oom['by_cgroup'])
    if oom.get('incomplete'):
        head += '<p class="note warn">the history may be incomplete: %s</p>' % _e('; '.join(oom['incomplete']))
    unconfirmed = oom.get('unconfirmed') or {}
    if unconfirmed.get('count'):  # the kill lines of a source that cannot tell who wrote them: a count, no names
        head += ''.join('<p class="note warn" data-oom-unconfirmed="%s">%s kill line(s) not judged: %s</p>'
                        % (_num(unconfirmed['count']), _e(unconfirmed['count']), _e(source.get('note')))
                        for source in unconfirmed.get('sources') or [{'note': 'their source cannot tell who wrote them'}])
    head += _unit_stops(oom.get('unit_stops') or [])
    if not events:
        return head
    rows = ''.join('<tr data-killer="%s"><td class="mono">%s</td><td>%s</td><td class="num">%s</td><td><code>%s</code></td>'
                   '<td class="num" title="%s">%s</td><td>%s</td><td class="mono">%s</td></tr>'
                   % (_e(ev.get('killer') or 'kernel'),
                      _e(when(ev['epoch']) if ev.get('epoch') else ev.get('time') or ev.get('uptime')),
                      _e(ev.get('killer') or 'kernel'), _e(ev.get('pid')), _e(ev.get('comm')),
                      _e(_bytes_title(*_victim_size(ev))), human(_victim_size(ev)[1]) if _victim_size(ev)[1] is not None else '',
                      _e(ev.get('constraint') or ev.get('signal')), _e(ev.get('task_memcg') or ev.get('memcg') or ev.get('unit')))
                   for ev in events[:_OOM_ROWS])
    more = len(events) - _OOM_ROWS
    return (head + '<table class="oom"><thead><tr><th>when</th><th>killer</th><th class="num">pid</th><th>killed</th>'
            '<th class="num">size</th><th>constraint / signal</th><th>cgroup / unit</th></tr></thead><tbody>%s</tbody>'
            '</table>%s' % (rows, '<p class="note">%d older in the JSON report</p>' % more if more > 0 else ''))


# kills whose picture the page shows, worst first, and commands per kill
_POSTMORTEM_KILLS = 5
_POSTMORTEM_COMMANDS = 6


def _postmortem(record):
    """What held memory at each kill, worst first: the biggest commands of its task dump."""
    entries = [entry for entry in record.get('postmortem') or [] if entry.get('tasks')]
    if not entries:
        return ''
    out = ['<h3>What held memory when the OOM killer struck</h3>']
    for entry in entries[:_POSTMORTEM_KILLS]:
        victim = entry.get('victim') or {}
        memory = entry.get('memory') or {}
        at = when(entry['epoch']) if entry.get('epoch') else entry.get('time')
        where = entry.get('cgroup') if entry.get('scope') == 'cgroup' else entry.get('scope')
        parts = ', '.join('%s %s' % (name, human(memory[name])) for name in ('anon', 'file', 'shmem', 'slab', 'swap')
                          if memory.get(name) is not None)
        swapped = swap_words(memory)
        parts = '; '.join(part for part in (parts, swapped) if part)
        limit = ('; the limit <span data-bytes="%s">%s</span>' % (_num(memory['limit']), human(memory['limit']))
                 if memory.get('limit') else '')
        rows = ''.join(
            '<tr data-command="%s"><td><code>%s</code>%s</td><td class="num">%s</td><td class="num" data-bytes="%s" '
            'title="%s">%s</td><td class="num" data-bytes="%s">%s</td></tr>'
            % (_e(task.get('command')), _e(task.get('command')),
               ' <span class="status status-denied">killed</span>' if victim.get('pid') in (task.get('pids') or []) else '',
               _e(task.get('count')), _num(task.get('rss')), _e(_bytes_title('RSS', task.get('rss'))),
               human(task.get('rss')), _num(task.get('swap')), human(task.get('swap')))
            for task in entry['tasks'][:_POSTMORTEM_COMMANDS])
        other = entry.get('other') or {}
        more = len(entry['tasks']) - _POSTMORTEM_COMMANDS + (other.get('commands') or 0)
        out.append(
            '<div class="postmortem" data-epoch="%s" data-victim-pid="%s"><p class="note"><b>%s</b>: killed '
            '<code>%s</code> (pid %s) in <code>%s</code>; %d task(s) listed, their RSS <span data-bytes="%s">%s</span> '
            '(pages they share count once per task)%s%s</p>'
            '<table class="oom"><thead><tr><th>command</th><th class="num">tasks</th><th class="num">RSS</th>'
            '<th class="num">swap</th></tr></thead><tbody>%s</tbody></table>%s</div>'
            % (_num(entry.get('epoch')), _num(victim.get('pid')), _e(at), _e(victim.get('command')),
               _e(victim.get('pid')), _e(where), entry.get('task_count') or 0, _num(entry.get('rss')),
               human(entry.get('rss')), limit, '; %s' % _e(parts) if parts else '', rows,
               '<p class="note">%d more command(s) in the JSON report</p>' % more if more > 0 else ''))
    if len(entries) > _POSTMORTEM_KILLS:
        out.append('<p class="note">%d more kill(s) in the JSON report</p>' % (len(entries) - _POSTMORTEM_KILLS))
    return '\n'.join(out)


def _app_deaths(record):
    """The app servers that lost workers to SIGKILL: which, how many, when, and how many the kernel logged."""
    rows = ((record.get('app_deaths') or {}).get('services')) or []
    if not rows:
        return ''
    body = ''.join(
        '<tr data-service="%s"><td><code>%s</code></td><td>%s</td><td class="num" data-lost="%s">%s</td>'
        '<td class="num">%s</td><td class="mono">%s</td><td class="mono">%s</td></tr>'
        % (_e(row.get('service')), _e(row.get('service')), _e(row.get('server')), _num(row.get('lost')),
           _e(row.get('lost')), _e(row.get('oom_killed')), _e(when(row['first']) if row.get('first') else ''),
           _e(when(row['last']) if row.get('last') else ''))
        for row in rows)
    return ('<h3>App servers that lost workers to SIGKILL</h3><table class="oom"><thead><tr><th>service</th>'
            '<th>server</th><th class="num">workers lost</th><th class="num">in the kernel\'s OOM log</th>'
            '<th>first</th><th>last</th></tr></thead><tbody>%s</tbody></table>' % body)


_CHART_W, _CHART_H, _PAD_L, _PAD_B = 640, 150, 64, 20
_LEGEND = ('#2f6fdf', '#d9822b', '#7a4fc9', '#2a9d6f', '#c0392b')


def _chart(name, series):
    """An inline SVG line chart of byte counts over time: ``series`` [(label, [(epoch, bytes)])], at most
    five. Each point carries its exact figures (``data-epoch``, ``data-bytes``); nothing is loaded."""
    series = [(label, [(x, y) for x, y in points if x is not None and y is not None]) for label, points in series[:5]]
    series = [(label, points) for label, points in series if points]
    if not series:
        return ''
    xs = [x for _label, points in series for x, _y in points]
    top = max([y for _label, points in series for _x, y in points] + [1])
    low, high = min(xs), max(xs)
    span = (high - low) or 1.0

    def at(x, y):
        return (_PAD_L + (x - low) / span * (_CHART_W - _PAD_L - 8), 8 + (1 - float(y) / top) * (_CHART_H - _PAD_B - 8))
    out = ['<svg class="chart" data-chart="%s" viewBox="0 0 %d %d" role="img" aria-label="%s over the runs">'
           % (_e(name), _CHART_W, _CHART_H, _e(name)),
           '<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>' % (_PAD_L, _CHART_H - _PAD_B, _CHART_W - 8, _CHART_H - _PAD_B),
           '<text x="%d" y="14" text-anchor="end">%s</text>' % (_PAD_L - 6, _e(human(top))),
           '<text x="%d" y="%d" text-anchor="end">0</text>' % (_PAD_L - 6, _CHART_H - _PAD_B),
           '<text x="%d" y="%d">%s</text>' % (_PAD_L, _CHART_H - 4, _e(when(low))),
           '<text x="%d" y="%d" text-anchor="end">%s</text>' % (_CHART_W - 8, _CHART_H - 4, _e(when(high)))]
    for index, (label, points) in enumerate(series):
        coords = [at(x, y) for x, y in points]
        out.append('<polyline class="s%d" data-series="%s" points="%s"/>'
                   % (index, _e(label), ' '.join('%.1f,%.1f' % c for c in coords)))
        out.extend('<circle class="s%d" r="2.5" cx="%.1f" cy="%.1f" data-series="%s" data-epoch="%s" data-bytes="%s">'
                   '<title>%s %s: %s</title></circle>'
                   % (index, cx, cy, _e(label), _e(repr(float(x))), _num(y), _e(label), _e(when(x)), _e(human(y)))
                   for (x, y), (cx, cy) in zip(points, coords))
    out.append('</svg>')
    legend = ''.join('<span><i style="background:%s"></i>%s</span>' % (_LEGEND[index], _e(label))
                     for index, (label, _points) in enumerate(series))
    return ''.join(out) + '<div class="legend">%s</div>' % legend


def _history(record):
    """The host over its runs: available memory and swap, its biggest commands, the time to
    exhaustion and the leak suspects."""
    runs = (record.get('history') or {}).get('runs') or []
    if not runs:
        return ''
    trend = record.get('trend') or {}
    if trend.get('exhaustion_seconds') is not None:
        seconds = trend['exhaustion_seconds']
        said = ('<p class="note warn" data-exhaustion="%s">at the current rate, available memory runs out in '
                '<b>%s</b>: %s</p>' % (_e(repr(float(seconds))), _e(_duration(seconds)), _e(trend.get('reason'))))
    else:
        said = '<p class="note" data-exhaustion="">no time to exhaustion: %s</p>' % _e(trend.get('reason'))
    memory = _chart('memory', [('available', [(when_read(r), r.get('usable')) for r in runs]),
                               ('swap used', [(when_read(r), r.get('swap_used')) for r in runs if r.get('swap_total')])])
    names = []
    for run in reversed(runs):  # the newest run's biggest commands
        names = [item['command'] for item in run.get('top') or []][:4]
        if names:
            break
    commands = _chart('commands', [(name, [(when_read(r), item.get('memory')) for r in runs
                                           for item in r.get('top') or [] if item.get('command') == name])
                                   for name in names])
    rated = [leak for leak in record.get('leaks') or [] if leak.get('slope_bytes_per_day') is not None]
    brief = [leak for leak in record.get('leaks') or [] if leak.get('slope_bytes_per_day') is None]
    suspects = ''
    if rated:
        suspects += '<p class="note warn">leak suspects:</p><ul class="gaps">%s</ul>' % ''.join(
            '<li data-leak="%s">%s (pid %s) grows %s, from %d runs over %s (r2 %s): %s to %s</li>'
            % (_e(leak['command']), _e(leak['command']), _e(leak.get('pid')),
               _e(rate(leak['slope_bytes_per_day'], leak['span_seconds'])), leak['runs'],
               _e(duration(leak['span_seconds'])), _e(leak['r2']), _e(human(leak['from'])), _e(human(leak['to'])))
            for leak in rated)
    if brief:
        suspects += '<p class="note">grew run after run, over too little time to call it a leak:</p><ul class="gaps">%s</ul>' % ''.join(
            '<li data-grew="%s">%s (pid %s) grew %s in %s over %d runs (%s to %s): %s</li>'
            % (_e(leak['command']), _e(leak['command']), _e(leak.get('pid')), _e(human(leak['grew'])),
               _e(duration(leak['span_seconds'])), leak['runs'], _e(human(leak['from'])), _e(human(leak['to'])),
               _e(leak.get('reason')))
            for leak in brief)
    if trend.get('machine'):
        said += '<p class="note" data-trend-machine="">%s</p>' % _e(trend['machine'])
    return '<h3>Over time (%d run(s))</h3>%s%s%s%s' % (len(runs), said, memory, commands, suspects)


def _duration(seconds):
    for size, unit in ((86400.0, 'day'), (3600.0, 'hour'), (60.0, 'minute')):
        if seconds >= size:
            return '%.1f %s(s)' % (seconds / size, unit)
    return '%d second(s)' % seconds


def _gaps(record):
    gaps = record.get('gaps') or []
    if not gaps:
        return ''
    return ('<h3>What could not be read</h3><ul class="gaps">%s</ul>'
            % ''.join('<li>%s</li>' % _e(gap) for gap in gaps))


def _host_section(record, anchor):
    verdict = _verdict(record)
    out = ['<section class="card host v-%s" id="%s" data-host="%s" data-verdict="%s">'
           % (verdict, anchor, _e(record.get('host')), verdict),
           '<h2><span class="mono" data-field="host">%s</span> %s</h2>' % (_e(record.get('host')), _badge(verdict)),
           _headline(record)]
    if record.get('summary') and record.get('effective_total') is not None:
        out.append('<p class="note">%s</p>' % _e(record['summary']))
    if record.get('before'):
        out.append(_before_after(record))
    elif record.get('memory'):
        out.append(_memory_meter(record['memory'], 'memory', record.get('cgroup'), record))
    out.append(_remediation(record))
    if verdict == 'failed' and not record.get('reasons') and not record.get('recommendations'):
        out.append('<p class="note">Nothing was diagnosed: see the play\'s output for this host '
                   '(unreachable, or memory_facts failed).</p>')
    else:
        out.append('<div class="cols"><div>%s</div><div>%s</div></div>'
                   % (_reasons(record), _recommendations(record)))
    out.append(_history(record))
    out.append(_groups(record))
    out.append(_processes(record))
    out.append(_oom(record))
    out.append(_postmortem(record))
    out.append(_app_deaths(record))
    out.append(_gaps(record))
    out.append('</section>')
    return '\n'.join(part for part in out if part)


def _delta_cell(record):
    """Available memory gained (or lost) since before remediation, for the overview."""
    earlier = (record.get('before') or {}).get('usable')
    if earlier is None or record.get('usable') is None:
        return '<td class="num">&ndash;</td>'
    delta = record['usable'] - earlier
    return ('<td class="num %s" data-field="delta" data-bytes="%d" title="%s">%s%s</td>'
            % ('delta-up' if delta > 0 else 'delta-down' if delta < 0 else 'note', delta,
               _e(_bytes_title('available before', earlier)), '+' if delta >= 0 else '&minus;', human(abs(delta))))


def _overview(report, ids):
    fleet = report.get('fleet') or {}
    counts = fleet.get('counts') or {}
    records = _ordered(report)
    has_before = any(r.get('before') for r in records)
    out = ['<section class="card fleet" id="fleet" data-hosts="%s" data-worst="%s" data-usable="%s" data-total="%s">'
           % (_num(fleet.get('hosts')), _e(fleet.get('worst')), _num(fleet.get('usable')), _num(fleet.get('total'))),
           '<h2>Fleet %s</h2>' % _badge(fleet.get('worst') if fleet.get('worst') in VERDICTS else 'failed'),
           '<div class="counts">']
    for verdict in reversed(VERDICTS):
        number = counts.get(verdict) or 0
        out.append('<div class="count v-%s%s" data-verdict="%s" data-count="%d"><b>%d</b> %s</div>'
                   % (verdict, '' if number else ' zero', verdict, number, number, verdict))
    out.append('</div>')
    if not records:
        out.append('<p class="empty">%s</p>' % _e(NO_HOSTS))
    if fleet.get('total'):
        out.append('<p class="meta" title="%s">%s of %s available over %d host(s)</p>'
                   % (_e(_bytes_title('available', fleet.get('usable'))), human(fleet.get('usable')),
                      human(fleet.get('total')), fleet.get('hosts') or 0))
    out.append('<table class="overview"><thead><tr><th>host</th>%s<th>memory</th>'
               '<th class="num">available</th>%s<th class="num">of</th><th>first step</th></tr></thead><tbody>'
               % ('<th>before</th><th>after</th>' if has_before else '<th>verdict</th>',
                  '<th class="num">change</th>' if has_before else ''))
    for record in records:
        verdict = _verdict(record)
        recs = sorted(record.get('recommendations') or [], key=lambda r: r.get('rank') or 0)
        first = ('<span class="step">%s</span>%s' % (_e(recs[0].get('step')), _e(recs[0].get('title')))
                 if recs else '<span class="note">%s</span>'
                 % ('none' if verdict != 'failed' else _e(record.get('summary'))))
        cells = []
        if has_before:
            cells.append('<td>%s</td>' % (_badge(_verdict(record['before'])) if record.get('before') else ''))
        cells.append('<td>%s</td><td>%s</td>' % (_badge(verdict), _mini_bar(record)))
        if record.get('effective_total') is not None:
            cells.append('<td class="num" data-field="usable" data-bytes="%s" title="%s">%s <span class="note">'
                         '%s%%</span></td>' % (_num(record.get('usable')),
                                               _e(_bytes_title('available', record.get('usable'))),
                                               human(record.get('usable')), _e(record.get('usable_pct'))))
        else:
            cells.append('<td class="num">&ndash;</td>')
        if has_before:
            cells.append(_delta_cell(record))
        if record.get('effective_total') is not None:
            cells.append('<td class="num" data-field="total" data-bytes="%s">%s</td>'
                         % (_num(record.get('effective_total')), human(record.get('effective_total'))))
        else:
            cells.append('<td class="num">&ndash;</td>')
        out.append('<tr data-host="%s" data-verdict="%s"><td><a class="mono" href="#%s">%s</a></td>%s<td>%s</td></tr>'
                   % (_e(record.get('host')), verdict, ids.get(record.get('host')), _e(record.get('host')),
                      ''.join(cells), first))
    out.append('</tbody></table></section>')
    return '\n'.join(out)


def render_html(report):
    """The fleet report as one self-contained HTML page."""
    if not isinstance(report, dict) or not isinstance(report.get('hosts'), list):
        raise ValueError('not a headroom report: expected a dict with a list of hosts, got %r'
                         % (type(report).__name__ if not isinstance(report, dict) else sorted(report)))
    ids = _host_ids(report)
    generated = report.get('generated_at') or 'unknown time'
    body = [_overview(report, ids)]
    fleet_runs = (report.get('fleet') or {}).get('trend') or []
    if len(fleet_runs) > 1:
        body.append('<section class="card fleet-trend"><h2>The fleet over time</h2>%s</section>' % _chart(
            'fleet', [('available', [(run['epoch'], run.get('usable')) for run in fleet_runs]),
                      ('memory', [(run['epoch'], run.get('total')) for run in fleet_runs])]))
    body.extend(_host_section(record, ids.get(record.get('host'))) for record in _ordered(report))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            # The page needs nothing from outside; say so to the browser as well.
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">\n'
            '<title>headroom: memory report %s</title>\n<style>%s</style></head>\n<body><main>\n'
            '<header><h1>Memory headroom</h1><p class="meta">fleet report generated <time>%s</time></p></header>\n'
            '%s\n<footer>headroom &middot; exact byte counts are in each figure\'s tooltip and in the JSON report'
            '</footer>\n</main></body></html>\n'
            % (_e(generated), _CSS, _e(generated), '\n'.join(body)))


# Only what is markup in the middle of a line: host text never starts one, and every escape
# shows as a stray backslash where chat tools (Slack's mrkdwn) ignore CommonMark escapes.
_MD_SPECIAL = '\\`*_[]<>|~'


def _md(value, cap=80):
    """Host text made inert in Markdown: one line, at most ``cap`` characters, markup escaped."""
    text = ' '.join(str('' if value is None else value).split())
    if len(text) > cap:
        text = text[:cap - 1] + '…'
    return ''.join('\\' + char if char in _MD_SPECIAL else char for char in text)


def _md_code(value, cap=80):
    """Host text as a code span: shown as typed (no escapes to see in chat), inert, one line."""
    text = ' '.join(str('' if value is None else value).split()).replace('`', "'") or '?'
    if len(text) > cap:
        text = text[:cap - 1] + '…'
    return '`%s`' % text


def render_markdown(report, limit=MARKDOWN_HOSTS, link=None):
    """A short summary for a ticket or a chat message: the fleet, then the worst hosts with their first step."""
    if not isinstance(report, dict) or not isinstance(report.get('hosts'), list):
        raise ValueError('not a headroom report: expected a dict with a list of hosts')
    fleet = report.get('fleet') or {}
    counts = fleet.get('counts') or {}
    records = _ordered(report)
    tally = ', '.join('%d %s' % (counts[v], v) for v in reversed(VERDICTS) if counts.get(v))
    line = '**headroom: fleet %s**: %d host(s)%s' % (
        fleet.get('worst') or 'ok', len(records), ' (%s)' % tally if tally else '')
    if fleet.get('total'):
        line += ', %s of %s available' % (human(fleet.get('usable')), human(fleet.get('total')))
    out = [line, ''] + ([NO_HOSTS, ''] if not records else [])
    remediation = fleet.get('remediation')
    if remediation:
        out[1:1] = [_md(remediation['lines'][0], cap=200)]
    for record in records[:limit]:
        verdict = _verdict(record)
        if record.get('before'):
            verdict = '%s → %s' % (_verdict(record['before']), verdict)
        if record.get('effective_total') is not None:
            state = '%s of %s available (%s%%' % (human(record.get('usable')), human(record['effective_total']),
                                                  record.get('usable_pct'))
            earlier = (record.get('before') or {}).get('usable')
            if earlier is not None and earlier != record.get('usable'):
                delta = record['usable'] - earlier
                state += ', %s%s' % ('+' if delta > 0 else '-', human(abs(delta)))
            state += ')'
        else:
            state = _md((record.get('summary') or 'no diagnosis').split(': ', 1)[-1], cap=120)
        recs = sorted(record.get('recommendations') or [], key=lambda r: r.get('rank') or 0)
        step = ''
        if recs:
            step = ': %s' % _md(recs[0].get('title'))
            if recs[0].get('role'):
                step += ' (role %s)' % _md_code(recs[0]['role'])
            if len(recs) > 1:
                step += ', +%d more step(s)' % (len(recs) - 1)
        down = [stop['unit'] for stop in ((record.get('oom') or {}).get('unit_stops') or []) if stop.get('still_down')]
        if down:  # the site is gone: said beside the verdict, not only in the page
            step += '; still down after an OOM kill: %s' % ', '.join(_md_code(unit) for unit in down[:3])
        fixed = record.get('remediation') or {}
        if fixed.get('status') in ('refused', 'failed', 'stopped'):
            step += '; remediation %s: %s' % (fixed['status'], _md(fixed.get('why'), cap=160))
        out.append('- **%s** %s: %s%s' % (verdict, _md_code(record.get('host')), state, step))
    rest = records[limit:]
    if rest:
        left = {}
        for record in rest:
            left[_verdict(record)] = left.get(_verdict(record), 0) + 1
        out.append('- … and %d more host(s): %s' % (len(rest), ', '.join(
            '%d %s' % (left[v], v) for v in reversed(VERDICTS) if left.get(v))))
    if link:
        out.extend(['', 'Full report: %s' % _md_code(link, cap=200)])
    out.append('')
    return '\n'.join(out)
