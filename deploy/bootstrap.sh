#!/usr/bin/env bash
# Creates or refreshes the project's virtualenv (.venv) with pinned dependencies; a no-op when up to date.
# Needs Python >= 3.11. Dependencies come from PyPI, pinned by deploy/constraints.txt
# (regenerate with: .venv/bin/uv pip compile pyproject.toml --extra dev -o deploy/constraints.txt -p 3.11).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
py=${PYTHON:-python3}

"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || { echo "bootstrap: Python >= 3.11 is required (found: $("$py" --version 2>&1))" >&2; exit 1; }

stamp="$venv/.postloan-$(cat "$root/pyproject.toml" "$root/deploy/constraints.txt" | sha1sum | cut -c1-12)"
[ -f "$stamp" ] && exit 0

if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv" >&2
  if ! "$py" -m venv "$venv" 2>/dev/null; then
    # Debian's system Python ships venv separately.
    sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq python3-venv >&2
    rm -rf "$venv"; "$py" -m venv "$venv"
  fi
fi
echo "bootstrap: installing dependencies into $venv" >&2
# uv resolves and installs in seconds where pip takes minutes; it is itself a pinned PyPI wheel.
"$venv/bin/python" -m pip install -q --disable-pip-version-check 'uv>=0.9,<1' 2>/dev/null \
  || "$venv/bin/python" -m pip install -q --disable-pip-version-check uv
# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on CI machines) no process writes it, and
# every service process would compile its dependencies anew (about 7 CPU-seconds each; nine copies at once on two
# cores were not ready in 90 s).
VIRTUAL_ENV="$venv" "$venv/bin/uv" pip install -q --compile-bytecode -c "$root/deploy/constraints.txt" -e "$root[dev]"
rm -f "$venv"/.postloan-*
touch "$stamp"
