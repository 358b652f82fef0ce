"""The VM stage: a whole Debian 12 machine (its own kernel 6.1, cgroup v2, systemd, no swap) booted with
QEMU for the session, reached over SSH as a user's server is (scripts/vm/headroom_vm.py does the work).

Run it with ``scripts/test vm`` (installs QEMU and mmdebstrap, builds or finds the cached image, runs
these tests). Needs root. The session holds the machine lock (/var/lock/headroom-kernel.lock, flock)
from before the boot until the VM is gone: no Docker test and no other VM runs beside it.

Fixtures:
- ``vm_image``: the image directory (built once, then cached in /var/cache/headroom/vm/<key>/);
- ``vm``: the running VM (headroom_vm.VM: ``ssh()``, ``inventory``, ``accel``, ``versions``);
- ``diagnose``: runs this checkout's diagnose.yml against it over SSH, returns the report's host record.
Timings (image, boot to SSH, QEMU's CPU seconds, each diagnosis) and the accelerator are printed at the
end of the run and written to reports/vm/stage.json.
"""
import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'vm'))
import headroom_vm  # noqa: E402  pylint: disable=wrong-import-position

VENV_BIN = os.path.join(ROOT, '.venv', 'bin')
REPORTS = os.path.join(ROOT, 'reports', 'vm')
STATS = {'diagnoses': []}


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason='the VM stage needs root (mmdebstrap, QEMU, the machine lock)')
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope='session')
def vm_image():
    image, seconds, built = headroom_vm.build_image()
    STATS['image'] = {'dir': image, 'seconds': round(seconds, 1), 'built_now': built,
                      'versions': headroom_vm.image_versions(image)}
    return image


@pytest.fixture(scope='session')
def vm(vm_image, pytestconfig):
    """The VM for the whole session, under the machine lock; powered off and removed at the end, also
    when a test fails, on Ctrl-C or SIGTERM (and QEMU dies with this process if it is killed)."""
    # What the VM's start says (waiting for the lock, the accelerator, the boot) shows as it happens.
    live = pytestconfig.pluginmanager.getplugin('capturemanager').global_and_fixture_disabled
    with contextlib.ExitStack() as stack:
        waited = time.monotonic()
        with live():
            sys.stderr.write('\n')
            STATS['lock'] = {'how': stack.enter_context(headroom_vm.machine_lock())}
        STATS['lock']['waited_seconds'] = round(time.monotonic() - waited, 1)
        STATS['vm'] = {}
        # runs after the VM has stopped (an ExitStack unwinds last in, first out)
        stack.callback(lambda: STATS['vm'].update(qemu_cpu_seconds_total=machine.qemu_cpu_seconds))
        machine = headroom_vm.VM(vm_image, keep_dir=REPORTS)
        with live():
            stack.enter_context(headroom_vm.running(machine))
            headroom_vm.log('booted to SSH in %.0f s under %s' % (machine.boot_seconds, machine.accel))
        STATS['vm'].update(accel=machine.accel, accel_why=machine.accel_why, memory_mib=machine.memory_mib,
                           cpus=machine.cpus, boot_to_ssh_seconds=round(machine.boot_seconds, 1),
                           qemu_cpu_seconds_at_ssh=machine.cpu_seconds())
        yield machine


@pytest.fixture(scope='session')
def history_dir(tmp_path_factory):
    """Where the session's diagnoses keep their history and reports: one user's controller."""
    return tmp_path_factory.mktemp('vm-controller')


@pytest.fixture(scope='session')
def diagnose(vm, history_dir):
    """``diagnose(label)`` runs ``ansible-playbook -i <the VM's inventory> diagnose.yml -e headroom_hosts=vm``
    from this checkout, as a user would, and returns (the report's record of the VM, the whole report).
    Every run of the session shares one history (headroom.sqlite), as a user's runs do."""
    def run(label):
        report_path = history_dir / ('%s.json' % label)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
                   PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
        argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', vm.inventory, os.path.join(ROOT, 'diagnose.yml'),
                '-e', 'headroom_hosts=vm', '-e', 'headroom_report_path=%s' % report_path,
                '-e', 'headroom_history_path=%s' % (history_dir / 'headroom.sqlite')]
        started = time.monotonic()
        proc = subprocess.run(argv, cwd=str(history_dir), env=env, capture_output=True, text=True, timeout=1800)
        seconds = time.monotonic() - started
        STATS['diagnoses'].append({'label': label, 'seconds': round(seconds, 1), 'rc': proc.returncode})
        os.makedirs(REPORTS, exist_ok=True)
        with open(os.path.join(REPORTS, 'diagnose-%s.log' % label), 'w') as handle:
            handle.write(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
        with open(str(report_path)) as handle:
            report = json.load(handle)
        with open(os.path.join(REPORTS, 'report-%s.json' % label), 'w') as handle:
            json.dump(report, handle, indent=1)
        hosts = [record for record in report['hosts'] if record['host'] == 'vm']
        assert len(hosts) == 1, [record['host'] for record in report['hosts']]
        return hosts[0], report
    return run


def pytest_terminal_summary(terminalreporter):
    if not STATS.get('image'):
        return
    write = terminalreporter.write_line
    terminalreporter.section('headroom VM stage')
    image = STATS['image']
    versions = image['versions']
    write('image %s: %s in %.1f s (kernel %s, systemd %s)' % (
        versions.get('key'), 'built' if image['built_now'] else 'cached', image['seconds'], versions.get('kernel'),
        versions.get('systemd')))
    if 'lock' in STATS:
        write('machine lock: %s (waited %.1f s)' % (STATS['lock']['how'], STATS['lock']['waited_seconds']))
    info = STATS.get('vm') or {}
    if 'accel' in info:
        write('accelerator: %s (%s)' % (info['accel'], info['accel_why']))
        write('boot to SSH: %.1f s (%d MiB, %d vCPUs); QEMU CPU: %s s at SSH, %s s in all' % (
            info['boot_to_ssh_seconds'], info['memory_mib'], info['cpus'],
            info['qemu_cpu_seconds_at_ssh'], info.get('qemu_cpu_seconds_total')))
    for run in STATS['diagnoses']:
        write('diagnose.yml (%s): %.1f s, rc %d' % (run['label'], run['seconds'], run['rc']))
    for name, value in sorted(STATS.items()):
        if name.startswith('oom_'):
            write('%s: %s' % (name, value))
    os.makedirs(REPORTS, exist_ok=True)
    with open(os.path.join(REPORTS, 'stage.json'), 'w') as handle:
        json.dump(STATS, handle, indent=1, default=str)
