"""The seed's scenario on the whole machine (issue 21, part 2), its first half: a 1 GiB VM without swap runs Django
under gunicorn (4 workers) with its cache and sessions in Redis, as systemd units. Traffic from this machine (light
requests, and clients of an endpoint that holds a few hundred MiB for a second) until the kernel's global OOM killer
kills a worker. On cgroup v2 systemd then stops the whole gunicorn.service (DefaultOOMPolicy=stop, no Restart=):
the site is down.

Then, over SSH as a user would, diagnose.yml: not ok, every kill counted and timed, the post-mortem of the kill
with the kernel's Mem-Info parsed, the app's death linked to the kill. ps is sampled in the guest through the traffic
and kept with the captures; the check of the task dump per command against its last sample before the kill is not
in the merged stage: before a global OOM the guest froze for up to 4.2 s, even for the memory-locked sampler, and
its last sample came 3.9 s before the kill in one of two runs (the bound was 2 s).

The kernel's report, systemd's and gunicorn's lines and the unit's state are kept in
reports/vm/captures/seed-kill-<kernel>/ on every run (not copied to tests/fixtures/vm/: its global-oom/ and unit-stop/
hold the same kinds of report and unit lines, which the unit tests read)."""
import json
import re
import shlex
import time

from scenario import (step, PAGE, PsSampler, capture, cursor, install_app, kernel_kills, measured, redis_keys,
                      run_traffic, seed, show, vmstat, wait_for, workers)

# Redis filled as the site's traffic filled it: cached reports (disposable) and logged-in users' sessions (kept)
REPORT_MIB = 128
SESSIONS = 3000
# the traffic: three clients of the heavy endpoint (each request holds 300 MiB for a second), four light requests a
# second. Two heavy requests at once do not fit beside Redis (about 170 MiB with its reports) and the rest; one
# worker at its peak (about 340 MiB) is far bigger than Redis, so the kernel takes a worker. Measured in the VM
# (TCG): the first kill after about 30 s.
TRAFFIC = {'heavy': 3, 'mb': 300, 'hold': 1.0, 'light_per_second': 4.0}


@step
def app(vm):
    """The app installed, Redis filled; what Redis holds then."""
    started = time.monotonic()
    install_app(vm)
    seeded = seed(vm, REPORT_MIB, SESSIONS)
    keys = redis_keys(vm)
    measured('app_install_and_seed', started)
    return {'seeded': seeded, 'keys': keys}


@step
def first_kill(vm, app, diagnose):
    """The traffic until the kernel kills a worker, with ps sampled in the guest; then the user's diagnosis."""
    start_cursor = cursor(vm)
    ahead = workers(vm, 4)
    sampler = PsSampler(vm).start()
    traffic, figures = run_traffic(vm, 'first', **TRAFFIC)
    samples = sampler.stop()

    def stopped():
        found = show(vm, 'gunicorn.service', 'ActiveState', 'Result', 'NRestarts')
        return found if found['ActiveState'] in ('failed', 'inactive') else None
    state = wait_for('systemd to stop gunicorn.service', stopped, timeout=120)
    kills = kernel_kills(vm, start_cursor)
    files = {
        'journalctl-k.short-iso.txt': vm.ssh('journalctl -k -b -o short-iso --no-pager').stdout,
        'kills.journal.json': vm.ssh('journalctl -b -o json --no-pager _TRANSPORT=kernel --after-cursor %s' % shlex.quote(start_cursor)).stdout,
        'dmesg.txt': vm.ssh('dmesg').stdout,
        'gunicorn.journal.short-iso.txt': vm.ssh('journalctl -b -o short-iso --no-pager -u gunicorn.service').stdout,
        'gunicorn.journal.json': vm.ssh('journalctl -b -o json --no-pager -u gunicorn.service').stdout,
        'redis.journal.short-iso.txt': vm.ssh('journalctl -b -o short-iso --no-pager -u redis-server.service').stdout,
        'gunicorn.service.show.txt': vm.ssh('systemctl show gunicorn.service').stdout,
        'gunicorn.service.unit.txt': vm.ssh('cat /etc/systemd/system/gunicorn.service').stdout,
        'redis-server.service.show.txt': vm.ssh('systemctl show redis-server.service').stdout,
        'redis-server.service.unit.txt': vm.ssh('cat /lib/systemd/system/redis-server.service').stdout,
    }
    files['ps-samples.json'] = json.dumps(samples)
    where = capture(vm, 'seed-kill', files)
    started = time.monotonic()
    record, report = diagnose('after-first-kill')
    measured('diagnose_after_first_kill', started)
    return {'traffic': traffic, 'figures': figures, 'samples': samples, 'state': state, 'kills': kills,
            'ahead': ahead, 'files': files, 'record': record, 'report': report, 'where': where,
            'oom_kill': vmstat(vm)['oom_kill']}


def victims(first_kill):
    """(pid, comm, journal entry) of each kill line of the traffic."""
    found = []
    for entry in first_kill['kills']:
        match = re.search(r'Killed process (\d+) \(([^)]*)\)', entry['MESSAGE'])
        if match:
            found.append((int(match.group(1)), match.group(2), entry))
    return found


def test_the_kernel_killed_a_worker_in_a_global_oom(first_kill):
    killed = victims(first_kill)
    assert killed, first_kill['files']['journalctl-k.short-iso.txt'][-3000:]
    pid, comm, _entry = killed[0]
    assert pid in first_kill['ahead']['workers'], (killed, first_kill['ahead'])
    assert comm == 'gunicorn'
    log = first_kill['files']['journalctl-k.short-iso.txt']
    assert re.search(r'oom-kill:constraint=CONSTRAINT_NONE,.*,global_oom,task_memcg=/system\.slice/gunicorn\.service,'
                     r'task=gunicorn,pid=%d,' % pid, log), log[-3000:]


def test_systemd_stopped_the_whole_unit_and_the_site_went_down(first_kill):
    assert first_kill['state']['Result'] == 'oom-kill', first_kill['state']
    assert "gunicorn.service: Failed with result 'oom-kill'." in first_kill['files']['gunicorn.journal.short-iso.txt']
    figures = first_kill['figures']
    # after the kill, the light requests fail: the site is gone until someone starts it again
    assert figures['window_failed'] >= 0.9 * (figures['window_answered'] + figures['window_failed']), figures
    assert figures['window_failed'] > 0


def test_the_diagnosis_is_not_ok_and_counts_and_times_every_kill(first_kill):
    record = first_kill['record']
    assert record['verdict'] != 'ok', record['summary']
    oom = record['oom']
    assert oom['kills'] == first_kill['oom_kill'], oom
    killed = victims(first_kill)
    for pid, comm, entry in killed:
        events = [event for event in oom['events'] if event['pid'] == pid]
        assert len(events) == 1, (pid, oom['events'])
        assert events[0]['comm'] == comm
        # timed: the journal's time of the kernel's line, to the second
        stamp = int(entry['__REALTIME_TIMESTAMP']) / 1e6
        assert abs(events[0]['epoch'] - stamp) < 1.5, (events[0], stamp)
        assert events[0]['constraint'] == 'global' and events[0]['unit'] == 'gunicorn.service', events[0]
    assert oom['recent'] == len(killed), oom


def test_the_post_mortem_has_the_kernel_s_mem_info(first_kill):
    record = first_kill['record']
    pid = victims(first_kill)[0][0]
    mine = [entry for entry in record['postmortem'] if entry['victim']['pid'] == pid]
    assert len(mine) == 1, record['postmortem']
    entry = mine[0]
    assert entry['scope'] == 'global' and entry['victim']['command'] == 'gunicorn'
    pages = mem_info(first_kill['files']['journalctl-k.short-iso.txt'], pid)
    memory = entry['memory']
    assert memory['anon'] == (pages['active_anon'] + pages['inactive_anon'] - pages['shmem']) * PAGE, (memory, pages)
    assert memory['file'] == (pages['active_file'] + pages['inactive_file']) * PAGE
    assert memory['shmem'] == pages['shmem'] * PAGE
    assert memory['slab'] == (pages['slab_reclaimable'] + pages['slab_unreclaimable']) * PAGE
    assert memory['free'] == pages['free'] * PAGE


def test_the_app_s_death_is_linked_to_the_kill(first_kill):
    record = first_kill['record']
    pid = victims(first_kill)[0][0]
    deaths = record['app_deaths']['deaths']
    linked = [death for death in deaths if death.get('kernel_pid') == pid]
    assert linked, deaths
    assert all(death['unit'] == 'gunicorn.service' for death in linked), linked


def mem_info(kernel_log, pid):
    """{field: pages} of the Mem-Info block of the report that killed ``pid``."""
    lines = kernel_log.splitlines()
    end = next(i for i, line in enumerate(lines) if 'Killed process %d ' % pid in line)
    start = max(i for i in range(end) if 'invoked oom-killer' in lines[i])
    block = next(i for i in range(start, end) if lines[i].rstrip().endswith('Mem-Info:'))
    found = {}
    for line in lines[block + 1:block + 20]:
        if ' Node ' in line:
            break
        for name, value in re.findall(r'\b([a-z_]+):(\d+)\b', line):
            found.setdefault(name, int(value))
    return found
