"""The diagnosis names each app server that lost a worker to the kernel, with the time and the kill.

What each server said is read here from its own journal and log file, not from headroom's code.
"""
import json
import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from checks import record_of  # noqa: E402

REPORT = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'headroom.json')
SAID = {  # what each server writes when a worker dies by SIGKILL, and where
    'gunicorn.service': ('journalctl -u gunicorn -q --no-pager', r'Worker with pid (\d+) was terminated due to signal 9'),
    'celery.service': ('journalctl -u celery -q --no-pager', r"pid:(\d+) exited with 'signal 9 \(SIGKILL\)'"),
    '/var/log/uwsgi/app/app.log': ('cat /var/log/uwsgi/app/app.log', r'DAMN ! worker \d+ \(pid: (\d+)\) died, killed by signal 9'),
}


@pytest.fixture(name='record')
def fixture_record(host):
    with open(REPORT) as handle:
        return record_of(host, json.load(handle))


@pytest.mark.parametrize('service', sorted(SAID))
def test_each_service_is_named_with_the_workers_it_lost(host, record, service):
    command, pattern = SAID[service]
    pids = [int(pid) for pid in re.findall(pattern, host.check_output(command))]
    assert pids, 'the server said nothing: the scenario did not kill its worker'
    rows = [row for row in record['app_deaths']['services'] if row['service'] == service]
    assert len(rows) == 1
    row = rows[0]
    assert row['lost'] == len(pids)
    assert row['recent'] == 0  # seen by the first run; this one judges what came since it
    assert time.time() - 3600 < row['last'] <= time.time()
    deaths = [d for d in record['app_deaths']['deaths'] if (d['unit'] or d['source']) == service]
    assert sorted(d['pid'] for d in deaths) == sorted(pids)
    # each death joined to the kernel's kill of that worker (the kernel numbers it as the machine does)
    assert row['oom_killed'] == len(pids)
    kernel = dict((e['pid'], e) for e in record['oom']['events'])
    for death in deaths:
        kill = kernel[death['kernel_pid']]
        assert abs(kill['epoch'] - death['epoch']) <= 10
    assert not [r for r in record['reasons'] if r['signal'] == 'app_deaths']


def test_the_sources_read_are_named(record):
    sources = record['app_deaths']['sources']
    assert '/var/log/uwsgi/app/app.log' in sources and any('journalctl' in s for s in sources)


def test_the_first_run_warned_and_the_later_ones_say_nothing_came_since(record):
    """Three runs: the first judged the deaths and kills (a warning), the next ones only what came
    after the run before them: nothing, so the host is ok again, and the report says why."""
    runs = record['history']['runs']
    assert len(runs) == 3
    assert runs[0]['verdict'] == 'warning' and runs[-1]['verdict'] == record['verdict'] == 'ok'
    assert runs[0]['kills'] == runs[-1]['kills'] == record['oom']['kills'] >= 3
    assert record['oom']['recent'] == 0 and record['oom']['judged_since_run'] is True
    assert record['oom']['since_previous_run'] == runs[-2]['at']  # when the run before read the host
    past = [r['message'] for r in record['reasons'] if r['signal'] == 'oom_kills_past']
    assert len(past) == 1 and past[0].startswith('no OOM kill since the last run (')


def _rollup(host, pid):
    """Private and shared bytes of a process, read here from its smaps_rollup."""
    text = host.check_output('cat /proc/%d/smaps_rollup' % pid)
    values = dict((line.split(':')[0], int(line.split()[1]) * 1024) for line in text.splitlines()[1:])
    return (values['Private_Clean'] + values['Private_Dirty'], values['Shared_Clean'] + values['Shared_Dirty'])


@pytest.mark.parametrize('unit, kind, workers', [('gunicorn', 'gunicorn', 2), ('uwsgi', 'uwsgi', 2),
                                                 ('celery', 'celery', 2)])
def test_each_app_server_is_found_with_its_workers_measured(host, record, unit, kind, workers):
    """The master is the unit's main process, its workers its children; each worker's private and
    shared memory are what the test reads from smaps_rollup (within 10%, or 2 MiB of a small worker)."""
    master = int(host.check_output('systemctl show -p MainPID --value %s' % unit))
    children = sorted(int(pid) for pid in host.check_output('pgrep -P %d || true' % master).split())
    found = [s for s in record['app_servers'] if s['kind'] == kind]
    assert len(found) == 1, record['app_servers']
    server = found[0]
    assert server['master_pid'] == master and server['workers'] == len(children)
    assert server['settings']['workers'] == workers
    measured = dict((w['pid'], w) for w in server['measured'])
    assert sorted(measured) == children
    for pid in children:
        private, shared = _rollup(host, pid)
        # Celery's pool polls its broker between the diagnosis and now: a MiB or two moves
        assert abs(measured[pid]['private'] - private) <= max(0.10 * private, 2 << 20), (pid, measured[pid], private)
        assert abs(measured[pid]['shared'] - shared) <= max(0.10 * shared, 2 << 20), (pid, measured[pid], shared)
    assert server['private_per_worker'] in [w['private'] for w in measured.values()] or len(children) % 2 == 0
    assert isinstance(server['workers_that_fit'], int) and server['workers_that_fit'] >= 0
