"""The HTML fleet report in a real browser: Debian's headless Chromium.

For each report (a fresh diagnose.yml run on this machine, and the sample fleets of
tests/fixtures/reports) the page is opened from disk with the network off; the test takes a
screenshot, checks it is a real picture of the page (a PNG of the window's size, mostly not
background, with the verdict badges' colours in it), and reads the DOM Chromium built back
(--dump-dom) to compare every number shown with the JSON report's.

Screenshots are kept in reports/ (gitignored) for a person to look at.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ansible_collections.headroom.memory.plugins.module_utils.units import human  # noqa: E402
from ansible_collections.headroom.memory.plugins.module_utils.report.render import render_html  # noqa: E402

FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'reports')
VENV_BIN = os.path.join(ROOT, '.venv', 'bin')
WIDTH, HEIGHT = 1280, 2000
# --- the page's palette (render.py's CSS), as the screenshot must show it
BADGES = {'ok': (0x2f, 0x8f, 0x5b), 'warning': (0xb7, 0x79, 0x1f), 'critical': (0xc5, 0x30, 0x30),
          'failed': (0x6b, 0x72, 0x80)}
PAGE = (0xf7, 0xf8, 0xfa)
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--hide-scrollbars', '--force-device-scale-factor=1']

CHROMIUM = shutil.which('chromium')
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason='chromium is not installed (scripts/install-deps.sh '
                                                          'installs it from scripts/deps/report.txt)')


def chromium(url, *args):
    """Run headless Chromium on url with a new empty profile; its stdout."""
    profile = tempfile.mkdtemp(prefix='headroom-chromium-')
    try:
        proc = subprocess.run([CHROMIUM] + CHROMIUM_FLAGS + ['--user-data-dir=%s' % profile] + list(args) + [url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, 'chromium failed (rc=%d): %s' % (proc.returncode, proc.stderr.decode()[-2000:])
    return proc.stdout.decode('utf-8')


# ---------------------------------------------------------------- PNG, read with zlib alone

def read_png(path):
    """(width, height, rows of (r, g, b) tuples), for 8-bit RGB or RGBA non-interlaced PNGs."""
    with open(path, 'rb') as handle:
        data = handle.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', '%s is not a PNG' % path
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) & 0xffffffff == struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])[0]
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        elif kind == b'IEND':
            break
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, 'unexpected PNG format %r' % (header,)
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b''.join(idat))
    stride = width * channels
    assert len(raw) == height * (stride + 1)
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        unfilter(kind, line, prev, channels)
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, channels)])
        prev = line
    return width, height, rows


def unfilter(kind, line, prev, bpp):
    """Undo one scanline's PNG filter in place (RFC 2083, 6.3 to 6.6)."""
    if kind == 0:
        return
    if kind == 2:
        line[:] = bytes((a + b) & 255 for a, b in zip(line, prev))
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 3:
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        else:
            raise AssertionError('unknown PNG filter %d' % kind)


def near(color, other, tolerance=4):
    return all(abs(a - b) <= tolerance for a, b in zip(color, other))


# ---------------------------------------------------------------- the DOM Chromium built

class Element(object):
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return ''.join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                for element in child.walk():
                    yield element

    def having(self, name, value=None):
        return [e for e in self.walk() if name in e.attrs and (value is None or e.attrs[name] == value)]


class Dom(HTMLParser):
    VOID = {'meta', 'br', 'img', 'input', 'link', 'hr', 'wbr', 'source', 'col', 'area', 'base', 'embed'}

    def __init__(self, text):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.root = self.current = Element('#document', {}, None)
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs, self.current)
        self.current.children.append(element)
        if tag not in self.VOID:
            self.current = element

    def handle_endtag(self, tag):
        element = self.current
        while element is not self.root and element.tag != tag:
            element = element.parent
        assert element is not self.root, 'stray </%s> in the DOM chromium dumped' % tag
        self.current = element.parent

    def handle_data(self, data):
        self.current.children.append(data)


# ---------------------------------------------------------------- the tests

def live_report(tmp_path):
    """A report of this machine, diagnosed now by the real playbook, three times over, so that its
    history charts have runs to show (their own history file)."""
    path = str(tmp_path / 'live.json')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
    for _run in range(3):
        proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), 'diagnose.yml', '-e',
                               'headroom_report_path=%s' % path, '-e', 'headroom_history_path=%s' % (tmp_path / 'h.sqlite'),
                               '-e', 'process_audit_sample_seconds=0'], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=600)
        assert proc.returncode == 0, proc.stdout.decode()[-3000:]
    with open(path) as handle:
        report = json.load(handle)
    assert len(report['hosts'][0]['history']['runs']) == 3
    return report


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


@pytest.mark.parametrize('source', ['live', 'containers.json', 'fleet.json', 'fleet-remediate.json'])
def test_report_in_chromium(source, tmp_path):
    report = live_report(tmp_path) if source == 'live' else fixture(source)
    page = tmp_path / 'report.html'
    page.write_text(render_html(report), encoding='utf-8')
    url = 'file://%s' % page
    stem = 'browser-%s' % source.replace('.json', '')

    shots = os.path.join(ROOT, 'reports')
    os.makedirs(shots, exist_ok=True)
    shot = os.path.join(shots, stem + '.png')
    if os.path.exists(shot):
        os.unlink(shot)
    chromium(url, '--window-size=%d,%d' % (WIDTH, HEIGHT), '--screenshot=%s' % shot)
    shutil.copy(str(page), os.path.join(shots, stem + '.html'))
    check_screenshot(shot, report)

    dom = Dom(chromium(url, '--dump-dom'))
    check_numbers(dom, report)


def check_screenshot(shot, report):
    assert os.path.getsize(shot) > 20000, 'screenshot %s is too small to show a page' % shot
    width, height, rows = read_png(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    pixels = [pixel for row in rows for pixel in row]
    background = sum(1 for p in pixels if near(p, PAGE, 2) or p == (255, 255, 255))
    # cards are white on a grey page: a page with content is far from all one colour
    assert background < 0.97 * len(pixels), 'the screenshot is (nearly) blank'
    assert len(set(pixels[::7])) > 50, 'the screenshot has too few colours to be the rendered report'
    seen = set(pixels)
    # every verdict the fleet has shows as a badge of its colour near the top of the page (the overview)
    for verdict, count in report['fleet']['counts'].items():
        if count:
            assert any(near(pixel, BADGES[verdict]) for pixel in seen), 'no %s badge in the screenshot' % verdict


def check_numbers(dom, report):
    root = dom.root
    assert not [e for e in root.walk() if e.tag in ('script', 'img', 'iframe')], 'host text became markup'
    fleet = root.having('id', 'fleet')[0]
    for verdict, count in report['fleet']['counts'].items():
        box = fleet.having('data-verdict', verdict)[0]
        assert int(box.attrs['data-count']) == count
        assert ' '.join(box.text().split()) == '%d %s' % (count, verdict)
    assert '%s of %s available' % (human(report['fleet']['usable']), human(report['fleet']['total'])) \
        in fleet.text()

    sections = [e for e in root.walk() if e.tag == 'section' and 'data-host' in e.attrs]
    assert [s.attrs['data-host'] for s in sections] == report['fleet']['order']
    rows = [e for e in fleet.walk() if e.tag == 'tr' and 'data-host' in e.attrs]
    assert [r.attrs['data-host'] for r in rows] == report['fleet']['order']
    for record, section, row in zip(sorted(report['hosts'], key=lambda r: report['fleet']['order'].index(r['host'])),
                                    sections, rows):
        assert section.having('data-field', 'host')[0].text() == record['host']
        assert section.having('data-field', 'verdict')[0].text() == record['verdict']
        if record['verdict'] == 'failed':
            assert record['summary'] in section.text()
            continue
        headline = [e for e in section.having('data-usable') if e.tag == 'p'][0]
        assert int(headline.attrs['data-usable']) == record['usable']
        assert int(headline.attrs['data-total']) == record['effective_total']
        assert headline.having('data-field', 'usable')[0].text() == human(record['usable'])
        assert headline.having('data-field', 'total')[0].text() == human(record['effective_total'])
        cells = dict((e.attrs['data-field'], e) for e in row.having('data-field') if e.tag == 'td')
        assert int(cells['usable'].attrs['data-bytes']) == record['usable']
        assert cells['usable'].text().startswith(human(record['usable']))
        assert int(cells['total'].attrs['data-bytes']) == record['effective_total']
        assert cells['total'].text() == human(record['effective_total'])
        check_over_time(section, record)
        check_postmortems(section, record)
        meter = section.having('data-memory')[-1]
        assert int(meter.attrs['data-total']) == record['memory']['total']
        assert int(meter.attrs['data-swap-used']) == record['memory']['swap_used']
        if record.get('before'):
            change = section.having('data-before-verdict')[0]
            assert [change.attrs['data-before-verdict'], change.attrs['data-after-verdict']] == \
                [record['before']['verdict'], record['verdict']]


def check_over_time(section, record):
    """The history charts as Chromium built them: each point of the available-memory line is a run of
    the JSON's (when the host was read, and the bytes), the fleet's likewise; the time to exhaustion."""
    runs = (record.get('history') or {}).get('runs') or []
    charts = dict((e.attrs['data-chart'], e) for e in section.walk() if e.tag == 'svg' and 'data-chart' in e.attrs)
    if not runs:
        assert 'memory' not in charts
        return
    points = [(float(e.attrs['data-epoch']), int(e.attrs['data-bytes'])) for e in charts['memory'].walk()
              if e.tag == 'circle' and e.attrs.get('data-series') == 'available']
    assert points == [(run.get('at') or run['epoch'], run['usable']) for run in runs]
    said = section.having('data-exhaustion')[0]
    if record['trend']['exhaustion_seconds'] is None:
        assert said.attrs['data-exhaustion'] == '' and record['trend']['reason'] in said.text()
    else:
        assert float(said.attrs['data-exhaustion']) == record['trend']['exhaustion_seconds']
    assert len(section.having('data-leak')) == len(record.get('leaks') or [])


def check_postmortems(section, record):
    """Each kill's table: its commands, counts and bytes are the JSON's, worst kill first."""
    entries = [entry for entry in record.get('postmortem') or [] if entry.get('tasks')]
    blocks = [e for e in section.walk() if e.tag == 'div' and 'data-victim-pid' in e.attrs]
    assert len(blocks) == min(5, len(entries))
    for block, entry in zip(blocks, entries):
        assert int(block.attrs['data-victim-pid']) == entry['victim']['pid']
        rows = [e for e in block.walk() if e.tag == 'tr' and 'data-command' in e.attrs]
        assert [r.attrs['data-command'] for r in rows] == [t['command'] for t in entry['tasks'][:len(rows)]]
        for row, task in zip(rows, entry['tasks']):
            assert int(row.having('data-bytes')[0].attrs['data-bytes']) == task['rss']
