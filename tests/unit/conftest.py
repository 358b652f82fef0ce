"""The unit tier starts no Ansible: a test that runs ansible, ansible-playbook, ansible-doc ... belongs
in tests/integration. Enforced here for every unit test."""
import os
import subprocess

import pytest

_POPEN = subprocess.Popen


class _NoAnsible(_POPEN):

    def __init__(self, args, *rest, **kwargs):
        argv = [args] if isinstance(args, (str, bytes)) else list(args)
        program = os.path.basename(str(argv[0])) if argv else ''
        if program.startswith('ansible'):
            raise AssertionError('a unit test started %s: it belongs in tests/integration' % program)
        super(_NoAnsible, self).__init__(args, *rest, **kwargs)


@pytest.fixture(autouse=True)
def no_ansible_processes(monkeypatch):
    monkeypatch.setattr(subprocess, 'Popen', _NoAnsible)
