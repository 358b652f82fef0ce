"""Pushes memory out with a spike (grow.py as the transient unit headroom-spike) and watches, while it
happens, every 0.25 s: does Redis answer PING, does sshd send its banner, which units lost their main
process. Prints one JSON object. A probe waits up to 10 s for its answer: the claim is that the protected
services live and answer, not how fast a memory-starved container answers on a busy machine (a 2 s wait
once failed sshd's probe while another job loaded the CI machine); the slowest answer is printed.
   python3 pressure.py STEP PAUSE MAX UNIT..."""
import json
import os
import socket
import subprocess
import sys
import time

DONE = '/run/headroom-spike.done'


def main_pid(unit):
    out = subprocess.run(['systemctl', 'show', '-p', 'MainPID', '--value', unit], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def answers(port, send, expect):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=10) as sock:
            if send:
                sock.sendall(send)
            return sock.recv(64).startswith(expect)
    except OSError:
        return False


step, pause, most, units = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if os.path.exists(DONE):
    os.unlink(DONE)
before = dict((unit, main_pid(unit)) for unit in units)
subprocess.run(['systemctl', 'reset-failed', 'headroom-spike'], capture_output=True)
subprocess.run(['systemd-run', '--unit', 'headroom-spike', '-p', 'Restart=no', 'python3',
                '/usr/local/lib/grow.py', step, pause, most], check=True, capture_output=True)
tries = {'redis': [0, 0], 'ssh': [0, 0]}
slowest = {'redis': 0.0, 'ssh': 0.0}
start = time.time()
while time.time() - start < 60:
    for name, port, send, expect in (('redis', 6379, b'PING\r\n', b'+PONG'), ('ssh', 22, None, b'SSH-2.0-')):
        asked = time.time()
        tries[name][0] += 1
        tries[name][1] += answers(port, send, expect)
        slowest[name] = max(slowest[name], round(time.time() - asked, 2))
    spike = main_pid('headroom-spike')
    if os.path.exists(DONE) or not spike:
        break
    time.sleep(0.25)
held = os.path.exists(DONE)
time.sleep(1)
after = dict((unit, main_pid(unit)) for unit in units)
subprocess.run(['systemctl', 'stop', 'headroom-spike'], capture_output=True)
print(json.dumps({'spike_held': held, 'seconds': round(time.time() - start, 1),
                  'killed': sorted(unit for unit in units if before[unit] != after[unit]),
                  'before': before, 'after': after, 'answered': tries, 'slowest': slowest}))
