"""The command that runs collect.py on a host in one round trip, without AnsiballZ.

As a module, memory_facts cost a host 250 ms of CPU in a Debian 12 container, 120 ms of it compiling
ansible.module_utils.basic from the AnsiballZ zip (no bytecode is shipped; ping costs 160 ms).
collect.py and the parsers it needs, shipped as source without their comments and docstrings (on the
interpreter's stdin, or inside the command line), cost about 0.2 s with the tools they run (bench/README.md).
Controller side only: the memory_facts action plugin sends ``command()`` over the connection and
reads one JSON document back (collect.main's).
"""

import ast
import base64
import hashlib
import io
import json
import os
import shlex
import tempfile
import tokenize
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

# The kernel's bound on one argument of execve (MAX_ARG_STRLEN, 32 pages: include/uapi/linux/binfmts.h). Without
# pipelining the program is inside the one argument of ``sh -c``: at or above it the host's exec fails (E2BIG).
MAX_ARG_STRLEN = 32 * 4096

_encoded = {}


def shipped(source):
    """``source`` as a host gets it: its comments and docstrings blanked (a third of its size), every other
    line where it was, so that a traceback from the host names the line of the file here. A body of only its
    docstring keeps it (such as an exception's class)."""
    lines = source.splitlines(True)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col].rstrip() + '\n'
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, 'body', None)
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) or not body:
            continue
        first = body[0]
        if len(body) == 1 or not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)):
            continue
        start, end = first.lineno, first.end_lineno
        if lines[start - 1][:first.col_offset].strip() or lines[end - 1][first.end_col_offset:].strip():
            continue  # the docstring shares a line with code: left as it is
        for row in range(start, end + 1):
            lines[row - 1] = '\n'
    return ''.join(lines)


def _sources(directory, cache=None):
    """The shipped sources, packed: made once per process, and once per run where ``cache`` names a directory
    private to the run (the action plugin gives Ansible's local temporary directory, which each run makes for
    itself with mode 0700 and removes at its end): the forks that diagnose the hosts read the first one's."""
    if directory not in _encoded:
        sources = {}
        for name in SOURCES:
            with open(os.path.join(directory, *name.split('.')) + '.py', 'rb') as handle:
                sources[name] = handle.read().decode('utf-8')
        raw = json.dumps(sources, sort_keys=True).encode('utf-8')
        path = os.path.join(cache, 'headroom-program-%s.b64' % hashlib.sha256(raw).hexdigest()[:32]) if cache else None
        _encoded[directory] = _kept(path) if path else None
        if _encoded[directory] is None:
            # zlib's default level: 2.7 ms here against 6 ms at level 9, for 0.5% more bytes
            packed = zlib.compress(json.dumps(dict((name, shipped(text)) for name, text in sources.items()),
                                              sort_keys=True).encode('utf-8'))
            _encoded[directory] = base64.b64encode(packed).decode('ascii')
            if path:
                _keep(path, _encoded[directory])
    return _encoded[directory]


def _kept(path):
    """What another fork of the run kept at ``path``, or None."""
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except OSError:
        return None


def _keep(path, text):
    """Write ``text`` to ``path`` whole or not at all (another fork may be writing the same)."""
    try:
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.headroom-program-')
    except OSError:
        return
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def program(options, directory=None, cache=None):
    """Python source that collects on the host with these options and prints collect.main's JSON."""
    directory = directory or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return _PROGRAM % {'sources': _sources(directory, cache), 'package': PACKAGE, 'packages': PACKAGES,
                       'options': json.dumps(options, sort_keys=True)}


def command(options, interpreter=None, fallback=FALLBACK, stdin=False, environment='', cache=None):
    """(shell command, its stdin or None): the program run by ``interpreter`` (as Ansible's shebang
    would: its words unquoted), else by the first of ``fallback`` the host has, the way Ansible
    discovers one. With ``stdin`` the program goes to the interpreter's standard input (where the
    connection pipelines, as Ansible sends modules), else inside the command line, which then
    carries about 80 KB and shows whole in Ansible's -vvv output; a command line the kernel would refuse
    (MAX_ARG_STRLEN) is a ValueError that says so. ``environment``: assignments (the task's, from the shell
    plugin's env_prefix) the interpreter runs with; ``cache``: see _sources."""
    source = program(options, cache=cache)
    prefix = (environment + ' ' if environment else '') + 'exec '
    args = '-' if stdin else '-c ' + shlex.quote(source)  # joined, not %-formatted: the source has %
    data = source if stdin else None
    if interpreter:
        line = prefix + interpreter + ' ' + args
    else:
        names = ' '.join(shlex.quote(name) for name in fallback)
        missing = shlex.quote('headroom: no Python interpreter found (tried %s)' % ', '.join(fallback))
        line = ('for p in ' + names + '; do command -v "$p" >/dev/null 2>&1 && ' + prefix + '"$p" ' + args
                + '; done; echo ' + missing + ' >&2; exit 127')
    # the shell plugin wraps it (become, the environment, /bin/sh -c): 4 KiB are left for that
    if not stdin and len(line.encode('utf-8')) > MAX_ARG_STRLEN - 4096:
        raise ValueError('the reading program is %d bytes in the command line, more than one argument of a command '
                         'may hold (%d, the kernel\'s MAX_ARG_STRLEN, less 4 KiB for the shell\'s wrapping): enable '
                         'pipelining (ANSIBLE_PIPELINING=True), which sends it on stdin'
                         % (len(line.encode('utf-8')), MAX_ARG_STRLEN))
    return line, data
