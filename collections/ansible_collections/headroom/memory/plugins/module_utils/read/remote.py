"""The command that runs collect.py on a host in one round trip, without AnsiballZ.

As a module, memory_facts cost a host 250 ms of CPU in a Debian 12 container, 120 ms of it compiling
ansible.module_utils.basic from the AnsiballZ zip (no bytecode is shipped; ping costs 160 ms).
collect.py and the parsers it needs, shipped as source (on the interpreter's stdin, or inside the
command line), cost 72 ms (bench/README.md).
Controller side only: the memory_facts action plugin sends ``command()`` over the connection and
reads one JSON document back (collect.main's).
"""

import base64
import json
import os
import shlex
import zlib

# The modules collect.py needs on a host (itself included), by their names under module_utils:
# what the program carries. test_collect checks that it is every module they import. Not imported
# from collect.py: the controller has no use for the parsers' import cost.
SOURCES = ('parse_error', 'read.app_deaths', 'read.app_servers', 'read.collect', 'read.early_oom', 'read.free', 'read.free_i18n', 'read.guard', 'read.kernel',
           'read.log_prefix', 'read.oom', 'read.oom_dump', 'read.processes', 'read.top', 'read.unit_stops', 'read.watch', 'units')
PACKAGES = tuple(sorted(set(name.rsplit('.', 1)[0] for name in SOURCES if '.' in name)))  # their subpackages

PACKAGE = '_headroom'  # the name the modules import under on the host (relative imports only)
# Ansible's own INTERPRETER_PYTHON_FALLBACK default: tried in order when no interpreter is known.
FALLBACK = ('python3.13', 'python3.12', 'python3.11', 'python3.10', 'python3.9', 'python3.8',
            '/usr/bin/python3', 'python3')

# A meta path finder over the shipped sources: ``import _headroom.read.collect`` and the relative
# imports between the modules work as from files. Python 3.6 and later, standard library only.
_PROGRAM = r'''import base64, json, sys, zlib
from importlib.machinery import ModuleSpec
S = json.loads(zlib.decompress(base64.b64decode(%(sources)r)).decode('utf-8'))
P = %(package)r
K = set(%(packages)r)
class Finder(object):
    def find_spec(self, name, path=None, target=None):
        short = name[len(P) + 1:]
        if name == P or name.startswith(P + '.') and (short in S or short in K):
            return ModuleSpec(name, self, is_package=name == P or short in K)
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        short = module.__name__[len(P) + 1:]
        if short in S:
            exec(compile(S[short], '%%s/%%s.py' %% (P, short.replace('.', '/')), 'exec'), module.__dict__)
sys.meta_path.insert(0, Finder())
__import__(P + '.read.collect', fromlist=['main']).main(json.loads(%(options)r), bounded=True)
'''

_encoded = {}


def _sources(directory):
    if directory not in _encoded:
        sources = {}
        for name in SOURCES:
            with open(os.path.join(directory, *name.split('.')) + '.py', 'rb') as handle:
                sources[name] = handle.read().decode('utf-8')
        # zlib's default level: 2.7 ms here against 6 ms at level 9, for 0.5% more bytes; it runs
        # in every worker, once per host
        packed = zlib.compress(json.dumps(sources, sort_keys=True).encode('utf-8'))
        _encoded[directory] = base64.b64encode(packed).decode('ascii')
    return _encoded[directory]


def program(options, directory=None):
    """Python source that collects on the host with these options and prints collect.main's JSON."""
    directory = directory or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return _PROGRAM % {'sources': _sources(directory), 'package': PACKAGE, 'packages': PACKAGES,
                       'options': json.dumps(options, sort_keys=True)}


def command(options, interpreter=None, fallback=FALLBACK, stdin=False, environment=''):
    """(shell command, its stdin or None): the program run by ``interpreter`` (as Ansible's shebang
    would: its words unquoted), else by the first of ``fallback`` the host has, the way Ansible
    discovers one. With ``stdin`` the program goes to the interpreter's standard input (where the
    connection pipelines, as Ansible sends modules), else inside the command line, which then
    carries about 40 KB and shows whole in Ansible's -vvv output. ``environment``: assignments
    (the task's, from the shell plugin's env_prefix) the interpreter runs with."""
    source = program(options)
    prefix = (environment + ' ' if environment else '') + 'exec '
    args = '-' if stdin else '-c ' + shlex.quote(source)  # joined, not %-formatted: the source has %
    data = source if stdin else None
    if interpreter:
        return prefix + interpreter + ' ' + args, data
    names = ' '.join(shlex.quote(name) for name in fallback)
    missing = shlex.quote('headroom: no Python interpreter found (tried %s)' % ', '.join(fallback))
    return ('for p in ' + names + '; do command -v "$p" >/dev/null 2>&1 && ' + prefix + '"$p" ' + args
            + '; done; echo ' + missing + ' >&2; exit 127'), data
