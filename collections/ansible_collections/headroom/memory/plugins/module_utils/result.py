"""What a module returns is plain data: no cycle, and bounded in size.

Ansible copies a module's result before it leaves the host (``remove_values`` masks secrets by
walking it) and then encodes it as JSON: a result that refers to itself is copied until the host
runs out of memory (issue 20: ``free_facts`` with two blocks of output took 8.6 GB in 20 minutes),
and an unbounded one costs a host short of memory what it does not have. Pure; no Ansible import.
"""

import json

# The most a headroom module sends back, as JSON. memory_facts' answer is about 20 KiB at its
# defaults and stays under a few hundred KiB at its largest options (read.collect bounds what a
# host sends); nothing a module returns comes near this.
MAX_RESULT_BYTES = 4 << 20


def result_problem(result, limit=MAX_RESULT_BYTES):
    """None when ``result`` is JSON data without a cycle and at most ``limit`` bytes encoded, else what
    is wrong with it, in words. Values JSON has no form for (a set, bytes) are sized as their text:
    Ansible's own encoder sends them so."""
    try:
        text = json.dumps(result, default=str, separators=(',', ':'))
    except ValueError as err:  # 'Circular reference detected'
        return 'it is not plain data (%s)' % err
    except RecursionError:
        return 'it is nested too deep to send'
    if len(text) > limit:
        return 'it is %d bytes as JSON, over its bound of %d' % (len(text), limit)
    return None
