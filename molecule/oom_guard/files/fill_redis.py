"""Puts MIB MiB of incompressible values into the Redis on localhost:6379, 4 MiB a key, over the plain
protocol (no client library on the host): the protected unit holds a known size.
   python3 fill_redis.py MIB"""
import os
import socket
import sys

sock = socket.create_connection(('127.0.0.1', 6379), timeout=10)
for index in range(int(sys.argv[1]) // 4):
    value = os.urandom(4 * 1048576)
    key = b'headroom:fill:%d' % index
    sock.sendall(b'*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n' % (len(key), key, len(value)) + value + b'\r\n')
    reply = sock.recv(64)
    if not reply.startswith(b'+OK'):
        sys.exit('redis said %r' % reply)
