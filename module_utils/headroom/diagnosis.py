"""memory_facts without the I/O: its options, and from what collect.py read to the facts and verdict.

Used by the memory_facts module (on the host) and its action plugin (on the controller, where the
host sent what collect.py read): both return the same facts.
"""

from .audit import audit, classify, merge_policy

ARGUMENT_SPEC = dict(
    thresholds=dict(type='dict', default={}),
    allow=dict(type='list', elements='str', default=[]),
    deny=dict(type='list', elements='str', default=[]),
    top_limit=dict(type='int', default=20),
    pss_limit=dict(type='int', default=200),
    sample_seconds=dict(type='float', default=1.0),
    top_samples=dict(type='int', default=1),
    instance_type=dict(type='str'),
    oom_history=dict(type='bool', default=True),
    oom_since=dict(type='str'),
    oom_events_limit=dict(type='int', default=20),
)
# The options the reading on the host uses (collect.collect); the others are the verdict's.
READ_OPTIONS = ('top_limit', 'pss_limit', 'top_samples', 'sample_seconds', 'oom_history', 'oom_since',
                'oom_events_limit')


def policy_of(params):
    """The thresholds and process lists merged with the defaults; ValueError names a bad option."""
    try:
        policy = merge_policy(dict(params['thresholds'], allow=params['allow'], deny=params['deny']))
    except ValueError as err:
        raise ValueError('thresholds: %s' % err)
    if params['top_samples'] < 1:
        raise ValueError('top_samples must be 1 or more, got %d' % params['top_samples'])
    return policy


def diagnose(collected, params, policy):
    """The facts memory_facts returns under ansible_facts.headroom, from collect()'s result."""
    gaps = list(collected['gaps'])
    cgroup, vmstat, container = collected['cgroup'], collected['vmstat'], collected['container']
    events = collected['oom_events']
    if container:
        # /proc/vmstat and the kernel log are the whole machine's: count the cgroup's own kills
        cg_events = (cgroup or {}).get('events') or {}
        oom_kills = cg_events.get('oom_kill') or 0
        if cg_events.get('oom_kill') is None:
            gaps.append('OOM kills: in a container the kernel counter is the machine\'s and the '
                        'cgroup has no oom_kill count; kills not counted')
        victims = []
    else:
        oom_kills = vmstat['oom_kill'] if vmstat and vmstat.get('oom_kill') is not None \
            else collected['oom_events_count']
        victims = collected['oom_victims']
    groups = classify(collected['groups'], policy)
    limit = params['top_limit']
    facts = dict((key, collected[key]) for key in ('memory', 'free', 'top', 'meminfo', 'vmstat', 'rates',
                                                   'pressure', 'cgroup', 'overcommit_memory', 'container',
                                                   'growth'))
    facts.update({
        'oom': {'kills': oom_kills, 'sources': collected['oom_sources'], 'machine_wide': container,
                'events': events},
        'groups': groups[:limit],
        'gaps': gaps,
    })
    facts['audit'] = audit({'memory': facts['memory'], 'meminfo': facts['meminfo'], 'cgroup': cgroup,
                            'rates': facts['rates'], 'pressure': facts['pressure'], 'oom_kills': oom_kills,
                            'oom_victims': victims, 'overcommit_memory': facts['overcommit_memory'],
                            'groups': groups, 'instance_type': params['instance_type'],
                            'growth': facts['growth']}, policy)
    return facts
