"""Deleting declared Redis keys without blocking the server: SCAN + UNLINK in batches.

No Ansible here. ``flush_keys`` takes any client with redis-py's ``scan``,
``execute_command`` and ``pipeline`` (one connection per DB), so the integration
tests and the benchmark drive the very loop the module runs.
"""

import time

from ..parse_error import ParseError


def _class_end(pattern, start):
    """(bytes a ``[...]`` class at ``pattern[start]`` (bytes) accepts, the index after it).

    Redis's stringmatchlen: ``^`` first negates, ``\\`` escapes, ``a-z`` is a range (reversed
    ends are swapped), and a class the pattern ends inside stops at the end.
    """
    i = start + 1
    negate = pattern[i:i + 1] == b'^'
    if negate:
        i += 1
    accepted = set()
    while i < len(pattern) and pattern[i:i + 1] != b']':
        if pattern[i:i + 1] == b'\\' and i + 1 < len(pattern):
            accepted.add(pattern[i + 1])
            i += 2
        elif i + 2 < len(pattern) and pattern[i + 1:i + 2] == b'-':
            low, high = sorted((pattern[i], pattern[i + 2]))
            accepted.update(range(low, high + 1))
            i += 3
        else:
            accepted.add(pattern[i])
            i += 1
    if negate:
        accepted = set(range(256)) - accepted
    return accepted, i + 1


def names_no_key(pattern):
    """True when a Redis glob selects keys by their length only: every part is ``*``, ``?`` or a
    ``[...]`` class that accepts every byte, so it matches every key (of at least so many bytes).

    A pattern with one literal or one narrower class does not: a key made only of a byte that part
    refuses never matches it. This decides by what the pattern matches, whatever its spelling
    (``***``, ``*?*``, ``[^]*``, ``?????*``).
    """
    pattern = pattern.encode('utf-8')  # what redis-py sends, and Redis matches byte by byte
    i = 0
    while i < len(pattern):
        char = pattern[i:i + 1]
        if char in (b'*', b'?'):
            i += 1
        elif char == b'[':
            accepted, i = _class_end(pattern, i)
            if len(accepted) < 256:
                return False
        else:
            return False  # a literal, escaped (``\\*``) or not
    return True


def validate_targets(flush_dbs, patterns, databases=None):
    """Check the user's declaration; return ``[(db, match_or_None), ...]`` in a stable order.

    ``flush_dbs`` is a list of DB numbers to empty; ``patterns`` a list of
    ``{'db': N, 'match': 'glob'}``. ``databases`` (CONFIG GET databases), when known,
    bounds the DB numbers. Raises ParseError naming the bad entry.
    """
    targets = []
    for db in flush_dbs or []:
        _check_db(db, databases, 'flush_dbs entry')
        targets.append((int(db), None))
    whole = set(db for db, _pattern in targets)
    for entry in patterns or []:
        if not isinstance(entry, dict) or 'match' not in entry:
            raise ParseError('a patterns entry must be {db: N, match: GLOB}, got %r' % (entry,))
        match = entry['match']
        db = entry.get('db', 0)
        _check_db(db, databases, 'patterns entry %r' % (entry,))
        if not isinstance(match, str) or not match.strip():
            raise ParseError('patterns entry %r has an empty match' % (entry,))
        if names_no_key(match):
            raise ParseError('patterns entry %r matches every key (it names none, only a length): name '
                             'the DB in flush_dbs to empty it on purpose' % (entry,))
        if int(db) in whole:
            continue  # the whole DB goes anyway
        if (int(db), match) not in targets:
            targets.append((int(db), match))
    return targets


def _check_db(db, databases, what):
    if isinstance(db, bool) or not isinstance(db, int) and not (isinstance(db, str) and db.isascii() and db.isdigit()):
        raise ParseError('%s: DB must be a number, got %r' % (what, db))
    if int(db) < 0 or (databases is not None and int(db) >= int(databases)):
        raise ParseError('%s: DB %s does not exist (this server has DBs 0 to %s)'
                         % (what, db, int(databases) - 1 if databases is not None else '?'))


def flush_keys(client, match=None, batch_size=1000, check_mode=False, measure_bytes=True, on_batch=None):
    """Delete (or, in check mode, only count) the keys of one DB that ``match`` selects.

    ``match`` None means every key of the DB. Each SCAN step returns at most about
    ``batch_size`` keys; their sizes come from one pipelined ``MEMORY USAGE`` round and
    they go in one ``UNLINK``, whose freeing happens in Redis's background thread. So the
    server is never busy for longer than one batch. Returns
    ``{'keys': N, 'bytes': N or None, 'batches': N, 'seconds': float}``; in check mode
    ``keys`` is what SCAN saw (a key seen twice during a rehash counts twice).
    """
    if batch_size < 1:
        raise ParseError('batch_size must be at least 1, got %r' % (batch_size,))
    start = time.monotonic()
    cursor = 0
    total_keys = 0
    total_bytes = 0 if measure_bytes else None
    batches = 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=match, count=batch_size)
        if keys:
            batches += 1
            if measure_bytes:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.execute_command('MEMORY', 'USAGE', key)
                total_bytes += sum(size for size in pipe.execute() if size)
            if check_mode:
                total_keys += len(keys)
            else:
                total_keys += int(client.execute_command('UNLINK', *keys))
            if on_batch is not None:
                on_batch(total_keys)
        if int(cursor) == 0:
            break
    return {'keys': total_keys, 'bytes': total_bytes, 'batches': batches,
            'seconds': round(time.monotonic() - start, 3)}


def summarize(results):
    """Totals over per-target results ``[{'db', 'match', 'keys', 'bytes', ...}]``."""
    keys = sum(r['keys'] for r in results)
    sizes = [r['bytes'] for r in results]
    return {'keys': keys, 'bytes': None if any(s is None for s in sizes) else sum(sizes)}


def keys_left(keyspace, results):
    """Keys per DB once ``results`` (flush_keys per target, with ``db`` and ``match``) are deleted: what
    a dry run says would be left. A whole-DB target leaves 0; a pattern leaves the DB's count less what
    it matched (at least 0: a key two patterns match, or SCAN returns twice, is counted twice)."""
    left = dict((str(db), count) for db, count in keyspace.items())
    for result in results:
        db = str(result['db'])
        if db not in left:
            continue
        left[db] = 0 if result['match'] is None else max(0, left[db] - result['keys'])
    return dict((db, count) for db, count in sorted(left.items(), key=lambda item: int(item[0])))
