"""The fleet report for people: HTML page and Markdown summary, on real and constructed reports.

The sample reports are in tests/fixtures/reports (see generate.py there): localhost*.json come from
real diagnose.yml / remediate.yml runs on a test machine, containers.json from diagnose.yml over it and
three Debian containers (one capped at 256 MiB and nearly full); fleet*.json were built by
report.build_report over facts that audit() judged. Pages are parsed back with the standard library's HTML parser,
the way a browser tokenizes them, and compared with the JSON they came from.
"""
import copy
import json
import os
import re
from html.parser import HTMLParser

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit
from ansible_collections.headroom.memory.plugins.module_utils.units import human
from ansible_collections.headroom.memory.plugins.module_utils.report.render import (
    MARKDOWN_HOSTS, render_html, render_markdown)
from ansible_collections.headroom.memory.plugins.module_utils.report.records import build_report, merge_reports

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures', 'reports')
GIB = 1 << 30
VOID = {'meta', 'br', 'img', 'input', 'link', 'hr', 'wbr', 'source', 'col', 'area', 'base', 'embed'}


def load(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


class Node(object):
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return ''.join(child if isinstance(child, str) else child.text() for child in self.children)

    def walk(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                for node in child.walk():
                    yield node

    def find(self, **attrs):
        return [node for node in self.walk() if all(node.attrs.get(k.replace('_', '-')) == v for k, v in attrs.items())]

    def has(self, name):
        return [node for node in self.walk() if name in node.attrs]


class Page(HTMLParser):
    """A tree of the page; fails on a closing tag that does not match, which a broken escape would cause."""

    def __init__(self, text):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.root = self.node = Node('#root', {}, None)
        self.feed(text)
        self.close()
        assert self.node is self.root, 'unclosed <%s>' % self.node.tag

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.node)
        self.node.children.append(node)
        if tag not in VOID:
            self.node = node

    def handle_startendtag(self, tag, attrs):
        self.node.children.append(Node(tag, attrs, self.node))

    def handle_endtag(self, tag):
        assert self.node.tag == tag, '</%s> closes <%s>' % (tag, self.node.tag)
        self.node = self.node.parent

    def handle_data(self, data):
        self.node.children.append(data)


def sections(page):
    return [node for node in page.root.walk() if node.tag == 'section' and 'data-host' in node.attrs]


def real_facts():
    return load('localhost-facts.json')


def judged(facts, total, available, swap_total=0):
    """The real facts of the test machine with other memory figures, judged again."""
    facts = copy.deepcopy(facts)
    facts['memory'].update(total=total, available=available, used=total - available, free=available // 2,
                           buff_cache=total - (total - available) - available // 2, swap_total=swap_total,
                           swap_used=0, swap_free=swap_total)
    facts['audit'] = audit({'memory': facts['memory'], 'meminfo': None, 'cgroup': None, 'rates': facts['rates'],
                            'pressure': facts['pressure'], 'oom_kills': 0, 'oom_events': [],
                            'overcommit_memory': facts['overcommit_memory'], 'groups': facts['groups']})
    return facts


@pytest.mark.parametrize('name', ['localhost.json', 'localhost-remediate.json', 'containers.json', 'fleet.json',
                                  'fleet-remediate.json'])
def test_every_host_shows_the_numbers_of_its_record(name):
    report = load(name)
    page = Page(render_html(report))
    shown = sections(page)
    assert [s.attrs['data-host'] for s in shown] == report['fleet']['order']
    records = dict((r['host'], r) for r in report['hosts'])
    for section in shown:
        record = records[section.attrs['data-host']]
        assert section.attrs['data-verdict'] == record['verdict']
        badge = section.find(data_field='verdict')[0]
        assert badge.text() == record['verdict']
        if record['verdict'] == 'failed':
            assert not section.has('data-available') and not section.has('data-usable')
            assert record['summary'] in section.text()
            continue
        headline = [n for n in section.has('data-usable') if n.tag == 'p'][0]
        assert int(headline.attrs['data-usable']) == record['usable']
        assert int(headline.attrs['data-total']) == record['effective_total']
        assert headline.find(data_field='usable')[0].text() == human(record['usable'])
        assert headline.find(data_field='total')[0].text() == human(record['effective_total'])
        assert '(%s%%)' % record['usable_pct'] in headline.text()


@pytest.mark.parametrize('name', ['localhost.json', 'containers.json', 'fleet.json'])
def test_memory_bar_parts_add_up_to_free_s_figures(name):
    report = load(name)
    page = Page(render_html(report))
    records = dict((r['host'], r) for r in report['hosts'])
    checked = 0
    for section in sections(page):
        memory = records[section.attrs['data-host']].get('memory')
        if not memory:
            continue
        meter = section.has('data-memory')[0]
        parts = dict((n.attrs['data-part'], int(n.attrs['data-bytes'])) for n in meter.has('data-part'))
        # procps 4.0.1+ prints used = total - available, which overlaps buff/cache: the bar draws
        # total - free - buff/cache instead, and splits buff/cache where MemAvailable ends
        assert parts['used'] == memory['total'] - memory['free'] - memory['buff_cache']
        assert parts['cache_held'] + parts['cache_reclaimable'] == memory['buff_cache']
        assert parts['cache_reclaimable'] + parts['free'] == memory['available']
        assert parts['free'] == memory['free']
        assert int(meter.attrs['data-available']) == memory['available']
        assert int(meter.attrs['data-used']) == memory['used']
        assert int(meter.attrs['data-swap-used']) == memory['swap_used']
        ram = ('used', 'cache_held', 'cache_reclaimable', 'free')
        widths = [float(n.attrs['style'].split(':')[1].rstrip('%')) for n in meter.has('data-part')
                  if n.attrs['data-part'] in ram]
        assert sum(widths) == pytest.approx(100.0, abs=0.01)
        for label in ('used %s' % human(parts['used']), 'free %s' % human(memory['free']),
                      'available %s' % human(memory['available']), 'buff/cache %s' % human(memory['buff_cache'])):
            assert label in meter.text()
        if memory['swap_total']:
            assert parts['swap'] == memory['swap_used']
            assert parts['swapfree'] == memory['swap_total'] - memory['swap_used']
        checked += 1
    assert checked == sum(1 for r in report['hosts'] if r.get('memory'))


def test_fleet_overview_counts_and_order():
    report = load('fleet.json')
    page = Page(render_html(report))
    fleet = page.root.find(id='fleet')[0]
    counts = dict((n.attrs['data-verdict'], int(n.attrs['data-count'])) for n in fleet.has('data-count'))
    assert counts == report['fleet']['counts']
    assert sum(counts.values()) == len(report['hosts'])
    assert [n.attrs['data-host'] for n in fleet.walk() if n.tag == 'tr' and 'data-host' in n.attrs] \
        == report['fleet']['order']
    assert int(fleet.attrs['data-usable']) == report['fleet']['usable']
    assert '%s of %s available' % (human(report['fleet']['usable']), human(report['fleet']['total'])) in fleet.text()
    # each row links to its host's section
    anchors = dict((s.attrs['data-host'], s.attrs['id']) for s in sections(page))
    for row in (n for n in fleet.walk() if n.tag == 'tr' and 'data-host' in n.attrs):
        assert [a for a in row.walk() if a.tag == 'a'][0].attrs['href'] == '#' + anchors[row.attrs['data-host']]


def test_recommendations_in_rank_order_with_step_and_role():
    report = load('fleet.json')
    page = Page(render_html(report))
    records = dict((r['host'], r) for r in report['hosts'])
    db = [s for s in sections(page) if s.attrs['data-host'] == 'db-1'][0]
    items = [n for n in db.walk() if n.tag == 'li' and 'data-rank' in n.attrs]
    recs = records['db-1']['recommendations']
    assert len(recs) >= 4
    assert [int(n.attrs['data-rank']) for n in items] == [r['rank'] for r in recs]
    for item, rec in zip(items, recs):
        assert rec['title'] in item.text() and rec['step'] in item.text()
        assert (rec['role'] or '') in item.text()


def test_oom_history_newest_first_and_capped():
    report = load('localhost.json')
    record = report['hosts'][0]
    page = Page(render_html(report))
    section = sections(page)[0]
    oom = section.has('data-oom-kills')[0]
    assert int(oom.attrs['data-oom-kills']) == record['oom']['kills']
    table = [n for n in section.walk() if n.tag == 'table' and n.attrs.get('class') == 'oom']
    events = record['oom']['events']
    if not events:
        assert not table
        return
    rows = [n for n in table[0].walk() if n.tag == 'tr'][1:]
    assert len(rows) == min(10, len(events))
    assert events[-1]['comm'] in rows[0].text() and str(events[-1]['pid']) in rows[0].text()


def test_host_text_cannot_inject_markup():
    report = load('fleet.json')
    text = render_html(report)
    page = Page(text)
    tags = set(node.tag for node in page.root.walk())
    assert 'script' not in tags and 'img' not in tags
    assert not [n for n in page.root.walk() if any(k.startswith('on') for k in n.attrs)]
    evil = [r for r in report['hosts'] if '<img' in r['host']][0]
    section = [s for s in sections(page) if s.attrs['data-host'] == evil['host']][0]
    assert section.find(data_field='host')[0].text() == evil['host']
    assert '<script>alert("pwn")</script>' in section.text()
    # the injected gap is shown as text too
    assert 'smaps_rollup: <b>not</b> readable & "quoted"' in section.text()
    # anchors carry nothing of the host's name
    assert section.attrs['id'].startswith('host-') and section.attrs['id'][5:].isdigit()


def test_page_is_self_contained():
    page = Page(render_html(load('fleet-remediate.json')))
    for node in page.root.walk():
        assert node.tag not in ('script', 'link', 'img', 'iframe', 'object')
        for name in ('src', 'srcset', 'action'):
            assert name not in node.attrs
        assert node.attrs.get('href', '#').startswith('#')
    styles = [n for n in page.root.walk() if n.tag == 'style']
    assert len(styles) == 1 and 'url(' not in styles[0].text() and '@import' not in styles[0].text()


def test_before_and_after_when_remediation_ran():
    report = load('fleet-remediate.json')
    page = Page(render_html(report))
    records = dict((r['host'], r) for r in report['hosts'])
    db = [s for s in sections(page) if s.attrs['data-host'] == 'db-1'][0]
    record = records['db-1']
    change = db.has('data-before-verdict')[0]
    verdicts = [change.attrs['data-before-verdict'], change.attrs['data-after-verdict']]
    assert verdicts == record['change']['verdict']
    delta = record['change']['usable'][1] - record['change']['usable'][0]
    assert int(change.has('data-delta')[0].attrs['data-delta']) == delta > 0
    meters = dict((m.attrs['data-memory'], m) for m in db.has('data-memory'))
    assert sorted(meters) == ['after', 'before']
    assert int(meters['before'].attrs['data-available']) == record['before']['memory']['available']
    assert int(meters['after'].attrs['data-available']) == record['memory']['available']
    # a host remediation did not touch keeps one bar
    cache = [s for s in sections(page) if s.attrs['data-host'] == 'cache-2'][0]
    assert [m.attrs['data-memory'] for m in cache.has('data-memory')] == ['memory']
    # the overview gets a before column
    fleet = page.root.find(id='fleet')[0]
    row = [n for n in fleet.walk() if n.tag == 'tr' and n.attrs.get('data-host') == 'db-1'][0]
    assert [b.text() for b in row.find(data_field='verdict')] == record['change']['verdict']


def test_real_remediation_report_renders_its_before_record():
    report = load('localhost-remediate.json')
    record = report['hosts'][0]
    assert record.get('before'), 'the fixture lost its before record: regenerate it'
    page = Page(render_html(report))
    change = sections(page)[0].has('data-before-verdict')[0]
    assert change.attrs['data-before-verdict'] == record['before']['verdict']


@pytest.mark.parametrize('name, host', [('containers.json', 'render-fx-tight'), ('fleet.json', 'api-3')])
def test_cgroup_limited_host_shows_the_limit_it_is_judged_on(name, host):
    report = load(name)
    record = [r for r in report['hosts'] if r['host'] == host][0]
    assert record['effective_total'] == record['cgroup']['limit'] < record['memory']['total']
    page = Page(render_html(report))
    section = [s for s in sections(page) if s.attrs['data-host'] == host][0]
    row = section.has('data-cgroup-limit')[0]
    assert int(row.attrs['data-cgroup-limit']) == record['cgroup']['limit']
    assert 'of the cgroup limit available' in section.find(data_usable=str(record['usable']))[0].text()


def test_merged_slices_render_like_the_whole_fleet():
    facts = real_facts()
    hosts = ['node-%02d' % i for i in range(6)]
    every = dict((h, judged(facts, 8 * GIB, (i + 1) * GIB // 3)) for i, h in enumerate(hosts))
    whole = build_report(hosts, [every[h] for h in hosts], '2026-11-25T10:00:00Z')
    merged = merge_reports([build_report(hosts[k::2], [every[h] for h in hosts[k::2]], '2026-11-25T10:00:0%dZ' % k)
                            for k in range(2)])
    order = [s.attrs['data-host'] for s in sections(Page(render_html(merged)))]
    assert order == whole['fleet']['order'] == [s.attrs['data-host'] for s in sections(Page(render_html(whole)))]


def test_not_a_report_is_refused_by_name():
    with pytest.raises(ValueError, match='not a headroom report'):
        render_html({'fleet': {}})
    with pytest.raises(ValueError, match='not a headroom report'):
        render_markdown([])


def test_markdown_lists_worst_first_with_the_first_step():
    report = load('fleet.json')
    text = render_markdown(report)
    lines = text.splitlines()
    fleet = report['fleet']
    assert lines[0].startswith('**headroom: fleet %s**: %d host(s)' % (fleet['worst'], fleet['hosts']))
    assert '%d critical' % fleet['counts']['critical'] in lines[0]
    assert '%s of %s available' % (human(fleet['usable']), human(fleet['total'])) in lines[0]
    items = [line for line in lines if line.startswith('- ')]
    assert len(items) == len(report['hosts'])
    records = dict((r['host'], r) for r in report['hosts'])
    for item, host in zip(items, fleet['order']):
        record = records[host]
        assert item.startswith('- **%s** `%s`: ' % (record['verdict'], host))
        if record['recommendations']:
            first = record['recommendations'][0]['title']
            assert first.replace('<', '\\<').replace('>', '\\>') in item
        if record['verdict'] != 'failed':
            assert '%s of %s available' % (human(record['usable']), human(record['effective_total'])) in item


def test_markdown_keeps_host_text_inert():
    text = render_markdown(load('fleet.json'))
    item = [line for line in text.splitlines() if 'onerror' in line][0]
    # host names are code spans: shown as typed, never markup
    assert '`db"><img src=x onerror=alert(1)>`' in item
    # other host text (a command in a title) is escaped
    assert 'Stop \\<script\\>alert("pwn")\\</script\\>' in item
    prose = re.sub(r'`[^`]*`', '', text)
    assert not re.search(r'(?<!\\)[<>]', prose)
    report = build_report(['web`\n# pwned *x*'], [judged(real_facts(), 8 * GIB, GIB // 2)], 'now')
    lines = render_markdown(report).splitlines()
    assert not [line for line in lines if line.startswith('#')]
    assert "`web' # pwned *x*`" in lines[2]


def test_markdown_cuts_long_host_text():
    facts = judged(real_facts(), 8 * GIB, GIB // 2)
    facts['groups'][0]['command'] = 'x' * 500
    facts['groups'][0]['status'] = 'denied'
    facts['audit'] = audit({'memory': facts['memory'], 'groups': facts['groups']})
    assert facts['audit']['recommendations'][0]['title'] == 'Stop ' + 'x' * 500
    line = render_markdown(build_report(['h' * 300], [facts], 'now')).splitlines()[2]
    assert len(line) < 300 and '`' + 'h' * 79 + '…`' in line and 'Stop ' + 'x' * 74 + '…' in line


def test_markdown_is_capped_for_a_big_fleet():
    facts = real_facts()
    hosts = ['node-%02d' % i for i in range(25)]
    report = build_report(hosts, [judged(facts, 8 * GIB, (i % 8 + 1) * GIB // 2) if i != 7 else None
                                  for i in range(25)], '2026-11-25T10:00:00Z')
    text = render_markdown(report, link='reports/headroom.html')
    items = [line for line in text.splitlines() if line.startswith('- ')]
    assert len(items) == MARKDOWN_HOSTS + 1
    assert items[0].startswith('- **failed** `node-07`: no diagnosis')
    rest = report['fleet']['order'][MARKDOWN_HOSTS:]
    assert items[-1].startswith('- … and %d more host(s): ' % len(rest))
    verdicts = [r['verdict'] for r in report['hosts'] if r['host'] in rest]
    for verdict in set(verdicts):
        assert '%d %s' % (verdicts.count(verdict), verdict) in items[-1]
    assert text.rstrip().endswith('Full report: `reports/headroom.html`')
    assert len(text) < 2500


def test_markdown_shows_before_and_after():
    report = load('fleet-remediate.json')
    text = render_markdown(report)
    record = [r for r in report['hosts'] if r['host'] == 'db-1'][0]
    delta = record['change']['usable'][1] - record['change']['usable'][0]
    assert '- **%s → %s** `db-1`: ' % tuple(record['change']['verdict']) in text
    assert '(%s%%, +%s)' % (record['usable_pct'], human(delta)) in text


def test_a_container_s_meter_brackets_what_the_verdict_used():
    """Inside a container the bracket and its figure are the available under the cgroup limit, the one
    the verdict judged, not the machine's RAM it cannot use."""
    report = load('containers.json')
    page = Page(render_html(report))
    records = dict((r['host'], r) for r in report['hosts'])
    checked = 0
    for section in sections(page):
        record = records[section.attrs['data-host']]
        if not record.get('memory') or record['effective_total'] >= record['memory']['total']:
            continue
        meter = section.has('data-memory')[0]
        judged = meter.has('data-judged-usable')
        assert len(judged) == 1 and int(judged[0].attrs['data-judged-usable']) == record['usable']
        assert '%s avail.' % human(record['usable']) in meter.text()
        assert '%s avail.' % human(record['memory']['available']) not in meter.text()
        assert 'machine RAM' in meter.text()
        checked += 1
    assert checked


def test_each_kills_picture_shows_the_numbers_of_the_json():
    """The real capture's kill (tests/fixtures/kernel/postmortem) in a host's record: one table per
    kill, its rows the JSON's commands in order with their exact bytes; host text stays inert."""
    from ansible_collections.headroom.memory.plugins.module_utils.read.oom import parse_oom_log, stamp_epoch
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import postmortems
    kernel = os.path.join(os.path.dirname(FIXTURES), 'kernel', 'postmortem', 'dmesg_T.txt')
    with open(kernel) as handle:
        events = parse_oom_log(handle)
    for event in events:
        event['epoch'] = stamp_epoch(event['time'])
    entries = postmortems(events)
    entries[0]['tasks'][1]['command'] = '<img src=x onerror=alert(1)>'
    record = {'host': 'web-1', 'verdict': 'warning', 'summary': 'warning: x', 'reasons': [], 'recommendations': [],
              'lines': [], 'postmortem': entries}
    page = render_html({'generated_at': 'now', 'fleet': {'order': ['web-1']}, 'hosts': [record]})
    assert '<img src=x' not in page
    blocks = re.findall(r'<div class="postmortem" data-epoch="(\d+)" data-victim-pid="(\d+)">(.*?)</div>', page, re.S)
    assert len(blocks) == 1
    epoch, pid, block = blocks[0]
    assert int(epoch) == int(entries[0]['epoch']) and int(pid) == entries[0]['victim']['pid']
    rows = re.findall(r'<tr data-command="([^"]*)"><td>.*?</td><td class="num">(\d+)</td>'
                      r'<td class="num" data-bytes="(\d+)"', block)
    assert [(html_unescape(c), int(n), int(b)) for c, n, b in rows] == [
        (t['command'], t['count'], t['rss']) for t in entries[0]['tasks']]
    assert 'data-bytes="%d"' % entries[0]['memory']['limit'] in block
    assert block.count('status-denied') == 1  # the victim's command, and only it, says killed


def test_a_global_kills_picture_says_the_machines_swap():
    """The VM's global OOM (tests/fixtures/vm, kernel 6.1, no swap): the picture says the machine had no swap, from
    the report's own Free/Total swap lines; with swap it says how much was used."""
    from ansible_collections.headroom.memory.plugins.module_utils.read.oom import parse_oom_log
    from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import postmortems
    vm = os.path.join(os.path.dirname(FIXTURES), 'vm', 'bookworm-6.1.0-57-amd64', 'global-oom', 'journalctl-k.short-iso.txt')
    with open(vm) as handle:
        entries = postmortems(parse_oom_log(handle, origin='journal-text'))
    record = {'host': 'vm', 'verdict': 'warning', 'summary': 'warning: x', 'reasons': [], 'recommendations': [],
              'lines': [], 'postmortem': entries}
    page = render_html({'generated_at': 'now', 'fleet': {'order': ['vm']}, 'hosts': [record]})
    block = re.findall(r'<div class="postmortem" [^>]*>(.*?)</div>', page, re.S)[0]
    assert '; no swap</p>' in block
    entries[0]['memory'].update(swap_total=4 << 30, swap_free=104 << 10, swap_cache=262 * 4096)
    page = render_html({'generated_at': 'now', 'fleet': {'order': ['vm']}, 'hosts': [record]})
    assert 'swap 4.0 GiB of 4.0 GiB used (full), 1.0 MiB in the swap cache' in page


def html_unescape(text):
    from html import unescape
    return unescape(text)


def test_the_history_charts_carry_the_json_numbers():
    """A host with four runs: its memory chart's points are the runs' figures; the fleet's chart too."""
    from ansible_collections.headroom.memory.plugins.module_utils.report.history import fleet_trend, leaks, trend
    mib = 1 << 20
    host = {'machine': 'a' * 32, 'boot_id': '266f4819-a7ed-4bfd-9593-4ad6066785dc', 'container': False}
    runs = [{'identity': host, 'epoch': 1796000000.0 + k * 3600, 'usable': (800 - 50 * k) * mib, 'total': 1024 * mib, 'swap_used': 0,
             'swap_total': 0, 'top': [{'command': 'gunicorn', 'memory': (100 + 40 * k) * mib, 'pid': 9, 'started': 5.0}]}
            for k in range(4)]
    record = {'host': 'web-1', 'verdict': 'ok', 'summary': 'ok', 'reasons': [], 'recommendations': [], 'lines': [],
              'history': {'path': 'h.sqlite', 'runs': runs}, 'trend': trend(runs), 'leaks': leaks(runs)}
    report = {'generated_at': 'now', 'fleet': {'order': ['web-1'], 'trend': fleet_trend({'web-1': runs})},
              'hosts': [record]}
    page = render_html(report)
    memory = page.split('data-chart="memory"', 1)[1].split('</svg>', 1)[0]
    points = re.findall(r'data-series="available" data-epoch="([\d.]+)" data-bytes="(\d+)"', memory)
    assert [(float(e), int(b)) for e, b in points] == [(r['epoch'], r['usable']) for r in runs]
    commands = page.split('data-chart="commands"', 1)[1].split('</svg>', 1)[0]
    assert [int(b) for b in re.findall(r'data-series="gunicorn" data-epoch="[\d.]+" data-bytes="(\d+)"', commands)] == [
        r['top'][0]['memory'] for r in runs]
    fleet = page.split('data-chart="fleet"', 1)[1].split('</svg>', 1)[0]
    assert len(re.findall(r'data-series="available"', fleet)) == 4 + 1  # four points and the line
    exhaustion = float(re.search(r'data-exhaustion="([\d.]+)"', page).group(1))
    assert exhaustion == record['trend']['exhaustion_seconds'] and 'runs out in <b>' in page
    assert 'data-leak="gunicorn"' in page


def test_one_run_is_no_chart_and_says_there_is_not_enough_history():
    from ansible_collections.headroom.memory.plugins.module_utils.report.history import trend
    runs = [{'epoch': 1796000000.0, 'usable': 1 << 30, 'total': 2 << 30, 'top': []}]
    record = {'host': 'h', 'verdict': 'ok', 'summary': 'ok', 'reasons': [], 'recommendations': [], 'lines': [],
              'history': {'runs': runs}, 'trend': trend(runs), 'leaks': []}
    page = render_html({'generated_at': 'now', 'fleet': {'order': ['h'], 'trend': []}, 'hosts': [record]})
    assert 'no time to exhaustion: not enough history: 1 run(s), 3 needed' in page
    assert 'data-chart="fleet"' not in page
