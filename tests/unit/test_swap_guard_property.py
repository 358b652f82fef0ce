"""Random hosts for the swapoff guard (issue 20, class 6): trees of memory cgroups, v1 and v2, with and
without the kernel's swap count per cgroup, limits on parents and children, memory.high, page cache,
pages in swap on the area being switched off and on another, tmpfs pages that no process counts, and
processes whose VmSwap says what they have there. The kernel's side is simulated: after a swapoff
every page on the area comes back to its cgroup and to every cgroup above it.

- The guard never passes a swapoff after which a limited cgroup would hold more than its limit (page
  cache dropped first): the soundness the OOM killer asks for.
- It refuses only where its stated conservative bound is crossed (every page of the cgroup in swap may
  be on this area, up to what the area holds), and names every cgroup it refuses for (up to five).
- Hostile numbers in the files read are its own ParseError, never a traceback or a guess.
"""
import os
import shutil
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.headroom.memory.plugins.module_utils.fix import swap
from ansible_collections.headroom.memory.plugins.module_utils.parse_error import ParseError
from ansible_collections.headroom.memory.plugins.module_utils.read import swapped
from hostile import NUMBERS, sane
from swap_trees import build

PAGE_KIB = 4
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PARENTS = ['/system.slice', '/docker', '/kubepods/burstable']
CHILDREN = ['a', 'b.service', 'c']


def kib(draw, most):
    return draw(st.integers(0, most // PAGE_KIB)) * PAGE_KIB


@st.composite
def hosts(draw):
    version = draw(st.sampled_from([1, 2]))
    accounting = version == 2 or draw(st.booleans())
    leaves = {}
    for parent in draw(st.lists(st.sampled_from(PARENTS), min_size=1, max_size=3, unique=True)):
        for child in draw(st.lists(st.sampled_from(CHILDREN), min_size=1, max_size=2, unique=True)):
            anon = kib(draw, 300 << 10)
            cache = kib(draw, 100 << 10)
            # pages in swap: on the area switched off (a) or on another (b); tmpfs pages no process counts,
            # seen only where the kernel counts swap per cgroup
            leaf = leaves[parent + '/' + child] = {
                'anon': anon, 'cache': cache,
                'swap_a': kib(draw, 200 << 10), 'swap_b': kib(draw, 100 << 10),
                'tmpfs_a': kib(draw, 50 << 10) if accounting else 0,
            }
            # anonymous pages in swap live as long as a process holds them: where the kernel keeps no
            # count, that process's VmSwap is the only sight of them
            leaf['pids'] = draw(st.integers(0 if accounting or not leaf['swap_a'] + leaf['swap_b'] else 1, 2))
    cgroups = {path: {'own': (leaf['anon'] + leaf['cache']) << 10, 'cache': leaf['cache'] << 10,
                      'swap': (leaf['swap_a'] + leaf['swap_b'] + leaf['tmpfs_a']) << 10}
               for path, leaf in leaves.items()}
    usage = {}
    for path in list(cgroups) + [os.path.dirname(p) for p in cgroups]:
        usage[path] = sum(c['own'] for p, c in cgroups.items() if (p + '/').startswith(path + '/'))
    # limits as the kernel keeps them: memory.max (v1 limit_in_bytes) never below the use; memory.high may be
    for path in sorted(usage):
        cgroup = cgroups.setdefault(path, {})
        if draw(st.booleans()):
            cgroup['limit'] = usage[path] + kib(draw, 400 << 10) * 1024
        if version == 2 and draw(st.integers(0, 4)) == 0:
            cgroup['high'] = max(usage[path] + (kib(draw, 200 << 10) - (100 << 10)) * 1024, 4096)
    processes = []
    pid = 100
    for path, leaf in sorted(leaves.items()):
        anon_swap = leaf['swap_a'] + leaf['swap_b']
        for index in range(leaf['pids']):
            share = anon_swap if index == leaf['pids'] - 1 else kib(draw, anon_swap)
            anon_swap -= share
            processes.append((pid, 'w%d' % pid, path, share))
            pid += 1
    return {'version': version, 'accounting': accounting, 'cgroups': cgroups, 'leaves': leaves,
            'processes': processes, 'used': sum((leaf['swap_a'] + leaf['tmpfs_a']) << 10 for leaf in leaves.values())}


def write(host):
    root = tempfile.mkdtemp(prefix='headroom-guard-')
    totals = build(root, host['version'], {p: c for p, c in host['cgroups'].items() if p != '/'},
                   host['processes'], accounting=host['accounting'])
    return root, totals


def after_swapoff_over(host, totals):
    """The limited cgroups that would be over their limit (page cache dropped) once every page on the
    area is back: the kernel's view, with what each leaf really has on this area."""
    over = []
    for path, cgroup in host['cgroups'].items():
        limits = [v for v in (cgroup.get('limit'), cgroup.get('high')) if v is not None]
        if not limits or path == '/':
            continue
        back = sum((leaf['swap_a'] + leaf['tmpfs_a']) << 10 for p, leaf in host['leaves'].items()
                   if (p + '/').startswith(path + '/'))
        if back and totals[path]['usage'] - totals[path]['cache'] + back > min(limits):
            over.append(path)
    return over


def judged_limits(host, path):
    """The limits the guard holds ``path`` to with its own figures: memory.high (v2) always, and its
    memory.max (v1 limit_in_bytes) unless a smaller one above binds it; that cgroup is judged itself."""
    cgroup = host['cgroups'][path]
    limits = [cgroup['high']] if cgroup.get('high') is not None else []
    own = cgroup.get('limit')
    above = [host['cgroups'].get(p, {}).get('limit') for p in host['cgroups']
             if p != path and (path + '/').startswith(p.rstrip('/') + '/')]
    if own is not None and all(a is None or a >= own for a in above):
        limits.append(own)
    return limits


def conservative_over(host, totals):
    """Where the guard's stated bound is crossed: all of a cgroup's swap (what it can see of it) on this
    area, up to what the area holds."""
    over = []
    for path in host['cgroups']:
        limits = judged_limits(host, path)
        if not limits or path == '/':
            continue
        if host['accounting']:
            swapped_here = totals[path]['swap']
        else:
            swapped_here = sum(share << 10 for _pid, _name, p, share in host['processes']
                               if (p + '/').startswith(path + '/'))
        back = min(swapped_here, host['used'])
        if back and totals[path]['usage'] - totals[path]['cache'] + back > min(limits):
            over.append(path)
    return over


@SETTINGS
@given(hosts())
def test_the_guard_never_passes_a_swapoff_that_overfills_a_cgroup(host):
    root, totals = write(host)
    try:
        reading = swapped.read_swapped(root)
    finally:
        shutil.rmtree(root)
    reasons = swap.cgroup_swapoff_reasons(reading, host['used'])
    hurt = after_swapoff_over(host, totals)
    if hurt:
        assert reasons, 'passed a swapoff that puts %s over its limit' % hurt
    conservative = conservative_over(host, totals)
    assert bool(reasons) == bool(conservative)
    named = [reason.split()[2] for reason in reasons if reason.startswith('memory cgroup ')]
    assert sorted(named) == sorted(conservative)[:5] or len(conservative) > 5 and len(named) == 5
    # each cgroup the swapoff would overfill is named, or one above it that binds it
    for path in hurt:
        assert any((path + '/').startswith(p + '/') for p in conservative), (path, conservative)


@SETTINGS
@given(hosts(), st.data())
def test_hostile_numbers_in_what_the_guard_reads_are_its_own_error(host, data):
    root, _totals = write(host)
    try:
        files = []
        for top, _dirs, names in os.walk(root):
            files += [os.path.join(top, name) for name in names
                      if name in ('status', 'memory.usage_in_bytes', 'memory.memsw.usage_in_bytes', 'memory.current',
                                  'memory.swap.current', 'memory.max', 'memory.limit_in_bytes', 'memory.high')]
        victim = data.draw(st.sampled_from(sorted(files)))
        text = open(victim).read()
        number = data.draw(NUMBERS)
        if victim.endswith('status'):
            text = text.replace(text.split('VmSwap:')[1].split()[0], number, 1) if 'VmSwap:' in text else text
        else:
            text = number + '\n'
        with open(victim, 'w') as handle:
            handle.write(text)
        try:
            reading = swapped.read_swapped(root)
        except ParseError as err:
            assert str(err)
            return
        for group in reading['cgroups']:
            for key in ('limit', 'usage', 'swapped', 'vmswap'):
                assert sane(group[key]), (key, group[key])
        swap.cgroup_swapoff_reasons(reading, host['used'])
    finally:
        shutil.rmtree(root)
