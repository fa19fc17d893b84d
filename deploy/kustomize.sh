#!/usr/bin/env bash
# kustomize for rendering deploy/k8s's overlays offline (never kubectl's, which a fresh machine may lack):
# install | path. `install` builds the pinned release with the machine's Go into $state/tools/bin: once per checkout
# (a no-op when that version is there). Go's own module and build caches are the machine's (~/go, ~/.cache), so the
# first build on a machine takes about three minutes on two cores and a fresh clone's (CI's) a few seconds.
# Settings: KUSTOMIZE_VERSION (the pin below), GO (the go command; default: go on PATH, else /usr/local/go/bin/go),
# POSTLOAN_STATE_DIR (<project>/.local).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${POSTLOAN_STATE_DIR:-$root/.local}
version=${KUSTOMIZE_VERSION:-v5.8.0}  # its modules build with Go 1.24+, no newer toolchain fetched
tools="$state/tools"
bin="$tools/bin/kustomize"

installed() { [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -qx "$version"; }

install() {
  installed && return 0
  local go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
  [ -x "$go" ] || { echo "kustomize: Go is needed to build kustomize $version (not found: $go)" >&2; exit 1; }
  echo "kustomize: building $version with $("$go" version | cut -d' ' -f3) into $tools/bin" >&2
  mkdir -p "$tools/bin"
  # GOTOOLCHAIN=local: the machine's Go, never one downloaded; modules cached writable (so removable).
  GOTOOLCHAIN=local GOBIN="$tools/bin" GOFLAGS=-modcacherw \
    "$go" install "sigs.k8s.io/kustomize/kustomize/v5@$version" >&2
  installed || { echo "kustomize: $bin does not report $version" >&2; exit 1; }
}

case "${1:-}" in
  install) install ;;
  path) echo "$bin" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
