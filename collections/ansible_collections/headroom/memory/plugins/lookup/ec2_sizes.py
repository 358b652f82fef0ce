# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
name: ec2_sizes
short_description: The memory of every size of some EC2 instance families, asked of AWS itself
description:
  - On the controller, asks EC2's C(DescribeInstanceTypes) for every size of the families of the instance types
    given (C(c5.large) asks for C(c5.*)), one paginated call for them all, and returns one dict of
    the memory in MiB by type, bare-metal sizes left out.
  - C(diagnose.yml) asks once per run for the fleet's types and hands the answer to C(memory_facts) as
    O(headroom.memory.memory_facts#module:instance_sizes), so that the scale recommendation names the sizes
    AWS sells today. Without it, the table headroom ships (generated from the moto package's copy of the same
    answer, C(scripts/gen-ec2-sizes.py)) answers.
  - Asks only when boto3 is installed and finds AWS credentials (the environment, a profile, an instance role; an
    AWX "Amazon Web Services" credential sets the environment). Without them, or on any error (no region, access
    denied, no network), it returns an empty dict; an error is a warning that names it, never the credentials.
  - The endpoint follows boto3's own settings, C(AWS_ENDPOINT_URL) included.
version_added: "0.6.0"
author: headroom contributors (@headroom)
options:
  _terms:
    description: EC2 instance types (for example C(t3.large)); empty or malformed ones are ignored.
    type: list
    elements: str
    required: true
  region:
    description: The region to ask; by default boto3's (C(AWS_REGION), C(AWS_DEFAULT_REGION), the profile), else
      C(us-east-1). Instance types are the same in every region that offers them.
    type: str
'''

EXAMPLES = r'''
- name: Diagnose, with the sizes AWS sells today
  headroom.memory.memory_facts:
    instance_type: "{{ instance_type }}"
    instance_sizes: "{{ lookup('headroom.memory.ec2_sizes', instance_type) }}"
'''

RETURN = r'''
_raw:
  description: One dict, the memory in MiB of every size of the families asked, by type; empty when
    AWS was not asked or did not answer.
  type: list
  elements: dict
'''

from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.headroom.memory.plugins.module_utils.judge.ec2 import family

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    boto3 = None


def families(types):
    """The families of the instance types, sorted, malformed ones left out."""
    return sorted(set(filter(None, (family(str(name or '')) for name in types))))


def ask(session, region, names):
    """{type: MiB} of every virtual size of the families ``names``, from DescribeInstanceTypes."""
    client = session.client('ec2', region_name=region,
                            config=Config(connect_timeout=5, read_timeout=15, retries={'max_attempts': 2}))
    sizes = {}
    pages = client.get_paginator('describe_instance_types').paginate(
        Filters=[{'Name': 'instance-type', 'Values': ['%s.*' % name for name in names]}])
    for page in pages:
        for item in page.get('InstanceTypes', []):
            if not item.get('BareMetal') and (item.get('MemoryInfo') or {}).get('SizeInMiB'):
                sizes[item['InstanceType']] = int(item['MemoryInfo']['SizeInMiB'])
    return sizes


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        names = families(self._flatten(terms))
        if not names or boto3 is None:
            return [{}]
        session = boto3.Session()
        if session.get_credentials() is None:
            return [{}]
        region = self.get_option('region') or session.region_name or 'us-east-1'
        try:
            return [ask(session, region, names)]
        except (BotoCoreError, ClientError) as err:
            # botocore's messages name the call, the endpoint and AWS's error code, never a secret
            Display().warning('EC2 instance sizes not asked of AWS, headroom\'s table answers: %s' % err)
            return [{}]
