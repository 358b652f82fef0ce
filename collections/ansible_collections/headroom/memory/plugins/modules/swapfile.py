#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create, resize, activate and remove a swap file as one idempotent operation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: swapfile
short_description: Manage a swap file, its fstab line and its sysctls as one operation
description:
  - Creates, resizes, activates and removes one swap file, with its C(/etc/fstab) line, so that
    the host ends either fully in the wanted state or exactly as it started.
  - The file is created with mode 0600 and owner root from the first byte (O_EXCL, umask 077),
    under a temporary name in the same directory, allocated with C(fallocate) where the filesystem
    supports swap on fallocated files and with C(dd) elsewhere (btrfs files are made NOCOW with
    C(chattr +C) first), prepared with C(mkswap), renamed into place, activated with C(swapon), and
    only then declared in fstab with C(nofail). Any failure undoes every step taken.
  - Swap the module did not make (partitions, zram, other files) is never switched off; with
    O(size=auto) it counts toward the target so nothing is doubled.
  - A resize builds the new file next to the old one and swaps them; a resize, priority change or
    removal of an active file (or zram device) runs C(swapoff) only when MemAvailable can absorb what
    is swapped out, and when every memory-limited cgroup on the host (containers, systemd units with
    C(MemoryMax=) or C(MemoryHigh=)) can take back, within its own limit, what it may have on the area.
    C(swapoff) charges each page back to the cgroup that swapped it out, and past that cgroup's limit
    the kernel OOM-kills in it whatever the machine has free. A refusal names the cgroup, its limit,
    use and pages in swap, and the processes holding them, and changes nothing.
  - The cgroup check reads each limited cgroup's own count of its pages in swap (cgroup v2
    C(memory.swap.current), v1 C(memory.memsw.usage_in_bytes) minus C(memory.usage_in_bytes)), which
    includes tmpfs pages no process holds; where the kernel keeps none (v1 with C(swapaccount=0)) it sums
    C(VmSwap) of the cgroup's processes instead. The kernel does not say which swap area holds a
    cgroup's pages, so all of them are assumed to be on the area switched off, up to what it holds.
    Page cache the kernel can drop (C(inactive_file)) counts as room; swap left on other areas does not.
    Every process's C(/proc/PID/status) is read (about 0.1 ms each); the check is run again right
    before each C(swapoff), the rollback's included. Inside a container only its own processes and
    cgroups can be seen, so those of other containers on the same kernel are not checked from there.
  - Optionally writes a sysctl drop-in (for example C(vm.swappiness)), applies it live and reports
    later sysctl files that would override it at boot.
version_added: "0.1.0"
author: headroom contributors (@headroom)
options:
  backend:
    description:
      - V(file) manages a swap file at O(path). V(zram) manages one compressed swap device in RAM
        (C(/dev/zramN), made with C(/sys/class/zram-control/hot_add)) instead; O(path),
        O(min_free_disk), O(method), O(fstab) and O(check_filesystem) are then ignored, and the
        device is rebuilt at boot from O(zram_config) by the role's C(headroom-zram.service).
    type: str
    choices: [file, zram]
    default: file
  zram_algorithm:
    description: zram compressor; V(auto) picks zstd, then lz4, then lzo-rle among those the kernel offers.
    type: str
    default: auto
  zram_config:
    description: File that records the zram device's size, compressor and priority for the boot unit.
    type: path
    default: /etc/headroom/zram.conf
  zram_state_file:
    description: Where the module remembers which C(zramN) device is headroom's (under /run it vanishes with the device at reboot).
    type: path
    default: /run/headroom-zram.device
  path:
    description: Absolute path of the swap file. Must not be a symlink.
    type: path
    default: /swapfile
  state:
    description: V(present) creates or resizes and activates the file; V(absent) deactivates and deletes it.
    type: str
    choices: [present, absent]
    default: present
  size:
    description:
      - Wanted size. Bytes as an integer, a size like V(2G), V(512M), V(1.5GiB) (powers of 1024) or
        V(4GB) (powers of 1000), rounded up to a whole MiB; or V(auto).
      - V(auto) follows Red Hat's table for hosts without hibernation (twice RAM up to 2 GiB,
        equal to RAM up to 8 GiB, 4 GiB above), minus the swap the host already has, rounded up
        to 128 MiB. When existing swap covers it, the file is not needed and is removed.
        An existing file within 10% of an automatic target is kept.
      - With O(backend=zram), V(auto) is zram-generator's default, half of RAM and at most 4 GiB
        (the size bounds uncompressed data; the RAM used is what the compressed pages take).
    type: str
    default: auto
  priority:
    description:
      - Swap priority (0 to 32767) for C(swapon -p) and C(pri=) in fstab. Omitted, the kernel
        assigns one for a file; a zram device gets 100 (zram-generator's), above disk swap.
    type: int
  min_free_disk:
    description:
      - Free space that must remain on the file's filesystem after allocation, as a size (V(2G))
        or a percentage of the filesystem (V(10%)). The module refuses to allocate otherwise.
    type: str
    default: 10%
  swapoff_min_available:
    description:
      - Memory that must stay available (MemAvailable) after a C(swapoff) of this file, as a size
        (V(2G)) or a share of RAM (V(10%), earlyoom's SIGTERM line). A resize, priority change or
        removal that would go below it is refused and the current swap keeps working.
        Nothing swapped out to the file is always safe to switch off.
      - This is the machine's reserve (inside a container, its cgroup limit's). The check that each
        memory-limited cgroup can take its pages back within its own limit is made as well, and is
        not relaxed by this option.
    type: str
    default: 10%
  method:
    description: Allocation method. V(auto) picks C(fallocate) on ext4, btrfs and xfs (kernel 4.18+), C(dd) elsewhere.
    type: str
    choices: [auto, fallocate, dd]
    default: auto
  fstab:
    description: The fstab file to maintain.
    type: path
    default: /etc/fstab
  check_filesystem:
    description:
      - Refuse filesystems that cannot hold swap (overlayfs, tmpfs, NFS, ...) before touching anything.
      - V(false) lets C(swapon) decide instead; the module still rolls back when it refuses.
        Meant for tests and for filesystems headroom does not know yet.
    type: bool
    default: true
  sysctl:
    description:
      - Kernel settings to persist in O(sysctl_file) and apply live, keys as in C(sysctl.conf),
        for example C(vm.swappiness) set to 10. Empty leaves sysctls alone. With O(state=absent) the drop-in is
        deleted (live values are left as they are).
    type: dict
    default: {}
  machine_sysctl:
    description:
      - Inside a container, allow O(sysctl) to set C(vm.*) settings. They are the whole machine's, shared
        by every container on its kernel (cgroup v1 gives each container its own C(memory.swappiness),
        which only the host can set), so by default the module refuses them there, naming the
        container's own value. Outside a container this option changes nothing.
    type: bool
    default: false
  sysctl_optional:
    description:
      - Keys of O(sysctl) that are recommended rather than asked for (a role's defaults). Where such a
        key is the whole machine's (C(vm.*) inside a container, without O(machine_sysctl)), it is left as
        it is and named in C(left_alone) of RV(sysctl) instead of refused, so that a setting nobody asked for
        never blocks the swap that was asked for. Elsewhere they are set like every other key.
    type: list
    elements: str
    default: []
    version_added: "0.6.0"
  sysctl_file:
    description: The drop-in that holds O(sysctl).
    type: path
    default: /etc/sysctl.d/60-headroom-swap.conf
extends_documentation_fragment:
  - headroom.memory.attributes
attributes:
  check_mode:
    details: Reports exactly what would change (RV(actions), the predicted RV(after)) and runs the same refusals.
    support: full
  diff_mode:
    details: Shows the fstab change, the sysctl drop-in change and a one-line summary of the swap file.
    support: full
notes:
  - Needs root, C(mkswap), C(swapon), C(swapoff) and C(fallocate) or C(dd) on the managed host.
'''

EXAMPLES = r'''
- name: Give the host the swap Red Hat's table recommends, counting the swap it already has
  swapfile:
    path: /swapfile
    size: auto

- name: Keep a 2 GiB swap file at priority 10 and a low swappiness
  swapfile:
    path: /var/swap/headroom.swap
    size: 2G
    priority: 10
    min_free_disk: 2G
    sysctl:
      vm.swappiness: 10

- name: Use compressed swap in RAM instead of a disk (cloud disks with burst credits)
  swapfile:
    backend: zram
    size: auto

- name: Remove headroom's swap file (refused while memory cannot absorb what it holds)
  swapfile:
    path: /swapfile
    state: absent
'''

RETURN = r'''
file:
  description: The swap file managed (not C(path), which Ansible would decorate with file attributes).
  returned: always
  type: str
size:
  description: Wanted size in bytes (0 when O(size=auto) found the existing swap sufficient or O(state=absent)).
  returned: always
  type: int
actions:
  description: Steps taken (or, in check mode, that would be taken), in order, among
    cleanup, create, replace, fix_mode, swapoff, swapon, remove, fstab, sysctl_file, sysctl_live.
  returned: always
  type: list
  elements: str
before:
  description: The file before the run. Keys C(exists), C(size), C(mode) (octal string),
    C(uid), C(active), C(priority), C(used) (bytes swapped out to it), C(fstab_line).
  returned: always
  type: dict
after:
  description: The file after the run, same keys as RV(before); predicted in check mode.
  returned: always
  type: dict
zram:
  description: With O(backend=zram), C(device) (V(zram1)), C(algorithm), C(available) compressors.
  returned: when O(backend=zram)
  type: dict
sizing:
  description: How O(size=auto) was computed. Keys C(mem_total) (inside a container, its cgroup limit
    when that is tighter than the machine's RAM), C(memory_scope) (which of the two it is),
    C(recommended), C(rule), C(guidance), C(other_swap), C(target), all sizes in bytes.
  returned: when O(size=auto) and O(state=present)
  type: dict
filesystem:
  description: C(fstype), C(mount_point) and the allocation C(method) of the file's filesystem.
  returned: when the file is created or resized
  type: dict
sysctl:
  description: C(file), the wanted C(values), the C(live) values before the run,
    C(overrides), a list of C({file, key, value}) set by sysctl files read after the drop-in at boot, and
    C(left_alone), a sentence per key of O(sysctl_optional) left as it is because it is the machine's.
  returned: when O(sysctl) is set or O(state=absent)
  type: dict
swapoff_guard:
  description:
    - What the swapoff guard read before switching an active area off. C(hierarchy) (V(v1 /sys/fs/cgroup/memory),
      or null where no memory cgroup is visible), C(complete) (false when the host has more cgroups than
      the guard reads, and then refuses), C(limited_cgroups) (how many have a limit), C(processes)
      (C(scanned); C(swapped), those with pages in swap; C(swap), their VmSwap summed in bytes) and C(seconds).
    - C(cgroups), the memory-limited cgroups with pages in swap, most first, at most 20, each with
      C(cgroup) (its path in the hierarchy), C(limit) and C(limit_file) (which file sets it), C(usage),
      C(reclaimable) (page cache the kernel drops first), C(swapped) and C(swapped_source) (the cgroup's
      own counter, or V(VmSwap) of its processes), C(room) (what it can take back), C(vmswap),
      C(vmswap_count) and C(pids) (the processes with most in swap, C([pid, name, VmSwap])); sizes in bytes.
  returned: when an active area was to be switched off (resize, priority change, removal)
  type: dict
oom_kills:
  description: OOM kills the kernel counted on the machine while the module ran (C(oom_kill) in
    /proc/vmstat); a warning says so too. The guard is meant to make this impossible; the result never
    stays silent when it happens anyway.
  returned: when the count rose during the run
  type: int
'''

from ansible_collections.headroom.memory.plugins.module_utils.module import HeadroomModule
from ansible_collections.headroom.memory.plugins.module_utils.fix import swapfile, zram

ARGUMENT_SPEC = dict(
    path=dict(type='path', default='/swapfile'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    size=dict(type='str', default='auto'),
    priority=dict(type='int'),
    min_free_disk=dict(type='str', default='10%'),
    swapoff_min_available=dict(type='str', default='10%'),
    method=dict(type='str', choices=['auto', 'fallocate', 'dd'], default='auto'),
    fstab=dict(type='path', default='/etc/fstab'),
    check_filesystem=dict(type='bool', default=True),
    sysctl=dict(type='dict', default={}),
    sysctl_file=dict(type='path', default='/etc/sysctl.d/60-headroom-swap.conf'),
    backend=dict(type='str', choices=['file', 'zram'], default='file'),
    zram_algorithm=dict(type='str', default='auto'),
    zram_config=dict(type='path', default='/etc/headroom/zram.conf'),
    zram_state_file=dict(type='path', default='/run/headroom-zram.device'),
    machine_sysctl=dict(type='bool', default=False),
    sysctl_optional=dict(type='list', elements='str', default=[]),
)


def main():
    module = HeadroomModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    task = swapfile.Task(module.params, module.check_mode, module._diff, module.run_command, module.warn,
                         module.atomic_move)
    try:
        swapfile.prepare(task)
        result = (zram.apply if module.params['backend'] == 'zram' else swapfile.apply)(task)
    except swapfile.Refused as refused:
        module.fail_json(msg=refused.msg, **refused.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
