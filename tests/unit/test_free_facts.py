"""free_facts on the input that made it exhaust a host's memory (issue 20): two blocks of
`free -b -s 1 -c 2`. The result must be plain acyclic data of a bounded size, through the module's
real main() in this process and through Ansible's own result handling in a process of its own
(with a memory limit, so a regression fails the test instead of eating the machine)."""
import json
import os
import resource
import subprocess
import sys

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.read.free import MAX_SAMPLES, MAX_TEXT
from library_module import RUNNER
from module_glue import ROOT, Runner, run_glue

pytest.importorskip('ansible.module_utils.testing')

FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'free')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def containers(value, path='result', seen=None):
    """Every dict and list in ``value`` once; AssertionError naming the path of a cycle or of a
    container reached twice (a shared one is a cycle waiting for the next edit)."""
    seen = {} if seen is None else seen
    if isinstance(value, (dict, list)):
        assert id(value) not in seen, '%s is the same object as %s' % (path, seen[id(value)])
        seen[id(value)] = path
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            containers(item, '%s[%r]' % (path, key), seen)
    else:
        assert value is None or isinstance(value, (str, int, bool)), (path, value)
    return seen


def test_two_blocks_of_free_b_s1_c2_return_small_acyclic_facts():
    """Real output of `free -b -s 1 -c 2` (procps-ng 4.0.2, Debian 12) through main()."""
    text = fixture('bookworm-b-s1-c2.out')
    result = run_glue('free_facts', {'output': text, 'flags': '-b -s 1 -c 2'}, Runner({}))
    assert result.get('failed') is not True, result
    free = result['ansible_facts']['free']
    containers(result)
    assert free['blocks'] == 2 and len(free['samples']) == 2
    assert free['mem'] == free['samples'][-1]['mem'] and free['mem'] is not free['samples'][-1]['mem']
    # what Ansible does with it: strip no_log values (a walk that never ends on a cycle), then JSON
    from ansible.module_utils.common.parameters import remove_values
    assert len(json.dumps(remove_values(result, set()))) < 4096


def test_many_blocks_keep_the_newest_and_say_how_many():
    block = fixture('bookworm-b.out')
    text = '\n'.join([block] * 40)
    result = run_glue('free_facts', {'output': text, 'flags': '-bs1'}, Runner({}))
    free = result['ansible_facts']['free']
    containers(result)
    assert free['blocks'] == 40 and len(free['samples']) == MAX_SAMPLES
    assert len(json.dumps(result)) < 3 * 1024 * MAX_SAMPLES


def test_output_above_the_bound_fails_before_it_is_read():
    text = fixture('bookworm-b.out') * (MAX_TEXT // 200)
    assert len(text) > MAX_TEXT
    result = run_glue('free_facts', {'output': text, 'flags': '-bs1'}, Runner({}))
    assert result['failed'] is True and 'free_facts reads at most 1048576' in result['msg']


def _limited():
    """Child side: 1 GiB of address space and 60 s of CPU, whatever the module does."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))


def run_module(tmp_path, args):
    path = tmp_path / 'args.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    return subprocess.run([sys.executable, '-c', RUNNER, ROOT, os.path.join(ROOT, 'library', 'free_facts.py'),
                           str(path)], capture_output=True, text=True, timeout=300, preexec_fn=_limited)


def test_the_real_module_returns_through_ansibles_result_handling(tmp_path):
    """As Ansible runs it: its own process, exit_json's no_log walk and JSON encoder. Before the fix
    this process grew until the limit stopped it (MemoryError), and on a host until the OOM killer did."""
    done = run_module(tmp_path, {'output': fixture('bookworm-b-s1-c2.out'), 'flags': '-b -s 1 -c 2'})
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout) < 8192
    result = json.loads(done.stdout)
    assert result['ansible_facts']['free']['blocks'] == 2


@pytest.mark.parametrize('tail', ['', 'Mem: garbage\n'])
def test_the_largest_input_gives_a_small_result_read_or_refused(tmp_path, tail):
    """1 MiB of blocks (about 2500): the newest 10 are kept, and the pasted text is not echoed back
    whole in the result's invocation, whether it was read or refused."""
    block = fixture('bookworm-over-b-w-t-l-v.out') + '\n'
    output = block * ((MAX_TEXT - len(tail)) // len(block)) + tail
    done = run_module(tmp_path, {'output': output, 'flags': '-bwtlv -s1'})
    result = json.loads(done.stdout)
    assert len(done.stdout) < 16384, len(done.stdout)
    assert result['invocation']['module_args']['output'].endswith('... (%d characters)' % len(output))
    if tail:
        assert result['failed'] is True and 'cannot read free output' in result['msg']
    else:
        assert result['ansible_facts']['free']['blocks'] == len(output) // len(block)
