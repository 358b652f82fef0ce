#!/usr/bin/env bash
# Build (or find in the cache) the headroom test VM's disk image: Debian 12 with its stock kernel,
# systemd, sshd and python3 (scripts/vm/packages.txt), made with mmdebstrap into an ext4 file.
#
#   scripts/vm/build-image.sh            build unless cached; print the image's directory last
#   scripts/vm/build-image.sh --key      print the cache key only (builds nothing)
#   HEADROOM_VM_REBUILD=1 scripts/vm/build-image.sh   build anew even when cached
#
# guest-early/ is copied into the tree before the packages are installed (the initramfs's settings),
# guest/ after. The image is cached in $HEADROOM_VM_CACHE (default /var/cache/headroom/vm), in a directory named by
# its key: a hash of this script, packages.txt, the files under guest/, the suite and the mirror. It
# survives between runs and CI runs on this machine; a second run finds it and builds nothing. Builds
# of one key take a lock; the image directory appears whole (renamed into place) or not at all.
# Images of other keys not used for 14 days are removed after a build. The directory holds: rootfs.raw (the ext4 image, sparse), vmlinuz and initrd.img (booted directly
# by QEMU), ssh_host_ed25519_key.pub (for the run's known_hosts), versions (kernel, systemd, ...) and
# build.log. Tests boot it on a throw-away qcow2 overlay: the cached image is never written to.
#
# A cached image is not refreshed when Debian updates bookworm: the key is the recipe, not the
# archive's state. HEADROOM_VM_REBUILD=1 takes the current packages; old keys can be deleted.
# Needs root (mmdebstrap's root mode, files owned by root in the image) and the packages of
# scripts/deps/vm.txt (scripts/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${HEADROOM_VM_CACHE:-/var/cache/headroom/vm}
suite=${HEADROOM_VM_SUITE:-bookworm}
mirror=${HEADROOM_VM_MIRROR:-http://deb.debian.org/debian}
security_mirror=${HEADROOM_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# The root file system's size: sparse, so only what is written takes room. Room for a swap file of
# the VM's RAM and more (the scenarios of issue 21 make one).
size=${HEADROOM_VM_DISK_SIZE:-6G}

recipe_key() {
    # Each file's path, whether it is executable and its content's hash; then the settings.
    (
        cd "$here"
        find build-image.sh packages.txt guest guest-early -type f | LC_ALL=C sort | while read -r file; do
            if [ -x "$file" ]; then mode=x; else mode=-; fi
            printf '%s %s %s\n' "$mode" "$(sha256sum <"$file" | cut -d' ' -f1)" "$file"
        done
        printf 'suite %s\nmirror %s\nsecurity %s\nsize %s\n' "$suite" "$mirror" "$security_mirror" "$size"
    ) | sha256sum | cut -c1-16
}

key="$suite-$(recipe_key)"
if [ "${1:-}" = --key ]; then
    echo "$key"
    exit 0
fi
dest="$cache/$key"

if [ "$(id -u)" -ne 0 ]; then
    echo "headroom vm: building the image needs root (mmdebstrap, root-owned files)" >&2
    exit 1
fi
mkdir -p "$cache"
chmod 700 "$cache"

# One build per key at a time: a second run waits here, then finds the image built.
exec 8>"$cache/$key.lock"
flock 8
if [ -f "$dest/rootfs.raw" ] && [ "${HEADROOM_VM_REBUILD:-0}" != 1 ]; then
    touch "$dest/last-used"
    echo "headroom vm: image $key cached in $dest" >&2
    echo "$dest"
    exit 0
fi

for tool in mmdebstrap mkfs.ext4 qemu-img; do
    command -v "$tool" >/dev/null || { echo "headroom vm: $tool missing: run scripts/install-deps.sh" >&2; exit 1; }
done

work=$(mktemp -d "$cache/.build-$key.XXXXXX")
cleanup() {
    # Nothing may be mounted below the tree (mmdebstrap runs in a mount namespace of its own, so its
    # mounts of /dev and /sys die with it); if anything is, the tree is left rather than deleted through it.
    if grep -q " $work/" /proc/self/mountinfo; then
        echo "headroom vm: something is still mounted under $work: left in place" >&2
        return
    fi
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
tree="$work/tree"
out="$work/image"
mkdir -p "$out"
log="$out/build.log"
started=$(date +%s)
echo "headroom vm: building image $key (Debian $suite, about 2 minutes; log in $log)" >&2

packages=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/packages.txt" | grep -v '^$' | paste -sd, -)

# Documentation, man pages and other locales are of no use in the test VM: not unpacked (faster, smaller).
# mmdebstrap's root mode mounts /sys and /dev nodes into the tree: in a mount namespace of its own here,
# those mounts end with it, however it ends (a killed build leaves none behind in the machine's namespace).
{
    unshare --mount --propagation private mmdebstrap --mode=root --variant=apt --format=directory \
        --include="$packages" \
        --aptopt='Acquire::Retries "3"' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --setup-hook='cp -r "'"$here"'/guest-early/." "$1/"' \
        "$suite" "$tree" \
        "deb $mirror $suite main" \
        "deb $mirror $suite-updates main" \
        "deb $security_mirror $suite-security main"
} >"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "headroom vm: mmdebstrap failed (log: $log)" >&2; exit 1; }

# The files of guest/ (network, fstab, sshd, the unit that installs the run's key), as root's.
cp -r --preserve=mode "$here/guest/." "$tree/"
# A machine id of its own: without one, systemd's first boot would apply the presets and enable
# what is disabled here. Every boot of this image shares it (one test VM at a time).
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$tree/etc/machine-id"
echo >>"$tree/etc/machine-id"
{
    systemctl --root="$tree" enable systemd-networkd.service headroom-authorized-key.service ssh.service
    # No background work nobody asked for, and no wait for a network that is static anyway.
    systemctl --root="$tree" mask apt-daily.timer apt-daily-upgrade.timer systemd-networkd-wait-online.service \
        e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer
    # No screen: the serial console (console=ttyS0) has its own getty.
    systemctl --root="$tree" disable getty@tty1.service
    # systemd-oomd is there for the tests that want it (systemctl unmask --now systemd-oomd.socket
    # systemd-oomd.service), masked by default: disabling is not enough, user@.service wants it at
    # root's first login (Debian's user@.service.d/10-oomd-user-service-defaults.conf), and running it
    # would act on the memory tests (ManagedOOMSwap=kill on -.slice) before the kernel does.
    systemctl --root="$tree" disable systemd-oomd.service systemd-oomd.socket
    systemctl --root="$tree" mask systemd-oomd.service systemd-oomd.socket
    # earlyoom is installed (its package enables it) but not running: the oom_guard role enables it with
    # headroom's settings (tests/vm), and its state=absent disables it again. Running from the first boot, it
    # would act on the memory tests before the kernel does.
    systemctl --root="$tree" disable earlyoom.service
} >>"$log" 2>&1
passwd_root=$(grep '^root:' "$tree/etc/shadow" | cut -d: -f2)
case "$passwd_root" in
    '*'|'!'*) ;;
    *) echo "headroom vm: root has a password in the image" >&2; exit 1 ;;
esac

# What boots: the kernel and the initramfs, outside the image (QEMU's -kernel/-initrd).
vmlinuz=$(ls "$tree"/boot/vmlinuz-* | sort -V | tail -n 1)
release=${vmlinuz##*/vmlinuz-}
cp "$vmlinuz" "$out/vmlinuz"
cp "$tree/boot/initrd.img-$release" "$out/initrd.img"
cp "$tree/etc/ssh/ssh_host_ed25519_key.pub" "$out/"
{
    printf 'key %s\nsuite %s\nkernel %s\n' "$key" "$suite" "$release"
    chroot "$tree" dpkg-query -W -f='${Package} ${Version}\n' \
        linux-image-amd64 "linux-image-$release" systemd openssh-server python3 procps util-linux libc6 \
        python3-django gunicorn redis-server python3-redis python3-django-redis earlyoom
    printf 'built %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/versions"

# The ext4 file, sparse, made from the tree as it is (mkfs.ext4 -d: no mount, no loop device).
rm -f "$tree"/etc/ssh/ssh_host_*_key.pub.tmp
truncate -s "$size" "$out/rootfs.raw"
mkfs.ext4 -q -F -L headroom-root -d "$tree" "$out/rootfs.raw" >>"$log" 2>&1
rm -rf --one-file-system "$tree"
chmod 400 "$out/rootfs.raw"

rm -rf "$dest"
touch "$out/last-used"
mv "$out" "$dest"

# The images of other recipes (an older packages.txt, ...) not used for 14 days go: each is about 700 MB.
for old in "$cache"/*/last-used; do
    [ -e "$old" ] || continue
    dir=${old%/last-used}
    [ "$dir" = "$dest" ] && continue
    if [ -n "$(find "$old" -mtime +14)" ]; then
        # not while a run of that recipe holds its lock
        flock -n "$dir.lock" rm -rf "$dir" && rm -f "$dir.lock" && echo "headroom vm: removed the unused image $dir" >&2
    fi
done
echo "headroom vm: image $key built in $(( $(date +%s) - started )) s ($(du -sh "$dest/rootfs.raw" | cut -f1) used)" >&2
echo "$dest"
