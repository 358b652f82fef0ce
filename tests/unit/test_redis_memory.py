"""Pure Redis logic: INFO parsing on real captures, sizes, warnings, config-file edits, error messages."""

import os

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read.redis import (
    classify_error, config_changes, config_file_values, edit_config_file, mask_secrets, keyspace, memory_summary, parse_info,
    parse_redis_size, parse_thp, parse_vm_swap, persistence_summary, warnings)

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'redis')


def fixture(name, mode='r'):
    with open(os.path.join(FIXTURES, name), mode) as handle:
        return handle.read()


# ---- INFO ----------------------------------------------------------------

def test_persistence_as_redis_7_prints_it():
    """Which process answers and since when, and what it saved (real capture): at startup Redis counts the
    start as its last save (server.lastsave), so rdb_last_save_time is when it started."""
    found = persistence_summary(parse_info(fixture('info_all_7.0.15_master.txt', 'rb')))
    assert found == {'process_id': 1657, 'uptime_in_seconds': 276, 'server_time': 1795612897.714091,
                     'rdb_last_bgsave_status': 'ok', 'loading': 0, 'rdb_changes_since_last_save': 154,
                     'rdb_last_save_time': 1795612621, 'rdb_saves': 0, 'rdb_last_load_keys_loaded': 0, 'aof_enabled': 0}
    assert int(found['server_time'] - found['uptime_in_seconds']) == found['rdb_last_save_time']


def test_persistence_of_a_redis_before_7_has_no_save_count():
    """Debian 11's Redis 6.0.16 (real capture) prints no rdb_saves, rdb_last_load_keys_loaded nor server_time_usec:
    None, never 0."""
    found = persistence_summary(parse_info(fixture('info_all_6.0.16.txt', 'rb')))
    assert (found['rdb_saves'], found['rdb_last_load_keys_loaded'], found['server_time']) == (None, None, None)
    assert (found['aof_enabled'], found['uptime_in_seconds'], found['process_id']) == (0, 0, 263)
    assert found['rdb_last_save_time'] == 1796696004


def test_parse_info_master_capture_crlf_bytes():
    # redis-cli info all, CRLF kept; redis-py hands the module the same text as bytes.
    info = parse_info(fixture('info_all_7.0.15_master.txt', 'rb'))
    assert info['server']['redis_version'] == '7.0.15'
    assert info['memory']['maxmemory'] == 104857600
    assert info['memory']['maxmemory_policy'] == 'allkeys-lru'
    assert info['memory']['mem_fragmentation_ratio'] == 5.64
    assert info['replication']['role'] == 'master'
    assert keyspace(info) == {0: 51, 2: 1}


def test_parse_info_replica_capture():
    info = parse_info(fixture('info_all_7.0.15_replica.txt'))
    summary = memory_summary(info)
    assert summary['role'] == 'slave'
    assert summary['maxmemory'] == 0
    assert summary['config_file'] is None  # started without one: INFO says "config_file:"
    assert keyspace(info) == {0: 101, 2: 1, 3: 1}


def test_parse_info_rejects_garbage_quoting_line():
    with pytest.raises(ParseError, match=r"not \"key:value\".*'garbage here'"):
        parse_info('# Memory\r\nused_memory:1\r\ngarbage here\r\n')


def test_parse_info_needs_a_section_first():
    with pytest.raises(ParseError, match='Section'):
        parse_info('used_memory:1\n')


def test_parse_info_bad_keyspace_line():
    with pytest.raises(ParseError, match='keyspace line'):
        parse_info('# Keyspace\ndb0:keys=x,expires=0\n')


def test_parse_info_empty():
    with pytest.raises(ParseError, match='empty'):
        parse_info('')


def test_memory_summary_names_missing_fields():
    with pytest.raises(ParseError, match='used_memory_rss'):
        memory_summary(parse_info('# Memory\nused_memory:1\nmaxmemory:0\nmaxmemory_policy:noeviction\n'))


# ---- sizes and settings ----------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('0', 0), ('1024', 1024), ('100mb', 100 * 1024 ** 2), ('100m', 100 * 10 ** 6),
    ('2GB', 2 * 1024 ** 3), ('2g', 2 * 10 ** 9), ('1k', 1000), ('1kb', 1024), (' 5 MB ', 5 * 1024 ** 2),
    (4096, 4096),
])
def test_parse_redis_size_follows_memtoll(text, expected):
    assert parse_redis_size(text) == expected


@pytest.mark.parametrize('bad', ['', 'lots', '1.5gb', '-1', '10tb', '1 g b'])
def test_parse_redis_size_refuses(bad):
    with pytest.raises(ParseError, match='not a Redis memory size'):
        parse_redis_size(bad)


def test_config_changes_compares_bytes():
    current = {'maxmemory': '104857600', 'maxmemory-policy': 'allkeys-lru'}
    assert config_changes(current, '100mb', 'allkeys-lru') == {}
    assert config_changes(current, '100m', None) == {'maxmemory': '100000000'}
    assert config_changes(current, None, 'allkeys-lfu') == {'maxmemory-policy': 'allkeys-lfu'}
    assert config_changes(current, '', '') == {}


def test_config_changes_unknown_policy():
    with pytest.raises(ParseError, match="unknown maxmemory-policy 'lru'"):
        config_changes({}, None, 'lru')


# ---- config file -----------------------------------------------------------

def test_edit_debian_conf_appends_when_only_commented():
    # Debian's file has only "# maxmemory <bytes>" and "# maxmemory-policy noeviction".
    text = fixture('redis.conf_debian12_7.0.15')
    new, changed = edit_config_file(text, {'maxmemory-policy': 'allkeys-lru', 'maxmemory': '2gb'})
    assert changed
    assert new.startswith(text)  # nothing of the original lost or moved
    assert new[len(text):] == 'maxmemory-policy allkeys-lru\nmaxmemory 2gb\n'
    assert config_file_values(new, ('maxmemory', 'maxmemory-policy')) == {
        'maxmemory': '2gb', 'maxmemory-policy': 'allkeys-lru'}
    again, changed = edit_config_file(new, {'maxmemory-policy': 'allkeys-lru', 'maxmemory': '2147483648'})
    assert not changed and again == new


def test_edit_rewrites_the_last_active_line_only():
    text = 'port 6379\nmaxmemory 1gb\n# maxmemory 5gb\nmaxmemory 3gb\ndir /var/lib/redis'
    new, changed = edit_config_file(text, {'maxmemory': '2gb'})
    assert changed
    assert new == 'port 6379\nmaxmemory 1gb\n# maxmemory 5gb\nmaxmemory 2gb\ndir /var/lib/redis'
    assert config_file_values(new, ('maxmemory',)) == {'maxmemory': '2gb'}


def test_edit_appends_after_a_file_without_final_newline():
    new, changed = edit_config_file('port 6379', {'maxmemory-policy': 'allkeys-lfu'})
    assert changed and new == 'port 6379\nmaxmemory-policy allkeys-lfu\n'


def test_edit_policy_case_insensitive_is_no_change():
    new, changed = edit_config_file('MaxMemory-Policy ALLKEYS-LRU\n', {'maxmemory-policy': 'allkeys-lru'})
    assert not changed


# ---- kernel files ----------------------------------------------------------

def test_parse_thp():
    assert parse_thp('always [madvise] never\n') == 'madvise'
    assert parse_thp('[always] madvise never\n') == 'always'
    with pytest.raises(ParseError, match='selected'):
        parse_thp('always madvise never\n')


def test_parse_vm_swap():
    status = 'Name:\tredis-server\nVmRSS:\t    7048 kB\nVmSwap:\t     128 kB\n'
    assert parse_vm_swap(status) == 128 * 1024
    assert parse_vm_swap('Name:\tkthreadd\n') is None
    with pytest.raises(ParseError, match='VmSwap'):
        parse_vm_swap('VmSwap: lots\n')


# ---- warnings --------------------------------------------------------------

def _summary(**over):
    base = dict(used_memory=50 * 2 ** 20, used_memory_rss=55 * 2 ** 20, used_memory_peak=60 * 2 ** 20,
                mem_fragmentation_ratio=1.1, maxmemory=2 ** 30, maxmemory_policy='allkeys-lru',
                mem_allocator='jemalloc-5.3.0', redis_version='7.0.15')
    base.update(over)
    return base


def codes(found):
    return [w['code'] for w in found]


def test_healthy_instance_has_no_warnings():
    assert warnings(_summary(), overcommit='1\n', thp='madvise', swapped_bytes=0) == []


def test_capture_of_default_server_warns_as_redis_does():
    summary = memory_summary(parse_info(fixture('info_all_7.0.15_replica.txt')))
    found = warnings(summary, is_cache=True, overcommit='0\n', thp='madvise')
    # 6 MB of fragmentation stays below MEMORY DOCTOR's 10 MB floor despite a ratio of 6.46.
    assert codes(found) == ['no_maxmemory', 'noeviction_cache', 'overcommit']


def test_noeviction_only_warned_on_a_cache():
    assert 'noeviction_cache' not in codes(warnings(_summary(maxmemory_policy='noeviction'), is_cache=False))
    assert 'noeviction_cache' in codes(warnings(_summary(maxmemory_policy='noeviction'), is_cache=True))


def test_thp_always_unless_redis_disables_it_for_itself():
    assert 'thp_always' in codes(warnings(_summary(), thp='always'))
    assert 'thp_always' in codes(warnings(_summary(redis_version='6.0.16'), thp='always', disable_thp='yes'))
    assert 'thp_always' not in codes(warnings(_summary(), thp='always', disable_thp='yes'))


def test_fragmentation_needs_ratio_and_bytes():
    big = _summary(used_memory=100 * 2 ** 20, used_memory_rss=200 * 2 ** 20, mem_fragmentation_ratio=2.0,
                   used_memory_peak=100 * 2 ** 20)
    assert codes(warnings(big)) == ['fragmentation']
    small = _summary(used_memory=2 ** 20, used_memory_rss=6 * 2 ** 20, mem_fragmentation_ratio=6.0,
                     used_memory_peak=2 ** 20)
    assert codes(warnings(small)) == []


def test_swapped_out_from_info_or_vmswap():
    assert 'swapped' in codes(warnings(_summary(used_memory=60 * 2 ** 20, used_memory_rss=40 * 2 ** 20)))
    assert 'swapped' in codes(warnings(_summary(), swapped_bytes=4096))
    assert 'swapped' not in codes(warnings(_summary(), swapped_bytes=0))


def test_unknown_kernel_facts_are_skipped():
    assert codes(warnings(_summary(), overcommit=None, thp=None)) == []


# ---- error messages --------------------------------------------------------
# The exception classes mirror redis-py's hierarchy, so classify_error is tested without a
# server here; tests/integration runs it against real failures of a real redis-server.

class RedisError(Exception):
    pass


class ConnectionError(RedisError):  # noqa: A001 - the name is what classify_error looks at
    pass


class AuthenticationError(ConnectionError):
    pass


class ResponseError(RedisError):
    pass


class ReadOnlyError(ResponseError):
    pass


def test_classify_real_messages():
    where = '127.0.0.1:6379'
    msg = classify_error(AuthenticationError('invalid username-password pair or user is disabled.'), where)
    assert 'refused the credentials' in msg
    msg = classify_error(ConnectionError('Error 111 connecting to 127.0.0.1:6379. Connection refused.'), where)
    assert 'down or unreachable' in msg
    msg = classify_error(ReadOnlyError("You can't write against a read only replica."), where, 'UNLINK')
    assert 'read-only replica' in msg
    msg = classify_error(ResponseError("unknown command 'CONFIG', with args beginning with: 'GET' "), where,
                         'CONFIG GET')
    assert 'renamed or disabled' in msg and 'CONFIG GET' in msg
    msg = classify_error(ResponseError('NOPERM this user has no permissions to run the \'unlink\' command'),
                         where, 'UNLINK')
    assert 'ACL user may not run UNLINK' in msg
    assert classify_error(ValueError('odd'), where, 'X').endswith('ValueError: odd')


def test_mask_secrets_on_debian_redis_conf():
    """Debian 12's redis.conf with every kind of secret set: values masked, the rest byte for byte."""
    with open(os.path.join(FIXTURES, 'redis.conf_debian12_7.0.15')) as handle:
        stock = handle.read()
    secrets = ['requirepass "two words"\n', 'masterauth m-pw\n', 'masteruser m-user\n',
               'primaryauth p-pw\n', 'tls-key-file-pass k-pw\n', 'tls-client-key-file-pass ck-pw\n',
               'user alice on >a-pw <old-pw #%s ~* +@all\n' % ('ab' * 32),
               'user bob on ">b pw" !%s nopass\n' % ('cd' * 32), 'sentinel auth-pass mymaster s-pw\n',
               '  # masterauth commented-pw\n']
    masked = mask_secrets(stock + ''.join(secrets))
    lines = masked.splitlines(True)
    head, tail = lines[:stock.count('\n')], ''.join(lines[stock.count('\n'):])
    changed = [(n, line) for n, (line, was) in enumerate(zip(head, stock.splitlines(True)), 1) if line != was]
    # the stock file's own commented examples (one of them prose that starts with the directive)
    assert changed == [(207, '# tls-key-file-pass ********\n'), (224, '# tls-client-key-file-pass ********\n'),
                       (534, '# masterauth ********\n'), (540, '# masteruser ********\n'),
                       (542, '# masteruser ********\n'),
                       (871, '#   user worker +@list +@connection ~jobs:* on >********\n'),
                       (955, '#   user alice on +@all -DEBUG ~* >********\n'),
                       (962, '#   user alice on -DEBUG +@all ~* >********\n'), (1036, '# requirepass ********\n')]
    for word in ('two words', 'm-pw', 'm-user', 'p-pw', 'k-pw', 'ck-pw', 'a-pw', 'old-pw', 'ab' * 32, 'b pw',
                 'cd' * 32, 's-pw', 'commented-pw'):
        assert word not in tail, word
    assert tail.splitlines()[6] == 'user alice on >******** <******** #******** ~* +@all'
    assert tail.splitlines()[7] == 'user bob on >******** !******** nopass'
    assert mask_secrets(masked) == masked and mask_secrets('maxmemory 2gb') == 'maxmemory 2gb'
