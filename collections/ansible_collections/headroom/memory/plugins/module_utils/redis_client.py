"""Connecting to Redis with redis-py, the same way in every module, test and benchmark.

No Ansible import. Written for the redis-py versions distributions ship (3.5 in
Debian 11, 4.3 in Debian 12, newer from PyPI): only calls all of them have.
"""

try:
    import redis
    HAS_REDIS = True
    REDIS_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module through fail_json
    redis = None
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = str(exc)

from .read.redis import parse_info


def endpoint(host='127.0.0.1', port=6379, unix_socket=None, db=None):
    """How messages name the server, never with the password."""
    where = 'unix:%s' % unix_socket if unix_socket else '%s:%s' % (host, port)
    return where if db is None else '%s db %s' % (where, db)


def connect(host='127.0.0.1', port=6379, unix_socket=None, user=None, password=None, db=0, timeout=10.0):
    """A client for one DB. Bytes in, bytes out: keys need not be valid UTF-8."""
    kwargs = dict(db=db, password=password or None, socket_timeout=timeout, socket_connect_timeout=timeout)
    if user:
        kwargs['username'] = user
    if unix_socket:
        kwargs['unix_socket_path'] = unix_socket
    else:
        kwargs['host'] = host
        kwargs['port'] = port
    client = redis.Redis(**kwargs)
    # INFO raw: the parser in redis_memory is tested on real captured text, not on
    # whatever dict this redis-py version builds.
    client.set_response_callback('INFO', lambda response, **options: response)
    return client


def info(client, section='all'):
    """Parsed ``INFO <section>``."""
    return parse_info(client.execute_command('INFO', section))


def _text(value):
    return value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(value)


def config_get(client, pattern):
    """``CONFIG GET`` as ``{name: value}`` of str, whatever shape this redis-py returns."""
    reply = client.execute_command('CONFIG', 'GET', pattern)
    if isinstance(reply, dict):
        return dict((_text(k), _text(v)) for k, v in reply.items())
    return dict((_text(reply[i]), _text(reply[i + 1])) for i in range(0, len(reply), 2))


def connection_spec():
    """The connection options every Redis module takes (AnsibleModule argument_spec form)."""
    return dict(
        host=dict(type='str', default='127.0.0.1'),
        port=dict(type='int', default=6379),
        unix_socket=dict(type='path'),
        user=dict(type='str'),
        password=dict(type='str', no_log=True),
        timeout=dict(type='float', default=10.0),
    )


MISSING_REDIS = ('the Python package redis is missing on the managed host '
                 '(Debian/Ubuntu: apt install python3-redis; else pip install redis): %s')
