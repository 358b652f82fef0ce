"""A spike: takes STEP MiB every PAUSE seconds, touched, up to MAX MiB, then holds it (and says so in
/run/headroom-spike.done) until stopped, or until the OOM killer takes it.
   python3 grow.py STEP PAUSE MAX"""
import sys
import time

step, pause, most = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
held = []
while len(held) * step < most:
    chunk = bytearray(step * 1048576)
    for offset in range(0, len(chunk), 4096):
        chunk[offset] = 1
    held.append(chunk)
    time.sleep(pause)
with open('/run/headroom-spike.done', 'w') as done:
    done.write('%d\n' % (len(held) * step))
while True:
    time.sleep(60)
