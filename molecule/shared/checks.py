"""What several molecule scenarios' testinfra tests read from a container, written once.

Tests import it after putting this directory on sys.path:

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'shared'))
    from checks import cgroup_file, cgroup_oom_kills, record_of, redis, count_keys
"""


def record_of(host, report):
    """The host's record in a fleet report; it must be there exactly once."""
    name = host.backend.get_hostname()
    records = [r for r in report['hosts'] if r['host'] == name]
    assert len(records) == 1, 'host %s is not once in the report' % name
    return records[0]


def cgroup_file(host, v1_name, v2_name):
    """A file of the container's memory cgroup, as the container sees it."""
    lines = host.file('/proc/self/cgroup').content_string.splitlines()
    v1 = [line.split(':', 2)[2] for line in lines if line.split(':')[1] == 'memory']
    if v1:
        return host.file('/sys/fs/cgroup/memory%s/%s' % (v1[0], v1_name)).content_string
    return host.file('/sys/fs/cgroup/%s' % v2_name).content_string


def cgroup_oom_kills(host):
    """The OOM kills in the container's memory cgroup and every cgroup below it, counted here with
    find and grep: v1 counts a kill only in the victim's own cgroup (memory.oom_control), v2's
    memory.events at the container's root counts them all."""
    lines = host.file('/proc/self/cgroup').content_string.splitlines()
    v1 = [line.split(':', 2)[2] for line in lines if line.split(':')[1] == 'memory']
    if not v1:
        text = host.file('/sys/fs/cgroup/memory.events').content_string
        return [int(line.split()[1]) for line in text.splitlines() if line.split()[0] == 'oom_kill'][0]
    # PID 1's cgroup is the container's root (systemd as PID 1 sits in init.scope below it)
    pid1 = [line.split(':', 2)[2] for line in host.file('/proc/1/cgroup').content_string.splitlines()
            if line.split(':')[1] == 'memory'][0]
    root = pid1[:-len('/init.scope')] if pid1.endswith('/init.scope') else pid1
    cmd = host.run("find /sys/fs/cgroup/memory%s -name memory.oom_control -exec grep -h '^oom_kill ' {} +" % root)
    assert cmd.rc == 0, cmd.stderr
    return sum(int(line.split()[1]) for line in cmd.stdout.splitlines())


def redis(host, variables, args):
    """redis-cli ARGS in the container, authenticated with the scenario's cache_flush password."""
    cmd = host.run('REDISCLI_AUTH=%s redis-cli %s' % (variables['cache_flush_redis_password'], args))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def count_keys(host, variables, db, prefix):
    """Keys of DB ``db`` whose names start with ``prefix``, counted with SCAN."""
    out = redis(host, variables, "-n %d --scan --pattern '%s*'" % (db, prefix))
    return len([line for line in out.splitlines() if line])
