"""EC2 instance sizes: which next size in the same family gives a host the memory it lacks.

Memory per size from AWS's published instance type specifications (GiB). Families whose sizes double
in memory step by step are described by the memory of their `large` size and the sizes they offer.
"""

import re

from ..units import GIB

_SIZES = ('nano', 'micro', 'small', 'medium', 'large', 'xlarge', '2xlarge', '4xlarge', '8xlarge',
          '12xlarge', '16xlarge', '24xlarge', '32xlarge', '48xlarge')
# multiple of the `large` size's memory
_FACTOR = {'nano': 0.0625, 'micro': 0.125, 'small': 0.25, 'medium': 0.5, 'large': 1, 'xlarge': 2,
           '2xlarge': 4, '4xlarge': 8, '8xlarge': 16, '12xlarge': 24, '16xlarge': 32, '24xlarge': 48,
           '32xlarge': 64, '48xlarge': 96}
_BURSTABLE = ('nano', 'micro', 'small', 'medium', 'large', 'xlarge', '2xlarge')
_STANDARD = ('large', 'xlarge', '2xlarge', '4xlarge', '8xlarge', '12xlarge', '16xlarge', '24xlarge')
# generation 6 and later add 32xlarge (and 48xlarge in generation 7)
_STANDARD_BIG = _STANDARD + ('32xlarge', '48xlarge')

# family pattern -> (GiB of `large`, sizes offered)
_FAMILIES = (
    (r't[234]g?$|t3a$', 8, _BURSTABLE),
    (r'm[45][a]?d?n?$', 8, _STANDARD),
    (r'c[45][a]?d?n?$', 4, _STANDARD),
    (r'r[45][a]?d?n?$', 16, _STANDARD),
    (r'm[6-8][aig]*d?n?$', 8, _STANDARD_BIG),
    (r'c[6-8][aig]*d?n?$', 4, _STANDARD_BIG),
    (r'r[6-8][aig]*d?n?$', 16, _STANDARD_BIG),
)
_TYPE = re.compile(r'^([a-z][a-z0-9-]*)\.([a-z0-9]+)$', re.ASCII)


def family_sizes(instance_type):
    """[(type, memory bytes)] of the instance's family, smallest first, or None if unknown."""
    match = _TYPE.match(instance_type or '')
    if not match:
        return None
    family, size = match.groups()
    for pattern, large_gib, sizes in _FAMILIES:
        if re.match(pattern, family, flags=re.ASCII) and size in sizes:
            return [('%s.%s' % (family, s), int(large_gib * _FACTOR[s] * GIB)) for s in sizes]
    return None


def next_size(instance_type, needed_bytes):
    """The smallest size of the same family with at least ``needed_bytes`` of memory.

    ``needed_bytes`` is the MemTotal the host should have; the kernel keeps a few percent of the
    nominal size for itself, so sizes are compared at 95% of their nominal memory.

    Returns {'type', 'memory', 'current_memory'} or None when the family is unknown, the current size
    already has that much, or no size of the family is big enough (then: another family, more hosts).
    """
    sizes = family_sizes(instance_type)
    if not sizes:
        return None
    current = dict(sizes).get(instance_type)
    if current * 0.95 >= needed_bytes:
        return None
    for name, memory in sizes:
        if memory * 0.95 >= needed_bytes and memory > current:
            return {'type': name, 'memory': memory, 'current_memory': current}
    return None
