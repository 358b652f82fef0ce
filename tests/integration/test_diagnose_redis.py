"""diagnose.yml with headroom_redis=true: a real redis-server's own memory report lands in the fleet report,
and its password in no output."""
import json
import os
import subprocess
import sys

from conftest import PASSWORD

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def test_redis_report_joins_the_diagnosis(tmp_path, redis_server):
    client = redis_server.client()
    client.flushall()
    for i in range(300):
        client.set(':1:views.decorators.cache.page.%d' % i, 'x' * 512)
    extra = tmp_path / 'vars.json'
    report = tmp_path / 'fleet.json'
    extra.write_text(json.dumps({'headroom_redis': True, 'headroom_report_path': str(report),
                                 'headroom_history_path': str(tmp_path / 'h.sqlite'),
                                 'cache_flush_redis_port': redis_server.port,
                                 'cache_flush_redis_password': PASSWORD}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml', '-e', '@%s' % extra, '-v'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    record = json.loads(report.read_text())['hosts'][0]
    redis = record['redis']
    assert redis['keyspace'] == {'0': 300}
    from ansible_collections.headroom.memory.plugins.module_utils.redis_client import info as redis_info
    info = redis_info(client, 'memory')['memory']
    # used_memory moves a little with every command; the report's is from moments before
    assert abs(redis['memory']['used_memory'] - info['used_memory']) < 1 << 20
    assert redis['memory']['maxmemory'] == info['maxmemory']
    assert PASSWORD not in report.read_text()
    # what tells a restart and what it lost, read before the diagnosis and kept in the history for the next run
    server = redis_info(client, 'server')['server']
    assert redis['persistence']['process_id'] == server['process_id']
    assert 0 <= redis['persistence']['uptime_in_seconds'] <= server['uptime_in_seconds']
    # read a moment ago, on this host's clock (Redis's own: server_time_usec)
    assert 0 <= server['server_time_usec'] / 1e6 - redis['read_at'] < 300
    from ansible_collections.headroom.memory.plugins.module_utils.report.history import previous_run
    kept = previous_run(str(tmp_path / 'h.sqlite'), record['host'])['redis']
    assert (kept['keys'], kept['process_id'], kept['endpoint']) == (300, server['process_id'], redis['endpoint'])


def test_a_redis_that_cannot_be_read_is_a_gap_not_the_end_of_the_run(tmp_path, redis_server):
    """headroom_redis=true, and the read fails on every host (here, the one): the memory diagnosis and
    the report still arrive, and the report names what could not be read."""
    from conftest import free_port
    extra = tmp_path / 'vars.json'
    report = tmp_path / 'fleet.json'
    closed = free_port()
    extra.write_text(json.dumps({'headroom_redis': True, 'headroom_report_path': str(report),
                                 'cache_flush_redis_port': closed, 'cache_flush_redis_password': PASSWORD,
                                 'cache_flush_redis_no_log': False}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), 'diagnose.yml', '-e', '@%s' % extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    record = json.loads(report.read_text())['hosts'][0]
    assert record['verdict'] in ('ok', 'warning', 'critical') and record['memory']['total'] > 0
    assert record.get('redis') is None
    gap = [g for g in record['gaps'] if g.startswith('Redis: ')]
    assert len(gap) == 1 and ('127.0.0.1:%d' % closed) in gap[0] and 'down or unreachable' in gap[0]
    page = report.with_suffix('.html').read_text()
    assert 'down or unreachable' in page
    assert PASSWORD not in proc.stdout + proc.stderr + report.read_text()
