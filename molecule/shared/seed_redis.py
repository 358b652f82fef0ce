#!/usr/bin/python3
"""Seed a Redis server with the layout in argv[1] (JSON); the password comes from REDISCLI_AUTH."""
import json
import os
import sys

import redis

for entry in json.loads(sys.argv[1]):
    client = redis.Redis(password=os.environ['REDISCLI_AUTH'], db=entry['db'])
    pipe = client.pipeline(transaction=False)
    for i in range(entry['count']):
        pipe.set('%s%d' % (entry['prefix'], i), 'x' * entry['size'])
    pipe.execute()
