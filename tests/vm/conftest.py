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
import importlib
import inspect
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


def pytest_sessionstart(session):
    STATS['started'] = time.monotonic()


def pytest_runtest_logreport(report):
    """Each test's seconds (its setup, where the scenarios' fixtures do their work, included) for stage.json."""
    if report.when in ('setup', 'call', 'teardown'):
        tests = STATS.setdefault('tests', {})
        tests[report.nodeid] = round(tests.get(report.nodeid, 0) + report.duration, 1)


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
        # the seed's app (tests/vm/app, port 8000 in the guest) is reached from here, as its users reach it
        machine = headroom_vm.VM(vm_image, keep_dir=REPORTS, forwards=(8000,))
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
    def run(label, *extra):
        report_path = history_dir / ('%s.json' % label)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
                   PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
        argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', vm.inventory, os.path.join(ROOT, 'diagnose.yml'),
                '-e', 'headroom_hosts=vm', '-e', 'headroom_report_path=%s' % report_path,
                '-e', 'headroom_history_path=%s' % (history_dir / 'headroom.sqlite')]
        for item in extra:  # more variables: 'name=value' or a dict
            argv += ['-e', item if isinstance(item, str) else json.dumps(item)]
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


@pytest.fixture(scope='session')
def remediate(vm, history_dir):
    """``remediate(label, fixes, *extra)`` runs this checkout's remediate.yml against the VM with headroom_apply=true
    and headroom_fixes=``fixes``, sharing the session's history; returns (rc, the report's record of the VM, the
    whole report, the play recap of the VM, the output)."""
    def run(label, fixes, *extra):
        import scenario  # pylint: disable=import-outside-toplevel
        report_path = history_dir / ('%s.json' % label)
        rc, output, recap = scenario.ansible_playbook(
            vm, history_dir, label, os.path.join(ROOT, 'remediate.yml'),
            ['headroom_hosts=vm', 'headroom_apply=true', 'headroom_report_path=%s' % report_path,
             'headroom_history_path=%s' % (history_dir / 'headroom.sqlite'), {'headroom_fixes': list(fixes)}]
            + list(extra))
        report = None
        if report_path.exists():
            with open(str(report_path)) as handle:
                report = json.load(handle)
            with open(os.path.join(REPORTS, 'report-%s.json' % label), 'w') as handle:
                json.dump(report, handle, indent=1)
        record = next((r for r in (report or {}).get('hosts', []) if r['host'] == 'vm'), None)
        return rc, record, report, recap, output
    return run


# The scenario's steps (issue 21, parts 2 to 6), in the order they build on each other: each is a function of the
# test module that checks it (decorated with scenario.step: it runs once, and its failure is kept), offered here as a
# session fixture of its name to every module, so that a later module can start from an earlier module's state.
STEPS = (('test_d_unit_limit', 'limited'), ('test_e_seed', 'app'), ('test_e_seed', 'first_kill'),
         ('test_f_unit_policy', 'policy'), ('test_f_unit_policy', 'second_kill'),
         ('test_g_remediate', 'remediated'), ('test_g_remediate', 'third_traffic'),
         ('test_h_stall', 'stall'), ('test_h_stall', 'guarded'),
         ('test_i_guards', 'earlyoom_kill'), ('test_i_guards', 'oomd_kill'))


def _step_fixture(module, name):
    @pytest.fixture(scope='session', name=name)
    def fixture(request):
        function = getattr(importlib.import_module(module), name)
        wanted = inspect.signature(function).parameters
        return function(**dict((param, request.getfixturevalue(param)) for param in wanted))
    return fixture


for _module, _name in STEPS:
    globals()['_step_' + _name] = _step_fixture(_module, _name)


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
    for run in STATS.get('playbooks', []):
        write('%s (%s): %.1f s, rc %d' % (run['playbook'], run['label'], run['seconds'], run['rc']))
    for name, seconds in (STATS.get('steps') or {}).items():
        write('step %s: %.1f s' % (name, seconds))
    for name, figures in (STATS.get('traffic') or {}).items():
        write('traffic %s: %s' % (name, ', '.join('%s %s' % item for item in sorted(figures.items()))))
    for name, value in sorted(STATS.items()):
        if name.startswith('oom_'):
            write('%s: %s' % (name, value))
    if 'started' in STATS:
        STATS['stage_seconds'] = round(time.monotonic() - STATS.pop('started'), 1)
        waited = (STATS.get('lock') or {}).get('waited_seconds') or 0
        STATS['stage_seconds_without_lock_wait'] = round(STATS['stage_seconds'] - waited, 1)
        write('the VM stage\'s tests took %.1f s (%.1f s of it waiting for the machine lock: %.1f s without)' % (
            STATS['stage_seconds'], waited, STATS['stage_seconds_without_lock_wait']))
    os.makedirs(REPORTS, exist_ok=True)
    with open(os.path.join(REPORTS, 'stage.json'), 'w') as handle:
        json.dump(STATS, handle, indent=1, default=str)
