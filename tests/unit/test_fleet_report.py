"""The fleet_report task: its shared core, its action plugin (what playbooks run) and its module.

The facts are real: tests/fixtures/reports/localhost-facts.json is what memory_facts returned on
this machine. The action plugin run through ansible-playbook is in tests/integration/test_fleet_report_plugin.py.
"""
import json
import os
import stat

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.report.files import (
    ARGUMENT_SPEC, ReportError, write_reports)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACTS = os.path.join(ROOT, 'tests', 'fixtures', 'reports', 'localhost-facts.json')
NOW = '2026-11-25T16:00:00Z'


def facts():
    with open(FACTS) as handle:
        return json.load(handle)


def params(tmp_path, **changes):
    """The task's parameters with ARGUMENT_SPEC's defaults, as Ansible would pass them."""
    base = dict((name, spec.get('default')) for name, spec in ARGUMENT_SPEC.items())
    base.update(path=str(tmp_path / 'out' / 'r.json'), hosts=['web-1', 'lost-2', 'bad-3'],
                facts=[{'headroom': facts(), 'headroom_redis': {'used_memory': 1}}, None, None],
                error_hosts=['bad-3'], errors=["unknown threshold 'x'"],
                html=str(tmp_path / 'out' / 'r.html'), markdown=str(tmp_path / 'out' / 'r.md'))
    base.update(changes)
    return base


def test_writes_json_html_and_markdown_that_agree(tmp_path):
    old = os.umask(0o022)
    try:
        result = write_reports(params(tmp_path), check_mode=False, now=NOW)
    finally:
        os.umask(old)
    out = tmp_path / 'out'
    assert sorted(os.listdir(str(out))) == ['r.html', 'r.json', 'r.md']  # no temporary file left
    report = json.loads((out / 'r.json').read_text())
    assert report['fleet'] == result['fleet'] and report['generated_at'] == NOW
    records = dict((r['host'], r) for r in report['hosts'])
    assert records['web-1']['verdict'] == facts()['audit']['verdict']
    assert records['web-1']['redis'] == {'used_memory': 1}
    assert records['lost-2']['verdict'] == 'failed' and 'unreachable' in records['lost-2']['summary']
    assert records['bad-3']['error'] == "unknown threshold 'x'"
    assert result['summary_markdown'] == (out / 'r.md').read_text()
    assert 'web-1' in (out / 'r.html').read_text()
    assert result['details'][0].startswith(report['fleet']['order'][0] + ': ')
    for name in ('r.json', 'r.html', 'r.md'):
        assert stat.S_IMODE(os.stat(str(out / name)).st_mode) == 0o644


def test_check_mode_writes_nothing_and_still_reports(tmp_path):
    result = write_reports(params(tmp_path), check_mode=True, now=NOW)
    assert not (tmp_path / 'out').exists()
    assert result['fleet']['counts']['failed'] == 2 and 'web-1' in result['summary_markdown']


@pytest.mark.parametrize('changes, message', [
    ({'errors': []}, 'error_hosts and errors must have the same length'),
    ({'merge': ['/nonexistent/slice-1.json']}, 'cannot read report /nonexistent/slice-1.json to merge'),
    ({'history_days': 10 ** 400, 'history': 'h.sqlite'}, 'history_days must be 1 to 36500, got a number of more than 20 digits'),
    ({'history_days': 0, 'history': 'h.sqlite'}, 'history_days must be 1 to 36500, got 0'),
    ({'history_runs': 10 ** 7, 'history': 'h.sqlite'}, 'history_runs must be 1 to 1000000, got 10000000'),
])
def test_bad_input_fails_before_anything_is_written(tmp_path, changes, message):
    target = tmp_path / 'out' / 'r.json'
    target.parent.mkdir()
    target.write_text('{"the": "previous report"}')
    with pytest.raises(ReportError, match=message):
        write_reports(params(tmp_path, **changes), check_mode=False, now=NOW)
    assert target.read_text() == '{"the": "previous report"}'
    assert sorted(os.listdir(str(target.parent))) == ['r.json']


@pytest.mark.parametrize('where', ['afile', 'afile/deeper'])
def test_a_file_where_the_report_directory_should_be_is_named(tmp_path, where):
    """headroom_report_dir set to a file (or below one): the error names the file, which stays."""
    (tmp_path / 'afile').write_text('not a directory')
    report = tmp_path / where / 'r.json'
    with pytest.raises(OSError, match='%s is not a directory, and %s must be one to hold r.json' % (
            tmp_path / 'afile', report.parent)):
        write_reports(params(tmp_path, path=str(report), html=None, markdown=None), check_mode=False, now=NOW)
    assert (tmp_path / 'afile').read_text() == 'not a directory'


def test_a_write_that_fails_halfway_leaves_the_previous_report_whole(tmp_path):
    """The summary cannot be written (a file where its directory must be): the JSON and the page keep the
    previous run's text, and no temporary file is left."""
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'r.json').write_text('{"the": "previous report"}')
    (out / 'r.html').write_text('previous page')
    (tmp_path / 'afile').write_text('mine')
    with pytest.raises(OSError, match='afile is not a directory'):
        write_reports(params(tmp_path, markdown=str(tmp_path / 'afile' / 'r.md')), check_mode=False, now=NOW)
    assert (out / 'r.json').read_text() == '{"the": "previous report"}' and (out / 'r.html').read_text() == 'previous page'
    assert sorted(os.listdir(str(out))) == ['r.html', 'r.json'] and (tmp_path / 'afile').read_text() == 'mine'


def test_merges_slices_into_one_report(tmp_path):
    first = params(tmp_path, path=str(tmp_path / 's1.json'), hosts=['web-1'], facts=[facts()],
                   error_hosts=[], errors=[], html=None, markdown=None)
    write_reports(first, check_mode=False, now=NOW)
    second = params(tmp_path, hosts=['lost-2'], facts=[None], error_hosts=[], errors=[],
                    merge=[str(tmp_path / 's1.json')])
    result = write_reports(second, check_mode=False, now=NOW)
    assert result['fleet']['hosts'] == 2 and sorted(result['fleet']['order']) == ['lost-2', 'web-1']


# ------------------------------------------------------------ the action plugin and the module, for real
