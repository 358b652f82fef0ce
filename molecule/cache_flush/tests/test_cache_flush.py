"""State after converge + side_effect: only the declared keys gone, every other key counted,
the limit live and in redis.conf (Redis was restarted by side_effect)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from checks import count_keys, redis  # noqa: E402


@pytest.fixture(scope='module')
def vars_(host):
    return host.ansible.get_variables()


def test_redis_runs(host):
    assert host.service('redis-server').is_running


def test_only_declared_keys_deleted_every_other_key_there(host, vars_):
    for entry in vars_['molecule_seed']:
        expected = 0 if entry['doomed'] else entry['count']
        assert count_keys(host, vars_, entry['db'], entry['prefix']) == expected, entry


def test_dbsize_matches_the_kept_seed(host, vars_):
    for db in range(5):
        kept = sum(e['count'] for e in vars_['molecule_seed'] if e['db'] == db and not e['doomed'])
        assert int(redis(host, vars_, '-n %d dbsize' % db)) == kept


def test_limit_survived_the_restart(host, vars_):
    assert redis(host, vars_, 'config get maxmemory').splitlines() == [
        'maxmemory', str(vars_['molecule_maxmemory_bytes'])]
    assert redis(host, vars_, 'config get maxmemory-policy').splitlines() == [
        'maxmemory-policy', vars_['molecule_policy']]


def test_redis_conf_has_the_limit_once_and_keeps_its_owner(host, vars_):
    conf = host.file('/etc/redis/redis.conf')
    active = [line for line in conf.content_string.splitlines() if line.startswith('maxmemory')]
    assert active == ['maxmemory-policy %s' % vars_['molecule_policy'], 'maxmemory %s' % vars_['molecule_maxmemory']]
    assert conf.user == 'redis' and conf.mode == 0o640
