"""ansible-doc renders every module of the collection by its full name, from the checkout."""
import glob
import os
import subprocess

import pytest

from conftest import ROOT, VENV_BIN

MODULES = sorted(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(ROOT, 'library', '*.py')))


@pytest.mark.parametrize('name', MODULES)
def test_ansible_doc_renders(name):
    result = subprocess.run([os.path.join(VENV_BIN, 'ansible-doc'), 'headroom.memory.' + name],
                            capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
                                     ANSIBLE_NOCOLOR='1', PAGER='cat'))
    assert result.returncode == 0, result.stderr
    assert ('MODULE headroom.memory.%s' % name) in result.stdout and 'ERROR' not in result.stderr
