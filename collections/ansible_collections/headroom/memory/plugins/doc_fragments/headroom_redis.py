# -*- coding: utf-8 -*-
"""The connection options every headroom Redis module takes, documented once.

Modules name it with ``extends_documentation_fragment: [headroom.memory.headroom_redis]``, and
module_utils/redis_client.py builds the matching argument_spec.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  host:
    description: Address of the server.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port of the server.
    type: int
    default: 6379
  unix_socket:
    description: Path of the server's unix socket; when set, I(host) and I(port) are ignored.
    type: path
  user:
    description: ACL user (Redis 6+); empty for the default user.
    type: str
  password:
    description: Password (C(requirepass) or the ACL user's). Never logged.
    type: str
  timeout:
    description: Seconds to wait for the connection and for each reply.
    type: float
    default: 10
'''
