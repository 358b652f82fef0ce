"""The app servers that hold most of a web host's memory, master and workers, each worker measured.

gunicorn, uWSGI, Celery, php-fpm, Puma and Unicorn fork workers from a master; a JVM or a Node process
is one process with a heap limit. A master is a process of its kind whose parent is not of that kind;
its workers are its children, whatever they are called (Celery's pool runs as python3). Each worker's
``smaps_rollup`` splits its memory into private (its own: what one more worker costs) and shared (the
pages it shares with the master and the other workers: the app's code when it was preloaded).

Settings come from the command line and the config files it names (gunicorn ``-c``, uWSGI ``--ini``,
php-fpm's pool files), read for their numbers only: a command line or a config file can hold secrets,
and neither leaves the host.
"""

import glob
import os
import re

from .kernel import proc_stat, read_text
from ..units import is_count

# how many workers of one server are measured (a big php-fpm pool has hundreds)
WORKERS_MEASURED = 64
_PYTHON = re.compile(r'^python[0-9.]*$', re.ASCII)


def kind_of(comm, argv):
    """The app server a process is (``gunicorn uwsgi celery php-fpm puma unicorn jvm node``), or None,
    from its name (comm) and command line (``argv``, a list)."""
    names = [os.path.basename(arg) for arg in argv[:4]]
    script = names[1] if len(names) > 1 and _PYTHON.match(names[0]) else names[0] if names else ''
    if len(names) > 2 and _PYTHON.match(names[0]) and names[1] == '-m':
        script = names[2]
    for kind, words in (('gunicorn', ('gunicorn',)), ('uwsgi', ('uwsgi',)), ('celery', ('celery',)),
                        ('puma', ('puma',)), ('unicorn', ('unicorn', 'unicorn_rails'))):
        if comm.split(':')[0] in words or script in words:
            return kind
    if comm.startswith('php-fpm'):
        return 'php-fpm'
    if comm == 'ruby' and any(name in ('puma', 'unicorn') for name in names[1:3]):
        return 'puma' if 'puma' in names[1:3] else 'unicorn'
    if comm == 'java':
        return 'jvm'
    if comm in ('node', 'nodejs'):
        return 'node'
    return None


def _flag(argv, *names):
    """The value of the first of ``names`` in argv (``--x N``, ``--x=N``, ``-x N``), or None."""
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                return argv[index + 1]
            if name.startswith('--') and arg.startswith(name + '='):
                return arg[len(name) + 1:]
    return None


def _int(text):
    text = (text or '').strip().strip('"\'')
    return int(text) if is_count(text) and len(text) < 10 else None


# config files are read up to this much: an app server's config, not a log
_CONFIG_BYTES = 262144


def _setting(text, pattern):
    found = re.search(pattern, text or '', re.M | re.ASCII)
    return found.group(1) if found else None


def settings(kind, argv, cwd=None, root='/'):
    """What the server was told, where it can be read: workers, preloading, recycling, heap limit."""
    found = {}

    def path_of(name):
        return name if os.path.isabs(name) or not cwd else os.path.join(cwd, name)
    if kind == 'gunicorn':
        config = _flag(argv, '-c', '--config')
        text = read_text(path_of(config), _CONFIG_BYTES) if config and not config.startswith('python:') else None
        if config:
            found['config'] = config
        workers = _flag(argv, '-w', '--workers') or _setting(text, r'^\s*workers\s*=\s*(\d+)')
        found['workers'] = _int(workers)
        preload = '--preload' in argv or _setting(text, r'^\s*preload_app\s*=\s*(True)\b') is not None
        found['preload_app'] = preload
        for key, flag in (('max_requests', '--max-requests'), ('max_requests_jitter', '--max-requests-jitter')):
            found[key] = _int(_flag(argv, flag) or _setting(text, r'^\s*%s\s*=\s*(\d+)' % key))
    elif kind == 'uwsgi':
        ini = _flag(argv, '--ini')
        text = read_text(path_of(ini), _CONFIG_BYTES) if ini else None
        if ini:
            found['config'] = ini
        found['workers'] = _int(_flag(argv, '--processes', '--workers', '-p')
                                or _setting(text, r'^\s*(?:processes|workers)\s*=\s*(\d+)'))
        found['max_requests'] = _int(_flag(argv, '--max-requests') or _setting(text, r'^\s*max-requests\s*=\s*(\d+)'))
    elif kind == 'celery':
        found['workers'] = _int(_flag(argv, '-c', '--concurrency'))
        found['max_tasks_per_child'] = _int(_flag(argv, '--max-tasks-per-child'))
    elif kind == 'php-fpm':
        pools = sorted(glob.glob(os.path.join(root, 'etc/php/*/fpm/pool.d/*.conf'))
                       + glob.glob(os.path.join(root, 'etc/php-fpm.d/*.conf')))[:20]
        texts = [read_text(pool, _CONFIG_BYTES) for pool in pools]
        children = [_int(_setting(text, r'^\s*pm\.max_children\s*=\s*(\d+)')) for text in texts]
        requests = [_int(_setting(text, r'^\s*pm\.max_requests\s*=\s*(\d+)')) for text in texts]
        found['workers'] = sum(c for c in children if c) or None
        found['max_requests'] = min([r for r in requests if r] or [0]) or None
        found['config'] = ', '.join(pools) or None
    elif kind == 'jvm':
        heap = [arg[4:] for arg in argv if arg.startswith('-Xmx')]
        found['max_heap'] = _size(heap[-1]) if heap else None
        found['container_support'] = not any(arg == '-XX:-UseContainerSupport' for arg in argv)
    elif kind == 'node':
        old = [arg.split('=', 1)[1] for arg in argv if arg.startswith('--max-old-space-size=')]
        found['max_old_space'] = _int(old[-1]) * 1048576 if old and _int(old[-1]) else None
    return found


def _size(text):
    match = re.match(r'^(\d{1,12})([kKmMgGtT]?)$', text or '', re.ASCII)
    if not match:
        return None
    return int(match.group(1)) << {'': 0, 'k': 10, 'm': 20, 'g': 30, 't': 40}[match.group(2).lower()]


def _split(rollup):
    """(private, shared, pss) bytes of one process's smaps_rollup, or Nones."""
    if not rollup or rollup.get('private_dirty') is None:
        return None, None, rollup.get('pss') if rollup else None
    private = (rollup.get('private_clean') or 0) + rollup['private_dirty']
    shared = (rollup.get('shared_clean') or 0) + (rollup.get('shared_dirty') or 0)
    return private, shared, rollup.get('pss')


_CANDIDATES = re.compile(r'^(?:gunicorn|uwsgi|celery|puma|unicorn|unicorn_rails|php-fpm.*|ruby|java|node|nodejs|'
                         r'python[0-9.]*)(?::.*)?$', re.ASCII)


def find(processes, stat, command_line, rollup):
    """The app servers among ``processes`` (pids): ``stat(pid)`` -> (comm, ppid) or None (every process:
    workers are found by their parent), ``command_line(pid)`` -> (argv, cwd) (only for names a server
    can have), ``rollup(pid)`` -> smaps_rollup dict or None. One entry per master, in pid order."""
    known = {}
    for pid in processes:
        details = stat(pid)
        if details is not None:
            known[pid] = details
    kinds, lines = {}, {}
    for pid, (comm, _ppid) in known.items():
        if _CANDIDATES.match(comm):
            lines[pid] = command_line(pid)
            kinds[pid] = kind_of(comm, lines[pid][0])
    children = {}
    for pid, (_comm, ppid) in known.items():
        children.setdefault(ppid, []).append(pid)
    servers = []
    for pid, kind in sorted(kinds.items()):
        if kind is None or kinds.get(known[pid][1]) == kind:
            continue  # not a server, or a worker of one (its parent is of its kind)
        argv, cwd = lines[pid]
        workers = sorted(children.get(pid, []))
        if kind in ('jvm', 'node') and not workers:
            workers = [pid]  # one process: it is its own worker
        measured = []
        for worker in workers[:WORKERS_MEASURED]:
            private, shared, pss = _split(rollup(worker))
            measured.append({'pid': worker, 'private': private, 'shared': shared, 'pss': pss})
        m_private, m_shared, m_pss = _split(rollup(pid)) if workers != [pid] else (None, None, None)
        servers.append({'kind': kind, 'master_pid': pid, 'command': known[pid][0], 'workers': len(workers),
                        'measured': measured, 'master': {'private': m_private, 'shared': m_shared, 'pss': m_pss},
                        'settings': settings(kind, argv, cwd)})
    return servers


def proc_readers(proc='/proc'):
    """(stat, command_line) for :func:`find`, from /proc."""
    def stat(pid):
        found = proc_stat(pid, proc)
        return (found[0], found[1]) if found else None

    def command_line(pid):
        raw = read_text(os.path.join(proc, str(pid), 'cmdline'), 65536) or ''
        try:
            cwd = os.readlink(os.path.join(proc, str(pid), 'cwd'))
        except OSError:
            cwd = None
        return [arg for arg in raw.split('\0') if arg], cwd
    return stat, command_line
