#!/usr/bin/env bash
# Create (or refresh) the project's virtualenv in .venv.
#   scripts/venv.sh [requirements-file]   (default: requirements.txt)
# Re-installs only when the requirements file changed since the last run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req=${1:-requirements.txt}
venv="$root/.venv"
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" || {
        echo "headroom: '$python -m venv' failed; on Debian/Ubuntu install python3-venv" >&2
        exit 1
    }
fi
stamp="$venv/.installed-$(basename "$req")"
sum=$(cat "$root/$req" "$root/requirements.txt" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/$req"
    echo "$sum" >"$stamp"
fi
