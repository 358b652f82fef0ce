"""cache_flush against a real redis-server, run through ansible: the role and its modules.

Seeded like a Django host: the view cache and the sessions share DB 0, a scratch DB,
a DB nobody named, and a DB where only one prefix is disposable.
"""

import hashlib
import json
import os
import shutil
import subprocess
import time

from conftest import ROOT, VENV_BIN
from ansible_collections.headroom.memory.plugins.module_utils.redis_client import connect
from redis_patterns import EVERY_KEY, NAMES_SOME


FLUSH_DBS = [1]
PATTERNS = [{'db': 0, 'match': ':1:views.decorators.cache.*'}, {'db': 4, 'match': 'thumb:*'}]


def seed(server):
    """Fill the server; return the set of (db, key) the declaration above must delete."""
    for db in range(16):
        server.client(db).flushdb()
    doomed = set()
    db0 = server.client(0).pipeline(transaction=False)
    for i in range(300):
        key = ':1:views.decorators.cache.cache_page.%s' % hashlib.md5(b'%d' % i).hexdigest()
        db0.set(key, 'x' * (200 + i))
        doomed.add((0, key.encode()))
    for i in range(100):
        key = ':1:views.decorators.cache.cache_header.%s' % hashlib.md5(b'h%d' % i).hexdigest()
        db0.set(key, 'h' * 64, ex=3600)
        doomed.add((0, key.encode()))
    for i in range(80):
        db0.set('django.contrib.sessions.cache%s' % hashlib.md5(b's%d' % i).hexdigest(), 's' * 120)
    for i in range(50):
        db0.set(':1:other_app.key.%d' % i, i)          # same version prefix, other key: kept
    for i in range(20):
        db0.hset('user:%d' % i, mapping={'name': 'u%d' % i, 'mail': 'u%d@example.org' % i})
    db0.rpush('celery', *['job%d' % i for i in range(30)])
    db0.execute()
    db1 = server.client(1).pipeline(transaction=False)
    for i in range(150):
        key = 'tmp:%d' % i
        if i % 3 == 0:
            db1.sadd(key, 'a', 'b', 'c')
        else:
            db1.set(key, 'v' * i)
        doomed.add((1, key.encode()))
    db1.execute()
    db2 = server.client(2).pipeline(transaction=False)
    for i in range(40):
        db2.set('keep:%d' % i, i)
    db2.execute()
    db4 = server.client(4).pipeline(transaction=False)
    for i in range(60):
        db4.set('thumb:%d' % i, 'p' * 1000)
        doomed.add((4, b'thumb:%d' % i))
    for i in range(25):
        db4.set('thumbnail-keep:%d' % i, 'q')
    db4.execute()
    return doomed


def flush_vars(server, **extra):
    role_vars = server.conn_vars()
    role_vars.update(cache_flush_redis_flush_dbs=FLUSH_DBS, cache_flush_redis_patterns=PATTERNS,
                     cache_flush_page_cache_enabled=False)
    role_vars.update(extra)
    return role_vars


FLUSH_TASK = 'Delete the DBs and key patterns declared disposable'
LIMIT_TASK = 'Enforce maxmemory and maxmemory-policy'
EXPORT_TASK = 'Export what the role found and did'


def report(tasks, part):
    """One part of the cache_flush_report fact the role exports (its modules' results)."""
    return tasks[EXPORT_TASK]['ansible_facts']['cache_flush_report'][part]


def test_facts_report_memory_keyspace_and_warnings(ansible_run, redis_server):
    seed(redis_server)
    result, _ = ansible_run.module('redis_memory_facts', redis_server.module_args())
    facts = result['ansible_facts']['headroom_redis']
    assert result['changed'] is False
    # 300 + 100 view cache, 80 sessions, 50 other, 20 users, 1 queue; 150; 40; 85
    assert facts['keyspace'] == {'0': 551, '1': 150, '2': 40, '4': 85}
    assert facts['keys_total'] == 826
    assert facts['memory']['used_memory'] > 0 and facts['memory']['maxmemory'] == 0
    assert facts['memory']['config_file'] == redis_server.config_file
    codes = [w['code'] for w in facts['warnings']]
    assert 'no_maxmemory' in codes and 'noeviction_cache' in codes
    with open('/proc/sys/vm/overcommit_memory') as handle:
        overcommit = handle.read().strip()
    assert ('overcommit' in codes) == (overcommit != '1')
    assert facts['kernel']['overcommit_memory'] == int(overcommit)


def test_facts_over_unix_socket(ansible_run, redis_server):
    seed(redis_server)
    result, _ = ansible_run.module('redis_memory_facts', {'unix_socket': redis_server.unix_socket,
                                                  'password': redis_server.password, 'is_cache': False})
    facts = result['ansible_facts']['headroom_redis']
    assert facts['endpoint'] == 'unix:%s' % redis_server.unix_socket
    assert facts['keys_total'] == 826
    assert 'noeviction_cache' not in [w['code'] for w in facts['warnings']]


def test_check_mode_counts_and_deletes_nothing(ansible_run, redis_server, tmp_path):
    doomed = seed(redis_server)
    before = redis_server.all_keys()
    rc, tasks, output = ansible_run.role(tmp_path, flush_vars(redis_server), check=True)
    assert rc == 0, output
    flush = report(tasks, 'redis_flush')
    assert flush['changed'] is True and flush['check_mode'] is True
    assert tasks['Show what was deleted']['msg'].startswith('would delete 610 keys')
    assert flush['keys'] == len(doomed) == 610
    assert [(t['db'], t['match'], t['keys']) for t in flush['targets']] == [
        (1, None, 150), (0, ':1:views.decorators.cache.*', 400), (4, 'thumb:*', 60)]
    # 60 thumbnails of 1000 bytes alone: MEMORY USAGE must count at least the payload
    assert flush['bytes'] > 300 * 200 + 60 * 1000
    assert redis_server.all_keys() == before
    # what the real run below leaves (test_flush_deletes_only_what_was_declared...): DB 1 emptied whole
    assert flush['keyspace_after'] == {'0': 151, '1': 0, '2': 40, '4': 25}
    assert 'keys left per DB' in tasks['Show what was deleted']['msg']
    assert redis_server.password not in output


def test_flush_deletes_only_what_was_declared_then_no_change(ansible_run, redis_server, tmp_path):
    doomed = seed(redis_server)
    before = redis_server.all_keys()
    rc, tasks, output = ansible_run.role(tmp_path, flush_vars(redis_server))
    assert rc == 0, output
    flush = report(tasks, 'redis_flush')
    assert flush['changed'] is True and flush['keys'] == 610 and flush['check_mode'] is False
    assert tasks['Show what was deleted']['msg'].startswith('deleted 610 keys')
    assert flush['purged'] is True  # Debian's redis-server uses jemalloc
    after = redis_server.all_keys()
    assert after == before - doomed           # every other key still there
    assert len(after) == 826 - 610 == 216
    survivors = dict((db, sum(1 for d, _ in after if d == db)) for db in range(16))
    assert survivors[0] == 80 + 50 + 20 + 1   # sessions, other keys, users, queue
    assert survivors[1] == 0 and survivors[2] == 40 and survivors[4] == 25
    assert flush['keyspace_after'] == {'0': 151, '2': 40, '4': 25}
    assert redis_server.password not in output

    rc, tasks, output = ansible_run.role(tmp_path, flush_vars(redis_server))
    assert rc == 0, output
    assert report(tasks, 'redis_flush')['changed'] is False and report(tasks, 'redis_flush')['keys'] == 0
    assert redis_server.all_keys() == after


def test_nothing_declared_nothing_deleted(ansible_run, redis_server, tmp_path):
    seed(redis_server)
    before = redis_server.all_keys()
    role_vars = redis_server.conn_vars()
    role_vars['cache_flush_page_cache_enabled'] = False
    rc, tasks, output = ansible_run.role(tmp_path, role_vars)
    assert rc == 0, output
    assert tasks[FLUSH_TASK].get('skipped') is True
    assert 'no Redis key deleted' in tasks['Say that nothing was declared disposable']['msg']
    assert redis_server.all_keys() == before


def test_wrong_password_fails_cleanly_nothing_touched(ansible_run, redis_server, tmp_path):
    seed(redis_server)
    before = redis_server.all_keys()
    role_vars = flush_vars(redis_server, cache_flush_redis_password='not-the-password',
                           cache_flush_redis_maxmemory='64mb', cache_flush_redis_no_log=False)
    rc, tasks, output = ansible_run.role(tmp_path, role_vars)
    assert rc != 0
    failed = tasks['Read Redis memory, keys per DB and warnings']
    assert failed['failed'] is True
    assert 'refused the credentials' in failed['msg'] and 'Traceback' not in output
    # even with no_log off, the module masks the password it was given
    assert 'not-the-password' not in output
    assert FLUSH_TASK not in tasks and LIMIT_TASK not in tasks
    assert redis_server.all_keys() == before
    assert redis_server.client().config_get('maxmemory')['maxmemory'] == '0'


def test_redis_down_and_missing_password(ansible_run, redis_server):
    result, _ = ansible_run.module('redis_flush', {'port': ansible_run.free_port(), 'flush_dbs': [1]})
    assert result['failed'] and 'is down or unreachable' in result['msg']
    result, _ = ansible_run.module('redis_flush', {'port': redis_server.port, 'flush_dbs': [1]})
    assert result['failed'] and 'refused the credentials' in result['msg']


def _config_get(server, name):
    return server.client().config_get(name)[name]


def test_maxmemory_idempotent_live_and_persisted(ansible_run, redis_server, tmp_path):
    redis_server.client().config_set('maxmemory', 0)
    redis_server.client().config_set('maxmemory-policy', 'noeviction')
    role_vars = redis_server.conn_vars()
    role_vars.update(cache_flush_redis_maxmemory='64mb', cache_flush_redis_maxmemory_policy='allkeys-lru',
                     cache_flush_redis_persist=True, cache_flush_page_cache_enabled=False)
    rc, tasks, output = ansible_run.role(tmp_path, role_vars, check=True)
    assert rc == 0, output
    assert report(tasks, 'redis_limit')['changed'] is True
    assert _config_get(redis_server, 'maxmemory') == '0'            # check mode: untouched
    with open(redis_server.config_file) as handle:
        assert 'maxmemory' not in handle.read()

    rc, tasks, output = ansible_run.role(tmp_path, role_vars)
    assert rc == 0, output
    limit = report(tasks, 'redis_limit')
    assert limit['changed'] is True and limit['config_file_changed'] is True
    assert limit['before'] == {'maxmemory': '0', 'maxmemory-policy': 'noeviction'}
    assert _config_get(redis_server, 'maxmemory') == str(64 * 1024 * 1024)
    assert _config_get(redis_server, 'maxmemory-policy') == 'allkeys-lru'
    with open(redis_server.config_file) as handle:
        text = handle.read()
    assert text.endswith('maxmemory-policy allkeys-lru\nmaxmemory 64mb\n')

    rc, tasks, output = ansible_run.role(tmp_path, role_vars)
    assert rc == 0, output
    assert report(tasks, 'redis_limit')['changed'] is False

    # The edited file is what a restarted Redis reads: start one from it and ask.
    port = ansible_run.free_port()
    proc = subprocess.Popen([shutil.which('redis-server'), redis_server.config_file, '--port', str(port),
                             '--unixsocket', os.path.join(redis_server.dir, 'second.sock'),
                             '--logfile', os.path.join(redis_server.dir, 'second.log')],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = connect('127.0.0.1', port, None, None, redis_server.password, 0, 10.0)
        deadline = time.monotonic() + 10
        while True:
            try:
                values = client.config_get('maxmemory*')
                break
            except Exception:  # still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert values['maxmemory'] == str(64 * 1024 * 1024)
        assert values['maxmemory-policy'] == 'allkeys-lru'
    finally:
        proc.terminate()
        proc.wait(10)


def test_maxmemory_bad_values_fail_before_change(ansible_run, redis_server):
    result, _ = ansible_run.module('redis_memory_limit', dict(redis_server.module_args(), maxmemory='lots'))
    assert result['failed'] and 'not a Redis memory size' in result['msg']
    result, _ = ansible_run.module('redis_memory_limit', dict(redis_server.module_args(), policy='lru'))
    assert result['failed'] and 'policy' in result['msg']


def test_persist_without_config_file_says_so(ansible_run, redis_server):
    # A server started with no config file (INFO server config_file is empty).
    port = ansible_run.free_port()
    proc = subprocess.Popen([shutil.which('redis-server'), '--port', str(port), '--save', '', '--bind',
                             '127.0.0.1', '--dir', redis_server.dir, '--logfile', ''],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            result, _ = ansible_run.module('redis_memory_limit', {'port': port, 'maxmemory': '32mb', 'persist': True},
                                   check=True)
            if 'down or unreachable' not in result.get('msg', '') or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert result['failed'] and 'started without a config file' in result['msg']
    finally:
        proc.terminate()
        proc.wait(10)


def test_read_only_replica_refuses_flush(ansible_run, redis_server, redis_factory):
    seed(redis_server)
    replica = redis_factory(extra=['replicaof 127.0.0.1 %d' % redis_server.port,
                                   'masterauth %s' % redis_server.password])
    deadline = time.monotonic() + 15
    while replica.client().dbsize() < 551 and time.monotonic() < deadline:
        time.sleep(0.1)
    before_primary, before_replica = redis_server.all_keys(), replica.all_keys()
    assert before_replica == before_primary
    args = dict(replica.module_args(), flush_dbs=FLUSH_DBS, patterns=PATTERNS)
    result, _ = ansible_run.module('redis_flush', args)
    assert result['failed'] and 'read-only replica' in result['msg'] and 'nothing was deleted' in result['msg']
    # check mode refuses it too: a plan validated in check mode must meet what the real run would meet
    result, _ = ansible_run.module('redis_flush', args, check=True)
    assert result['failed'] and 'read-only replica' in result['msg'] and 'nothing was deleted' in result['msg']
    assert replica.all_keys() == before_replica and redis_server.all_keys() == before_primary


def test_renamed_commands_fail_clearly_nothing_touched(ansible_run, redis_factory):
    server = redis_factory(extra=['rename-command UNLINK ""', 'rename-command CONFIG "cfg-9f2c"'])
    seed(server)
    before = server.all_keys()
    result, _ = ansible_run.module('redis_flush', dict(server.module_args(), flush_dbs=FLUSH_DBS, patterns=PATTERNS))
    assert result['failed'] and 'does not know UNLINK' in result['msg'] and 'renamed or disabled' in result['msg']
    assert server.all_keys() == before
    result, _ = ansible_run.module('redis_flush', dict(server.module_args(), flush_dbs=FLUSH_DBS, patterns=PATTERNS),
                                   check=True)
    assert result['failed'] and 'does not know UNLINK' in result['msg']
    result, _ = ansible_run.module('redis_memory_limit', dict(server.module_args(), maxmemory='10mb'))
    assert result['failed'] and 'CONFIG GET' in result['msg'] and 'renamed or disabled' in result['msg']
    result, _ = ansible_run.module('redis_memory_facts', server.module_args())
    assert result['failed'] and 'renamed or disabled' in result['msg']


def test_acl_user_flushes_and_a_user_without_unlink_is_told(ansible_run, redis_factory):
    server = redis_factory(extra=['user cachebot on >bot-pw ~* &* +@all',
                                  'user reader on >reader-pw ~* &* +@all -unlink'])
    doomed = seed(server)
    before = server.all_keys()
    args = {'port': server.port, 'user': 'reader', 'password': 'reader-pw', 'flush_dbs': FLUSH_DBS,
            'patterns': PATTERNS}
    result, _ = ansible_run.module('redis_flush', args)
    assert result['failed'] and 'ACL user may not run' in result['msg'] and "'unlink'" in result['msg']
    assert server.all_keys() == before
    result, _ = ansible_run.module('redis_flush', dict(args, user='cachebot', password='bot-pw'))
    assert result['changed'] and result['keys'] == len(doomed)
    assert server.all_keys() == before - doomed


def test_undeclared_db_number_refused_nothing_deleted(ansible_run, redis_server):
    seed(redis_server)
    before = redis_server.all_keys()
    result, _ = ansible_run.module('redis_flush', dict(redis_server.module_args(), flush_dbs=[1, 16]))
    assert result['failed'] and 'DB 16 does not exist (this server has DBs 0 to 15)' in result['msg']
    assert redis_server.all_keys() == before


def test_every_key_patterns_refused_by_what_redis_matches(ansible_run, redis_server):
    """Each spelling the unit tests call "every key" really matches every key (Redis's own SCAN says
    so), and the module refuses it with nothing deleted; each near miss really leaves a key out."""
    seed(redis_server)
    client = redis_server.client(0)
    odd = ['a', 'aaaaaaaaaaaa', '\x00\x01', 'ends-in-nul\x00', '\xff' * 12, ']]]]]]]]]]]]', '*' * 12, '\x81' * 12]
    for key in odd:
        client.set(key, 'odd')
    keys = set(client.scan_iter(count=1000))
    before = redis_server.all_keys()
    for match in EVERY_KEY:
        matched = set(client.scan_iter(match=match, count=1000))
        length = match.count('?') + match.count('[')  # each takes one byte, whatever the byte
        if '*' in match:
            assert matched == set(k for k in keys if len(k) >= length), match
        else:
            assert matched == set(k for k in keys if len(k) == length), match
        result, _ = ansible_run.module('redis_flush', dict(redis_server.module_args(),
                                                            patterns=[{'db': 0, 'match': match}]))
        assert result['failed'] and 'matches every key' in result['msg'], match
        assert redis_server.all_keys() == before, match
    for match in NAMES_SOME:
        assert set(client.scan_iter(match=match, count=1000)) < keys, match


SECRETS = {'requirepass': 'rp-Secret-1', 'masterauth': 'ma-Secret-2', 'masteruser': 'mu-Secret-3',
           'acl_pass': 'acl-Secret-4', 'tls-key-file-pass': 'tls-Secret-5',
           'tls-client-key-file-pass': 'tlsc-Secret-6',
           # sha256('acl-Secret-7'): a hashed ACL password is as good as the password to a cracker
           'acl_hash': hashlib.sha256(b'acl-Secret-7').hexdigest()}


def test_no_secret_of_redis_conf_in_diff_verbose_output_or_report(redis_factory, tmp_path):
    """The role with persist, --diff and -vvv, and no_log off: the redis.conf diff, every result and the
    exported report name each secret's directive but never its value."""
    server = redis_factory(password=SECRETS['requirepass'], extra=[
        'masterauth %s' % SECRETS['masterauth'], 'masteruser %s' % SECRETS['masteruser'],
        'tls-key-file-pass %s' % SECRETS['tls-key-file-pass'],
        'tls-client-key-file-pass %s' % SECRETS['tls-client-key-file-pass'],
        'user cachebot on >%s #%s ~* &* +@all' % (SECRETS['acl_pass'], SECRETS['acl_hash']),
        '# requirepass %s-old' % SECRETS['requirepass']])
    server.client().config_set('maxmemory', 0)
    role_vars = server.conn_vars()
    role_vars.update(cache_flush_redis_maxmemory='48mb', cache_flush_redis_persist=True,
                     cache_flush_redis_no_log=False, cache_flush_page_cache_enabled=False)
    playbook = tmp_path / 'cache_flush.yml'
    report_file = tmp_path / 'report.json'
    playbook.write_text('- name: Apply cache_flush\n  hosts: localhost\n  roles:\n    - role: headroom.memory.cache_flush\n'
                        '  post_tasks:\n    - name: Keep the report\n      ansible.builtin.copy:\n'
                        '        content: "{{ cache_flush_report | to_nice_json }}"\n'
                        '        dest: %s\n        mode: "0600"\n' % report_file)
    (tmp_path / 'vars.json').write_text(json.dumps(role_vars))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default')
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), str(playbook), '-e',
                           '@%s' % (tmp_path / 'vars.json'), '--diff', '-vvv'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    with open(server.config_file) as handle:
        assert handle.read().endswith('maxmemory 48mb\n')  # the file really was edited and diffed
    assert '+maxmemory 48mb' in output and 'masterauth ********' in output and '>******** #********' in output
    report = report_file.read_text()
    for name, secret in SECRETS.items():
        assert secret not in output, name
        assert secret not in report, name


def test_a_flush_that_fails_halfway_says_what_is_gone(ansible_run, redis_factory):
    """The ACL user loses UNLINK while the flush runs (an admin's change, a failover): the module fails,
    and says changed with exactly the keys already deleted, never 'nothing was deleted'."""
    import threading
    server = redis_factory(extra=['user cachebot on >bot-pw ~* &* +@all'])
    admin = server.client(1)
    pipe = admin.pipeline(transaction=False)
    for i in range(200000):
        pipe.set('tmp:%d' % i, 'x')
    pipe.execute()
    before = admin.dbsize()
    revoked = threading.Event()

    def revoke_when_started():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and admin.dbsize() > before - 500:
            time.sleep(0.001)
        admin.execute_command('ACL', 'SETUSER', 'cachebot', '-unlink')
        revoked.set()
    watcher = threading.Thread(target=revoke_when_started)
    watcher.start()
    result, _ = ansible_run.module('redis_flush', {'port': server.port, 'user': 'cachebot', 'password': 'bot-pw',
                                                   'patterns': [{'db': 1, 'match': 'tmp:*'}], 'batch_size': 100,
                                                   'measure_bytes': False})
    watcher.join()
    assert revoked.is_set()
    gone = before - admin.dbsize()
    assert 0 < gone < before
    assert result['failed'] is True and result['changed'] is True, result
    assert result['keys'] == gone
    assert '%d key(s) were deleted before the failure and are gone' % gone in result['msg']
