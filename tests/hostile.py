"""Hostile numbers for the property tests: what a broken tool, a fuzzer or a paste can put where a
figure stands. Each must come out as the parser's own ParseError or as a plausible value."""

from hypothesis import strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.units import MAX_BYTES

NUMBERS = st.one_of(
    st.integers(20, 5000).map(lambda n: '9' * n),                     # 400- and 5000-digit integers
    st.integers(20, 400).map(lambda n: '9' * n + '.5'),               # overflows a float to inf
    st.integers(1, 400).map(lambda n: '1.' + '9' * n),
    st.sampled_from(['１２３', '٣٤٥', '१२३', '²', '12³', '-1', '-0', '-12345', '1e400', 'inf', 'nan',
                     'Infinity', '0x10', '1_000', str(MAX_BYTES + 1), str(2 ** 63), str(2 ** 64 - 1)]),
    st.integers(-2 ** 70, 2 ** 70).map(str),
)


def replace_a_number(draw, line):
    """``line`` with one of its numeric words (or any word) replaced by a hostile number."""
    words = line.split(' ')
    numeric = [i for i, word in enumerate(words) if word[:1].isdigit()]
    if not words:
        return line
    i = draw(st.sampled_from(numeric)) if numeric else draw(st.integers(0, len(words) - 1))
    suffix = words[i].lstrip('0123456789.,')  # keep a unit (Gi, k, m, %)
    words[i] = draw(NUMBERS) + (suffix if draw(st.booleans()) else '')
    return ' '.join(words)


def sane(value, maximum=MAX_BYTES):
    """A fact a parser may return: None, or an int (a float where stated) from 0 to ``maximum``."""
    return value is None or (type(value) is int and 0 <= value <= maximum)
