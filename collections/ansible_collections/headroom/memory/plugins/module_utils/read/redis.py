"""Redis memory: INFO parsing, Redis's own size syntax, the warnings Redis logs, config-file edits.

Text in, plain data out; nothing here talks to a server. The modules in library/ fetch
the text (INFO, CONFIG GET, /proc files) and hand it to these functions.
"""

import re

from ..parse_error import ParseError
from ..units import is_count

# Redis's memtoll(): a bare "k/m/g" is decimal, "kb/mb/gb" binary, case-insensitive.
_REDIS_UNITS = {
    '': 1, 'b': 1,
    'k': 1000, 'kb': 1024,
    'm': 1000 ** 2, 'mb': 1024 ** 2,
    'g': 1000 ** 3, 'gb': 1024 ** 3,
}
_REDIS_SIZE = re.compile(r'^\s*(\d+)\s*([a-zA-Z]*)\s*$', re.ASCII)

POLICIES = (
    'noeviction', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random',
    'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl',
)

# MEMORY DOCTOR's thresholds (src/object.c): fragmentation worth mentioning only when
# both the ratio and the absolute waste are large, so an idle 1 MB instance stays quiet.
FRAG_RATIO_LIMIT = 1.4
FRAG_BYTES_LIMIT = 10 * 1024 * 1024
PEAK_RATIO_LIMIT = 1.5

_KEYSPACE = re.compile(r'^db(\d+)$', re.ASCII)


def parse_redis_size(value):
    """Bytes for a memory value written the way redis.conf and CONFIG SET accept it.

    ``100mb`` is 104857600, ``100m`` 100000000, ``0`` means unlimited. Raises ParseError.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ParseError('a Redis memory size cannot be negative: %r' % value)
        return value
    match = _REDIS_SIZE.match(str(value))
    if not match or match.group(2).lower() not in _REDIS_UNITS:
        raise ParseError('not a Redis memory size (use bytes or a unit among k kb m mb g gb): %r' % value)
    return int(match.group(1)) * _REDIS_UNITS[match.group(2).lower()]


def parse_info(text):
    """Sections of an ``INFO`` reply as ``{'memory': {'used_memory': 990904, ...}, ...}``.

    Integers and floats become numbers; ``dbN`` keyspace lines become
    ``{'keys': .., 'expires': .., 'avg_ttl': ..}``. Raises ParseError quoting the line
    when something is neither a ``# Section`` header nor ``key:value``.
    """
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    sections = {}
    current = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith('#'):
            current = sections.setdefault(line.lstrip('#').strip().lower(), {})
            continue
        if current is None:
            raise ParseError('INFO output must start with a "# Section" header', raw, lineno)
        key, sep, value = line.partition(':')
        if not sep or not key:
            raise ParseError('INFO line is not "key:value"', raw, lineno)
        if _KEYSPACE.match(key):
            current[key] = _parse_keyspace(value, raw, lineno)
        else:
            current[key] = _number(value)
    if not sections:
        raise ParseError('INFO output is empty')
    return sections


def _parse_keyspace(value, raw, lineno):
    fields = {}
    for part in value.split(','):
        name, sep, number = part.partition('=')
        if not sep or not is_count(number.lstrip('-')):
            raise ParseError('keyspace line is not "dbN:keys=..,expires=..,avg_ttl=.."', raw, lineno)
        fields[name] = int(number)
    if 'keys' not in fields:
        raise ParseError('keyspace line has no keys= field', raw, lineno)
    return fields


def _number(value):
    if re.match(r'^-?\d+$', value, flags=re.ASCII):
        return int(value)
    if re.match(r'^-?\d+\.\d+$', value, flags=re.ASCII):
        return float(value)
    return value


def keyspace(info):
    """``{db_number: key_count}`` from parsed INFO (DBs with no keys are absent in INFO)."""
    section = info.get('keyspace', {})
    result = {}
    for name, fields in section.items():
        match = _KEYSPACE.match(name)
        if match:
            result[int(match.group(1))] = fields['keys']
    return result


def memory_summary(info):
    """The figures that matter for "why is this host short of memory", as plain integers."""
    mem = info.get('memory', {})
    missing = [k for k in ('used_memory', 'used_memory_rss', 'maxmemory', 'maxmemory_policy') if k not in mem]
    if missing:
        raise ParseError('INFO memory lacks %s' % ', '.join(missing))
    return {
        'used_memory': mem['used_memory'],
        'used_memory_rss': mem['used_memory_rss'],
        'used_memory_peak': mem.get('used_memory_peak'),
        'mem_fragmentation_ratio': mem.get('mem_fragmentation_ratio'),
        'allocator_frag_ratio': mem.get('allocator_frag_ratio'),
        'maxmemory': mem['maxmemory'],
        'maxmemory_policy': mem['maxmemory_policy'],
        'mem_allocator': mem.get('mem_allocator'),
        'redis_version': info.get('server', {}).get('redis_version'),
        'role': info.get('replication', {}).get('role'),
        'config_file': info.get('server', {}).get('config_file') or None,
        'process_id': info.get('server', {}).get('process_id'),
    }


# What tells a restart and what it lost, from INFO's Server and Persistence sections (src/server.c
# genRedisInfoString(), Redis 7.0; captured from Debian's 7.0.15 in tests/fixtures/redis/oom-restart/):
# uptime_in_seconds and process_id say which process answers and since when (server_time_usec, 6.2+, its
# clock); rdb_last_save_time is the last successful save, and at startup the start itself ("At startup we
# consider the DB saved", server.lastsave in initServer()); rdb_saves (7.0+) counts the saves since the
# start; rdb_last_load_keys_loaded (7.0+) the keys the start loaded from the snapshot or AOF;
# rdb_changes_since_last_save the writes not yet saved; aof_enabled whether writes also go to the
# append-only file. A field an older Redis does not print is None, never 0.
_PERSISTENCE = ('loading', 'rdb_changes_since_last_save', 'rdb_last_save_time', 'rdb_saves', 'rdb_last_load_keys_loaded',
                'aof_enabled')


def persistence_summary(info):
    """The figures of parsed INFO that say when Redis started, what it saved and what it loaded:
    ``process_id uptime_in_seconds server_time`` (seconds, from server_time_usec) and ``_PERSISTENCE``,
    ints or None; ``rdb_last_bgsave_status`` as Redis says it."""
    server, persistence = info.get('server', {}), info.get('persistence', {})

    def number(section, key):
        value = section.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    usec = number(server, 'server_time_usec')
    found = {'process_id': number(server, 'process_id'), 'uptime_in_seconds': number(server, 'uptime_in_seconds'),
             'server_time': usec / 1e6 if usec is not None else None,
             'rdb_last_bgsave_status': persistence.get('rdb_last_bgsave_status')}
    found.update((key, number(persistence, key)) for key in _PERSISTENCE)
    return found


def parse_thp(text):
    """The active mode in /sys/kernel/mm/transparent_hugepage/enabled (``always [madvise] never``)."""
    match = re.search(r'\[(\w+)\]', text or '', flags=re.ASCII)
    if not match:
        raise ParseError('no [selected] mode in transparent_hugepage/enabled', (text or '').strip())
    return match.group(1)


def parse_vm_swap(status_text):
    """Bytes of a process swapped out, from the ``VmSwap:`` line of /proc/PID/status."""
    for lineno, line in enumerate(status_text.splitlines(), 1):
        if line.startswith('VmSwap:'):
            parts = line.split()
            if len(parts) != 3 or parts[2] != 'kB' or not is_count(parts[1]):
                raise ParseError('VmSwap line is not "VmSwap: N kB"', line, lineno)
            return int(parts[1]) * 1024
    return None


def _version_tuple(version):
    try:
        return tuple(int(p) for p in str(version).split('.')[:2])
    except ValueError:
        return (0, 0)


def warnings(summary, is_cache=True, overcommit=None, thp=None, disable_thp=None, swapped_bytes=None):
    """What Redis itself (its startup log, MEMORY DOCTOR) would warn about, as ``[{code, message}]``.

    ``overcommit`` is the text of /proc/sys/vm/overcommit_memory, ``thp`` the active THP
    mode, ``disable_thp`` Redis's ``disable-thp`` setting, ``swapped_bytes`` VmSwap of the
    server process; None for each means "not known" (a remote server) and skips that check.
    """
    found = []

    def add(code, message):
        found.append({'code': code, 'message': message})

    if summary['maxmemory'] == 0:
        add('no_maxmemory', 'maxmemory is 0 (unlimited): Redis grows until the OOM killer stops it')
    if is_cache and summary['maxmemory_policy'] == 'noeviction':
        add('noeviction_cache', 'maxmemory-policy is noeviction on a cache: at maxmemory writes fail '
            'instead of old keys being evicted (allkeys-lru or allkeys-lfu suit a cache)')
    if overcommit is not None and str(overcommit).strip() != '1':
        add('overcommit', 'vm.overcommit_memory is %s, Redis wants 1: a background save or replication '
            'may fail under memory pressure' % str(overcommit).strip())
    if thp == 'always':
        thp_off = disable_thp == 'yes' and _version_tuple(summary.get('redis_version')) >= (6, 2)
        if not thp_off:
            add('thp_always', 'transparent huge pages are [always]: latency spikes and extra memory on fork; '
                'set them to madvise or never')
    ratio = summary.get('mem_fragmentation_ratio')
    waste = summary['used_memory_rss'] - summary['used_memory']
    if isinstance(ratio, (int, float)) and ratio > FRAG_RATIO_LIMIT and waste > FRAG_BYTES_LIMIT:
        add('fragmentation', 'fragmentation ratio %.2f (%d bytes of RSS beyond the data)%s' % (
            ratio, waste,
            ': MEMORY PURGE or activedefrag can return it' if str(summary.get('mem_allocator', '')).startswith('jemalloc')
            else ''))
    peak = summary.get('used_memory_peak')
    if isinstance(peak, int) and summary['used_memory'] > 0 and peak / float(summary['used_memory']) > PEAK_RATIO_LIMIT:
        add('peak', 'peak memory %d is more than %.1fx the current %d: the RSS may not have shrunk back'
            % (peak, PEAK_RATIO_LIMIT, summary['used_memory']))
    if summary['used_memory'] > summary['used_memory_rss']:
        add('swapped', 'used_memory %d exceeds used_memory_rss %d: part of Redis is swapped out'
            % (summary['used_memory'], summary['used_memory_rss']))
    elif swapped_bytes:
        add('swapped', '%d bytes of the Redis process are swapped out (VmSwap)' % swapped_bytes)
    return found


def config_changes(current, maxmemory=None, policy=None):
    """Which settings differ: ``{'maxmemory': '104857600', ...}`` to apply, empty when all match.

    ``current`` is CONFIG GET's answer (strings); ``maxmemory`` is in Redis size syntax.
    Raises ParseError on an unknown policy or a bad size, before anything is changed.
    """
    wanted = {}
    if maxmemory is not None and maxmemory != '':
        wanted['maxmemory'] = str(parse_redis_size(maxmemory))
    if policy is not None and policy != '':
        if policy not in POLICIES:
            raise ParseError('unknown maxmemory-policy %r (one of: %s)' % (policy, ', '.join(POLICIES)))
        wanted['maxmemory-policy'] = policy
    return dict((k, v) for k, v in wanted.items() if str(current.get(k)) != v)


_DIRECTIVE = re.compile(r'^\s*([A-Za-z-]+)(\s+.*)?$', re.ASCII)


def config_file_values(text, names):
    """The effective value of each directive in a redis.conf: the last occurrence wins, as in Redis."""
    found = {}
    for line in text.splitlines():
        match = _DIRECTIVE.match(line)
        if match and match.group(1).lower() in names:
            found[match.group(1).lower()] = (match.group(2) or '').strip().strip('"\'')
    return found


def edit_config_file(text, settings):
    """redis.conf text with each directive in ``settings`` set, and whether anything changed.

    The last active line of a directive is rewritten in place (Redis lets the last one
    win, so earlier duplicates are inert); a missing directive is appended. Comments and
    everything else stay byte for byte. ``maxmemory`` compares by bytes, so a file saying
    ``2gb`` already satisfies 2147483648.
    """
    lines = text.splitlines(True)
    changed = False
    for name, value in settings.items():
        last = None
        for i, line in enumerate(lines):
            match = _DIRECTIVE.match(line)
            if match and match.group(1).lower() == name:
                last = i
        if last is not None:
            current = (_DIRECTIVE.match(lines[last]).group(2) or '').strip().strip('"\'')
            if _same_setting(name, current, value):
                continue
            newline = '\n' if lines[last].endswith('\n') else ''
            lines[last] = '%s %s%s' % (name, value, newline)
        else:
            if lines and not lines[-1].endswith('\n'):
                lines[-1] += '\n'
            lines.append('%s %s\n' % (name, value))
        changed = True
    return ''.join(lines), changed


# Directives whose value is a secret (Redis 7, Valkey's primary* spellings, Sentinel's), and the
# ACL rules of a ``user`` line that carry one: ``>pass``, ``<pass``, ``#sha256``, ``!sha256``.
SECRET_DIRECTIVES = ('requirepass', 'masterauth', 'masteruser', 'primaryauth', 'primaryuser',
                     'tls-key-file-pass', 'tls-client-key-file-pass', 'auth-pass', 'sentinel-pass',
                     'sentinel-user', 'auth-user')
MASK = '********'
_SECRET_LINE = re.compile(r'^(\s*#?\s*(?:sentinel\s+)?(%s)\b)(.*?)(\r?\n?)$'
                          % '|'.join(re.escape(d) for d in SECRET_DIRECTIVES), re.IGNORECASE | re.ASCII)
_USER_LINE = re.compile(r'^(\s*#?\s*user\s+\S+)(.*?)(\r?\n?)$', re.IGNORECASE | re.ASCII)


_RULE = re.compile(r'"(?:\\.|[^"])*"?|\'[^\']*\'?|\S+', re.ASCII)


def _mask_rule(rule):
    bare = rule.strip('"\'')
    return bare[0] + MASK if bare[:1] in ('>', '<', '#', '!') and len(bare) > 1 else rule


def mask_secrets(text):
    """redis.conf (or sentinel.conf) text with every secret value replaced by ``MASK``.

    Active and commented-out lines alike (an old password in a comment is still a password); the
    directive names and everything else stay, so a diff still shows what changed. A quoted value
    with blanks is masked whole.
    """
    out = []
    for line in text.splitlines(True):
        match = _SECRET_LINE.match(line)
        if match:
            head, _directive, value, end = match.groups()
            if value.strip():
                line = '%s %s%s' % (head, MASK, end)
        else:
            match = _USER_LINE.match(line)
            if match:
                head, rules, end = match.groups()
                masked = [_mask_rule(rule) for rule in _RULE.findall(rules)]
                line = '%s %s%s' % (head, ' '.join(masked), end) if masked else line
        out.append(line)
    return ''.join(out)


def _same_setting(name, current, wanted):
    if name == 'maxmemory':
        try:
            return parse_redis_size(current) == parse_redis_size(wanted)
        except ParseError:
            return False
    return current.lower() == str(wanted).lower()


def classify_error(exc, endpoint, command=None):
    """A message that says WHICH failure a redis-py exception is: down, credentials, replica, renamed.

    Works on the exception's class names so that this module needs no redis import.
    """
    names = [cls.__name__ for cls in type(exc).__mro__]
    text = str(exc)
    what = ' running %s' % command if command else ''
    if 'AuthenticationError' in names or text.startswith(('WRONGPASS', 'NOAUTH', 'invalid password',
                                                          'invalid username-password')):
        return ('Redis at %s refused the credentials (wrong password or ACL user)%s: %s'
                % (endpoint, what, text))
    if 'NoPermissionError' in names or text.startswith('NOPERM'):
        return 'Redis at %s: the ACL user may not run %s: %s' % (endpoint, command or 'this command', text)
    if 'ReadOnlyError' in names or text.startswith('READONLY') or 'read only replica' in text:
        return ('Redis at %s is a read-only replica: delete on its primary instead; nothing was deleted: %s'
                % (endpoint, text))
    if 'ResponseError' in names and text.lower().startswith('unknown command'):
        return ('Redis at %s does not know %s: the command is renamed or disabled by the admin '
                '(rename-command in redis.conf): %s' % (endpoint, command or 'a command', text))
    if 'ConnectionError' in names or 'TimeoutError' in names:
        return 'Redis at %s is down or unreachable: %s' % (endpoint, text)
    return 'Redis at %s failed%s: %s: %s' % (endpoint, what, type(exc).__name__, text)
