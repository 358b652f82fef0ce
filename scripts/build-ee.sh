#!/usr/bin/env bash
# Build headroom's execution environment (execution-environment.yml) on this machine, where
# quay.io and Galaxy cannot be reached:
#   scripts/build-ee.sh [TAG]          (default headroom-ee:local)
# What changes against the project's file, and only that:
# - the base image: headroom/debian:bookworm (scripts/docker-setup.sh) with Python's pip and
#   the CA bundle of this machine, instead of quay.io/centos/centos:stream9; apt-get for dnf; its
#   Python a venv in /opt/python (Debian's python3 refuses the ensurepip ansible-builder runs);
# - where things come from: the Python packages from a wheelhouse downloaded here, and the pinned
#   collections from the copies PyPI's `ansible` package installed in .venv, checked to be the
#   very versions the project's file pins. headroom.memory comes from the checkout, as there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-headroom-ee:local}
venv="$root/.venv"
work=$(mktemp -d /tmp/headroom-ee.XXXXXX)
trap 'rm -rf "$work"' EXIT
step() { printf '=== build-ee: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "local base image headroom/ee-base:bookworm"
mkdir -p "$work/base"
cp /etc/ssl/certs/ca-certificates.crt "$work/base/ca-certificates.crt"
cat >"$work/base/Containerfile" <<'CF'
FROM headroom/debian:bookworm
# the package lists stay: ansible-builder's install-from-bindep runs apt-get install later
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv ca-certificates procps
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Debian's own python3 refuses ensurepip, which ansible-builder runs: the image's Python is a venv
RUN python3 -m venv /opt/python
ENV PATH=/opt/python/bin:$PATH
CF
docker build -q -f "$work/base/Containerfile" -t headroom/ee-base:bookworm "$work/base" >/dev/null

step "wheelhouse for the image's Python 3.11"
"$venv/bin/python" - "$root/execution-environment.yml" >"$work/pip-wants.txt" <<'PY'
import sys, yaml
ee = yaml.safe_load(open(sys.argv[1]))
deps = ee['dependencies']
for want in [deps['ansible_core']['package_pip'], deps['ansible_runner']['package_pip']] + deps.get('python', []):
    print(want.split('#')[0].strip())
# what ansible-builder itself installs in its builder stage
print('bindep'); print('pyyaml'); print('packaging'); print('dumb-init==1.2.5')
PY
"$venv/bin/pip" download --quiet --disable-pip-version-check -d "$work/wheels" -r "$work/pip-wants.txt" \
    --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform linux_x86_64 --implementation cp 2>&1 | grep -v '^WARNING: Location' || true
"$venv/bin/pip" download --quiet --disable-pip-version-check -d "$work/wheels" --no-deps pbr 2>&1 | grep -v '^WARNING: Location' || true

step "the pinned collections, from .venv"
"$venv/bin/python" - "$root/execution-environment.yml" "$venv" "$work" <<'PY'
import json, glob, os, shutil, sys, yaml
ee_path, venv, work = sys.argv[1:]
ee = yaml.safe_load(open(ee_path))
site = glob.glob(os.path.join(venv, 'lib', 'python3*', 'site-packages', 'ansible_collections'))[0]
local = []
for entry in ee['dependencies']['galaxy']['collections']:
    if entry.get('type') == 'dir':
        local.append(entry)
        continue
    namespace, name = entry['name'].split('.')
    source = os.path.join(site, namespace, name)
    have = json.load(open(os.path.join(source, 'MANIFEST.json')))['collection_info']['version']
    if entry['version'].lstrip('=') != have:
        sys.exit('build-ee: execution-environment.yml pins %s %s, the tested .venv has %s'
                 % (entry['name'], entry['version'], have))
    shutil.copytree(source, os.path.join(work, 'collections', namespace, name))
    local.append({'name': 'collections/%s/%s' % (namespace, name), 'type': 'dir'})
    print('%s %s' % (entry['name'], have))
ee['images']['base_image']['name'] = 'headroom/ee-base:bookworm'
ee['dependencies']['python_interpreter'] = {'package_system': 'python3', 'python_path': '/opt/python/bin/python3'}
ee['dependencies']['galaxy'] = {'collections': local}
ee['options']['package_manager_path'] = '/usr/bin/apt-get'
root = os.path.dirname(os.path.abspath(ee_path))
ee['additional_build_files'] = [dict(f, src=os.path.join(root, f['src'])) for f in ee['additional_build_files']] + [
    {'src': os.path.join(work, 'wheels'), 'dest': 'wheels'},
    {'src': os.path.join(work, 'collections'), 'dest': 'collections'}]
# pip installs from the wheelhouse only, in every stage
ee['additional_build_steps'] = {
    'prepend_base': ['COPY _build/wheels /wheels', 'ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels'],
    'prepend_galaxy': ['ENV ANSIBLE_GALAXY_SERVER_LIST=""'],
    'append_final': ['RUN rm -rf /wheels'],
}
yaml.safe_dump(ee, open(os.path.join(work, 'execution-environment.yml'), 'w'), sort_keys=False)
PY
rm -rf "$root/collections/ansible_collections/headroom/memory/tests/output"

step "ansible-builder build -t $tag"
cd "$work"
"$venv/bin/ansible-builder" build -f execution-environment.yml -t "$tag" -c context \
    --container-runtime docker --build-arg PKGMGR_PRESERVE_CACHE=always -v 1
step "built $tag"
