"""Property tests for issue 21's verdict classes: a data store's kill (any kill lines and unit deaths, any
Redis figures now and at the last run), a worker budget at the peak (any sizes from any source), and a
whole host's cgroup (any workload over any v2 tree of limits). Whatever they are: no exception, a data
store's kill is critical and named, a budget at the peak never fits more than at rest, a limit reported
binds every process of the workload."""
import os

from hypothesis import given, settings, strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import (
    DATA_STORES, budgets, data_stores)
from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit, merge_policy
from ansible_collections.headroom.memory.plugins.module_utils.read import kernel
from hostile import NUMBERS

MIB = 1 << 20
T = 1796696040.0
COMMANDS = [name for name, _kind in DATA_STORES] + ['gunicorn', 'python3', 'redis-rdb-bgsave', 'redis', '']
UNITS = ['redis-server.service', 'redis-server@cache.service', 'memcached.service', 'postgresql@15-main.service',
         'mysql.service', 'mariadb.service', 'mongod.service', 'gunicorn.service', 'init.scope', None]
MAYBE_INT = st.one_of(st.none(), st.integers(-2 ** 40, 2 ** 40), st.booleans(), NUMBERS, st.floats(allow_nan=True))
EPOCH = st.one_of(st.none(), st.floats(T - 3 * 86400, T + 3600))

events = st.lists(st.fixed_dictionaries({
    'comm': st.sampled_from(COMMANDS), 'pid': st.one_of(st.none(), st.integers(1, 4 << 20)), 'epoch': EPOCH,
    'task_memcg': st.one_of(st.none(), st.sampled_from(['/system.slice/' + (u or 'x') for u in UNITS])),
    'unit': st.one_of(st.none(), st.sampled_from([u for u in UNITS if u]))}), max_size=12)
deaths = st.lists(st.fixed_dictionaries({
    'server': st.sampled_from(['systemd', 'gunicorn', 'celery']), 'pid': st.one_of(st.none(), st.integers(1, 99999)),
    'worker': st.sampled_from(UNITS), 'epoch': EPOCH, 'unit': st.sampled_from(UNITS),
    'kernel_pid': st.one_of(st.none(), st.integers(1, 99999))}), max_size=8)
redis_now = st.one_of(st.none(), st.fixed_dictionaries({
    'endpoint': st.sampled_from(['127.0.0.1:6379', 'unix:/run/redis/redis.sock']),
    'read_at': st.one_of(st.none(), st.floats(T - 60, T + 7200)), 'keys_total': MAYBE_INT,
    'memory': st.fixed_dictionaries({'used_memory': st.one_of(st.none(), st.integers(0, 1 << 40))}),
    'persistence': st.fixed_dictionaries({
        'uptime_in_seconds': st.one_of(st.none(), st.integers(0, 10 ** 7)), 'process_id': MAYBE_INT,
        'rdb_last_load_keys_loaded': MAYBE_INT, 'aof_enabled': st.one_of(st.none(), st.integers(0, 1))})}))
redis_before = st.one_of(st.none(), st.fixed_dictionaries({
    'endpoint': st.sampled_from(['127.0.0.1:6379', 'unix:/run/redis/redis.sock']),
    'at': st.one_of(st.none(), st.floats(T - 86400, T + 60)), 'keys': MAYBE_INT,
    'used_memory': st.one_of(st.none(), st.integers(0, 1 << 40)),
    'uptime_in_seconds': st.one_of(st.none(), st.integers(0, 10 ** 7)),
    'rdb_last_save_time': st.one_of(st.none(), st.integers(0, int(T) + 3600)),
    'rdb_saves': st.one_of(st.none(), st.integers(0, 50)), 'aof_enabled': st.one_of(st.none(), st.integers(0, 1))}))


@settings(max_examples=300, deadline=None)
@given(events, deaths, st.one_of(st.none(), st.floats(T - 86400, T)), redis_now, redis_before)
def test_any_kill_of_a_data_store_is_critical_and_named(kills, lost, since, now, before):
    stores = data_stores(kills, lost, since)
    kinds = dict(DATA_STORES)
    for store in stores:
        assert store['command'] in kinds and store['kind'] == kinds[store['command']]
        assert since is None or store['last'] >= since
        assert store['by'] in ('kernel', 'sigkill') and (store['kills'] > 0) == (store['by'] == 'kernel')
    assert [s['last'] for s in stores] == sorted((s['last'] for s in stores), reverse=True)
    result = audit({'memory': {'total': 1024 * MIB, 'available': 900 * MIB}, 'data_stores': stores, 'redis': now,
                    'previous_redis': before}, merge_policy())
    said = [r for r in result['reasons'] if r['signal'] == 'data_store']
    assert len(said) == len(stores) and all(r['level'] == 'critical' for r in said)
    assert all(r['message'].startswith(s['command']) for r, s in zip(said, stores))
    assert result['verdict'] == ('critical' if stores else result['verdict'])


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 64), st.integers(1, 512), st.integers(0, 256), st.lists(st.tuples(
    st.sampled_from(['watch', 'kill', 'dump', 'history']), st.integers(0, 4096), st.sampled_from(['rss', 'pss']),
    st.integers(1, 9)), max_size=6), st.integers(256, 65536), st.floats(0.0, 1.0))
def test_a_budget_at_the_peak_never_fits_more_than_at_rest(count, private, shared, seen, total, free_share):
    server = {'kind': 'gunicorn', 'command': 'gunicorn', 'master_pid': 10, 'workers': count, 'settings': {},
              'master': {'private': 1, 'shared': 1, 'pss': None},
              'measured': [{'pid': 11 + k, 'private': private * MIB, 'shared': shared * MIB, 'pss': None} for k in range(count)]}
    watch, postmortem, history = {'workers': []}, [], {}
    for source, size, measure, many in seen:
        if source == 'watch':
            watch['workers'].append({'master_pid': 10, 'pid': 12, 'rss': size * MIB, 'at': T})
        elif source == 'kill':
            postmortem.append({'epoch': T, 'victim': {'pid': 99, 'command': 'gunicorn', 'rss': size * MIB}, 'tasks': None})
        elif source == 'dump':
            postmortem.append({'epoch': T, 'victim': {'pid': 98, 'command': 'redis-server', 'rss': 1},
                               'tasks': [{'command': 'gunicorn', 'count': many, 'rss': size * MIB * many}]})
        else:
            history['gunicorn'] = {'memory': size * MIB, 'measure': measure, 'pid': 7, 'at': T}
    usable = int(total * MIB * free_share)
    budget, = budgets([server], total * MIB, usable, merge_policy(), watch, postmortem, history)
    peak = budget['peak']
    if peak is None:
        assert budget['workers_that_fit_at_peak'] is None
    else:
        assert peak['bytes'] > budget['private_per_worker'] and peak['bytes'] <= peak['measured']
        assert 0 <= budget['workers_that_fit_at_peak'] <= budget['workers_that_fit']
        result = audit({'memory': {'total': total * MIB, 'available': usable}, 'app_servers': [budget]}, merge_policy())
        fit = [r for r in result['recommendations'] if r['title'] == "Fit gunicorn's workers in memory"]
        assert bool(fit) == (budget['workers_that_fit_at_peak'] < count)


CGROUPS = ['/system.slice', '/system.slice/a.service', '/system.slice/b.service', '/user.slice',
           '/user.slice/user-0.slice', '/user.slice/user-0.slice/session-1.scope', '/app.slice', '/app.slice/web.service']


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(CGROUPS), st.one_of(st.just('max'), st.integers(1, 1 << 20).map(lambda m: str(m * 4096)))),
       st.lists(st.sampled_from(CGROUPS), max_size=6))
def test_a_limit_on_a_whole_host_binds_every_process_of_the_workload(tmp_path_factory, limits, placed):
    """Any limits on any cgroups, any workload: the limit reported is set on a cgroup every workload process lies
    in (or none), and it is the smallest such; the root has none."""
    tree = tmp_path_factory.mktemp('tree')
    base = tree / 'sys' / 'fs' / 'cgroup'
    base.mkdir(parents=True)
    (base / 'cgroup.controllers').write_text('memory\n')
    (base / 'memory.stat').write_text('inactive_file 4096\n')
    for path in CGROUPS:
        where = base / path.strip('/')
        where.mkdir(parents=True, exist_ok=True)
        (where / 'memory.current').write_text('4096\n')
        (where / 'memory.max').write_text(limits.get(path, 'max') + '\n')
    (tree / 'proc' / 'self').mkdir(parents=True)
    (tree / 'proc' / 'self' / 'cgroup').write_text('0::/user.slice/user-0.slice/session-1.scope\n')
    for pid, path in enumerate(placed, 100):
        (tree / 'proc' / str(pid)).mkdir()
        (tree / 'proc' / str(pid) / 'cgroup').write_text('0::%s\n' % path)
    info = kernel.read_cgroup_memory(str(tree), workload=list(range(100, 100 + len(placed))))
    binding = [path for path in CGROUPS if limits.get(path, 'max') != 'max'
               and placed and all(p == path or p.startswith(path + '/') for p in placed)]
    if not binding:
        assert info['limit'] is None and info['scope'] == '/'
    else:
        assert info['limit'] == min(int(limits[path]) for path in binding)
        assert info['limit_cgroup'] in binding and info['scope'] == info['limit_cgroup']
        assert os.path.basename(info['dir']) == os.path.basename(info['scope'])
