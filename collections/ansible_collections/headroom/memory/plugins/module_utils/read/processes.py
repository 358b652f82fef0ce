"""Processes grouped by command and their growth across top's samples.

Pure functions on top_facts rows, no I/O. They run where the processes are read (a host short of
memory ships its groups, not every process), so they need nothing but the standard library.
"""


def group_processes(processes, pss=None, names=False):
    """Aggregate processes per command name, biggest first.

    ``processes`` are top's rows (``pid``, ``user``, ``res``, ``command``); ``names``: their commands
    are process names (procps top without -c: the kernel's comm, which may hold spaces, as in
    "Web Content" or "tmux: server"), kept whole; else command lines (busybox, top -c), named by
    their program;
    ``pss`` maps pid -> proportional set size where smaps_rollup could be read.
    RSS counts pages shared by forked workers once per worker, so a group's
    ``memory`` is its PSS sum where every member's PSS is known, else its RSS sum;
    ``largest`` is its biggest process (``pid``, ``memory`` by the same measure).
    """
    pss = pss or {}
    groups = {}
    for proc in processes:
        name = command_name(proc.get('command'), names)
        group = groups.setdefault(name, {'command': name, 'count': 0, 'rss': 0, 'pss': 0,
                                         'pss_known': True, 'pids': [], 'users': [], 'members': []})
        group['count'] += 1
        group['rss'] += proc.get('res') or 0
        if proc.get('pid') in pss and pss[proc['pid']] is not None:
            group['pss'] += pss[proc['pid']]
        else:
            group['pss_known'] = False
        group['members'].append((proc.get('pid'), proc.get('res') or 0, pss.get(proc.get('pid'))))
        if len(group['pids']) < 10:
            group['pids'].append(proc.get('pid'))
        if proc.get('user') and proc['user'] not in group['users'] and len(group['users']) < 10:
            group['users'].append(proc['user'])
    result = []
    for group in groups.values():
        group['memory'] = group['pss'] if group['pss_known'] else group['rss']
        group['measure'] = 'pss' if group['pss_known'] else 'rss'
        # its biggest process, by the group's own measure: a runaway is one process, not a pool
        pid, rss, size = max(group.pop('members'), key=lambda m: (m[2] if group['pss_known'] else m[1]) or 0)
        group['largest'] = {'pid': pid, 'memory': size if group['pss_known'] else rss}
        if not group['pss_known']:
            group['pss'] = None
        del group['pss_known']
        result.append(group)
    result.sort(key=lambda g: (-g['memory'], g['command']))
    return result


def growth(samples, seconds=None, names=False):
    """Processes whose RSS grew from the first of top's samples to the last, biggest growth first.

    ``samples`` are top_facts samples ({'processes': [...]}); a pid must be in both to count;
    ``names`` as for group_processes.
    """
    if not samples or len(samples) < 2:
        return []
    first = dict((p['pid'], p) for p in samples[0]['processes'] if p.get('res') is not None)
    grown = []
    for proc in samples[-1]['processes']:
        start = first.get(proc['pid'])
        if start is not None and proc.get('res') is not None and proc['res'] > start['res']:
            grown.append({'pid': proc['pid'], 'command': command_name(proc.get('command'), names), 'from': start['res'],
                          'to': proc['res'], 'grew': proc['res'] - start['res'], 'seconds': seconds})
    grown.sort(key=lambda g: -g['grew'])
    return grown


def command_name(command, whole=False):
    """The name a group is known by: a process name whole, a command line's program."""
    if not command:
        return '?'
    if whole:
        return command
    if command.startswith('{') and '}' in command:
        # busybox shows "{name} command line" when the name is not the program's (libbb read_cmdline)
        return command[1:command.index('}')] or '?'
    first = command.split()[0] if command.split() else command
    return first.rsplit('/', 1)[-1] if first.startswith('/') else first
