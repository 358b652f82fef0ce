"""Page cache decisions, and the declared-target validation of the Redis flush."""

import os

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.fix.pagecache import (
    available_percent, cache_bytes, decide, regained)
from ansible_collections.headroom.memory.plugins.module_utils.read import kernel


def parse_meminfo(text):
    return kernel.parse_meminfo(text, need=kernel.MEMINFO_NEEDS)
from ansible_collections.headroom.memory.plugins.module_utils.fix.redis_flush import (
    names_no_key, summarize, validate_targets)
from redis_patterns import EVERY_KEY, NAMES_SOME

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'redis')


def meminfo_capture():
    with open(os.path.join(FIXTURES, 'proc_meminfo_debian12.txt')) as handle:
        return handle.read()


def test_parse_meminfo_capture():
    info = parse_meminfo(meminfo_capture())
    text = meminfo_capture()
    total_kb = int([line for line in text.splitlines() if line.startswith('MemTotal:')][0].split()[1])
    assert info['MemTotal'] == total_kb * 1024
    assert 0 < info['MemAvailable'] <= info['MemTotal']
    # counts, not sizes
    hp = int([line for line in text.splitlines() if line.startswith('HugePages_Total:')][0].split()[1])
    assert info['HugePages_Total'] == hp


def test_parse_meminfo_bad_line_quoted():
    with pytest.raises(ParseError, match=r"MemFree: lots"):
        parse_meminfo('MemTotal: 100 kB\nMemFree: lots\n')


def test_parse_meminfo_needs_total():
    with pytest.raises(ParseError, match='MemTotal'):
        parse_meminfo('MemFree: 100 kB\n')


def test_available_percent_and_old_kernel_estimate():
    assert available_percent({'MemTotal': 1000, 'MemFree': 100, 'MemAvailable': 250}) == 25.0
    # kernels before 3.14: no MemAvailable, free + buffers + cached
    assert available_percent({'MemTotal': 1000, 'MemFree': 100, 'Buffers': 50, 'Cached': 150}) == 30.0


def test_decide_says_why_both_ways():
    drop, reason = decide(4.2, 10)
    assert drop and 'below the 10.0% threshold' in reason and '4.2%' in reason
    drop, reason = decide(10.0, 10)
    assert not drop and 'not short' in reason
    with pytest.raises(ParseError, match='0-100'):
        decide(50, 120)


def test_cache_bytes_per_level():
    info = {'Cached': 800, 'Buffers': 200, 'SReclaimable': 50}
    assert cache_bytes(info, 1) == 1000
    assert cache_bytes(info, 2) == 50
    assert cache_bytes(info, 3) == 1050
    with pytest.raises(ParseError, match='1, 2 or 3'):
        cache_bytes(info, 4)


def test_regained_before_after():
    before = {'MemFree': 100, 'MemAvailable': 900, 'Cached': 800, 'Buffers': 20}
    after = {'MemFree': 700, 'MemAvailable': 905, 'Cached': 210, 'Buffers': 10}
    got = regained(before, after, 1)
    assert got['cache_bytes_dropped'] == 600
    assert got['mem_free_gained'] == 600
    assert (got['mem_available_before'], got['mem_available_after']) == (900, 905)


# ---- Redis flush declarations -------------------------------------------------

def test_targets_in_declared_order_whole_db_wins():
    targets = validate_targets([1], [{'db': 0, 'match': ':1:views.decorators.cache*'},
                                     {'db': 1, 'match': 'tmp:*'},
                                     {'db': 0, 'match': ':1:views.decorators.cache*'}], databases=16)
    assert targets == [(1, None), (0, ':1:views.decorators.cache*')]


def test_nothing_declared_nothing_targeted():
    assert validate_targets([], []) == []
    assert validate_targets(None, None) == []


@pytest.mark.parametrize('patterns, message', [
    ([{'db': 0, 'match': '*'}], 'matches every key'),
    ([{'db': 0, 'match': ' '}], 'empty match'),
    ([{'db': 'x', 'match': 'a*'}], 'DB must be a number'),
    (['a*'], 'must be {db: N, match: GLOB}'),
    ([{'db': 16, 'match': 'a*'}], 'DB 16 does not exist'),
])
def test_bad_patterns_refused(patterns, message):
    with pytest.raises(ParseError, match=message):
        validate_targets([], patterns, databases=16)


@pytest.mark.parametrize('match', EVERY_KEY)
def test_pattern_that_matches_every_key_refused_whatever_its_spelling(match):
    assert names_no_key(match)
    with pytest.raises(ParseError, match='matches every key'):
        validate_targets([], [{'db': 0, 'match': match}], databases=16)


@pytest.mark.parametrize('match', NAMES_SOME)
def test_pattern_that_names_keys_accepted(match):
    assert not names_no_key(match)
    assert validate_targets([], [{'db': 0, 'match': match}], databases=16) == [(0, match)]


def test_bad_db_refused():
    with pytest.raises(ParseError, match='flush_dbs entry: DB -1'):
        validate_targets([-1], [])
    with pytest.raises(ParseError, match='flush_dbs entry: DB must be a number'):
        validate_targets([True], [])


def test_summarize():
    assert summarize([{'keys': 3, 'bytes': 10}, {'keys': 2, 'bytes': 5}]) == {'keys': 5, 'bytes': 15}
    assert summarize([{'keys': 3, 'bytes': None}]) == {'keys': 3, 'bytes': None}


def test_keys_left_is_what_a_dry_run_would_leave():
    from ansible_collections.headroom.memory.plugins.module_utils.fix.redis_flush import keys_left
    results = [{'db': 1, 'match': None, 'keys': 150}, {'db': 0, 'match': ':1:*', 'keys': 400},
               {'db': 0, 'match': ':1:views*', 'keys': 400}, {'db': 4, 'match': 'thumb:*', 'keys': 60}]
    assert keys_left({0: 551, 1: 150, 2: 40, 4: 85}, results) == {'0': 0, '1': 0, '2': 40, '4': 25}
    assert keys_left({'0': 10}, [{'db': 3, 'match': 'x*', 'keys': 0}]) == {'0': 10}
