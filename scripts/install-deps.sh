#!/usr/bin/env bash
# Install the Debian packages headroom's tests need, only those that are missing.
#   scripts/install-deps.sh
# Idempotent: a second run installs nothing and does not touch apt's lists.
set -euo pipefail

# Append packages here (one per line) rather than installing by hand: a fresh machine
# gets exactly this list.
PACKAGES=(
    docker.io
    debootstrap
    busybox
)

# Each part of the project lists what its own tests need in scripts/deps/<part>.txt
# (one package a line, # comments allowed).
deps_dir="$(cd "$(dirname "$0")" && pwd)/deps"
for list in "$deps_dir"/*.txt; do
    [ -f "$list" ] || continue
    while read -r pkg _; do
        case "$pkg" in ""|\#*) continue ;; esac
        PACKAGES+=("$pkg")
    done <"$list"
done

if [ "$(id -u)" -ne 0 ]; then
    echo "headroom: install-deps.sh needs root (apt-get install)" >&2
    exit 1
fi

# Concurrent runs on a fresh machine would trip over apt's locks: one installs, the others
# wait and then find everything present.
exec 9>/var/lock/headroom-install-deps.lock
flock 9

missing=()
for pkg in "${PACKAGES[@]}"; do
    # A workstation with a working Docker (Docker CE, a rootful engine already up, ...)
    # must keep it: installing docker.io next to docker-ce conflicts.
    if [ "$pkg" = docker.io ] && docker info >/dev/null 2>&1; then
        continue
    fi
    # "install ok installed" distinguishes a real install from a removed-but-configured one.
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
        continue
    fi
    missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "headroom: all ${#PACKAGES[@]} Debian packages present"
    exit 0
fi

echo "headroom: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
