"""The modules' glue (options, commands run, failures, facts) run in-process against real captures:
free_facts and top_facts answered with what free and top printed on Debian 11, 12 and 13 and
busybox. The parsers themselves are tested in test_free.py and test_top.py."""
import glob
import json
import os

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.read.free import parse_free
from ansible_collections.headroom.memory.plugins.module_utils.read.top import TOP_ENV, parse_top
from module_glue import ROOT, Runner, run_glue

C_LOCALE = {'LC_ALL': 'C', 'LANG': 'C'}  # what free_facts runs free with: labels as parsed

pytest.importorskip('ansible.module_utils.testing')

CAPTURES = os.path.join(ROOT, 'tests', 'fixtures', 'captures')


def capture(system, name):
    with open(os.path.join(CAPTURES, system, name + '.json')) as handle:
        return json.load(handle)


SYSTEMS = sorted(os.path.basename(path) for path in glob.glob(os.path.join(CAPTURES, '*-container')))


@pytest.mark.parametrize('system', SYSTEMS)
def test_free_facts_runs_free_b_in_the_c_locale_and_returns_its_bytes(system):
    free = capture(system, 'free-b')
    runner = Runner({('free', '-b'): (0, free['output'], '')})
    result = run_glue('free_facts', {}, runner)
    assert result.get('failed') is not True, result
    assert runner.calls == [(('free', '-b'), C_LOCALE)]
    assert result['changed'] is False
    assert result['ansible_facts']['free'] == parse_free(free['output'], '-b')


def test_free_facts_names_a_missing_free_and_a_failing_one():
    missing = run_glue('free_facts', {}, Runner({}, installed=()))
    assert missing['failed'] is True and 'free is not installed' in missing['msg']
    broken = run_glue('free_facts', {}, Runner({('free', '-b'): (1, '', 'free: cannot open /proc/meminfo')}))
    assert broken['failed'] is True and broken['rc'] == 1 and 'cannot open /proc/meminfo' in broken['msg']
    garbage = run_glue('free_facts', {}, Runner({('free', '-b'): (0, 'Segmentation fault\n', '')}))
    assert garbage['failed'] is True and garbage['msg'].startswith('cannot read free output')


def test_free_facts_parses_pasted_output_without_running_anything():
    free = capture('bookworm-container', 'free-h')
    runner = Runner({})
    result = run_glue('free_facts', {'output': free['output'], 'flags': '-h'}, runner)
    assert runner.calls == []
    assert result['ansible_facts']['free'] == parse_free(free['output'], '-h')


@pytest.mark.parametrize('system', SYSTEMS)
def test_top_facts_asks_procps_top_sorted_and_wide(system):
    top = capture(system, 'top-b-n1-o-MEM-w-512')
    runner = Runner({('top', '-V'): (0, 'top from procps-ng\n', ''),
                     ('top', '-b', '-n', '1', '-o', '%MEM', '-w', '512'): (0, top['output'], '')})
    result = run_glue('top_facts', {'limit': 5}, runner)
    assert result.get('failed') is not True, result
    assert [call[0][:2] for call in runner.calls] == [('top', '-V'), ('top', '-b')]
    assert all(env == TOP_ENV for _, env in runner.calls)
    facts = result['ansible_facts']['top']
    expected = parse_top(top['output'])
    assert facts['process_count'] == len(expected['processes'])
    assert facts['processes'] == expected['samples'][-1]['processes'][:5]


def test_top_facts_runs_busybox_top_once_per_sample_and_sorts_by_size():
    top = capture('bookworm-container', 'busybox-top-b-n1')
    runner = Runner({('top', '-V'): (1, '', 'top: invalid option -- V\nBusyBox v1.35.0 (Debian 1:1.35.0-4+b3) multi-call binary.\n'),
                     ('top', '-b', '-n', '1'): (0, top['output'], '')})
    result = run_glue('top_facts', {}, runner)
    assert result.get('failed') is not True, result
    processes = result['ansible_facts']['top']['processes']
    sizes = [p['virt'] or 0 for p in processes]
    assert processes and sizes == sorted(sizes, reverse=True)


def test_top_facts_refuses_bad_options_before_running_top():
    runner = Runner({})
    for args, words in (({'iterations': 0}, 'iterations must be at least 1'),
                        ({'delay': -1.0}, 'delay must be a positive number'),
                        ({'limit': -1}, 'limit must be 0')):
        result = run_glue('top_facts', args, runner)
        assert result['failed'] is True and words in result['msg']
    assert runner.calls == []
