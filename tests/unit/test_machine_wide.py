"""The decisions that keep a setting nobody asked for from blocking a fix somebody did ask for: inside a
container (one that does not stand for the machine) the vm.* sysctls and the page cache are the whole
machine's. swap_setup's recommended sysctls (its defaults, auto) are left alone there and said so; the
values asked for are refused unless machine_sysctl; the page cache drop is left alone unless machine_wide."""
import pytest

from ansible_collections.headroom.memory.plugins.module_utils.fix import swapfile
from ansible_collections.headroom.memory.plugins.module_utils.fix.pagecache import decide, on_a_shared_kernel
from module_glue import load


@pytest.mark.parametrize('container, machine_sysctl, optional, kept, left, refused', [
    # a VM, bare metal, a container standing for the machine: everything is the host's own
    (False, False, ['vm.swappiness'], ['vm.swappiness', 'vm.vfs_cache_pressure'], [], []),
    # a container at the role's defaults: both left alone, nothing refused
    (True, False, ['vm.swappiness', 'vm.vfs_cache_pressure'], [], ['vm.swappiness', 'vm.vfs_cache_pressure'], []),
    # a container where the user asked for a swappiness: that one refused, the recommendation left alone
    (True, False, ['vm.vfs_cache_pressure'], [], ['vm.vfs_cache_pressure'], ['vm.swappiness']),
    # machine_sysctl: the whole machine is meant
    (True, True, ['vm.swappiness'], ['vm.swappiness', 'vm.vfs_cache_pressure'], [], []),
])
def test_a_recommended_sysctl_is_left_alone_where_it_is_the_machines_an_asked_one_refused(
        container, machine_sysctl, optional, kept, left, refused):
    values = {'vm.swappiness': '10', 'vm.vfs_cache_pressure': '100'}
    got, notes, refusals = swapfile.sysctl_scope(values, set(optional), container, machine_sysctl)
    assert sorted(got) == sorted(kept + refused)
    assert refusals == refused
    assert [note.split(' ', 1)[0] for note in notes] == left
    assert all("is the machine's, not this container's: set machine_sysctl=true" in note for note in notes)


def test_a_key_that_is_not_vm_stays_where_it_is_asked():
    got, notes, refusals = swapfile.sysctl_scope({'kernel.panic': '10'}, set(), True, False)
    assert got == {'kernel.panic': '10'} and notes == [] and refusals == []


def _task(**params):
    base = dict((name, spec.get('default')) for name, spec in load('swapfile').ARGUMENT_SPEC.items())
    base.update(params)
    return swapfile.Task(base, check_mode=True, diff=False, run_command=None, warn=lambda msg: None,
                         atomic_move=None)


def test_sysctl_plan_in_a_container_at_the_defaults_leaves_both_alone_and_refuses_nothing():
    task = _task(sysctl={'vm.swappiness': 10, 'vm.vfs_cache_pressure': 100},
                 sysctl_optional=['vm.swappiness', 'vm.vfs_cache_pressure'])
    values, target = swapfile.sysctl_plan(task, 'present', container=True)
    assert values == {} and target == '/etc/sysctl.d/60-headroom-swap.conf'
    assert [note.split(' ', 1)[0] for note in task.left_alone] == ['vm.swappiness', 'vm.vfs_cache_pressure']


def test_sysctl_plan_in_a_container_refuses_the_swappiness_asked_for():
    task = _task(sysctl={'vm.swappiness': 30, 'vm.vfs_cache_pressure': 100}, sysctl_optional=['vm.vfs_cache_pressure'])
    with pytest.raises(swapfile.Refused, match=r"^vm.swappiness: in a container these are the whole machine's"):
        swapfile.sysctl_plan(task, 'present', container=True)


def test_the_page_cache_of_a_shared_kernel_is_left_alone_unless_meant():
    drop, reason = decide(4.0, 10)
    assert on_a_shared_kernel(drop, reason, False, False) == (True, reason, [])
    assert on_a_shared_kernel(drop, reason, True, True) == (True, reason, [])
    kept, why, left = on_a_shared_kernel(drop, reason, True, False)
    assert kept is False and left == [
        "vm.drop_caches drops the machine's page cache, not this container's: set machine_wide=true to drop it for "
        "every container on the machine"]
    assert why.startswith('MemAvailable is 4.0% of RAM, below the 10.0% threshold: memory is short; vm.drop_caches')
    # memory not short: nothing to leave alone
    drop, reason = decide(40.0, 10)
    assert on_a_shared_kernel(drop, reason, True, False) == (False, reason, [])
