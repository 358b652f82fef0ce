"""The guard kills for real, the right process (issue 21, part 4).

earlyoom, as oom_guard set it up after the stall (headroom's thresholds, gunicorn preferred, sshd and Redis
avoided): a hog grows until earlyoom acts, before the kernel does. earlyoom takes a gunicorn worker (the preferred
name, far smaller than the hog), never the hog, Redis or sshd, which answer throughout.

systemd-oomd, with the role's settings (oom_guard with backend systemd-oomd: gunicorn.service opted in to
ManagedOOMMemoryPressure=kill, for 20 s): sustained memory pressure inside the app's cgroup (a request that keeps
touching 200 MiB while the unit may keep 48 MiB resident, MemoryHigh= set on the unit for the test) makes it kill
there, and the unit comes back (Restart=on-failure from unit_policy). The limit is the role's
oom_guard_pressure_limit_pct, 15% here rather than its default 50%: under QEMU's emulation (TCG) the CPU time of
each page fault is spent running, not stalled, and the unit's PSI full stays at 20 to 30% however tight its memory
(measured: MemoryHigh= 160 MiB and 48 MiB both plateau there); on real hardware or KVM the default acts.

headroom's next diagnosis counts these kills, names the killer, and reads the guard's settings back. The guards'
log lines are kept in reports/vm/captures/guards-<kernel>/."""
import json
import os
import shlex
import threading
import time
import urllib.request

from scenario import step, ansible_playbook, capture, cursor, journal, measured, show, site_back, url, vmstat, wait_for, workers

HOG_UNIT = 'headroom-hog2.service'
HOG_STOPPER = 'headroom-hog2-stopper.service'
# Grows 8 MiB at a time (each page written) until MemAvailable is below 6% of the machine, then holds: earlyoom's
# SIGTERM line (10% available and 10% swap free) is crossed, the kernel's is not.
HOG = r'''
import time
def available():
    with open('/proc/meminfo') as handle:
        info = dict((line.split(':')[0], int(line.split()[1])) for line in handle)
    return info['MemAvailable'], info['MemTotal'], info['SwapFree'], info['SwapTotal']
chunks = []
while True:
    avail, total, swap_free, swap_total = available()
    if avail < 0.06 * total and (not swap_total or swap_free < 0.06 * swap_total):
        time.sleep(0.2)
        continue
    chunks.append(bytearray(8 << 20))
    for offset in range(0, 8 << 20, 4096):
        chunks[-1][offset] = 1
'''
PRESSURE_LIMIT_PCT = 15
OOMD_SETTINGS = {'oom_guard_backend': 'systemd-oomd', 'oom_guard_prefer_units': ['gunicorn.service'],
                 'oom_guard_pressure_limit_pct': PRESSURE_LIMIT_PCT}
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks', 'oom_guard.yml')


class Pinger(object):
    """sshd (a new SSH connection each time) and Redis (redis-cli ping) asked every second while a guard acts; each
    answer's time and outcome kept."""

    def __init__(self, vm):
        self.vm = vm
        self.answers = []
        self.stopping = threading.Event()

    def _loop(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                done = self.vm.ssh('redis-cli ping', timeout=30, check=False)
                ok = done.stdout.strip() == 'PONG'
            except Exception:  # pylint: disable=broad-except
                ok = False
            self.answers.append({'at': started, 'seconds': time.monotonic() - started, 'ok': ok})
            self.stopping.wait(1.0)

    def start(self):
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(60)
        return self.answers


@step
def earlyoom_kill(vm, guarded):
    started = time.monotonic()
    start_cursor = cursor(vm)
    before = vmstat(vm)['oom_kill']
    ahead = workers(vm, 4)
    pinger = Pinger(vm).start()
    vm.ssh('cat >/usr/local/bin/headroom-hog2', input=HOG)
    # The hog is stopped in the guest the moment earlyoom says it acted (its journal followed there): polled from
    # here over SSH, on a machine out of memory, the hog held on for seconds more and earlyoom went on killing
    # (every worker, then their master, whose SIGTERM is a clean exit that Restart=on-failure does not restart)
    vm.ssh('systemd-run --unit=%s -p OOMScoreAdjust=-1000 /bin/sh -c %s' % (HOG_STOPPER, shlex.quote(
        'journalctl -f -n 0 -o cat -u earlyoom.service | { grep -m 1 "sending SIG"; systemctl stop %s; }' % HOG_UNIT)))
    vm.ssh('systemd-run --unit=%s --description="headroom test: a hog earlyoom must not take" '
           '/usr/bin/python3 /usr/local/bin/headroom-hog2' % HOG_UNIT)
    hog_pid = int(show(vm, HOG_UNIT, 'MainPID')['MainPID'])
    try:
        assert hog_pid > 0

        def acted():
            return [e for e in journal(vm, '-u', 'earlyoom.service', '--after-cursor', start_cursor)
                    if 'sending SIG' in e.get('MESSAGE', '')]
        lines = wait_for('earlyoom to act', acted, timeout=300, interval=2)
    finally:
        vm.ssh('systemctl stop %s %s' % (HOG_UNIT, HOG_STOPPER), check=False)
    answers = pinger.stop()
    site_back(vm, 'the site after earlyoom\'s kill')
    entries = journal(vm, '-u', 'earlyoom.service', '--after-cursor', start_cursor)
    capture(vm, 'guards', {'earlyoom.journal.json': ''.join(json.dumps(e) + '\n' for e in entries),
                           'earlyoom.journal.short-iso.txt': vm.ssh('journalctl -b -o short-iso --no-pager -u earlyoom.service '
                                                                    '--after-cursor %s' % shlex.quote(start_cursor)).stdout})
    measured('earlyoom_kill', started)
    return {'lines': lines, 'entries': entries, 'answers': answers, 'hog_pid': hog_pid, 'ahead': ahead,
            'kernel_kills': vmstat(vm)['oom_kill'] - before}


def test_earlyoom_acted_before_the_kernel_on_a_preferred_worker(earlyoom_kill):
    assert earlyoom_kill['kernel_kills'] == 0
    sent = [e['MESSAGE'] for e in earlyoom_kill['entries'] if 'sending SIG' in e['MESSAGE']]
    assert sent, earlyoom_kill['entries']
    for message in sent:
        assert '"gunicorn"' in message, sent  # earlyoom 1.7: sending SIGTERM to process N uid N "name": badness ...
    assert not [m for m in sent if 'process %d ' % earlyoom_kill['hog_pid'] in m], sent


def test_redis_and_sshd_answered_throughout(earlyoom_kill):
    answers = earlyoom_kill['answers']
    assert len(answers) >= 3 and all(answer['ok'] for answer in answers), answers
    assert max(answer['seconds'] for answer in answers) < 30, answers


@step
def oomd_kill(vm, earlyoom_kill, history_dir, diagnose):
    started = time.monotonic()
    # Debian enables systemd-oomd with its package; the image masks it (it would act on the tests before the
    # kernel): the user's machine has it, so the test unmasks it, and oom_guard is told to use it
    vm.ssh('systemctl unmask systemd-oomd.socket systemd-oomd.service')
    rc, output, recap = ansible_playbook(vm, history_dir, 'oom-guard-systemd-oomd', PLAYBOOK, [OOMD_SETTINGS])
    assert rc == 0, output[-4000:]
    settings = {'oomctl': vm.ssh('oomctl dump', check=False).stdout,
                'unit': show(vm, 'gunicorn.service', 'ManagedOOMMemoryPressure', 'ManagedOOMMemoryPressureLimit',
                             'OOMScoreAdjust'),
                'earlyoom': show(vm, 'earlyoom.service', 'ActiveState', 'UnitFileState'),
                'oomd': show(vm, 'systemd-oomd.service', 'ActiveState', 'UnitFileState')}
    start_cursor = cursor(vm)
    ahead = workers(vm, 4)
    # the app's cgroup may keep 48 MiB resident: a request that keeps touching 200 MiB then lives on reclaim and
    # swap-in, and the memory pressure of that cgroup alone stays high
    vm.ssh('systemctl set-property --runtime gunicorn.service MemoryHigh=48M')
    failed = []

    def churn():
        try:
            with urllib.request.urlopen(url(vm, '/heavy?mb=200&hold=300&churn=1'), timeout=400) as answer:
                answer.read()
        except Exception as exc:  # pylint: disable=broad-except
            failed.append(repr(exc))
    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        killed = wait_for('systemd-oomd to kill in gunicorn.service',
                          lambda: [e for e in journal(vm, '-u', 'systemd-oomd.service', '--after-cursor', start_cursor)
                                   if e.get('MESSAGE', '').startswith('Killed ')], timeout=300, interval=2)
    finally:
        vm.ssh('systemctl set-property --runtime gunicorn.service MemoryHigh=infinity', check=False)
    thread.join(60)
    back = site_back(vm, 'gunicorn.service back (Restart=on-failure)')
    unit_log = vm.ssh('journalctl -b -o short-iso --no-pager -u gunicorn.service --after-cursor %s' % shlex.quote(start_cursor)).stdout
    oomd_entries = journal(vm, '-u', 'systemd-oomd.service', '--after-cursor', start_cursor)
    capture(vm, 'guards', {'systemd-oomd.journal.json': ''.join(json.dumps(e) + '\n' for e in oomd_entries),
                           'systemd-oomd.journal.short-iso.txt': vm.ssh('journalctl -b -o short-iso --no-pager -u '
                                                                        'systemd-oomd.service').stdout,
                           'gunicorn-oomd.journal.short-iso.txt': unit_log, 'oomctl-dump.txt': settings['oomctl']})
    record, _report = diagnose('after-guards')
    measured('systemd_oomd_kill', started)
    return {'settings': settings, 'killed': killed, 'ahead': ahead, 'back': back, 'unit_log': unit_log,
            'failed': failed, 'record': record}


def test_systemd_oomd_runs_with_the_role_s_settings(oomd_kill):
    settings = oomd_kill['settings']
    assert settings['oomd']['ActiveState'] == 'active', settings
    assert 'Swap Used Limit: 90.00%' in settings['oomctl']
    assert 'Default Memory Pressure Limit: %.2f%%' % PRESSURE_LIMIT_PCT in settings['oomctl'], settings['oomctl']
    assert 'Default Memory Pressure Duration: 20s' in settings['oomctl'], settings['oomctl']
    assert settings['unit']['ManagedOOMMemoryPressure'] == 'kill', settings['unit']
    # one guard at a time: the earlyoom headroom enabled is disabled again (it ran on beside systemd-oomd before)
    assert settings['earlyoom']['ActiveState'] != 'active' and settings['earlyoom']['UnitFileState'] == 'disabled', settings


def test_sustained_pressure_in_the_app_s_cgroup_makes_systemd_oomd_kill_there(oomd_kill):
    messages = [e['MESSAGE'] for e in oomd_kill['killed']]
    assert messages[0].startswith('Killed /system.slice/gunicorn.service due to memory pressure for '
                                  '/system.slice/gunicorn.service being '), messages
    assert '> %.2f%% for > 20s with reclaim activity' % PRESSURE_LIMIT_PCT in messages[0], messages
    # the unit came back by itself (Restart=on-failure, from unit_policy): a new master
    assert oomd_kill['back']['master'] != oomd_kill['ahead']['master'], (oomd_kill['ahead'], oomd_kill['back'])
    assert oomd_kill['failed'], 'the churning request should have died with its worker'


def test_the_next_diagnosis_counts_the_guards_kills_and_names_the_killers(oomd_kill, earlyoom_kill):
    record = oomd_kill['record']
    guard = record['guard']
    assert [g['kind'] for g in guard['running']] == ['systemd-oomd'], guard
    assert guard['running'][0]['settings'] == {'SwapUsedLimit': '90%', 'DefaultMemoryPressureLimit': '%d%%' % PRESSURE_LIMIT_PCT,
                                               'DefaultMemoryPressureDurationSec': '20s'}, guard
    # the kills of the guards since the last diagnosis: earlyoom's and systemd-oomd's, each named by its killer
    killers = sorted(set(event.get('killer') for event in record['oom']['events'] if event.get('killer') != 'kernel'))
    assert killers == ['earlyoom', 'systemd-oomd'], record['oom']['events']
