"""Next EC2 size in the same family, from the generated table (and from a live answer when given)."""
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.headroom.memory.plugins.module_utils.judge import ec2_sizes
from ansible_collections.headroom.memory.plugins.module_utils.judge.verdict import audit
from ansible_collections.headroom.memory.plugins.module_utils.judge.ec2 import family_sizes, next_size

MIB = 1 << 20
GIB = 1 << 30
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize('instance_type, gib', [
    ('t3.micro', 1), ('t3.2xlarge', 32), ('t4g.nano', 0.5), ('m5.large', 8), ('m5.24xlarge', 384),
    ('c4.large', 3.75), ('c5.9xlarge', 72), ('m4.10xlarge', 160), ('m7i.48xlarge', 768), ('c6i.large', 4),
    ('r6g.xlarge', 32), ('m7g.medium', 4), ('c7g.16xlarge', 128), ('r8g.48xlarge', 1536), ('m8g.large', 8),
    ('c8g.24xlarge', 192), ('x2iedn.xlarge', 128),
])
def test_memory_of_a_type_is_aws_own(instance_type, gib):
    assert dict(family_sizes(instance_type))[instance_type] == int(gib * GIB)


@pytest.mark.parametrize('instance_type', ['c5.8xlarge', 'm4.8xlarge', 'm5.48xlarge', 'c5.metal', 't3.huge',
                                           'not a type', '', None, 'c5', '.large', 'C5.LARGE'])
def test_a_size_that_does_not_exist_is_unknown(instance_type):
    assert family_sizes(instance_type) is None
    assert next_size(instance_type, 100 * GIB) is None


def test_sizes_that_do_not_double_evenly():
    # c5 goes 4xlarge (32 GiB), 9xlarge (72 GiB): never an 8xlarge
    assert next_size('c5.4xlarge', 40 * GIB) == {'type': 'c5.9xlarge', 'memory': 72 * GIB,
                                                 'current_memory': 32 * GIB}
    # m4 goes 4xlarge (64 GiB), 10xlarge (160 GiB)
    assert next_size('m4.4xlarge', 70 * GIB)['type'] == 'm4.10xlarge'
    # c4.large has 3.75 GiB: a host that needs 3.7 GiB of MemTotal does not fit in it
    assert next_size('c4.large', int(3.7 * GIB))['type'] == 'c4.xlarge'


def test_family_edges():
    assert next_size('t3.nano', 500 * MIB)['type'] == 't3.micro'          # the smallest, one step
    assert next_size('t3.large', int(7.9 * GIB))['type'] == 't3.xlarge'   # 8 GiB nominal leaves less to the host
    assert next_size('t3.large', 3 * GIB) is None                         # already big enough
    assert next_size('t3.2xlarge', 40 * GIB) is None                      # the family ends at 32 GiB
    assert next_size('m5.24xlarge', 500 * GIB) is None                    # m5 ends at 24xlarge (metal left out)
    assert next_size('m7i.24xlarge', 500 * GIB)['type'] == 'm7i.48xlarge'
    assert next_size('r8g.large', 600 * GIB)['type'] == 'r8g.24xlarge'    # Graviton 4: 768 GiB
    assert next_size('c7i-flex.large', 5 * GIB)['type'] == 'c7i-flex.xlarge'  # a family with a dash
    assert next_size('m5.large', 20 * GIB) == {'type': 'm5.2xlarge', 'memory': 32 * GIB, 'current_memory': 8 * GIB}


def test_a_live_answer_is_preferred_when_it_knows_the_type():
    live = {'zz9.large': 1024, 'zz9.xlarge': 4096, 'c5.large': 4096}
    assert next_size('zz9.large', 2 * GIB, sizes=live)['type'] == 'zz9.xlarge'
    # the live answer does not know m5: the table answers
    assert next_size('m5.large', 20 * GIB, sizes=live)['type'] == 'm5.2xlarge'


def test_the_table_is_well_formed():
    rows = [line.split(' ') for line in ec2_sizes.TYPES.strip().splitlines()]
    names = [name for name, _mib in rows]
    assert len(names) == len(set(names)) > 1000
    assert all(re.match(r'^[a-z][a-z0-9-]*\.[a-z0-9-]+$', name) and int(mib) > 0 for name, mib in rows)
    assert not [name for name in names if '.metal' in name]
    assert ec2_sizes.SOURCE.startswith('moto ') and 'sha256:' in ec2_sizes.SOURCE


def test_the_table_is_what_the_generator_makes_of_its_source():
    moto = pytest.importorskip('moto')
    assert ec2_sizes.SOURCE.startswith('moto %s ' % moto.__version__), \
        'moto %s is installed but the table is of %s: run scripts/gen-ec2-sizes.py' % (moto.__version__, ec2_sizes.SOURCE)
    path = os.path.join(ROOT, 'module_utils', 'judge', 'ec2_sizes.py')
    with open(path) as handle:
        before = handle.read()
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'gen-ec2-sizes.py')], check=True,
                       capture_output=True)
        with open(path) as handle:
            assert handle.read() == before
    finally:
        with open(path, 'w') as handle:
            handle.write(before)


def test_scale_recommendation_names_the_next_size():
    memory = {'total': int(7.6 * GIB), 'available': 200 << 20, 'swap_total': GIB, 'swap_used': 0, 'shared': 0}
    result = audit({'memory': memory, 'instance_type': 't3.large'})
    scale = [r for r in result['recommendations'] if r['step'] == 'scale'][0]
    assert 'the next size with that headroom is t3.xlarge (16.0 GiB, now 8.0 GiB)' in scale['detail']
    scale = [r for r in audit({'memory': dict(memory, total=31 * GIB, available=100 << 20),
                               'instance_type': 't3.2xlarge'})['recommendations'] if r['step'] == 'scale'][0]
    assert 'another family, or more hosts' in scale['detail']
