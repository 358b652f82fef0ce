"""Random histories and identities (issue 20, classes 7 and 10): a rate or a time to exhaustion comes only
from enough time and says the span it comes from; counters are compared only within one boot of one
machine, and any evidence of another machine, or no evidence at all, keeps them apart."""
from hypothesis import HealthCheck, example, given, settings, strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.judge.identity import compare
from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import comparable_previous, oom_facts
from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import merge_policy, same_machine
from ansible_collections.headroom.memory.plugins.module_utils.report import history

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MIB = 1 << 20
T0 = 1796000000.0
HOST = {'machine': 'a' * 32, 'boot_id': '266f4819-a7ed-4bfd-9593-4ad6066785dc', 'btime': int(T0) - 86400,
        'container': False}


@st.composite
def series(draw):
    """Runs of one machine: gaps from a second (a run repeated by hand) to a day (a daily schedule), memory
    falling, rising or noisy, one command that may grow."""
    gaps = draw(st.lists(st.one_of(st.floats(0.5, 10), st.floats(10, 600), st.sampled_from([900.0, 3600.0, 86400.0])),
                         min_size=0, max_size=15))
    times, at = [T0], T0
    for gap in gaps:
        at += gap
        times.append(at)
    slope = draw(st.integers(-200, 200)) * MIB  # per run
    noise = draw(st.lists(st.integers(-20, 20), min_size=len(times), max_size=len(times)))
    return [{'identity': HOST, 'epoch': t + 5, 'at': t, 'total': 4096 * MIB,
             'usable': max(0, 2048 * MIB + k * slope + noise[k] * MIB),
             'top': [{'command': 'python', 'pid': 7, 'started': T0 - 60, 'memory': 100 * MIB + max(0, k * slope)}]}
            for k, t in enumerate(times)]


@SETTINGS
@given(series())
def test_no_rate_from_too_little_time(runs):
    result = history.trend(runs)
    span = runs[-1]['at'] - runs[0]['at']
    enough = span >= history.MIN_SPAN and history.moments([r['at'] for r in runs]) >= history.MIN_RUNS
    if not enough:
        assert result['slope_bytes_per_day'] is None and result['exhaustion_seconds'] is None
        assert result['reason'].startswith('not enough history: ')
        if len(runs) >= history.MIN_RUNS:
            assert history.duration(span) in result['reason']  # the span it has is named
    if result['exhaustion_seconds'] is not None:
        assert enough and result['span_seconds'] >= history.MIN_SPAN
        assert 'from %d runs over %s' % (len(runs), history.duration(span)) in result['reason']
    for leak in history.leaks(runs):
        if leak['slope_bytes_per_day'] is not None:
            assert leak['span_seconds'] >= history.MIN_SPAN and leak['reason'] is None
        else:
            assert leak['reason'].startswith('not enough history for a rate: ')


TEXT = st.one_of(st.none(), st.sampled_from(['a' * 32, 'b' * 32, '266f4819-a7ed-4bfd-9593-4ad6066785dc', '/docker/x', '/',
                                             '0b6c1d3e-1111-4222-8333-444455556666', '']), st.text(max_size=5))
HOSTILE = st.one_of(TEXT, st.integers(-5, 5), st.integers(-10 ** 30, 10 ** 30), st.booleans(), st.floats(allow_nan=True), st.lists(st.none(), max_size=1),
                    st.dictionaries(st.text(max_size=3), st.none(), max_size=1))


@st.composite
def identities(draw, hostile=False):
    value = HOSTILE if hostile else TEXT
    count = HOSTILE if hostile else st.one_of(st.none(), st.sampled_from([100, 200, int(T0) - 86400, int(T0) - 3600]))
    return {'machine': draw(value), 'boot_id': draw(value), 'container_id': draw(value), 'scope': draw(value),
            'btime': draw(count), 'init_ticks': draw(count),
            'container': draw(HOSTILE if hostile else st.one_of(st.none(), st.booleans()))}


@SETTINGS
@given(identities(), identities(), st.integers(0, 50), st.integers(0, 50))
def test_counters_compare_only_within_one_boot_of_one_machine(before, now, counted_before, counted_now):
    previous = {'epoch': T0 - 3000, 'at': T0 - 3600, 'counted': counted_before, 'identity': before}
    relation = compare(previous, now)
    if relation['counters']:
        assert relation['machine'] == 'same' and relation['boot'] == 'same'
        for key in ('boot_id', 'container_id', 'container'):
            if before.get(key) not in (None, '') and now.get(key) not in (None, ''):
                assert before[key] == now[key], key
        if now.get('container') and before.get('init_ticks') is not None and now.get('init_ticks') is not None:
            assert before['init_ticks'] == now['init_ticks']
        assert now.get('boot_id') or now.get('btime') is not None  # some evidence of the boot, never none
    if before.get('container_id') and now.get('container_id') and before['container_id'] != now['container_id'] \
            and before.get('container') is True and now.get('container') is True:
        assert relation['machine'] == 'other'
    if before.get('machine') and now.get('machine') and before['machine'] != now['machine'] \
            and before.get('container') is False and now.get('container') is False \
            and not any(side.get(key) for side in (before, now) for key in ('container_id', 'scope')):
        assert relation['machine'] == 'other'
    # and the kills: a counter that is not compared leaves every undated kill judged
    collected = {'cgroup': None, 'container': False, 'vmstat': {'oom_kill': counted_now}, 'oom_events_count': 0,
                 'oom_sources': [], 'oom_incomplete': [], 'oom_unattributed': 0, 'oom_epochs': [], 'now': T0,
                 'oom_victims': [], 'oom_events': []}
    facts = oom_facts(collected, merge_policy(), comparable_previous(previous, relation))
    if not relation['counters']:
        assert facts['recent'] == counted_now
        assert same_machine({'previous': relation}, facts)  # and the report says why
    if relation['machine'] != 'same':
        assert facts['judged_since_run'] is False


@SETTINGS
@example(before={'machine': 'a' * 32, 'btime': 5, 'container': False},  # a boot time no clock can print
         now={'machine': 'a' * 32, 'btime': 10 ** 30, 'container': False}, at=None)
@given(st.one_of(identities(hostile=True), HOSTILE), identities(hostile=True),
       st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-10 ** 30, 10 ** 30), st.booleans(), st.text(max_size=3)))
def test_any_record_is_compared_without_a_crash(before, now, at):
    relation = compare({'identity': before, 'at': at, 'epoch': at}, now)
    assert relation['machine'] in ('same', 'other', 'unknown') and relation['boot'] in ('same', 'new', 'unknown')
    assert isinstance(relation['why'], str) and len(relation['why']) < 1000
