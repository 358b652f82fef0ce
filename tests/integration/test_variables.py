"""Variables as users pass them: ``-e name=value`` makes every value a string. Each is checked and
converted before anything runs, and a bad one is named before any host is read."""
import json
import os
import re
import subprocess

from conftest import ROOT, VENV_BIN


def playbook(path, *extra, check=False, cwd=ROOT):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    cmd = [os.path.join(VENV_BIN, 'ansible-playbook'), os.path.join(ROOT, str(path))]
    for item in extra:
        cmd += ['-e', item]
    if check:
        cmd.append('--check')
    proc = subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300)
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
    assert 'swap_setup_swappiness' not in out  # only what is wrong is named


def test_empty_answers_are_unset_and_an_empty_path_is_refused(tmp_path):
    """What an unanswered AWX survey question or ``-e name=`` gives: an empty optional text is unset (no
    upload to a bucket named ''), an empty directory is named before any host is read, never '/'."""
    report = tmp_path / 'r.json'
    rc, out = playbook('diagnose.yml', 'headroom_report_s3_bucket=', 'headroom_report_url=', 'headroom_slice_id=',
                       'headroom_report_path=%s' % report)
    assert rc == 0, out[-3000:]
    assert report.exists() and re.search(r'Keep the report in S3 [^\n]*\n\s*skipping: \[localhost\]', out), out[-3000:]
    assert "bucket ''" not in out and 's3://' not in out
    assert '"page: %s"' % (tmp_path / 'r.html') in out
    at_root = ['/headroom.json', '/headroom.html', '/headroom.md', '/headroom.sqlite']
    before = [os.stat(p).st_mtime_ns if os.path.exists(p) else None for p in at_root]
    rc, out = playbook('diagnose.yml', 'headroom_report_dir=', cwd=tmp_path)
    assert rc != 0
    assert 'headroom_report_dir is empty: give a path, or leave it unset for its default' in out
    assert 'Diagnose this host' not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ['r.html', 'r.json', 'r.md']  # the first run's, no more
    assert [os.stat(p).st_mtime_ns if os.path.exists(p) else None for p in at_root] == before


def test_a_history_of_1e400_days_is_named(tmp_path):
    """-e makes 1e400 an int of 400 digits to Ansible's int check: the report names it, writes nothing."""
    report = tmp_path / 'r.json'
    rc, out = playbook('diagnose.yml', 'headroom_history_days=1e400', 'headroom_report_path=%s' % report,
                       'headroom_history_path=%s' % (tmp_path / 'h.sqlite'))
    assert rc != 0 and 'history_days must be 1 to 36500, got a number of more than 20 digits' in out, out[-3000:]
    assert list(tmp_path.iterdir()) == []
