"""Command names as the host named them, never top's '?', and safe wherever they are shown.

procps 4.x under LC_ALL=C (how headroom runs it) prints each byte of a name that is not ASCII as '?'
(libproc2 escape.c esc_all), so four CJK characters become twelve '?'. procps 3.3.x and busybox print
the bytes as they are, ESC included. Any local user names a process (prctl PR_SET_NAME): a name is
hostile input. The kernel keeps the name (/proc/PID/comm); the report escapes it (render.py).
"""
import copy
import json
import os
import subprocess
import sys
import time
from html.parser import HTMLParser

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit
from ansible_collections.headroom.memory.plugins.module_utils.read import collect
from ansible_collections.headroom.memory.plugins.module_utils.read.processes import group_processes
from ansible_collections.headroom.memory.plugins.module_utils.read.top import (
    host_name, parse_top, read_comm, restore_commands, visible)
from ansible_collections.headroom.memory.plugins.module_utils.report.records import build_report
from ansible_collections.headroom.memory.plugins.module_utils.report.render import render_html, render_markdown

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures')
# 14 bytes of the 15 the kernel keeps: markup, a pipe, a CJK character, a byte that is not UTF-8, ESC
HOSTILE = b'<script>|\xe5\x90\x8d\xff\x1b'
SHOWN = '<script>|名\\xff\\x1b'


@pytest.mark.parametrize('raw, shown', [
    ('名前テスト'.encode('utf-8'), '名前テスト'),
    (HOSTILE, SHOWN),
    (b'a\\x41', 'a\\\\x41'),                       # a backslash is doubled: no name passes for an escape
    ('evil\u202egnp.exe'.encode('utf-8'), 'evil\\u202egnp.exe'),   # a bidirectional override
    ('zero\u200bwidth'.encode('utf-8'), 'zero\\u200bwidth'),
    (b'tab\tnew\nline\x7f', 'tab\\x09new\\x0aline\\x7f'),
    ('py\U0001f40ee\u0301'.encode('utf-8'), 'py\U0001f40ee\u0301'),  # an emoji and a combining accent print
    (b'\xc3', '\\xc3'),                            # a UTF-8 sequence cut short by the kernel's 15 bytes
])
def test_host_name_is_the_kernel_name_made_visible(raw, shown):
    assert host_name(raw) == shown
    assert all(char.isprintable() for char in shown)  # no control, override or zero-width left


def proc(pid, command, truncated=()):
    return {'pid': pid, 'command': command, 'truncated': list(truncated)}


@pytest.mark.parametrize('printed, raw, expected', [
    ('???????????????', '名前テスト'.encode('utf-8'), '名前テスト'),          # 4.x under C
    ('<script>|????.', HOSTILE, SHOWN),                                     # 4.0.0-4.0.4: ESC as '.'
    ('<script>|?????', HOSTILE, SHOWN),                                     # 4.0.5+: ESC as '?'
    ('<script>|名??', HOSTILE, SHOWN),                                       # 4.x under UTF-8
    ('<script>|名\udcff\x1b', HOSTILE, SHOWN),                               # 3.3.x: the bytes
    ('<script>|名\ufffd\x1b', HOSTILE, SHOWN),                               # the bytes, read with 'replace'
    ('python3.11', b'python3.11', 'python3.11'),                            # a dot that is a dot
])
def test_restore_takes_the_name_from_the_kernel(printed, raw, expected):
    procs = [proc(42, printed)]
    restore_commands(procs, read={42: raw}.get)
    assert procs[0]['command'] == expected
    assert procs[0].get('command_printed', printed) == printed


def test_restore_keeps_top_s_text_when_the_kernel_names_another_process():
    """The pid was reused, or top showed a command line (-c): top's text stays, made visible."""
    procs = [proc(42, '???? --serve'), proc(43, '????'), proc(44, 'sh -c x\x1b')]
    restore_commands(procs, read={42: '名前'.encode('utf-8'), 43: b'bash', 44: b'sh'}.get)
    assert [p['command'] for p in procs] == ['???? --serve', '????', 'sh -c x\\x1b']
    assert procs[2]['command_printed'] == 'sh -c x\x1b'


def test_restore_completes_a_name_top_cut_to_fit():
    procs = [proc(7, 'queue c+', ['command']), proc(8, '名前\udce3+', ['command'])]
    restore_commands(procs, read={7: b'queue consumer', 8: '名前テスト'.encode('utf-8')}.get)
    assert [p['command'] for p in procs] == ['queue consumer', '名前テスト']
    assert procs[0]['truncated'] == [] and procs[1]['truncated'] == []


def test_a_paste_is_only_made_visible():
    """A paste's host is not this one: no kernel to ask, nothing read."""
    procs = [proc(1, '????'), proc(2, '<b>\x1b[31m')]
    assert restore_commands(procs, read=None) == 0
    assert [p['command'] for p in procs] == ['????', '<b>\\x1b[31m']


@pytest.mark.parametrize('name', ['bullseye-container/wide', 'bookworm-container/wide', 'trixie-container/wide',
                                  'trixie-container-procps-sid/wide', 'trixie-container-procps-sid/utf8',
                                  'bookworm-container/busybox'])
def test_real_captures_of_every_release(name):
    with open(os.path.join(FIXTURES, 'top', name + '.json')) as handle:
        capture = json.load(handle)
    top = parse_top(capture['output'])
    kernel = dict((int(pid), bytes.fromhex(raw)) for pid, raw in capture['kernel_names'].items())
    restore_commands(top['processes'], read=kernel.get)
    commands = [p['command'] for p in top['processes']]
    if top['format'] == 'busybox':  # busybox shows the command line, its name in braces, raw bytes
        assert '{<b>|x\\xff\\x1b} python3' in ' '.join(commands)
        return
    for raw in set(kernel.values()):
        assert host_name(raw) in commands
    assert not any('?' in c or '\x1b' in c for c in commands)


# --------------------------------------------------------------- this machine: top, the kernel, the report

@pytest.fixture
def named_process():
    """A process of this machine named HOSTILE by PR_SET_NAME, holding 8 MiB, waited for by its name."""
    code = ('import ctypes, sys, time\n'
            'ctypes.CDLL(None).prctl(15, bytes.fromhex(sys.argv[1]), 0, 0, 0)\n'
            'buf = b"\\x01" * (8 << 20)\n'
            'time.sleep(120)\n')
    child = subprocess.Popen([sys.executable, '-c', code, HOSTILE.hex()])
    try:
        deadline = time.time() + 30
        while read_comm(child.pid) != HOSTILE:
            assert time.time() < deadline and child.poll() is None, 'the process did not take its name'
            time.sleep(0.05)
        yield child.pid
    finally:
        child.kill()
        child.wait()


def rendered(groups, shown):
    """The report of a host whose first group (denied) is ``groups[0]``: (HTML texts, HTML tags, the
    page, the Markdown line of its first step)."""
    with open(os.path.join(FIXTURES, 'reports', 'localhost-facts.json')) as handle:
        facts = copy.deepcopy(json.load(handle))
    groups[0]['status'] = 'denied'
    facts['groups'] = groups + facts['groups']
    facts['audit'] = audit({'memory': facts['memory'], 'groups': facts['groups']})
    assert facts['audit']['recommendations'][0]['title'] == 'Stop ' + shown
    report = build_report(['web'], [facts], 'now')
    page = render_html(report)
    texts, tags = [], []

    class Reader(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append(tag)

        def handle_data(self, data):
            texts.append(data)
    Reader(convert_charrefs=True).feed(page)
    markdown = render_markdown(report)
    return texts, tags, page, [line for line in markdown.splitlines() if 'Stop' in line][0]


@pytest.mark.parametrize('name', ['bookworm-container/wide', 'bullseye-container/utf8'])
def test_a_captured_hostile_name_is_inert_in_both_renderings(name):
    """4.0.2 printed '<b>|x?.' for b'<b>|x\\xff\\x1b', 3.3.17 the bytes with ESC: both reach the
    report as '<b>|x\\xff\\x1b', text in HTML and escaped in Markdown."""
    with open(os.path.join(FIXTURES, 'top', name + '.json')) as handle:
        capture = json.load(handle)
    top = parse_top(capture['output'])
    kernel = dict((int(pid), bytes.fromhex(raw)) for pid, raw in capture['kernel_names'].items())
    restore_commands(top['processes'], read=kernel.get)
    shown = host_name(b'<b>|x\xff\x1b')
    assert shown == '<b>|x\\xff\\x1b'
    groups = [g for g in group_processes(top['processes'], names=True) if g['command'] == shown]
    texts, _tags, page, step = rendered(groups, shown)
    assert shown in texts and '\x1b' not in page  # one text node: the markup stayed text
    assert 'Stop \\<b\\>\\|x\\\\xff\\\\x1b' in step


@pytest.mark.skipif(collect.which('top') is None, reason='procps top not installed')
def test_the_diagnosis_shows_the_kernel_s_name_and_the_report_escapes_it(named_process):
    """Through collect (as memory_facts runs top, LC_ALL=C), the grouping, the verdict and both
    renderings: the name the host gave, never '?', and inert in HTML and Markdown."""
    collector = collect.Collector(collect.run, collect.which)
    top = collector.top(1, 0)
    assert top is not None, collector.gaps
    mine = [p for p in top['processes'] if p['pid'] == named_process]
    assert mine and mine[0]['command'] == SHOWN, mine
    assert '?' in mine[0]['command_printed'] or '\x1b' in mine[0]['command_printed']  # what top printed
    groups = [g for g in group_processes(mine) if g['command'] == SHOWN]
    assert groups and groups[0]['rss'] >= 8 << 20

    texts, tags, page, item = rendered(groups, SHOWN)
    assert 'script' not in tags
    assert SHOWN in texts and 'Stop ' + SHOWN in texts
    assert '\x1b' not in page and '?????' not in page
    assert 'Stop \\<script\\>\\|名\\\\xff\\\\x1b' in item
    assert '\x1b' not in item and '<script>' not in item


def test_groups_keep_a_process_name_whole():
    """procps top without -c shows the kernel's name, spaces and all ("queue consumer", "Web
    Content", "tmux: server"): it groups as it is. A command line (busybox, -c) groups by its program,
    or by the name busybox shows in braces before it."""
    with open(os.path.join(FIXTURES, 'top', 'trixie-container', 'wide.json')) as handle:
        names = parse_top(json.load(handle)['output'])
    with open(os.path.join(FIXTURES, 'top', 'trixie-container', 'busybox.json')) as handle:
        lines = parse_top(json.load(handle)['output'])
    restore_commands(names['processes'], read=None)
    by_name = dict((g['command'], g) for g in group_processes(names['processes'], names=True))
    assert by_name['queue consumer']['count'] == 3 and 'queue' not in by_name
    by_program = dict((g['command'], g) for g in group_processes(lines['processes']))
    assert by_program['queue consumer']['count'] == 3 and by_program['bigcache']['count'] == 1
    assert '{queue' not in by_program and by_program['python3']['count'] == 1  # the capture's runner
