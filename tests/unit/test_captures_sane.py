"""The real captures under tests/fixtures/captures/ are whole and self-consistent.

They are written by scripts/capture-fixtures.sh; parser tests trust them as ground truth, so a
truncated or hand-edited file should fail here, not as a puzzling parser failure elsewhere.
"""
import glob
import json
import os
import re

import pytest

CAPTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'fixtures', 'captures')
FILES = sorted(glob.glob(os.path.join(CAPTURES, '*', '*.json')))
REQUIRED = {'system', 'distro', 'tool', 'command', 'env', 'output', 'before', 'after', 'captured_at'}
SYSTEMS = {'host-debian12', 'bullseye-container', 'bookworm-container', 'trixie-container',
           'bookworm-swap-container'}


def load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def free_b_rows(text):
    """`free -b` (LC_ALL=C) as {'Mem': [ints], 'Swap': [ints]}; deliberately minimal."""
    lines = text.splitlines()
    assert lines and lines[0].split()[:2] == ['total', 'used'], 'not a free header: %r' % lines[:1]
    rows = {}
    for line in lines[1:]:
        label, _, rest = line.partition(':')
        rows[label.strip()] = [int(v) for v in rest.split()]
    return rows


def meminfo_kib(text, key):
    match = re.search(r'^%s:\s+(\d+) kB$' % key, text, re.M)
    assert match, '%s missing from meminfo' % key
    return int(match.group(1))


def test_every_system_was_captured():
    seen = {os.path.basename(os.path.dirname(p)) for p in FILES}
    assert seen == SYSTEMS


@pytest.mark.parametrize('path', FILES, ids=lambda p: os.path.relpath(p, CAPTURES))
def test_capture_is_complete(path):
    doc = load(path)
    assert REQUIRED <= set(doc), 'missing keys: %s' % sorted(REQUIRED - set(doc))
    assert doc['system'] == os.path.basename(os.path.dirname(path))
    assert doc['output'].strip(), 'empty output'
    assert doc['env'].get('LC_ALL'), 'the locale a capture ran under must be recorded'
    tool = 'busybox' if doc['command'].split()[0] == 'busybox' else 'procps-ng'
    assert doc['tool'].lower().startswith(tool), doc['tool']
    if ' top ' in ' %s ' % doc['command']:
        assert re.match(r'\s*PID\s+RSS\s+VSZ\s+COMMAND\n', doc['ps']), 'top capture without ps'


@pytest.mark.parametrize('path', FILES, ids=lambda p: os.path.relpath(p, CAPTURES))
def test_references_parse_and_agree_with_meminfo(path):
    doc = load(path)
    for moment in ('before', 'after'):
        ref = doc[moment]
        rows = free_b_rows(ref['free_b'])
        assert len(rows['Mem']) == 6 and len(rows['Swap']) == 3, rows
        # free's total is MemTotal, in bytes: a cheap check that the pair is one system's.
        assert rows['Mem'][0] == meminfo_kib(ref['meminfo'], 'MemTotal') * 1024
        assert rows['Swap'][0] == meminfo_kib(ref['meminfo'], 'SwapTotal') * 1024


def test_swap_capture_really_swapped():
    docs = [load(p) for p in FILES if os.sep + 'bookworm-swap-container' + os.sep in p]
    assert docs
    used = [free_b_rows(d['before']['free_b'])['Swap'][1] for d in docs]
    assert min(used) > 50 * 1024 * 1024, 'swap set captured with %d bytes swapped' % min(used)
