#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: set Redis maxmemory and maxmemory-policy live, and persist them if asked."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_memory_limit
short_description: Ensure a Redis server's maxmemory and maxmemory-policy, live and optionally in redis.conf
description:
  - Compares C(CONFIG GET maxmemory) and C(maxmemory-policy) with what is asked (sizes
    compared in bytes, so C(100mb) equals C(104857600)) and runs C(CONFIG SET) only for
    what differs. A second run reports no change.
  - The policy is set before the limit, so that a limit below the current use evicts
    under the new policy rather than the old one.
  - With I(persist), edits the server's config file too (the last active line of each
    directive, as Redis lets the last one win; appended when absent), keeping every other
    line. C(CONFIG REWRITE) is not used because it would also persist unrelated live
    changes and rewrite the whole file.
  - Written instead of using C(community.general.redis) (C(command=config)) because that
    one cannot persist, has no unix socket or ACL user, and does not tell the failures apart.
version_added: "0.1.0"
extends_documentation_fragment:
  - headroom.memory.attributes
  - headroom.memory.headroom_redis
options:
  maxmemory:
    description:
      - Memory limit in Redis syntax; C(0) is unlimited, a bare number is bytes, C(kb mb gb)
        are powers of 1024 and C(k m g) powers of 1000 (C(100mb) is 104857600).
      - Empty or omitted leaves it alone.
    type: str
  policy:
    description: maxmemory-policy. Omitted leaves it alone.
    type: str
    choices: [noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu,
              volatile-random, volatile-ttl]
  persist:
    description: Also write the settings into the config file, so a restart keeps them.
    type: bool
    default: false
  config_file:
    description: Config file to edit with I(persist); default the one Redis reports in C(INFO server).
    type: path
notes:
  - Supports check mode and diff mode.
  - C(include) files in redis.conf are not followed; a directive set in an included file
    after the edited line wins over it.
requirements:
  - redis (Python package) on the managed host (Debian C(python3-redis))
author: headroom contributors (@headroom)
attributes:
  check_mode:
    details: Supported; reports what would change and changes nothing.
    support: full
  diff_mode:
    details: Shows the live settings, or the config file, before and after.
    support: full
'''

EXAMPLES = r'''
- name: Let Redis evict at 2 GiB instead of growing until the OOM killer fires
  redis_memory_limit:
    password: "{{ redis_password }}"
    maxmemory: 2gb
    policy: allkeys-lru
    persist: true
  no_log: "{{ redis_no_log }}"
'''

RETURN = r'''
before:
  description: maxmemory (bytes, as a string) and maxmemory-policy before the run.
  returned: always
  type: dict
  sample: {"maxmemory": "0", "maxmemory-policy": "noeviction"}
after:
  description: The same after the run (in check mode, what they would be).
  returned: always
  type: dict
applied:
  description: Settings changed live with CONFIG SET (or that would be, in check mode).
  returned: always
  type: dict
config_file:
  description: The file edited (or that would be) with I(persist); null without it.
  returned: always
  type: str
config_file_changed:
  description: Whether the config file was (or would be) edited.
  returned: always
  type: bool
below_use:
  description: Whether the new maxmemory is below the memory in use, so Redis evicts (or,
    with noeviction, refuses writes) at once; also given as a warning.
  returned: always
  type: bool
'''

import os
import tempfile

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.redis_client import (
    HAS_REDIS, MISSING_REDIS, REDIS_IMPORT_ERROR, config_get, connect, connection_spec, endpoint, info)
from ansible_collections.headroom.memory.plugins.module_utils.read.redis import (
    POLICIES, classify_error, config_changes, edit_config_file, mask_secrets, parse_redis_size)


def _persist(module, path, settings):
    """Edit the config file; return (changed, before_text, after_text)."""
    try:
        with open(path) as handle:
            before = handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot read the Redis config file %s: %s (nothing changed on disk)' % (path, exc))
    after, changed = edit_config_file(before, settings)
    if changed and not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or '.', prefix='.redis.conf.')
        with os.fdopen(fd, 'w') as handle:
            handle.write(after)
        # atomic_move keeps the existing file's owner, mode and SELinux context.
        module.atomic_move(tmp, path)
    return changed, before, after


def main():
    spec = connection_spec()
    spec.update(
        maxmemory=dict(type='str'),
        policy=dict(type='str', choices=list(POLICIES)),
        persist=dict(type='bool', default=False),
        config_file=dict(type='path'),
    )
    module = HeadroomModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_REDIS:
        module.fail_json(msg=MISSING_REDIS % REDIS_IMPORT_ERROR)
    p = module.params
    where = endpoint(p['host'], p['port'], p['unix_socket'])
    if not p['maxmemory'] and not p['policy']:
        module.fail_json(msg='give maxmemory, policy or both')
    try:
        if p['maxmemory']:
            parse_redis_size(p['maxmemory'])
    except ParseError as exc:
        module.fail_json(msg='maxmemory: %s' % exc)

    command = 'PING'
    result = dict(changed=False, applied={}, config_file=None, config_file_changed=False, below_use=False)
    try:
        client = connect(p['host'], p['port'], p['unix_socket'], p['user'], p['password'], 0, p['timeout'])
        client.ping()
        command = 'CONFIG GET'
        current = config_get(client, 'maxmemory')
        current.update(config_get(client, 'maxmemory-policy'))
        changes = config_changes(current, p['maxmemory'], p['policy'])
        result['before'] = dict(current)
        result['applied'] = changes
        after = dict(current)
        after.update(changes)
        result['after'] = after
        if changes:
            command = 'INFO'
            used = info(client, 'memory')['memory']['used_memory']
            wanted = int(after['maxmemory'])
            if 0 < wanted < used:
                result['below_use'] = True
                module.warn(
                    'maxmemory %d is below the %d bytes in use: Redis evicts (or, with noeviction, '
                    'refuses writes) from now on' % (wanted, used))
        if changes and not module.check_mode:
            command = 'CONFIG SET'
            # Policy first: a limit below current use must evict under the new policy.
            for name in ('maxmemory-policy', 'maxmemory'):
                if name in changes:
                    client.execute_command('CONFIG', 'SET', name, changes[name])
        if p['persist']:
            path = p['config_file']
            if not path:
                command = 'INFO'
                path = info(client, 'server')['server'].get('config_file') or None
            if not path:
                module.fail_json(msg='Redis at %s was started without a config file: give config_file to persist '
                                     'to, or set persist to false%s' % (
                                         where, '' if module.check_mode or not changes
                                         else ' (the live change was applied)'), **result)
            settings = {}
            if p['policy']:
                settings['maxmemory-policy'] = p['policy']
            if p['maxmemory']:
                settings['maxmemory'] = p['maxmemory']
            file_changed, before_text, after_text = _persist(module, path, settings)
            result['config_file'] = path
            result['config_file_changed'] = file_changed
            if module._diff and file_changed:
                # redis.conf holds passwords (requirepass, masterauth, ACL users' >pass and #hash,
                # TLS key passphrases): the diff shows them masked, always
                result['diff'] = dict(before=mask_secrets(before_text), after=mask_secrets(after_text),
                                      before_header=path, after_header=path)
    except ParseError as exc:
        module.fail_json(msg='Redis at %s: %s' % (where, exc))
    except Exception as exc:  # redis-py's errors, told apart by classify_error
        module.fail_json(msg=classify_error(exc, where, command))

    result['changed'] = bool(result['applied']) or result['config_file_changed']
    if module._diff and result['applied'] and 'diff' not in result:
        result['diff'] = dict(before=''.join('%s %s\n' % kv for kv in sorted(result['before'].items())),
                              after=''.join('%s %s\n' % kv for kv in sorted(result['after'].items())),
                              before_header='%s (live)' % where, after_header='%s (live)' % where)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
