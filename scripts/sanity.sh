#!/usr/bin/env bash
# ansible-test sanity, every test, on the collection as it is in the checkout
# (collections/ansible_collections/headroom/memory): pep8, pylint, validate-modules, yamllint,
# the changelog, and compile and import for every Python the modules support on managed hosts.
#   scripts/sanity.sh [ansible-test sanity options]
# ansible-test finds a Python version as python3.X on PATH. The ones this machine has elsewhere
# (pyenv's builds) are put on PATH for it; a version found nowhere is skipped, and ansible-test
# says so in its output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
coll="$root/collections/ansible_collections/headroom/memory"

# Python versions the modules run on (ansible-core 2.19's target versions)
versions="3.8 3.9 3.10 3.11 3.12 3.13 3.14"
bin=$(mktemp -d /tmp/headroom-sanity.XXXXXX)
# ansible-test's scratch space (its venvs) must not stay in the collection: builds copy the tree
trap 'rm -rf "$bin" "$coll/tests/output"; rmdir "$coll/tests" 2>/dev/null || true' EXIT
found=()
for version in $versions; do
    for python in $(ls -d "$HOME"/.pyenv/versions/"$version".*/bin/"python$version" 2>/dev/null) \
                  $(command -v "python$version" || true); do
        # a pyenv shim answers for every version, and fails for those not selected: run it
        if "$python" -c 'import venv' 2>/dev/null; then
            ln -s "$python" "$bin/python$version"
            found+=("$version")
            break
        fi
    done
done
echo "headroom sanity: Pythons found for compile and import: ${found[*]:-none}"

# ansible-test bootstraps pip in its venvs with a script it downloads from a host this machine
# cannot reach; Python's own ensurepip does the same job.
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for version in 24.2 25.1 25.3; do
    shim="$cache/get_pip_${version//./_}.py"
    [ -f "$shim" ] || cat >"$shim" <<PY
import subprocess, sys
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', 'pip==$version'])
PY
done

cd "$coll"
# without pyenv's shims, which would answer for the versions not found
PATH="$bin:$venv/bin:$(printf %s "$PATH" | tr : '\n' | grep -v '/\.pyenv/shims$' | paste -sd:)"
export PATH
ansible-test sanity --venv --color no "$@"
