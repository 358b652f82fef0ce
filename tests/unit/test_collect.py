"""The collection that memory_facts runs on a host, as the program the action plugin sends (remote.py)
and as the module runs it: run here for real, on this machine's own free, top and /proc."""
import ast
import json
import os
import shlex
import subprocess
import sys
import time

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.read import collect

from ansible_collections.headroom.memory.plugins.module_utils.read import remote
from ansible_collections.headroom.memory.plugins.module_utils.judge.memory_facts import (
    ARGUMENT_SPEC, READ_OPTIONS, diagnose, policy_of, read_options)
from library_module import run_library_module

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'collections'))
HERE = os.path.dirname(os.path.dirname(os.path.abspath(collect.__file__)))  # module_utils
OPTIONS = {'top_limit': 5, 'pss_limit': 200, 'top_samples': 2, 'sample_seconds': 0.2, 'oom_history': True,
           'oom_since': None, 'oom_events_limit': 20, 'watch_seconds': 0, 'watch_interval': 1.0}
READ = dict(OPTIONS, app_since='-24h')  # what read_options() makes of them


def _params(**overrides):
    params = dict((key, spec.get('default')) for key, spec in ARGUMENT_SPEC.items())
    params.update(OPTIONS, **overrides)
    return params


def _imports(name):
    """What module ``name`` (dotted, under module_utils) imports: ('relative', its dotted name under
    module_utils) or ('absolute', its name)."""
    tree = ast.parse(open(os.path.join(HERE, *name.split('.')) + '.py').read())
    package = name.split('.')[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            yield 'relative', '.'.join(base + ([node.module] if node.module else []))
        elif isinstance(node, ast.ImportFrom):
            yield 'absolute', node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield 'absolute', alias.name


def test_the_shipped_sources_are_all_the_collection_needs():
    """What the program carries is closed under import and needs nothing outside the standard library."""
    for name in remote.SOURCES:
        for kind, module in _imports(name):
            if kind == 'relative':
                assert module in remote.SOURCES, '%s imports %s, which remote.py does not ship' % (name, module)
            else:
                assert module.split('.')[0] in sys.stdlib_module_names, '%s imports %s' % (name, module)


def test_the_reading_gets_every_option_it_reads():
    """read_options() (what the plugin and the module pass to collect()) is what collect.py reads:
    the READ_OPTIONS of the task and app_since, derived from them and the verdict's window."""
    tree = ast.parse(open(os.path.join(HERE, 'read', 'collect.py')).read())
    read = set(node.slice.value for node in ast.walk(tree)
               if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
               and node.value.id == 'options' and isinstance(node.slice, ast.Constant))
    params = _params()
    assert read == set(read_options(params, policy_of(params))) == set(READ_OPTIONS) | {'app_since'}
    assert set(READ_OPTIONS) <= set(ARGUMENT_SPEC)


def test_the_app_servers_lines_are_searched_as_far_back_as_the_verdict_judges():
    params = _params()
    assert read_options(params, policy_of(params))['app_since'] == '-24h'
    params = _params(thresholds={'oom_window_hours': 1.5})
    assert read_options(params, policy_of(params))['app_since'] == '-2h'
    params = _params(oom_since='2026-11-01')
    assert read_options(params, policy_of(params))['app_since'] == '2026-11-01'


@pytest.mark.parametrize('sizes', [{'c5.large': '4096'}, {'c5.large': 0}, {'c5.large': True}, {'c5.large': None},
                                   {'c5.large': 4.5}])
def test_instance_sizes_that_are_not_mib_are_named(sizes):
    with pytest.raises(ValueError, match=r"instance_sizes: the memory of c5.large must be a positive number of MiB"):
        policy_of(_params(instance_sizes=sizes))


def _run(command):
    cmd, stdin = command
    return subprocess.run(['/bin/sh', '-c', cmd], input=stdin, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize('stdin', [False, True], ids=['in the command line', 'on stdin'])
def test_the_program_reads_this_machine(stdin):
    done = _run(remote.command(READ, sys.executable, stdin=stdin))
    assert done.returncode == 0, done.stderr
    collected = json.loads(done.stdout)['collected']
    with open('/proc/meminfo') as handle:
        total = int(handle.readline().split()[1]) * 1024
    assert collected['memory']['total'] == total
    assert 0 < collected['memory']['available'] <= total
    assert 0 < len(collected['top']['processes']) <= OPTIONS['top_limit']
    assert collected['groups'] and sum(g['count'] for g in collected['groups']) >= len(collected['top']['processes'])
    assert collected['rates']['seconds'] >= OPTIONS['sample_seconds']
    facts = diagnose(collected, _params(), policy_of(_params()))
    assert facts['audit']['verdict'] in ('ok', 'warning', 'critical')
    assert len(facts['groups']) <= OPTIONS['top_limit']


def test_the_program_and_the_module_return_the_same_facts(tmp_path):
    """One code path: what the action plugin builds from the program's answer has the module's shape."""
    module = run_library_module('memory_facts', dict(OPTIONS), tmp_path)
    assert not module.get('failed'), module
    done = _run(remote.command(READ, sys.executable, stdin=True))
    plugin = diagnose(json.loads(done.stdout)['collected'], _params(), policy_of(_params()))
    expected = module['ansible_facts']['headroom']
    assert sorted(plugin) == sorted(expected)
    for key in ('memory', 'top', 'oom', 'audit', 'cgroup'):
        assert sorted(plugin[key] or {}) == sorted(expected[key] or {}), key
    assert plugin['memory']['total'] == expected['memory']['total']
    assert plugin['container'] == expected['container']
    assert plugin['oom']['sources'] == expected['oom']['sources']


@pytest.mark.parametrize('stdin', [False, True])
def test_no_python_on_the_host_is_named(stdin):
    done = _run(remote.command(READ, fallback=('/nonexistent/python3', 'python2.4'), stdin=stdin))
    assert done.returncode == 127
    assert 'no Python interpreter found (tried /nonexistent/python3, python2.4)' in done.stderr


@pytest.mark.parametrize('broken', ['free', 'top'])
def test_output_no_parser_reads_is_a_named_gap_and_the_host_is_still_read(monkeypatch, capsys, broken):
    """One reader's garbage costs its part, not the host: an unreadable free gives way to
    /proc/meminfo, an unreadable top to a diagnosis without processes; each is a named gap."""
    real = collect.run

    def run(argv, env, **bounds):
        if os.path.basename(argv[0]) == broken:
            return 0, 'this is not %s\n' % broken, ''
        return real(argv, env, **bounds)
    monkeypatch.setattr(collect, 'run', run)
    collect.main(dict(READ, top_samples=1, sample_seconds=0))
    answer = json.loads(capsys.readouterr().out)
    assert 'failed' not in answer
    collected = answer['collected']
    gap = [g for g in collected['gaps'] if g.startswith(('free -b: unreadable', 'top: unreadable'))]
    assert len(gap) == 1 and ('this is not %s' % broken) in gap[0]
    with open('/proc/meminfo') as handle:
        total = int(handle.readline().split()[1]) * 1024
    assert collected['memory']['total'] == total
    if broken == 'top':
        assert collected['groups'] == [] and collected['top'] is None
    else:
        assert collected['free'] is None and collected['groups']


def test_when_neither_free_nor_meminfo_reads_the_answer_is_a_failure_document(monkeypatch, capsys):
    real = collect.run
    monkeypatch.setattr(collect, 'run', lambda argv, env, **bounds: (0, 'not free\n', '') if argv[0].endswith('free')
                        else real(argv, env, **bounds))
    monkeypatch.setattr(collect.Collector, 'read', lambda self, path: 'garbage\n' if path == '/proc/meminfo'
                        else open(path).read())
    collect.main(dict(READ, top_samples=1, sample_seconds=0))
    answer = json.loads(capsys.readouterr().out)
    assert answer['failed'] is True
    assert answer['msg'].startswith("cannot read this host's memory figures: ")
    assert 'free -b: unreadable' in answer['msg'] and '/proc/meminfo: unreadable' in answer['msg']


def test_neither_free_nor_meminfo_says_what_was_tried():
    collector = collect.Collector(run=None, which=lambda name: None)
    with pytest.raises(collect.CollectError, match='free: not installed'):
        collector.memory(None)


def test_a_command_that_cannot_start_is_a_gap():
    def run(argv, env):
        raise OSError(13, 'Permission denied')
    collector = collect.Collector(run, which=lambda name: '/usr/bin/' + name)
    assert collector.command('free -b', ['free', '-b']) is None
    assert collector.gaps == ['free -b: Permission denied']


def test_bad_options_are_named_before_any_host_is_read():
    with pytest.raises(ValueError, match="unknown threshold 'avail'"):
        policy_of(_params(thresholds={'avail': 5}))
    with pytest.raises(ValueError, match='top_samples must be 1 or more, got 0'):
        policy_of(_params(top_samples=0))


def test_the_diagnosis_leaves_its_own_processes_out_of_the_table():
    """Run for real as a host runs it (sh -c, then Python, which runs top): neither the Python, its sh
    nor the top it started is a process of the host's; a process of the host's stays."""
    program = '\n'.join([
        'import json, os, subprocess, sys',
        'sys.path.insert(0, %r)' % COLLECTIONS,
        'from ansible_collections.headroom.memory.plugins.module_utils.read import collect',
        'started = []',
        'def run(argv, env, seconds=None):',
        '    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, **env))',
        '    started.append(proc.pid)',
        '    out, err = proc.communicate()',
        '    return proc.returncode, out.decode(), err.decode()',
        'rows = collect.collect(%r, run, collect.which)["top"]["processes"]'
        % dict(READ, top_limit=100000, sample_seconds=0, top_samples=1),
        'print(json.dumps({"me": os.getpid(), "sh": os.getppid(), "own": sorted(collect.probe_pids()),'
        ' "started": started, "rows": rows}))'])
    sleeper = subprocess.Popen(['sleep', '30'])
    try:
        done = subprocess.run(['/bin/sh', '-c', '%s -c %s; true' % (sys.executable, shlex.quote(program))],
                              capture_output=True, text=True, timeout=60)
        answer = json.loads(done.stdout)
    finally:
        sleeper.kill()
    assert answer['me'] in answer['own'] and answer['sh'] in answer['own']
    pids = [row['pid'] for row in answer['rows']]
    assert answer['me'] not in pids and answer['sh'] not in pids
    assert answer['started'] and not set(answer['started']) & set(pids)  # top, free, journalctl
    assert sleeper.pid in pids


def test_a_journal_that_found_nothing_is_not_listed_as_a_failure(tmp_path):
    """journalctl --grep exits 1 on no match, and so does the probe for a kernel line in the journal (a container
    whose journal holds none), journalctl -k 0 with nothing: answers, not failures; dmesg refused is one (as in a
    container without CAP_SYSLOG)."""
    answers = {'journalctl': [(1, '', ''), (1, '', ''), (0, '', '')],
               'dmesg': [(1, '', 'dmesg: read kernel buffer failed: Operation not permitted')] * 2}

    def run(argv, env):
        return answers[os.path.basename(argv[0])].pop(0)
    collector = collect.Collector(run, which=lambda name: '/usr/bin/' + name)
    history = collector.oom_history()
    assert history['sources'] == [] or history['sources'] == ['/var/log/kern.log']
    gap = [g for g in collector.gaps if g.startswith('OOM history')]
    if history['sources']:
        assert gap == []
    else:
        assert gap == ['OOM history: no kernel log could be read (dmesg: dmesg: read kernel buffer failed: '
                       'Operation not permitted; dmesg: dmesg: read kernel buffer failed: Operation not '
                       'permitted); journalctl answered with no kernel line']
        assert 'rc=1' not in gap[0] and 'rc=0' not in gap[0]


@pytest.mark.parametrize('option, value', [('sample_seconds', float('inf')), ('sample_seconds', float('nan')),
                                           ('sample_seconds', -1.0), ('top_samples', 10 ** 9), ('top_limit', 0),
                                           ('pss_limit', -5), ('oom_events_limit', 10 ** 12),
                                           ('watch_seconds', float('inf')), ('watch_seconds', -1.0),
                                           ('watch_seconds', 86400.0), ('watch_interval', 0.0),
                                           ('watch_interval', float('nan'))])
def test_reading_options_out_of_bounds_are_named_before_any_host_is_read(option, value):
    with pytest.raises(ValueError, match='%s must be from' % option):
        policy_of(_params(**{option: value}))


# ---------------------------------------------------------------- each command within its bounds

@pytest.fixture
def small_bounds(monkeypatch):
    """Bounds small enough to reach in a test: 64 KiB of output, 2 s."""
    monkeypatch.setattr(collect, 'BOUNDS', {'yes': (2.0, 64 << 10, 'head'), 'seq': (20.0, 64 << 10, 'tail')})
    monkeypatch.setattr(collect, 'DEFAULT_BOUND', (2.0, 64 << 10, 'head'))


def test_endless_output_is_cut_at_its_bound_and_the_command_stopped(small_bounds):
    rc, out, err, cut = collect.run(['yes', 'headroom'], {})
    assert rc == 0 and cut == 'output over 64.0 KiB: only its first 64.0 KiB read'
    assert len(out) <= 64 << 10 and out.endswith('headroom\n') and set(out.splitlines()) == {'headroom'}


def test_a_log_over_its_bound_keeps_its_newest_whole_lines(small_bounds):
    rc, out, err, cut = collect.run(['seq', '1', '1000000'], {})
    lines = out.splitlines()
    assert rc == 0 and cut == 'output over 64.0 KiB: only its last 64.0 KiB read'
    assert lines[-1] == '1000000' and len(out) <= 64 << 10
    assert [int(n) for n in lines] == list(range(int(lines[0]), 1000001))  # whole lines, none cut in two


def test_a_command_that_does_not_answer_is_stopped_and_named(small_bounds):
    with pytest.raises(OSError, match=r'sleep: no answer within 2 s, stopped'):
        collect.run(['sleep', '600'], {})


def test_a_command_that_closes_its_output_and_runs_on_is_stopped(small_bounds):
    with pytest.raises(OSError, match=r'sh: did not end within 2 s, stopped'):
        collect.run(['sh', '-c', 'exec >&- 2>&-; sleep 600'], {})


def test_what_a_command_started_is_stopped_with_it(small_bounds, tmp_path):
    """A child that leaves a process holding its output (a pager, a daemon) costs no more than its bound:
    the whole session is killed, nothing is left running."""
    marker = 'headroom-bound-%d' % os.getpid()
    with pytest.raises(OSError, match='no answer within'):
        collect.run(['bash', '-c', '(exec -a %s sleep 600) & echo started' % marker], {})
    # SIGKILL is delivered, not awaited: a killed process may show for a moment; one left running stays
    deadline = time.monotonic() + 30
    while True:
        left = subprocess.run(['pgrep', '-f', marker], capture_output=True, text=True).stdout
        if left == '' or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == '', 'left running: %s' % left


def test_a_command_cannot_allocate_past_the_data_bound():
    """Each command runs under RLIMIT_DATA (DATA_BYTES): an allocation past it fails in the command,
    the host does not pay for it."""
    rc, out, err, cut = collect.run([sys.executable, '-c', 'x = bytearray(%d); print("allocated")'
                                     % (collect.DATA_BYTES + (64 << 20))], {})
    assert rc != 0 and 'allocated' not in out and 'MemoryError' in err


def test_commands_after_the_readings_deadline_are_gaps_not_waits(monkeypatch):
    monkeypatch.setitem(collect._deadline, 'at', collect.time.monotonic() + 0.5)
    collector = collect.Collector(collect.run, collect.which)
    assert collector.command('free -b', ['free', '-b']) is None
    assert collector.gaps == ["free -b: free: not run, the reading's time (120 s) is up"]


def test_the_program_that_runs_out_of_memory_answers_with_a_failure(tmp_path):
    """For real, in a process of its own: the reading's RLIMIT_DATA stops a reading that would grow (here one
    made to), and the answer is a failure document naming the bound, not a crash or a host out of memory."""
    program = '\n'.join([
        'import sys',
        'sys.path.insert(0, %r)' % COLLECTIONS,
        'from ansible_collections.headroom.memory.plugins.module_utils.read import collect',
        'collect.DATA_BYTES = 96 << 20',
        'def grow(*args):',
        '    held = []',
        '    while True:',
        '        held.append(bytearray(1 << 20))',
        'collect.collect = grow',
        'collect.main(%r, bounded=True)' % dict(READ, sample_seconds=0, top_samples=1)])
    done = subprocess.run([sys.executable, '-c', program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer == {'failed': True, 'msg': 'the reading stopped at its memory bound (96 MiB of data, RLIMIT_DATA) '
                                             'rather than take more from this host'}


def test_a_cut_output_is_a_gap_and_the_kernel_log_says_it_is_incomplete(monkeypatch):
    def run(argv, env, **bounds):
        if argv[0].endswith('journalctl') and '--grep' in argv:
            return 0, json.dumps({'_TRANSPORT': 'kernel', 'SYSLOG_FACILITY': '0', 'SYSLOG_IDENTIFIER': 'kernel',
                                  '__REALTIME_TIMESTAMP': '1796637600000000',
                                  'MESSAGE': 'Out of memory: Killed process 42 (python3) total-vm:1kB, anon-rss:1kB, '
                                             'file-rss:0kB, shmem-rss:0kB'}) + '\n', '', \
                'output over 8.0 MiB: only its last 8.0 MiB read'
        return 1, '', 'no'
    collector = collect.Collector(run, which=lambda name: '/usr/bin/' + name)
    history = collector.oom_history()
    assert [e['pid'] for e in history['events']] == [42]
    note = 'journalctl --no-pager -q: output over 8.0 MiB: only its last 8.0 MiB read'
    assert collector.gaps == [note] and collector.cuts == [note] and history['incomplete'] == [note]


TOP_HEAD = '''top - 10:00:00 up 1 day,  2:03,  1 user,  load average: 0.00, 0.00, 0.00
Tasks: 40000 total,   1 running, 39999 sleeping,   0 stopped,   0 zombie
%Cpu(s):  0.0 us,  0.0 sy,  0.0 ni,100.0 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st
MiB Mem :  24105.6 total,  20000.0 free,   2000.0 used,   2105.6 buff/cache
MiB Swap:      0.0 total,      0.0 free,      0.0 used.  22000.0 avail Mem

    PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND
'''


def test_a_host_running_thousands_of_commands_sends_a_small_answer(monkeypatch):
    """40,000 processes of 20,000 commands and 3,000 users: the answer names the biggest commands
    (GROUPS_SHIPPED), ten users a command, and says how many it left out; it stays under 100 KiB."""
    rows = ''.join('%7d user%-5d 20   0  123456  %5d   1234 S   0.0   0.1   0:00.01 cmd%d\n'
                   % (pid, pid % 3000, 40001 - pid, pid % 20000) for pid in range(1, 40001))
    real = collect.run

    def run(argv, env, **bounds):
        if os.path.basename(argv[0]) == 'top':
            return (0, '  procps-ng 4.0.2\n', '') if argv[1:] == ['-V'] else (0, TOP_HEAD + rows, '')
        return real(argv, env, **bounds)
    monkeypatch.setattr(collect, 'run', run)
    collected = collect.collect(dict(READ, top_samples=1, sample_seconds=0, oom_history=False), run, collect.which)
    answer = json.dumps(collected)
    assert len(collected['groups']) == collect.GROUPS_SHIPPED
    assert collected['groups'][0]['command'] == 'cmd1' and collected['groups'][0]['count'] == 2
    assert '19800 commands beyond the biggest 200 not sent' in collected['gaps']
    assert all(len(group['users']) <= 10 and len(group['pids']) <= 10 for group in collected['groups'])
    assert len(answer) < 100 << 10, len(answer)


def test_gaps_beyond_their_bound_are_counted():
    assert collect.bounded_gaps(['g%d' % n for n in range(60)]) == ['g%d' % n for n in range(50)] + ['and 10 more gaps']
    assert collect.bounded_gaps(['a']) == ['a']


def test_on_a_whole_host_the_cgroup_is_the_machine_s_not_the_reading_s_session(monkeypatch):
    """Outside a container the reading runs in an SSH session's scope (/user.slice/.../session-1.scope):
    its cgroup is asked for the machine's figures, given the processes that hold memory (top's rows,
    the diagnosis's own left out), not for the session's own (kernel.read_cgroup_memory)."""
    asked = []

    def read_cgroup_memory(root, proc_self_cgroup, container, workload=None):
        asked.append((container, workload))
        return None
    monkeypatch.setattr(collect, 'in_container', lambda: False)
    monkeypatch.setattr(collect, 'read_cgroup_memory', read_cgroup_memory)
    collected = collect.collect(dict(READ, top_samples=1, sample_seconds=0, oom_history=False), collect.run, collect.which)
    (container, workload), = asked
    assert container is False and workload, asked
    rows = collected['top']['processes']
    assert workload[:len(rows)] == [row['pid'] for row in rows if row.get('res')]
    assert os.getpid() not in workload
