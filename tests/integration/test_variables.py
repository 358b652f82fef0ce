"""Variables as users pass them: ``-e name=value`` makes every value a string. Each is checked and
converted before anything runs, and a bad one is named before any host is read."""
import json
import os
import subprocess

from conftest import ROOT, VENV_BIN


def playbook(path, *extra, check=False):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    cmd = [os.path.join(VENV_BIN, 'ansible-playbook'), str(path)]
    for item in extra:
        cmd += ['-e', item]
    if check:
        cmd.append('--check')
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_bad_fail_on_is_refused_before_any_host_is_read(tmp_path):
    report = tmp_path / 'r.json'
    rc, out = playbook('diagnose.yml', 'headroom_fail_on=sometimes', 'headroom_report_path=%s' % report)
    assert rc != 0
    assert 'headroom_fail_on' in out and 'never, warning, critical' in out and 'sometimes' in out
    assert 'Diagnose this host' not in out and not report.exists()


def test_inverted_thresholds_are_refused_by_name(tmp_path):
    report = tmp_path / 'r.json'
    rc, out = playbook('diagnose.yml', 'headroom_report_path=%s' % report, 'headroom_fail_on=critical',
                       json.dumps({'process_audit_thresholds': {'available_warning_pct': 5,
                                                                'available_critical_pct': 50}}))
    assert rc != 0
    assert 'available_warning_pct (5) must be at least available_critical_pct (50)' in out


def test_role_variables_given_as_strings_are_converted(tmp_path):
    """swap_setup_priority=10 from -e is the string '10': the role compares it as a number. In check mode
    with state absent for a file that is not there, nothing on this machine is touched."""
    play = tmp_path / 'swap.yml'
    play.write_text('- name: Swap\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - role: headroom.memory.swap_setup\n')
    common = ['swap_setup_state=absent', 'swap_setup_path=%s' % (tmp_path / 'swapfile'),
              'swap_setup_sysctl_file=%s' % (tmp_path / 'sysctl.d' / '60-headroom.conf')]
    rc, out = playbook(play, 'swap_setup_priority=10', 'swap_setup_swappiness=30', *common, check=True)
    assert rc == 0, out[-3000:]
    rc, out = playbook(play, 'swap_setup_priority=ten', *common, check=True)
    assert rc != 0 and 'swap_setup_priority' in out and "'ten'" in out
    rc, out = playbook(play, 'swap_setup_priority=40000', *common, check=True)
    assert rc != 0 and 'swap_setup_priority 0-32767 (got 40000)' in out
