#!/usr/bin/env bash
# Make sure a Docker engine answers and headroom's Debian images exist.
#   scripts/docker-setup.sh
# Environment:
#   HEADROOM_IMAGE_BULLSEYE / _BOOKWORM / _TRIXIE  use this image instead (never built here)
#   HEADROOM_DEBIAN_MIRROR   debootstrap mirror (default http://deb.debian.org/debian)
#   HEADROOM_BUILD_JOBS      images built at once (default 3; see the note at build_all)
#   HEADROOM_DOCKERD_TIMEOUT seconds to wait for a freshly started dockerd (default 60)
# No registry is reachable, so images are made with debootstrap + `docker import`.
# A run with everything in place only asks docker and returns in about a second.
set -euo pipefail

LOG_DIR=/var/tmp/headroom
MIRROR=${HEADROOM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
JOBS=${HEADROOM_BUILD_JOBS:-3}
DOCKERD_TIMEOUT=${HEADROOM_DOCKERD_TIMEOUT:-60}
INCLUDE=python3,procps,systemd,systemd-sysv,sudo,busybox,openssh-server,locales,iproute2
LOCALES=("en_US.UTF-8 UTF-8" "de_DE.UTF-8 UTF-8")

mkdir -p "$LOG_DIR"
# Several test runs may start at once on a fresh machine: one builds, the others wait and
# then find the images (and the engine) in place.
exec 9>"$LOG_DIR/docker-setup.lock"
flock 9
work=""
pids=()

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Lazily unmounts whatever debootstrap left mounted inside a rootfs (proc, sys, dev on
# failure), deepest first, so that rm never walks into the host's /proc or /dev.
unmount_under() {
    local dir=$1
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" || true; done
}

# Ends a build job and the debootstrap/dpkg/tar it started, by process id.
kill_tree() {
    local child
    for child in $(pgrep -P "$1" || true); do
        kill_tree "$child"
    done
    kill "$1" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do
        kill_tree "$pid"
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$work" ] && [ -d "$work" ]; then
        unmount_under "$work"
        rm -rf --one-file-system "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_engine() {
    if docker info >/dev/null 2>&1; then
        return 0
    fi
    if [ ! -x /usr/sbin/dockerd ]; then
        echo "headroom: no answering Docker engine and no /usr/sbin/dockerd; run scripts/install-deps.sh" >&2
        exit 1
    fi
    echo "headroom: starting dockerd (log: $LOG_DIR/dockerd.log)"
    # setsid: the engine must outlive this script and not get its Ctrl-C. Nor may it hold any lock for
    # the rest of its life: every descriptor above 2 is closed, ours (9) and our callers' (a run under
    # `flock /var/lock/headroom-kernel.lock` hands its lock down as fd 3; dockerd kept it, and every later
    # run waited for the lock forever).
    (
        for fd in $(ls /proc/$BASHPID/fd); do
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec nohup setsid /usr/sbin/dockerd
    ) >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
    local dockerd=$! t0 waited=0
    t0=$(now)
    until docker info >/dev/null 2>&1; do
        if ! kill -0 "$dockerd" 2>/dev/null; then
            echo "headroom: dockerd exited at start; last lines of $LOG_DIR/dockerd.log:" >&2
            tail -n 20 "$LOG_DIR/dockerd.log" >&2
            exit 1
        fi
        if [ "$waited" -ge "$DOCKERD_TIMEOUT" ]; then
            echo "headroom: dockerd did not answer within ${DOCKERD_TIMEOUT}s; last lines of $LOG_DIR/dockerd.log:" >&2
            tail -n 20 "$LOG_DIR/dockerd.log" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "headroom: dockerd answers after $(elapsed "$t0")s"
}

# build_image SUITE IMAGE: debootstrap a rootfs, add locales, import, remove the rootfs.
build_image() {
    local suite=$1 image=$2 rootfs="$work/$1"
    debootstrap --variant=minbase --include="$INCLUDE" "$suite" "$rootfs" "$MIRROR"
    # locale-gen only builds what /etc/locale.gen lists; the German one is for localized
    # captures and for tests that prove parsers refuse (or handle) translated output.
    local entry
    for entry in "${LOCALES[@]}"; do
        if grep -q "^# *$entry\$" "$rootfs/etc/locale.gen"; then
            sed -i "s/^# *$entry\$/$entry/" "$rootfs/etc/locale.gen"
        elif ! grep -q "^$entry\$" "$rootfs/etc/locale.gen"; then
            echo "$entry" >>"$rootfs/etc/locale.gen"
        fi
    done
    chroot "$rootfs" /usr/sbin/locale-gen
    # Every container must get its own machine id (systemd writes one at boot when empty).
    : >"$rootfs/etc/machine-id"
    rm -f "$rootfs"/var/cache/apt/archives/*.deb
    unmount_under "$rootfs"
    tar -C "$rootfs" --numeric-owner -c . | docker import \
        --change 'ENV container=docker' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/lib/systemd/systemd"]' \
        --message "headroom: debootstrap --variant=minbase $suite" \
        - "$image"
    rm -rf --one-file-system "$rootfs"
}

# Measured on 2 cores, fresh builds from deb.debian.org: three at once 132 s in all (each
# 125-133 s), one after another 157 s (51-55 s each). Downloads overlap with the other builds'
# dpkg work, so parallel wins, though by less than the job count. HEADROOM_BUILD_JOBS=1 serializes.
build_all() {
    local -a todo=("$@")
    local -A started=()
    local i=0 running=0 suite image log failed=0 pid t0
    work=$(mktemp -d "$LOG_DIR/build.XXXXXX")
    while [ $i -lt ${#todo[@]} ] || [ $running -gt 0 ]; do
        while [ $i -lt ${#todo[@]} ] && [ $running -lt "$JOBS" ]; do
            suite=${todo[$i]%%=*}
            image=${todo[$i]#*=}
            log="$LOG_DIR/build-$suite.log"
            echo "headroom: building $image (log: $log)"
            build_image "$suite" "$image" >"$log" 2>&1 &
            pid=$!
            pids+=("$pid")
            started[$pid]="$suite=$image=$(now)"
            i=$((i + 1))
            running=$((running + 1))
        done
        # wait -n -p (bash 5.1) tells which job ended, so each image gets its own timing.
        local done_pid rc=0
        wait -n -p done_pid "${!started[@]}" || rc=$?
        IFS== read -r suite image t0 <<<"${started[$done_pid]}"
        unset "started[$done_pid]"
        running=$((running - 1))
        if [ "$rc" -eq 0 ]; then
            echo "headroom: built $image in $(elapsed "$t0")s"
        else
            echo "headroom: building $image FAILED (exit $rc); last lines of $LOG_DIR/build-$suite.log:" >&2
            tail -n 15 "$LOG_DIR/build-$suite.log" >&2
            failed=1
        fi
    done
    pids=()
    return "$failed"
}

main() {
    local t0 suite var image
    t0=$(now)
    start_engine
    local -a todo=()
    for suite in bullseye bookworm trixie; do
        var="HEADROOM_IMAGE_${suite^^}"
        image=${!var:-}
        if [ -n "$image" ]; then
            # Someone else's image: use it as it is, but say early when it is not there.
            if ! docker image inspect "$image" >/dev/null 2>&1; then
                echo "headroom: $var=$image but docker has no such image" >&2
                exit 1
            fi
            continue
        fi
        image="headroom/debian:$suite"
        if ! docker image inspect "$image" >/dev/null 2>&1; then
            todo+=("$suite=$image")
        fi
    done
    if [ ${#todo[@]} -gt 0 ]; then
        command -v debootstrap >/dev/null || {
            echo "headroom: debootstrap missing; run scripts/install-deps.sh" >&2
            exit 1
        }
        build_all "${todo[@]}"
    fi
    echo "headroom: docker images ready in $(elapsed "$t0")s"
}

main "$@"
