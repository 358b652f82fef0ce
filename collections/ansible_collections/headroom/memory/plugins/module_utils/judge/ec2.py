"""EC2 instance sizes: which next size in the same family gives a host the memory it lacks.

The memory of each type comes from AWS's own answer to DescribeInstanceTypes: live, when the
controller could ask (the ``sizes`` given, see the ec2_sizes lookup), else the table generated from
the instance-type data the moto package records (ec2_sizes.py, scripts/gen-ec2-sizes.py). Sizes do not
double evenly (c5 goes 4xlarge, 9xlarge, 12xlarge; m4 4xlarge, 10xlarge; c4.large has 3.75 GiB), so
nothing here is computed from a size's name.
"""

import re

from ..units import MIB
from .ec2_sizes import TYPES

_TYPE = re.compile(r'^([a-z][a-z0-9-]*)\.([a-z0-9-]+)$', re.ASCII)


def family(instance_type):
    """The family of an instance type (``c5`` of ``c5.large``), or None when it is not one."""
    match = _TYPE.match(instance_type if isinstance(instance_type, str) else '')
    return match.group(1) if match else None


def family_sizes(instance_type, sizes=None):
    """[(type, memory bytes)] of the instance's family, smallest first, or None if unknown.

    ``sizes`` ({type: MiB}, from a live DescribeInstanceTypes) is preferred to the table when it
    knows the instance's own type.
    """
    name_of = family(instance_type)
    if not name_of:
        return None
    if sizes and instance_type in sizes:
        found = [(name, int(mib)) for name, mib in sizes.items() if name.split('.', 1)[0] == name_of]
    else:
        found = [(name, int(mib)) for name, mib in re.findall(r'^(%s\.\S+) (\d+)$' % re.escape(name_of), TYPES, re.M)]
    if instance_type not in dict(found):
        return None
    return [(name, mib * MIB) for name, mib in sorted(found, key=lambda item: item[1])]


def next_size(instance_type, needed_bytes, sizes=None):
    """The smallest size of the same family with at least ``needed_bytes`` of memory.

    ``needed_bytes`` is the MemTotal the host should have; the kernel keeps a few percent of the
    nominal size for itself, so sizes are compared at 95% of their nominal memory.

    Returns {'type', 'memory', 'current_memory'} or None when the type is unknown, the current size
    already has that much, or no size of the family is big enough (then: another family, more hosts).
    """
    family = family_sizes(instance_type, sizes)
    if not family:
        return None
    current = dict(family)[instance_type]
    if current * 0.95 >= needed_bytes:
        return None
    for name, memory in family:
        if memory * 0.95 >= needed_bytes and memory > current:
            return {'type': name, 'memory': memory, 'current_memory': current}
    return None
