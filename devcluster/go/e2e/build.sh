#!/usr/bin/env bash
# Builds (or finds) upstream's end-to-end suite as one test binary and prints its path:
#   e2e.test  <- `go test -c k8s.io/kubernetes/test/e2e` at the version pinned in go.mod (the control plane's)
# Like the control-plane binaries it lives outside the clone, keyed by version, so every clone on this machine (CI's
# too) reuses it:  ${DAEMONLESS_CACHE:-~/.cache/daemonless}/e2e-k8s-<version>/e2e.test
# With the Go build cache warm from the control-plane build (same flags, so most packages are shared): 401 s on 2 cores,
# and the cache grew from 3.9 to 4.7 GB. Progress goes to stderr; the binary's path is the only line on stdout.
set -euo pipefail
cd "$(dirname "$0")"
k8s_version="$(sed -nE 's#^[[:space:]]*(require[[:space:]]+)?k8s\.io/kubernetes (v[^ ]+).*#\2#p' go.mod | head -n 1)"
[[ -n "$k8s_version" ]] || { echo "e2e: cannot read the pinned k8s.io/kubernetes version from go.mod" >&2; exit 1; }
cache_root="${DAEMONLESS_CACHE:-${HOME}/.cache/daemonless}"
dir="${cache_root}/e2e-k8s-${k8s_version}"
bin="${dir}/e2e.test"
if [[ -x "$bin" ]]; then echo "$bin"; exit 0; fi

mkdir -p "$cache_root"
started=$(date +%s)
# The binary is written to a temporary folder and moved in only when complete, so an interrupted build never leaves a
# half-written binary that a later run would take for a cached one.
tmp="$(mktemp -d "${cache_root}/.build-e2e.XXXXXX")"
beat=""
# Also stops the heartbeat when the build fails (set -e exits before the explicit kill).
trap '[[ -n "$beat" ]] && kill "$beat" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "e2e: go mod download (k8s ${k8s_version}) ..." >&2
go mod download
echo "e2e: building e2e.test (go test -c k8s.io/kubernetes/test/e2e; about 7 min on 2 cores after the control-plane build) ..." >&2
# A heartbeat so a person (or CI log) sees the build is alive: elapsed time and Go build cache size.
( while sleep 30; do
    echo "e2e: still building, $(( $(date +%s) - started )) s, go build cache $(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1)" >&2
  done ) &
beat=$!
go test -c -trimpath -ldflags='-s -w' -o "$tmp/e2e.test" k8s.io/kubernetes/test/e2e
kill "$beat" 2>/dev/null || true
beat=""
mkdir -p "$dir"
mv "$tmp/e2e.test" "$bin"
echo "e2e: built in $(( $(date +%s) - started )) s -> $bin" >&2
echo "$bin"
