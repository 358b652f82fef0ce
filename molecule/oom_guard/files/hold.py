"""Holds a fixed amount of memory, touched, until killed: a worker or a cache of a known size.
   python3 hold.py MIB"""
import sys
import time

held = bytearray(int(sys.argv[1]) * 1048576)
for offset in range(0, len(held), 4096):
    held[offset] = 1
while True:
    time.sleep(60)
