# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What check mode and diff mode mean for every headroom module, documented once.

Modules name it with ``extends_documentation_fragment: [headroom.memory.attributes]`` and give each
attribute its own ``support`` and ``details``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description:
      - Can run in check mode (C(--check)) and then changes nothing on the host. It still reads
        what it needs and runs every refusal it would run for real, and reports what it would change.
  diff_mode:
    description:
      - Shows in diff mode (C(--diff)) what it changed, or in check mode what it would change.
'''
