#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: Redis memory, keys per DB and Redis's own warnings, as facts."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: redis_memory_facts
short_description: Report a Redis server's memory, keys per DB and what Redis would warn about
description:
  - Reads C(INFO all) and C(CONFIG GET) from one Redis server and returns the memory
    figures that explain a host short of memory (used, RSS, peak, fragmentation,
    maxmemory, policy), the keys in every DB, and the warnings Redis itself logs or
    C(MEMORY DOCTOR) gives.
  - When the server is on this host (loopback address or unix socket), also reads
    C(/proc/sys/vm/overcommit_memory), C(/sys/kernel/mm/transparent_hugepage/enabled)
    and the server process's C(VmSwap).
  - Changes nothing. Fails with a message that says which problem it met (server down,
    credentials refused, C(INFO) or C(CONFIG) renamed or disabled).
  - Written instead of using C(community.general.redis_info) because that module
    returns INFO only, has no unix socket or warnings and does not tell the failures apart.
version_added: "0.1.0"
extends_documentation_fragment:
  - headroom.memory.attributes
  - headroom.memory.headroom_redis
options:
  is_cache:
    description: The instance holds only cache data, so C(noeviction) is worth a warning.
    type: bool
    default: true
requirements:
  - redis (Python package) on the managed host (Debian C(python3-redis))
author: headroom contributors (@headroom)
attributes:
  check_mode:
    details: Supported; the module reads only.
    support: full
  diff_mode:
    details: Nothing changes, so there is nothing to show.
    support: none
'''

EXAMPLES = r'''
- name: Read Redis memory and warnings
  redis_memory_facts:
    password: "{{ redis_password }}"
  no_log: "{{ redis_no_log }}"

- name: Show them
  ansible.builtin.debug:
    var: ansible_facts.headroom_redis.warnings
'''

RETURN = r'''
ansible_facts:
  description: Facts under C(headroom_redis).
  returned: always
  type: dict
  contains:
    headroom_redis:
      description: One server's memory report.
      type: dict
      contains:
        endpoint:
          description: C(host:port) or C(unix:/path).
          type: str
        memory:
          description: used_memory, used_memory_rss, used_memory_peak, mem_fragmentation_ratio,
            allocator_frag_ratio, maxmemory, maxmemory_policy, mem_allocator, redis_version,
            role, config_file, process_id (bytes for sizes).
          type: dict
        keyspace:
          description: Keys per DB number (as strings); DBs without keys are absent.
          type: dict
          sample: {"0": 1200, "3": 15}
        keys_total:
          description: Keys in all DBs.
          type: int
        databases:
          description: Number of DBs the server has (C(databases) setting).
          type: int
        kernel:
          description: overcommit_memory, transparent_hugepage, swapped_bytes; null when the
            server is not on this host or the file is unreadable.
          type: dict
        warnings:
          description: List of C({code, message}); codes are no_maxmemory, noeviction_cache,
            overcommit, thp_always, fragmentation, peak, swapped.
          type: list
          elements: dict
        persistence:
          description:
            - Which process answers and since when, what it saved and what it loaded, from INFO's Server and
              Persistence sections - C(process_id uptime_in_seconds server_time loading rdb_changes_since_last_save
              rdb_last_save_time rdb_saves rdb_last_load_keys_loaded rdb_last_bgsave_status aof_enabled); a field
              the server does not print (C(rdb_saves) and C(rdb_last_load_keys_loaded) before Redis 7.0) is null.
            - With the previous run's (the history keeps them), the diagnosis tells a Redis the OOM killer killed
              and systemd restarted, and what it lost.
          type: dict
        read_at:
          description: When it was read (seconds since the epoch, the host's clock).
          type: float
'''

import ipaddress
import time

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.redis_client import (
    HAS_REDIS, MISSING_REDIS, REDIS_IMPORT_ERROR, config_get, connect, connection_spec, endpoint, info)
from ansible_collections.headroom.memory.plugins.module_utils.read.kernel import read_text
from ansible_collections.headroom.memory.plugins.module_utils.read.redis import (
    keyspace, memory_summary, parse_thp, parse_vm_swap, persistence_summary, warnings, classify_error)


def _is_local(host, unix_socket):
    if unix_socket or host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main():
    spec = connection_spec()
    spec['is_cache'] = dict(type='bool', default=True)
    module = HeadroomModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_REDIS:
        module.fail_json(msg=MISSING_REDIS % REDIS_IMPORT_ERROR)
    p = module.params
    where = endpoint(p['host'], p['port'], p['unix_socket'])
    command = 'PING'
    try:
        client = connect(p['host'], p['port'], p['unix_socket'], p['user'], p['password'], 0, p['timeout'])
        client.ping()
        command = 'INFO'
        parsed = info(client)
        command = 'CONFIG GET'
        config = config_get(client, 'databases')
        config.update(config_get(client, 'disable-thp'))
    except ParseError as exc:
        module.fail_json(msg='Redis at %s: %s' % (where, exc))
    except Exception as exc:  # redis-py's errors, told apart by classify_error
        module.fail_json(msg=classify_error(exc, where, command))

    try:
        summary = memory_summary(parsed)
        kernel = dict(overcommit_memory=None, transparent_hugepage=None, swapped_bytes=None)
        if _is_local(p['host'], p['unix_socket']):
            overcommit = read_text('/proc/sys/vm/overcommit_memory')
            kernel['overcommit_memory'] = int(overcommit) if overcommit and overcommit.strip().isdigit() else None
            thp = read_text('/sys/kernel/mm/transparent_hugepage/enabled')
            kernel['transparent_hugepage'] = parse_thp(thp) if thp else None
            status = read_text('/proc/%s/status' % summary['process_id']) if summary['process_id'] else None
            kernel['swapped_bytes'] = parse_vm_swap(status) if status else None
        found = warnings(summary, is_cache=p['is_cache'], overcommit=kernel['overcommit_memory'],
                         thp=kernel['transparent_hugepage'], disable_thp=config.get('disable-thp'),
                         swapped_bytes=kernel['swapped_bytes'])
    except ParseError as exc:
        module.fail_json(msg='Redis at %s: %s' % (where, exc))

    keys = keyspace(parsed)
    facts = dict(
        endpoint=where,
        memory=summary,
        keyspace=dict((str(db), count) for db, count in sorted(keys.items())),
        keys_total=sum(keys.values()),
        databases=int(config.get('databases', 16)),
        kernel=kernel,
        warnings=found,
        persistence=persistence_summary(parsed),
        read_at=time.time(),
    )
    module.exit_json(changed=False, ansible_facts=dict(headroom_redis=facts))


if __name__ == '__main__':
    main()
