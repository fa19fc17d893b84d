#!/usr/bin/env bash
# Lint and types, run first by `make test` (and alone by `make lint`): ruff (pycodestyle, pyflakes, import order,
# bugbear, async pitfalls, …) over everything, mypy over the code (strict for shared/ and the domains). The rules
# and why they were chosen: pyproject.toml [tool.ruff*] / [tool.mypy] and docs/lint.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deploy/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/mypy
