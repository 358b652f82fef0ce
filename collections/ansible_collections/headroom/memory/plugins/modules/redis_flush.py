#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: delete the Redis DBs and key patterns the user declared disposable, without blocking."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_flush
short_description: Delete declared Redis DBs and key patterns with SCAN and UNLINK in batches
description:
  - Deletes only what is named, each DB by number in I(flush_dbs) and keys by C(SCAN MATCH)
    glob in I(patterns). Nothing named, nothing deleted.
  - Iterates with C(SCAN) and deletes each batch with one C(UNLINK), whose memory is freed
    by Redis's background thread, so other clients wait at most one batch. Never C(KEYS),
    C(FLUSHALL) or C(FLUSHDB) (often renamed away by admins, and a plain FLUSHDB blocks).
  - Counts the keys and, with I(measure_bytes), their size (C(MEMORY USAGE)) before deleting.
    In check mode counts and sizes only, after the same refusals as a real run.
  - Changed only when keys were deleted, so a second run over emptied targets reports
    no change (unlike C(community.general.redis) C(command=flush), which always does).
  - Before deleting anything, fails with a clear message when the server is a read-only
    replica, when C(SCAN) or C(UNLINK) is renamed or disabled, or on a connection or
    credentials error.
  - After a deletion, runs C(MEMORY PURGE) when the allocator is jemalloc (I(purge)).
version_added: "0.1.0"
extends_documentation_fragment:
  - headroom.memory.attributes
  - headroom.memory.headroom_redis
options:
  flush_dbs:
    description: DB numbers to empty entirely.
    type: list
    elements: int
    default: []
  patterns:
    description:
      - Keys to delete, as C({db, match}) with a C(SCAN MATCH) glob (C(*), C(?), C([abc]),
        backslash escapes). A glob that matches every key is refused, however it is spelled
        (C(*), C(***), C(*?*), C([^]*), C(??????*) - any glob made only of C(*), C(?) and classes
        that take every byte selects keys by their length, not their name); name the DB in
        I(flush_dbs) instead.
    type: list
    elements: dict
    default: []
    suboptions:
      db:
        description: DB number.
        type: int
        default: 0
      match:
        description: The glob.
        type: str
        required: true
  batch_size:
    description: C(SCAN COUNT) hint and so roughly the keys per UNLINK.
    type: int
    default: 1000
  measure_bytes:
    description: Sum C(MEMORY USAGE) of the keys (one pipelined round per batch).
    type: bool
    default: true
  purge:
    description: Run C(MEMORY PURGE) after deleting, when the allocator is jemalloc.
    type: bool
    default: true
notes:
  - Supports check mode. In check mode a key seen twice by SCAN during a rehash counts twice.
  - Keys written while the run goes on may or may not be deleted, as SCAN guarantees only
    keys present for the whole iteration.
requirements:
  - redis (Python package) on the managed host (Debian C(python3-redis))
author: headroom contributors (@headroom)
attributes:
  check_mode:
    details: Supported; refuses what a real run would refuse (a replica, a renamed UNLINK), then counts and sizes what
      would go, deletes nothing.
    support: full
  diff_mode:
    details: Deleted keys are counted, not listed.
    support: none
'''

EXAMPLES = r'''
- name: Drop Django's view cache and DB 3, keep sessions
  redis_flush:
    password: "{{ redis_password }}"
    flush_dbs: [3]
    patterns:
      - db: 0
        match: ":1:views.decorators.cache.*"
  no_log: "{{ redis_no_log }}"
'''

RETURN = r'''
targets:
  description: One entry per declared target, C(db), C(match) (null for a whole DB),
    C(keys), C(bytes), C(batches), C(seconds).
  returned: always
  type: list
  elements: dict
keys:
  description: Keys deleted (in check mode, that would be).
  returned: always
  type: int
bytes:
  description: Their C(MEMORY USAGE) total; null without I(measure_bytes).
  returned: always
  type: int
used_memory_before:
  description: C(used_memory) before the run.
  returned: always
  type: int
used_memory_after:
  description: C(used_memory) after the run (UNLINK frees in the background, so it may lag).
  returned: always
  type: int
keyspace_after:
  description: Keys left per DB after the run; in check mode, what would be left (each DB's count less the keys its targets matched, 0 for a whole DB).
  returned: always
  type: dict
check_mode:
  description: Whether this was a check-mode run, in which nothing was deleted.
  returned: always
  type: bool
purged:
  description: Whether C(MEMORY PURGE) ran.
  returned: always
  type: bool
'''

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.redis_client import (
    HAS_REDIS, MISSING_REDIS, REDIS_IMPORT_ERROR, config_get, connect, connection_spec, endpoint, info)
from ansible_collections.headroom.memory.plugins.module_utils.fix.redis_flush import (
    flush_keys, keys_left, summarize, validate_targets)
from ansible_collections.headroom.memory.plugins.module_utils.read.redis import classify_error, keyspace


def _unknown_commands(client, names):
    """Commands among ``names`` this server does not know (renamed or disabled).

    COMMAND INFO answers null for an unknown name. If COMMAND itself is renamed away,
    nothing can be known in advance and the first real call will tell.
    """
    # The raw reply: redis-py's COMMAND parser drops (or trips over) the nulls looked for here.
    client.set_response_callback('COMMAND', lambda response, **options: response)
    try:
        reply = client.execute_command('COMMAND', 'INFO', *names)
    except Exception:  # COMMAND itself unavailable: decide at the first real call
        return []
    return [name for name, entry in zip(names, reply) if not entry]


def main():
    spec = connection_spec()
    spec.update(
        flush_dbs=dict(type='list', elements='int', default=[]),
        patterns=dict(type='list', elements='dict', default=[],
                      options=dict(db=dict(type='int', default=0), match=dict(type='str', required=True))),
        batch_size=dict(type='int', default=1000),
        measure_bytes=dict(type='bool', default=True),
        purge=dict(type='bool', default=True),
    )
    module = HeadroomModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_REDIS:
        module.fail_json(msg=MISSING_REDIS % REDIS_IMPORT_ERROR)
    p = module.params
    where = endpoint(p['host'], p['port'], p['unix_socket'])
    try:
        targets = validate_targets(p['flush_dbs'], p['patterns'])
    except ParseError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False, targets=[], keys=0, bytes=0 if p['measure_bytes'] else None,
                  used_memory_before=None, used_memory_after=None, keyspace_after={}, purged=False,
                  check_mode=module.check_mode)
    if not targets:
        module.exit_json(msg='nothing declared disposable (flush_dbs and patterns are empty): nothing deleted',
                         **result)

    def connect_db(db):
        return connect(p['host'], p['port'], p['unix_socket'], p['user'], p['password'], db, p['timeout'])

    command = 'PING'
    # keys of the target in progress already deleted: a failure halfway must say they are gone
    partial = {'db': None, 'match': None, 'keys': 0}

    def deleted_so_far():
        if module.check_mode:
            return 0
        return sum(t['keys'] for t in result['targets']) + partial['keys']

    def fail(msg):
        gone = deleted_so_far()
        if gone:
            result.update(changed=True, keys=gone)
            if partial['keys']:
                result['targets'].append(dict(partial, bytes=None, batches=None, seconds=None, incomplete=True))
            msg += '; %d key(s) were deleted before the failure and are gone' % gone
        module.fail_json(msg=msg, **result)

    try:
        client = connect_db(0)
        client.ping()
        command = 'INFO'
        before = info(client)
        result['used_memory_before'] = before['memory']['used_memory']
        # Check mode refuses what the real run would refuse (a replica, a renamed UNLINK): a plan checked
        # in check mode (remediate.yml validates every fix before the first change) must meet them.
        if before.get('replication', {}).get('role') == 'slave':
            module.fail_json(msg='Redis at %s is a read-only replica: delete on its primary instead; nothing was '
                                 'deleted' % where, **result)
        try:
            databases = int(config_get(client, 'databases')['databases'])
        except Exception:  # CONFIG renamed away: SELECT will say if a DB does not exist
            databases = None
        try:
            targets = validate_targets(p['flush_dbs'], p['patterns'], databases)
        except ParseError as exc:
            module.fail_json(msg='Redis at %s: %s; nothing was deleted' % (where, exc), **result)
        needed = ['SCAN'] + (['MEMORY'] if p['measure_bytes'] else []) + ['UNLINK']
        missing = _unknown_commands(client, needed)
        if missing:
            module.fail_json(msg='Redis at %s does not know %s: renamed or disabled by the admin '
                                 '(rename-command in redis.conf); nothing was deleted'
                                 % (where, ', '.join(missing)), **result)
        for db, match in targets:
            command = 'SCAN/UNLINK in db %d' % db
            partial.update(db=db, match=match, keys=0)
            done = flush_keys(connect_db(db), match, p['batch_size'], module.check_mode, p['measure_bytes'],
                              on_batch=lambda keys: partial.update(keys=keys))
            done.update(db=db, match=match)
            result['targets'].append(done)
            partial['keys'] = 0
        result.update(summarize(result['targets']))
        allocator = str(before['memory'].get('mem_allocator', ''))
        if p['purge'] and result['keys'] and not module.check_mode and allocator.startswith('jemalloc'):
            command = 'MEMORY PURGE'
            try:
                client.execute_command('MEMORY', 'PURGE')
                result['purged'] = True
            except Exception as exc:  # the keys are gone already; a purge is only a bonus
                module.warn(classify_error(exc, where, command))
        command = 'INFO'
        after = info(client)
        result['used_memory_after'] = after['memory']['used_memory']
        result['keyspace_after'] = dict((str(db), n) for db, n in sorted(keyspace(after).items()))
        if module.check_mode:  # nothing was deleted: what would be left
            result['keyspace_after'] = keys_left(keyspace(after), result['targets'])
    except ParseError as exc:
        fail('Redis at %s: %s' % (where, exc))
    except Exception as exc:  # redis-py's errors, told apart by classify_error
        fail(classify_error(exc, where, command))

    result['changed'] = result['keys'] > 0
    module.exit_json(**result)


if __name__ == '__main__':
    main()
