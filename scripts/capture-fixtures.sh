#!/usr/bin/env bash
# Re-capture the real `free` / `top` outputs under tests/fixtures/captures/.
#   scripts/capture-fixtures.sh [SYSTEM...]
# SYSTEM is any of: host bullseye bookworm trixie swap (default: all of them); the host's
# captures go to host-<ID><VERSION_ID> (host-debian12 here).
# Run by hand by a developer (root, Docker); tests only read what it wrote.
#
# Each capture is one JSON file tests/fixtures/captures/<system>/<slug>.json holding the exact
# stdout of one command plus `free -b` and /proc/meminfo taken by the same process right before
# and right after it (and `ps -eo pid,rss,vsz,comm` right after a top), so a parser test can
# check its numbers against a reference instead of against itself.
#
# The captures run inside the system by one python3 process (the runner below) so that
# before/command/after follow each other within milliseconds. The runner also starts
# "interesting" processes for the duration (a pre-forked worker pool holding 30-80 MB each, a
# process whose comm has a space, a very long command line) and stops them when it ends.
# `swap` is a bookworm container with --memory 200m --memory-swap 900m, a real swapfile on a
# bind-mounted host directory and a 400 MB process pushed partly into it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/tests/fixtures/captures"
LOG_DIR=/var/tmp/headroom
mkdir -p "$LOG_DIR"

IMAGE_BULLSEYE=${HEADROOM_IMAGE_BULLSEYE:-headroom/debian:bullseye}
IMAGE_BOOKWORM=${HEADROOM_IMAGE_BOOKWORM:-headroom/debian:bookworm}
IMAGE_TRIXIE=${HEADROOM_IMAGE_TRIXIE:-headroom/debian:trixie}

# systemd as PID 1 (see docker-recipes.md) so the process table looks like a real server's.
SYSTEMD_FLAGS=(-v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock)
SWAP_FLAGS=(--cap-add SYS_ADMIN --security-opt seccomp=unconfined)

containers=()
swapdir=""
runner_pid=""
result=$(mktemp "$LOG_DIR/capture.XXXXXX.json")

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local c
    # A host runner stops its workers on TERM; a `docker exec` client just goes, and its
    # runner goes with the container below.
    if [ -n "$runner_pid" ]; then
        kill "$runner_pid" 2>/dev/null || true
        wait "$runner_pid" 2>/dev/null || true
    fi
    rm -f "$result"
    if [ -n "$swapdir" ]; then
        for c in "${containers[@]}"; do
            docker exec "$c" swapoff /swap/swapfile >/dev/null 2>&1 || true
        done
    fi
    for c in "${containers[@]}"; do
        docker rm -f "$c" >/dev/null 2>&1 || true
    done
    if [ -n "$swapdir" ]; then
        # The swap belongs to the kernel, not the container: if the container could not turn
        # it off, the host must.
        if grep -q "^$swapdir/swapfile " /proc/swaps; then
            swapoff "$swapdir/swapfile" || echo "headroom: WARNING: swapoff $swapdir/swapfile failed" >&2
        fi
        rm -rf --one-file-system "$swapdir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r -d '' RUNNER <<'PY' || true
import ctypes, datetime, json, os, pty, re, select, shutil, signal, subprocess, sys, tempfile, time
import fcntl, struct, termios

opts = json.loads(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally: stop the workers
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOME = tempfile.mkdtemp(prefix="headroom-capture-")  # no toprc of anyone else's applies
BASE_ENV = {"PATH": PATH, "HOME": HOME}
log = lambda *a: print(*a, file=sys.stderr, flush=True)

# A worker: dies with the runner, optionally renames its comm, holds N MiB of touched memory.
HOLD = r"""
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None)
libc.prctl(1, signal.SIGTERM)                      # PR_SET_PDEATHSIG
if os.getppid() == 1:
    sys.exit(0)
args = sys.argv[1:]
if "--comm" in args:
    libc.prctl(15, args[args.index("--comm") + 1].encode(), 0, 0, 0)   # PR_SET_NAME
if "--pool" in args:
    sizes = [int(a) for a in args[args.index("--pool") + 2:] if a.isdigit()]
    for mb in sizes:
        if os.fork() == 0:
            libc.prctl(1, signal.SIGTERM)
            buf = b"\x01" * (mb << 20)
            time.sleep(3600)
            os._exit(0)
    time.sleep(3600)
mb = int(args[0])
buf = b"\x01" * (mb << 20)
time.sleep(3600)
"""


def run(argv, extra=None):
    env = dict(BASE_ENV, LC_ALL="C")
    env.update(extra or {})
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return p.returncode, p.stdout.decode("utf-8", "surrogateescape"), p.stderr.decode("utf-8", "replace")


def ref():
    return {"free_b": run(["free", "-b"])[1], "meminfo": open("/proc/meminfo").read()}


def distro():
    info = {}
    for line in open("/etc/os-release"):
        k, _, v = line.strip().partition("=")
        info[k] = v.strip('"')
    return "%s %s" % (info.get("ID", "linux").capitalize(), info.get("VERSION_ID", "?"))


def procps_version():
    out = run(["free", "-V"])[1].strip()
    return out.replace("free from ", "")


def busybox_version():
    first = run(["busybox"])[1].splitlines()[0]
    return first.replace(" multi-call binary.", "")


def german_env():
    """LC_ALL for German, plus LOCPATH when the locale had to be built privately (host)."""
    if "de_DE.utf8" in run(["locale", "-a"])[1].split():
        return {"LC_ALL": "de_DE.UTF-8"}
    if shutil.which("localedef") and os.path.exists("/usr/share/i18n/locales/de_DE"):
        path = os.path.join(HOME, "locale")
        os.makedirs(path)
        # localedef warns (exit 1) about harmless things; the result is checked below.
        run(["localedef", "-i", "de_DE", "-f", "UTF-8", os.path.join(path, "de_DE.UTF-8")])
        if os.path.exists(os.path.join(path, "de_DE.UTF-8", "LC_CTYPE")):
            return {"LC_ALL": "de_DE.UTF-8", "LOCPATH": path}
    return None


def start_workers():
    procs = []
    worker = os.path.join(HOME, "worker.py")
    with open(worker, "w") as f:
        f.write(HOLD)
    spawn = lambda args: procs.append(subprocess.Popen(["python3", worker] + args, env=BASE_ENV))
    # Same command line for the parent and its forked workers, like gunicorn or php-fpm.
    spawn(["--pool", "queue consumer", "30", "50", "65", "80"])
    spawn(["20", "--comm", "report builder"])
    spawn(["10"] + ["--shard=%02d-of-40,region=eu-central,replica=primary" % i for i in range(1, 41)])
    if opts.get("hold_mb"):
        spawn([str(opts["hold_mb"]), "--comm", "bigcache"])
    time.sleep(3)
    return procs


def swap_used_kib():
    lines = open("/proc/swaps").read().splitlines()[1:]
    return sum(int(l.split()[3]) for l in lines)


def doc(command, env, tool, output, before, after, rc, stderr):
    d = {"system": opts["system"], "distro": DISTRO, "tool": tool, "command": command,
         "env": env, "output": output, "before": before, "after": after,
         "captured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if rc:
        d["returncode"] = rc
    if stderr:
        d["stderr"] = stderr
    return d


def capture(command, argv, env, tool, want_ps=False):
    before = ref()
    rc, output, stderr = run(argv, env)
    ps = run(["ps", "-eo", "pid,rss,vsz,comm"])[1] if want_ps else None
    after = ref()
    if rc != 0 or not output:
        log("  skipped (exit %d): %s: %s" % (rc, command, stderr.strip().splitlines()[:1]))
        return None
    d = doc(command, env, tool, output, before, after, 0, stderr)
    if ps is not None:
        d["ps"] = ps
    return d


def read_screen(fd, quiet=0.6, limit=5.0):
    buf, end = b"", time.time() + limit
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], quiet)
        if not r:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    return buf.decode("utf-8", "replace")


def write_toprc(wanted):
    """Have top write its own rc file, then switch the wanted fields on in it.

    top's arrow keys are not recognised through a pty here (tried CSI and SS3 forms; 'd'
    toggles, the cursor never moves), so the toggle is done on the file top wrote: the
    fields screen gives the order of the Def window's fields, and in that window's
    `fieldscur` the displayed flag is the low bit of each number (procps 4.x) or bit 0x80 of
    each character (3.3.x). Anything top does not know is left untouched.
    """
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("top", ["top"], dict(BASE_ENV, LC_ALL="C", TERM="xterm"))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 120, 200, 0, 0))
    read_screen(fd)
    os.write(fd, b"f")
    screen = read_screen(fd)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|[\x0e\x0f]", "", screen)
    screen = screen[screen.find("Fields Management"):]
    fields = re.findall(r"[* ] (\S+)\s+= ", screen)
    for key in (b"q", b"W", b"q"):
        os.write(fd, key)
        read_screen(fd, quiet=0.4)
    for _ in range(50):
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(fd)
    rcs = [os.path.join(HOME, ".config/procps/toprc"), os.path.join(HOME, ".toprc")]
    rc = next((r for r in rcs if os.path.exists(r)), None)
    if rc is None or not fields:
        log("  top wrote no rc file (fields seen: %d)" % len(fields))
        return []
    chosen = [f for f in wanted if f in fields]
    idx = {fields.index(f) for f in chosen}
    text = open(rc, encoding="latin-1").read()
    head = "Def\tfieldscur="
    start = text.index(head) + len(head)
    numeric = text[start:start + 1].isdigit() or text[start:start + 1] == " "
    end = text.index("\twinflags" if numeric else "\n", start)
    seg = text[start:end]
    vals = [int(v) for v in re.findall(r"\d+", seg)] if numeric else [ord(c) for c in seg]
    vals = [v | (1 if numeric else 0x80) if i in idx else v for i, v in enumerate(vals)]
    # Keep COMMAND the last column, as an admin adding columns would: top pads a COMMAND
    # followed by other columns to the full -w width.
    if "COMMAND" in fields and idx and fields.index("COMMAND") < max(idx):
        cmd = vals[fields.index("COMMAND")]
        anchor = vals[max(idx)]
        vals.remove(cmd)
        vals.insert(vals.index(anchor) + 1, cmd)
    if numeric:
        it = iter(vals)
        seg = re.sub(r"\d+", lambda m: "%d" % next(it), seg)
    else:
        seg = "".join(chr(v) for v in vals)
    with open(rc, "w", encoding="latin-1") as f:
        f.write(text[:start] + seg + text[end:])
    return chosen


DISTRO = distro()
PROCPS = procps_version()
BUSYBOX = busybox_version() if shutil.which("busybox") else None
log("%s: %s, %s, %s" % (opts["system"], DISTRO, PROCPS, BUSYBOX))

FREE = ["free", "free -b", "free -k", "free -m", "free -g", "free --kilo", "free --mega",
        "free --giga", "free --tera", "free -h", "free -h --si", "free -w", "free -t", "free -l",
        "free -h -w -t -l", "free --si", "free -b -w -t -l"]
TOP = ["top -b -n1 -o %MEM -w 512", "top -b -n1 -o %MEM -w 512 -c",
       "top -b -n1 -o %MEM -e m -E g -w 512", "top -b -n1 -o %MEM -E m -w 512",
       "top -b -n3 -d 0.5 -o %MEM -w 512", "top -b -n1"]

procs = start_workers()
results = []
try:
    if opts.get("hold_mb"):
        deadline = time.time() + 90
        while swap_used_kib() < 100 * 1024 and time.time() < deadline:
            time.sleep(1)
        log("  swap in use: %d KiB" % swap_used_kib())
    C = {"LC_ALL": "C"}
    for cmd in FREE:
        results.append(capture(cmd, cmd.split(), C, PROCPS))
    de = german_env()
    translated = os.path.exists("/usr/share/locale/de/LC_MESSAGES/procps-ng.mo")
    log("  procps German catalog: %s; German locale: %s" % (translated, de))
    for cmd in ["free -h", "free", "top -b -n1 -o %MEM -w 512"]:
        if de:
            results.append(capture("LC_ALL=de_DE.UTF-8 " + cmd, cmd.split(), de, PROCPS,
                                   want_ps=cmd.startswith("top")))
    for cmd in TOP:
        if cmd.endswith(" -c") and opts.get("no_cmdlines"):
            continue
        results.append(capture(cmd, cmd.split(), C, PROCPS, want_ps=True))
    if BUSYBOX:
        for cmd in ["busybox free", "busybox free -m", "busybox free -h"]:
            results.append(capture(cmd, cmd.split(), C, BUSYBOX))
        if not opts.get("no_cmdlines"):  # busybox top always shows full command lines
            results.append(capture("busybox top -b -n1", "busybox top -b -n1".split(), C,
                                   BUSYBOX, want_ps=True))
    wanted = ["SWAP", "USED", "RSan", "RSsh", "PSS", "USS", "DATA", "nMaj"]
    chosen = write_toprc(wanted)
    log("  toprc fields enabled: %s" % chosen)
    d = capture("top -b -n1 -w 512", "top -b -n1 -w 512".split(), C, PROCPS, want_ps=True)
    if d:
        d["toprc_fields"] = chosen
        results.append(d)
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    shutil.rmtree(HOME, ignore_errors=True)
json.dump([r for r in results if r], sys.stdout)
PY

read -r -d '' WRITER <<'PY' || true
import json, os, re, sys
system, outdir = sys.argv[1], sys.argv[2]
docs = json.load(sys.stdin)
if not docs:
    sys.exit("headroom: no captures came back for %s" % system)
target = os.path.join(outdir, system)
os.makedirs(target, exist_ok=True)
for name in os.listdir(target):
    if name.endswith(".json"):
        os.remove(os.path.join(target, name))
for d in docs:
    cmd = d["command"]
    if d["env"].get("LC_ALL", "C") != "C":
        cmd = cmd.split(" ", 1)[1]
        prefix = d["env"]["LC_ALL"].split("_")[0] + "-"
    else:
        prefix = ""
    if "toprc_fields" in d:
        cmd += " toprc"
    slug = prefix + re.sub(r"[^A-Za-z0-9.]+", "-", cmd).strip("-")
    with open(os.path.join(target, slug + ".json"), "w") as f:
        json.dump(d, f, indent=1, ensure_ascii=False)
        f.write("\n")
print("headroom: %d captures in %s" % (len(docs), target))
PY

# capture SYSTEM JSON-OPTIONS COMMAND...: run the runner with COMMAND (python3 on the host,
# or `docker exec -i NAME python3`) and write its documents.
# The runner is waited for in the background so that a signal reaches the trap at once
# instead of after the whole capture set; its documents are written only when it succeeded.
capture() {
    local system=$1 opts=$2
    shift 2
    "$@" - "$opts" <<<"$RUNNER" >"$result" &
    runner_pid=$!
    wait "$runner_pid"
    runner_pid=""
    python3 -c "$WRITER" "$system" "$out" <"$result"
}

start_container() {
    local name=$1
    shift
    docker rm -f "$name" >/dev/null 2>&1 || true
    containers+=("$name")
    docker run -d --name "$name" --hostname "$name" "${SYSTEMD_FLAGS[@]}" "$@" >/dev/null
    # Wait for systemd to settle, so the process table is the one of a booted system.
    local i
    for i in $(seq 1 30); do
        case $(docker exec "$name" systemctl is-system-running 2>/dev/null || true) in
            running | degraded) return 0 ;;
        esac
        sleep 1
    done
    echo "headroom: $name: systemd did not finish booting" >&2
    return 1
}

capture_container() {
    local suite=$1 image=$2 name="headroom-capture-$1"
    start_container "$name" "$image"
    capture "$suite-container" "{\"system\": \"$suite-container\"}" docker exec -i "$name" python3
    docker rm -f "$name" >/dev/null
}

capture_swap() {
    local name=headroom-capture-swap
    swapdir=$(mktemp -d "$LOG_DIR/capture-swap.XXXXXX")
    start_container "$name" "${SWAP_FLAGS[@]}" --memory 200m --memory-swap 900m \
        -v "$swapdir:/swap" "$IMAGE_BOOKWORM"
    # swapon refuses holes: write the file out instead of fallocate/truncate.
    docker exec "$name" sh -c 'dd if=/dev/zero of=/swap/swapfile bs=1M count=1024 status=none &&
        chmod 600 /swap/swapfile && mkswap /swap/swapfile >/dev/null && swapon /swap/swapfile'
    capture bookworm-swap-container \
        '{"system": "bookworm-swap-container", "hold_mb": 400}' docker exec -i "$name" python3
    docker exec "$name" swapoff /swap/swapfile
    docker rm -f "$name" >/dev/null
    rm -rf --one-file-system "$swapdir"
    swapdir=""
}

main() {
    local systems=("$@")
    [ ${#systems[@]} -gt 0 ] || systems=(host bullseye bookworm trixie swap)
    "$root/scripts/docker-setup.sh"
    local s host
    host="host-$(. /etc/os-release && echo "$ID$VERSION_ID")"
    for s in "${systems[@]}"; do
        case $s in
            # Full command lines of a workstation's processes are nobody's fixture: no -c.
            host) capture "$host" "{\"system\": \"$host\", \"no_cmdlines\": true}" python3 ;;
            bullseye) capture_container bullseye "$IMAGE_BULLSEYE" ;;
            bookworm) capture_container bookworm "$IMAGE_BOOKWORM" ;;
            trixie) capture_container trixie "$IMAGE_TRIXIE" ;;
            swap) capture_swap ;;
            *)
                echo "headroom: unknown system '$s' (host bullseye bookworm trixie swap)" >&2
                exit 2
                ;;
        esac
    done
}

main "$@"
