"""Run a module of library/ for real, as Ansible runs it on a host: a Python of its own, the
arguments from a file, the collection's module_utils importable by their full names."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = '''
import os, runpy, sys
sys.path.insert(0, os.path.join(sys.argv[1], 'collections'))
sys.argv = [sys.argv[2], sys.argv[3]]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def run_library_module(name, args, tmp_path, path=None):
    """The result of library/NAME.py run with ``args``; ``path`` replaces PATH for it."""
    pytest.importorskip('ansible')
    args_file = tmp_path / ('%s-args.json' % name)
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = dict(os.environ)
    if path is not None:
        env['PATH'] = path
    done = subprocess.run([sys.executable, '-c', RUNNER, ROOT, os.path.join(ROOT, 'library', name + '.py'),
                           str(args_file)], capture_output=True, text=True, env=env)
    return json.loads(done.stdout)
