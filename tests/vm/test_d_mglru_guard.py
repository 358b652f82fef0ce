"""MGLRU on the machine our users run: Debian 12's kernel has it built in and off (enabled 0x0000). The
diagnosis says so, and oom_guard turns it on when asked (mglru_enable), live and in its tmpfiles.d file, and
puts it back as it was with state=absent."""
import json
import os
import subprocess

from conftest import ROOT, VENV_BIN

LRU = '/sys/kernel/mm/lru_gen'
TMPFILES = '/etc/tmpfiles.d/50-headroom-mglru.conf'


def oom_guard(vm, args):
    """The oom_guard module run on the VM over SSH, as the role runs it; its result."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible'), '-i', vm.inventory, 'vm', '-m', 'headroom.memory.oom_guard',
                           '-a', args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout[proc.stdout.index('{'):])['plays'][0]['tasks'][0]['hosts']['vm']


def state(vm):
    return vm.ssh('cat %s/enabled %s/min_ttl_ms' % (LRU, LRU)).stdout.split()


def test_mglru_is_off_as_the_kernel_boots_and_the_diagnosis_says_so(diagnose, vm):
    assert state(vm) == ['0x0000', '0']
    record, _report = diagnose('mglru')
    assert record['guard']['mglru'] == {'enabled': '0x0000', 'min_ttl_ms': 0}


def test_oom_guard_turns_mglru_on_when_asked_and_absent_puts_it_back(vm):
    said = oom_guard(vm, 'backend=kernel min_ttl_ms=1000')  # not asked: min_ttl_ms alone does nothing yet
    assert said['changed'] is True and state(vm) == ['0x0000', '1000']
    assert [line for line in said['left_alone'] if line.startswith('min_ttl_ms: written, but MGLRU is off on this kernel '
                                                                   '(/sys/kernel/mm/lru_gen/enabled is 0x0000)')]
    done = oom_guard(vm, 'backend=kernel min_ttl_ms=1000 mglru_enable=true')
    assert done['changed'] is True and done['host']['mglru_enabled'] == '0x0000'
    assert state(vm) == ['0x0007', '1000']
    text = vm.ssh('cat %s' % TMPFILES).stdout
    assert '# previous enabled: 0x0000\nw %s/enabled - - - - y\n' % LRU in text
    assert text.index('%s/enabled' % LRU) < text.index('%s/min_ttl_ms' % LRU)
    again = oom_guard(vm, 'backend=kernel min_ttl_ms=1000 mglru_enable=true')
    assert again['changed'] is False and not again['left_alone']
    gone = oom_guard(vm, 'state=absent')
    assert gone['changed'] is True and state(vm) == ['0x0000', '0']
    assert vm.ssh('test -e %s' % TMPFILES, check=False).returncode == 1
