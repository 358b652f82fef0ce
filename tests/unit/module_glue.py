"""A module's glue run in this process, community.general's way: its arguments patched in, and
AnsibleModule's run_command and get_bin_path replaced by a stand-in runner that answers from real
captured output. Nothing of Ansible is started; nothing runs on this machine."""
import importlib.util
import os

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBRARY = os.path.join(ROOT, 'library')


class Exit(Exception):
    """exit_json or fail_json was called: ``result`` is what the module returned."""

    def __init__(self, result):
        super(Exit, self).__init__(result)
        self.result = result


class Runner(object):
    """Answers commands by their words: ``answers`` maps a tuple of argv (the program's base name
    first) to (rc, stdout, stderr); ``calls`` records each argv and the environment it asked for."""

    def __init__(self, answers, installed=None):
        self.answers = dict((tuple(argv), answer) for argv, answer in answers.items())
        self.installed = set(installed if installed is not None else (argv[0] for argv in self.answers))
        self.calls = []

    def run_command(self, module, args, environ_update=None, **kwargs):
        argv = tuple([os.path.basename(args[0])] + list(args[1:]))
        self.calls.append((argv, dict(environ_update or {})))
        if argv not in self.answers:
            return 1, '', '%s: unknown option (the stand-in has no capture for it)' % ' '.join(argv)
        return self.answers[argv]

    def get_bin_path(self, module, name, required=False, opt_dirs=None):
        if name in self.installed:
            return '/usr/bin/' + name
        if required:
            module.fail_json(msg='%s not found' % name)
        return None


def load(name):
    """library/NAME.py as a Python module (its main() not run)."""
    spec = importlib.util.spec_from_file_location('headroom_glue_' + name, os.path.join(LIBRARY, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_glue(name, args, runner, setup=None):
    """The result of library/NAME.py's main() with ``args``, its commands answered by ``runner``;
    ``setup(module)``, when given, runs on the loaded module first (to point its paths elsewhere)."""
    module = load(name)
    if setup is not None:
        setup(module)

    def leave(self, **result):
        raise Exit(result)

    def fail(self, msg, **result):
        raise Exit(dict(result, failed=True, msg=msg))

    saved = dict((attr, getattr(basic.AnsibleModule, attr))
                 for attr in ('exit_json', 'fail_json', 'run_command', 'get_bin_path'))
    basic.AnsibleModule.exit_json = leave
    basic.AnsibleModule.fail_json = fail
    basic.AnsibleModule.run_command = lambda self, args, **kwargs: runner.run_command(self, args, **kwargs)
    basic.AnsibleModule.get_bin_path = lambda self, name, required=False, opt_dirs=None: runner.get_bin_path(
        self, name, required, opt_dirs)
    try:
        with patch_module_args(args):
            module.main()
    except Exit as done:
        return done.result
    finally:
        for attr, value in saved.items():
            setattr(basic.AnsibleModule, attr, value)
    raise AssertionError('%s: main() returned without exit_json or fail_json' % name)
