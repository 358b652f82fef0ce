"""Whether two runs read the same machine, and the same boot of it: what the history may compare.

A host's cumulative counters (the kernel's ``oom_kill`` since boot, a container's cgroup kill counts)
belong to one boot of one machine. Another machine under the same inventory name (a replaced instance,
a rebuilt container) has its own; a reboot, or a container restarted, starts them at 0. So a counter is
compared with the previous run's only when both runs read the same boot of the same machine; the time
of the previous run still bounds what is new when only the boot changed (the same machine's log
lines before that run were seen by it); and the trend of available memory continues over a reboot but
not onto another machine.

Each run carries what read/kernel.machine_identity() read on its host. The evidence, strongest first:
a container's runtime id (else its cgroup scope) names the container; outside one, the machine id
names the machine (in a container it does not: images bake one in, or ship it empty, and systemd
may make a new one at each start). The boot id is the kernel's, random per boot, so two runs with the
same boot id read the same booted machine; in a container it is the machine's, and the container's
own start is when its PID 1 started. Whatever is missing is said, and decides nothing: without
evidence either way the answer is "unknown", and counters are not compared.

Pure functions; no Ansible import.
"""

from ..units import finite
from .verdict import when

# btime (/proc/stat) is the boot's wall-clock second, computed from the clock: it may move by a
# second between reads, and more when the clock is stepped. Within this it is the same boot.
BTIME_SLACK = 2
_TEXT_MAX = 200
_TIME_MAX = 1e11  # seconds since 1970: the year 5138


def _text(identity, key):
    value = identity.get(key)
    return value if isinstance(value, str) and 0 < len(value) <= _TEXT_MAX else None


def _count(identity, key):
    value = identity.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _clean(identity):
    """The identity's pieces that can be compared (a hostile or damaged record gives None for a piece), or None."""
    if not isinstance(identity, dict):
        return None
    clean = dict((key, _text(identity, key)) for key in ('machine', 'boot_id', 'container_id', 'scope'))
    btime = _count(identity, 'btime')
    clean.update(btime=btime if btime is not None and btime < _TIME_MAX else None, init_ticks=_count(identity, 'init_ticks'),
                 container=identity.get('container') if isinstance(identity.get('container'), bool) else None)
    if all(value is None for value in clean.values()):
        return None
    return clean


def _short(value):
    return value[:12]


def _result(machine, boot, why):
    return {'machine': machine, 'boot': boot, 'counters': machine == 'same' and boot == 'same', 'why': why}


def compare(previous, current):
    """How this run's machine relates to the previous run's: ``{'machine': 'same'|'other'|'unknown',
    'boot': 'same'|'new'|'unknown', 'counters': whether counters compare, 'why'}``; None when there
    is no previous run. ``previous`` is the previous run (its ``identity`` and ``at``, when its host
    was read), ``current`` this run's identity."""
    if not isinstance(previous, dict) or not previous:
        return None
    before, now = _clean(previous.get('identity')), _clean(current)
    if before is None:
        return _result('unknown', 'unknown', 'the last run recorded no machine identity '
                                             '(an older headroom wrote it)')
    if now is None:
        return _result('unknown', 'unknown', 'nothing that identifies this machine could be read')
    if before['container'] is not None and now['container'] is not None and before['container'] != now['container']:
        return _result('other', 'unknown', 'the last run read %s, this one %s' % (
            'a container' if before['container'] else 'a machine', 'a container' if now['container'] else 'a machine'))
    # a record that says it is no container but names one (damaged, or hand-made) counts as one
    container = any(side[key] for side in (before, now) for key in ('container', 'container_id'))
    machine, why = None, []
    for key, name in (('container_id', 'container id'), ('scope', 'cgroup')):
        if before[key] and now[key]:
            if before[key] != now[key]:
                shown = _short if key == 'container_id' else str
                return _result('other', 'unknown', '%s %s, the last run\'s %s' % (name, shown(now[key]), shown(before[key])))
            machine = 'same'
            why.append('the same %s' % name)
            break
    if machine is None and before['machine'] and now['machine']:
        if before['machine'] != now['machine']:
            return _result('other', 'unknown', 'another machine id')
        if not container:
            machine = 'same'
            why.append('the same machine id')

    boot = None
    if before['boot_id'] and now['boot_id']:
        boot = 'same' if before['boot_id'] == now['boot_id'] else 'new'
        said = 'the same boot id' if boot == 'same' else 'another boot id'
    elif before['btime'] is not None and now['btime'] is not None:
        boot = 'same' if abs(before['btime'] - now['btime']) <= BTIME_SLACK else 'new'
        said = 'the same boot time' if boot == 'same' else 'booted at %s' % when(now['btime'])
    if boot is not None:
        why.append(said)
    else:
        why.append('no boot id or boot time to compare')
    if container and boot == 'same':
        if before['init_ticks'] is not None and now['init_ticks'] is not None:
            if before['init_ticks'] != now['init_ticks']:
                boot = 'new'
                why.append('its PID 1 started anew (the container was restarted or made anew)')
            elif machine is None:
                machine = 'same'  # the same boot of the machine, and the same start of the container's PID 1
        elif machine is None:
            boot = None  # the machine's boot, but which container of it cannot be told
            why.append('nothing tells its containers apart')

    if machine is None:
        if boot == 'same' and not container:
            machine = 'same'  # a boot id is random per boot: the same one is the same booted machine
        else:
            missing = 'no container id, cgroup or machine id to compare' if container else 'no machine id to compare'
            return _result('unknown', boot or 'unknown', '; '.join([missing] + why))
    if boot == 'new' and not container and now['btime'] is not None:
        # the same machine rebooted after the last run read it; a boot before that is another machine
        # that shares the id (an image cloned with its machine id)
        read = read_at(previous)
        if read is not None and now['btime'] < read - BTIME_SLACK:
            return _result('other', 'unknown', 'the same machine id, but booted at %s, before the last run read its '
                                               'machine at %s: another machine with a copied id' % (when(now['btime']), when(read)))
    return _result(machine, boot or 'unknown', ', '.join(why))


def read_at(run):
    """When a run's host was read (``at``), else when its report was written (``epoch``): a finite
    number, or None."""
    for key in ('at', 'epoch'):
        value = run.get(key) if isinstance(run, dict) else None
        # a time from a file or a variable: 1e400 or an int of 400 digits is no time (float() would overflow)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and finite(value) and -_TIME_MAX < value < _TIME_MAX:
            return float(value)
    return None
