#!/usr/bin/env bash
# Builds (or finds) the control-plane binaries pinned in go.mod and prints the folder that holds them.
#   kube-apiserver kube-controller-manager kube-scheduler kubectl  <- k8s.io/kubernetes
#   etcd                                                            <- go.etcd.io/etcd/server/v3 (./etcd)
# Binaries live outside the clone, keyed by version, so every clone on this machine (CI's too) reuses them:
#   ${DAEMONLESS_CACHE:-~/.cache/daemonless}/k8s-<version>-etcd-<version>/
# If KUBEBUILDER_ASSETS names a folder with some of them (envtest users have etcd, kube-apiserver, kubectl), those are
# linked in and only the rest are built. Progress goes to stderr; the folder is the only line on stdout.
set -euo pipefail
cd "$(dirname "$0")"
# go.mod writes a requirement either inside a block or as a one-line `require path version`.
version_of() { sed -nE "s#^(require)?[[:space:]]*$1 (v[^ ]+).*#\2#p" go.mod | head -n 1; }
k8s_version="$(version_of k8s.io/kubernetes)"
etcd_version="$(version_of go.etcd.io/etcd/server/v3)"
[[ -n "$k8s_version" && -n "$etcd_version" ]] || { echo "controlplane: cannot read pinned versions from go.mod" >&2; exit 1; }
cache_root="${DAEMONLESS_CACHE:-${HOME}/.cache/daemonless}"
bin="${cache_root}/k8s-${k8s_version}-etcd-${etcd_version}"
kube_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
mkdir -p "$bin"

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for name in etcd "${kube_cmds[@]}"; do
    if [[ ! -x "$bin/$name" && -x "$KUBEBUILDER_ASSETS/$name" ]]; then
      ln -sf "$KUBEBUILDER_ASSETS/$name" "$bin/$name"
      echo "controlplane: using $name from KUBEBUILDER_ASSETS" >&2
    fi
  done
fi

missing=()
for name in "${kube_cmds[@]}"; do [[ -x "$bin/$name" ]] || missing+=("$name"); done
need_etcd=0; [[ -x "$bin/etcd" ]] || need_etcd=1
if [[ ${#missing[@]} -eq 0 && $need_etcd -eq 0 ]]; then echo "$bin"; exit 0; fi

command -v go >/dev/null || {
  echo "controlplane: Go is needed to build the control plane from source (go.mod: go 1.26; Go ≥ 1.21 fetches that toolchain from the Go module proxy): install Go, then run this again" >&2
  exit 1
}
started=$(date +%s)
flags=(-trimpath -ldflags=-s\ -w)
# Builds go to a temporary folder and are moved in only when complete, so an interrupted build never leaves a
# half-written binary that a later run would take for a cached one.
tmp="$(mktemp -d "${cache_root}/.build.XXXXXX")"
beat=""
# Also stops the heartbeat below when the build fails (set -e exits before the explicit kill).
trap '[[ -n "$beat" ]] && kill "$beat" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "controlplane: go mod download (k8s ${k8s_version}, etcd ${etcd_version}) ..." >&2
go mod download
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "controlplane: building ${missing[*]} in one go build (about 10 min cold on 2 cores) ..." >&2
  pkgs=(); for name in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
  # A heartbeat so a person (or CI log) sees the cold build is alive: elapsed time and Go build cache size.
  ( while sleep 30; do
      echo "controlplane: still building, $(( $(date +%s) - started )) s, go build cache $(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1)" >&2
    done ) &
  beat=$!
  go build "${flags[@]}" -o "$tmp/" "${pkgs[@]}"
  kill "$beat" 2>/dev/null || true
  beat=""
fi
if [[ $need_etcd -eq 1 ]]; then
  echo "controlplane: building etcd ..." >&2
  go build "${flags[@]}" -o "$tmp/etcd" ./etcd
fi
mv "$tmp"/* "$bin/"
echo "controlplane: built in $(( $(date +%s) - started )) s -> $bin" >&2
echo "$bin"
