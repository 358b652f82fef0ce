"""The zram backend of the swapfile module: one compressed swap device in RAM, set up from
/sys/class/zram-control, recorded for the boot script, removed again. ``apply(task)`` as in
swapfile.py, with its Task and Refused."""

import os
import re

from ..directory import make_parent
from ..parse_error import ParseError
from ..read import kernel
from . import swap
from .swapfile import (
    StepFailed, SwapFile, after_failure, apply_sysctl, container_scope, note_oom_kills, oom_kills, read_text, refuse_swapoff,
    sysctl_plan)


ZRAM_CONTROL = '/sys/class/zram-control'


def sysfs_read(path):
    return read_text(path).strip()


def sysfs_write(path, value):
    with open(path, 'w') as handle:
        handle.write(str(value))


class Zram(SwapFile):
    """headroom's zram device: the device it made, remembered in a state file under /run."""

    def __init__(self, task):
        super(Zram, self).__init__(task)
        self.device = None
        self.path = None
        state = read_text(task.params['zram_state_file'], default='').strip()
        if re.match(r'^zram\d+$', state, flags=re.ASCII) and os.path.isdir('/sys/block/%s' % state):
            self.use(state)

    def use(self, device):
        self.device = device
        self.path = '/dev/' + device
        self.sys = '/sys/block/' + device

    def describe(self):
        if self.device is None:
            return None
        available, current = swap.parse_comp_algorithms(sysfs_read(self.sys + '/comp_algorithm'))
        return {'device': self.device, 'disksize': int(sysfs_read(self.sys + '/disksize')),
                'algorithm': current, 'available': available,
                'active': self.active_area(self.areas(), self.path)}

    @staticmethod
    def public(info):
        if info is None:
            return {'exists': False, 'device': None, 'size': 0, 'algorithm': None, 'active': False,
                    'priority': None, 'used': 0}
        active = info['active']
        return {'exists': True, 'device': info['device'], 'size': info['disksize'],
                'algorithm': info['algorithm'], 'active': bool(active),
                'priority': active['priority'] if active else None, 'used': active['used'] if active else 0}

    def configure(self, size, algorithm):
        sysfs_write(self.sys + '/comp_algorithm', algorithm)
        sysfs_write(self.sys + '/disksize', size)
        self.run(['mkswap', self.path], 'mkswap %s' % self.path)

    def reset(self):
        sysfs_write(self.sys + '/reset', 1)

    def create(self, size, algorithm):
        number = sysfs_read(ZRAM_CONTROL + '/hot_add')
        self.use('zram' + number)
        self.undo.append(('hot_remove zram%s' % number,
                          lambda: sysfs_write(ZRAM_CONTROL + '/hot_remove', number)))
        state_file = self.params['zram_state_file']
        self.write_file(state_file, self.device + '\n')
        self.undo.append(('unlink %s' % state_file, lambda: self.unlink_if_present(state_file)))
        self.configure(size, algorithm)

    def remove(self):
        self.reset()
        sysfs_write(ZRAM_CONTROL + '/hot_remove', self.device[len('zram'):])
        self.unlink_if_present(self.params['zram_state_file'])
        self.device = self.path = None


def apply(task):
    """The zram backend: the module's result, or Refused."""
    params = task.params
    state = params['state']
    zr = Zram(task)
    result = {'changed': False, 'state': state, 'backend': 'zram'}
    if state == 'present' and not os.path.isdir(ZRAM_CONTROL):
        task.fail_json(msg='this kernel has no zram hot_add (%s is missing): load the zram module'
                           ' (modprobe zram) or use backend=file' % ZRAM_CONTROL, **result)
    try:
        meminfo = kernel.parse_meminfo(read_text('/proc/meminfo'), need=kernel.MEMINFO_NEEDS)
        container, cgroup = container_scope()
        scope = swap.memory_scope(meminfo, cgroup)
        current = zr.describe()
        size = algorithm = priority = None
        if state == 'present':
            spec = params['size']
            if str(spec).strip().lower() == 'auto':
                size = swap.zram_auto_size(scope['total'])
            else:
                size = swap.round_up(swap.parse_size_arg(spec), swap.MIB)
            if current is not None:
                available = current['available']
            elif os.path.exists('/sys/block/zram0/comp_algorithm'):
                available = swap.parse_comp_algorithms(sysfs_read('/sys/block/zram0/comp_algorithm'))[0]
            else:
                available = list(swap.ZRAM_ALGORITHMS)
            algorithm = swap.pick_algorithm(available, params['zram_algorithm'])
            priority = params['priority'] if params['priority'] is not None else swap.ZRAM_PRIORITY
            result['zram'] = {'device': zr.device, 'algorithm': algorithm, 'available': available}
        steps = swap.zram_plan(state, size, algorithm, priority, current)
        config_before = read_text(params['zram_config'], default='')
        config_after = swap.zram_config_text(size, algorithm, priority) if state == 'present' else ''
    except ParseError as err:
        task.fail_json(msg=str(err), **result)
    except (IOError, OSError) as err:
        task.fail_json(msg='cannot inspect zram: %s' % err, **result)

    result['size'] = size or 0
    active = current['active'] if current else None
    if active and 'swapoff' in steps:
        refuse_swapoff(task, active, zr.path, result)

    before = zr.public(current)
    values, target = sysctl_plan(task, state, container, cgroup) if (params['sysctl'] or state == 'absent') \
        else ({}, None)
    diffs = []
    if not task.check_mode:
        snapshot = {'zram device': repr(before), 'zram config': config_before, 'oom_kill': oom_kills(task.root)}
        if target:
            snapshot['sysctl file'] = read_text(target, default='')

        def now(what):
            if what == 'zram device':
                return repr(Zram.public(Zram(task).describe()))  # as a new run would find it
            return read_text(params['zram_config'] if what == 'zram config' else target, default='')
        try:
            zram_execute(zr, steps, current, size, algorithm, priority)
            if config_after != config_before:
                if config_after:
                    make_parent(params['zram_config'], 0o755)
                    zr.write_file(params['zram_config'], config_after)
                    zr.undo.append(('restore %s' % params['zram_config'],
                                    lambda: zr.write_file(params['zram_config'], config_before) if config_before
                                    else zr.unlink_if_present(params['zram_config'])))
                else:
                    zr.unlink_if_present(params['zram_config'])
                    try:
                        # The directory was made for this file; leave it only if it holds others.
                        os.rmdir(os.path.dirname(params['zram_config']))
                    except OSError:
                        pass
            zr.actions.extend(steps)
            if config_after != config_before:
                zr.actions.append('zram_config')
            if target:
                result['sysctl'] = apply_sysctl(task, zr, state, values, target, diffs)
            zr.undo = []
        except (StepFailed, IOError, OSError) as err:
            after_failure(task, zr, err, snapshot, now, dict(result, before=before))
        note_oom_kills(task, zr, snapshot['oom_kill'], result)
        after = zr.public(zr.describe())
        if 'zram' in result:
            result['zram']['device'] = zr.device
    else:
        after = zram_predict(before, steps, size, algorithm, priority)
        zr.actions.extend(steps)
        if config_after != config_before:
            zr.actions.append('zram_config')
        if target:
            result['sysctl'] = apply_sysctl(task, zr, state, values, target, diffs)
    if config_after != config_before:
        diffs.insert(0, {'before_header': params['zram_config'], 'after_header': params['zram_config'],
                         'before': config_before, 'after': config_after})
    result.update(changed=bool(zr.actions), actions=zr.actions, before=before, after=after)
    if task.diff:
        result['diff'] = diffs
    return result


def zram_predict(before, steps, size, algorithm, priority):
    if 'remove' in steps:
        return Zram.public(None)
    after = dict(before)
    if 'create' in steps or 'rebuild' in steps:
        after.update(exists=True, size=size, algorithm=algorithm, used=0)
    if 'swapon' in steps:
        after.update(active=True, priority=priority)
    return after


def zram_execute(zr, steps, current, size, algorithm, priority):
    """Carry out a zram plan; every step registers its undo before the next one runs."""
    old_priority = current['active']['priority'] if current and current['active'] else None
    for step in steps:
        if step == 'create':
            zr.create(size, algorithm)
        elif step == 'rebuild':
            zr.reset()
            zr.undo.append(('configure %s as before' % zr.device,
                            lambda: (zr.reset(), zr.configure(current['disksize'], current['algorithm']))))
            zr.configure(size, algorithm)
        elif step == 'mkswap':
            zr.run(['mkswap', zr.path], 'mkswap %s' % zr.path)
        elif step == 'swapoff':
            zr.swapoff()
            zr.undo.append(('swapon %s again' % zr.path, lambda: zr.swapon(old_priority)))
        elif step == 'swapon':
            zr.swapon(priority)
            zr.undo.append(('swapoff %s' % zr.path, zr.swapoff))
        elif step == 'remove':
            zr.remove()
