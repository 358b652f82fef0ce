"""Next EC2 size in the same family."""
from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit
from ansible_collections.headroom.memory.plugins.module_utils.judge.ec2 import family_sizes, next_size

GIB = 1 << 30


def test_family_tables():
    assert dict(family_sizes('t3.micro'))['t3.micro'] == 1 * GIB
    assert dict(family_sizes('t3.2xlarge'))['t3.2xlarge'] == 32 * GIB
    assert dict(family_sizes('m5.large'))['m5.large'] == 8 * GIB
    assert dict(family_sizes('m5.24xlarge'))['m5.24xlarge'] == 384 * GIB
    assert 'm5.48xlarge' not in dict(family_sizes('m5.large'))
    assert dict(family_sizes('m7i.48xlarge'))['m7i.48xlarge'] == 768 * GIB
    assert dict(family_sizes('c6i.large'))['c6i.large'] == 4 * GIB
    assert dict(family_sizes('r6g.xlarge'))['r6g.xlarge'] == 32 * GIB
    assert family_sizes('x2iedn.xlarge') is None
    assert family_sizes('not a type') is None


def test_next_size_leaves_room_for_the_kernel():
    # a t3.large shows ~7.6 GiB MemTotal; needing 7.9 GiB does not fit in 8 GiB nominal
    assert next_size('t3.large', int(7.9 * GIB))['type'] == 't3.xlarge'
    assert next_size('t3.large', 3 * GIB) is None  # already big enough: no smaller "next" size
    assert next_size('t3.2xlarge', 40 * GIB) is None  # the family ends at 32 GiB
    assert next_size('m5.large', 20 * GIB) == {'type': 'm5.2xlarge', 'memory': 32 * GIB,
                                               'current_memory': 8 * GIB}


def test_scale_recommendation_names_the_next_size():
    memory = {'total': int(7.6 * GIB), 'available': 200 << 20, 'swap_total': GIB, 'swap_used': 0, 'shared': 0}
    result = audit({'memory': memory, 'instance_type': 't3.large'})
    scale = [r for r in result['recommendations'] if r['step'] == 'scale'][0]
    assert 'the next size with that headroom is t3.xlarge (16.0 GiB, now 8.0 GiB)' in scale['detail']
    scale = [r for r in audit({'memory': dict(memory, total=31 * GIB, available=100 << 20),
                               'instance_type': 't3.2xlarge'})['recommendations'] if r['step'] == 'scale'][0]
    assert 'another family, or more hosts' in scale['detail']
