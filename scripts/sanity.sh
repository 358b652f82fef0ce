#!/usr/bin/env bash
# Run ansible-test's own module checks (validate-modules: documentation against argument
# specs, check-mode declarations, licence headers ...) on headroom's modules.
#   scripts/sanity.sh [ansible-test sanity options]
# ansible-test needs a collection tree, so the modules and module_utils are copied into a
# throwaway one, with their imports rewritten to the collection's names.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
work=$(mktemp -d /tmp/headroom-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT

coll="$work/ansible_collections/headroom/core"
mkdir -p "$coll/plugins" "$coll/meta"
cp -r "$root/library" "$coll/plugins/modules"
cp -r "$root/module_utils" "$coll/plugins/module_utils"
cp -r "$root/doc_fragments" "$coll/plugins/doc_fragments"
find "$coll/plugins" -name '__pycache__' -prune -exec rm -rf {} +
sed -i 's/from ansible\.module_utils\.headroom/from ansible_collections.headroom.core.plugins.module_utils.headroom/' \
    "$coll"/plugins/modules/*.py
# a collection's modules name its doc fragments by their full name
sed -i 's/^  - headroom_redis$/  - headroom.core.headroom_redis/' "$coll"/plugins/modules/*.py
printf 'namespace: headroom\nname: core\nversion: 0.1.0\nreadme: README.md\nauthors: [headroom contributors]\n' \
    >"$coll/galaxy.yml"
printf -- '---\nrequires_ansible: ">=2.17"\n' >"$coll/meta/runtime.yml"
touch "$coll/README.md"
git -C "$coll" init -q
git -C "$coll" add -A
git -C "$coll" -c user.email=ci@headroom -c user.name=ci commit -qm sanity

# ansible-test bootstraps pip in its venv with a script it downloads from a host this machine
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
"$venv/bin/ansible-test" sanity --test validate-modules --python "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" "$@"
