#!/usr/bin/env bash
# Builds (or finds) AWS's Lambda Runtime Interface Emulator pinned in go.mod and prints the path of the binary.
#   aws-lambda-rie  <- github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie (go.mod `tool` directive)
# Cached outside the clone, keyed by version, beside the control-plane binaries:
#   ${DAEMONLESS_CACHE:-~/.cache/daemonless}/rie-<version>/aws-lambda-rie
# Progress goes to stderr; the path is the only line on stdout. About 40 s cold on 2 cores.
set -euo pipefail
cd "$(dirname "$0")"
module=github.com/aws/aws-lambda-runtime-interface-emulator
version="$(sed -nE "s#^(require)?[[:space:]]*${module} (v[^ ]+).*#\2#p" go.mod | head -n 1)"
[[ -n "$version" ]] || { echo "rie: cannot read the pinned version from go.mod" >&2; exit 1; }
cache_root="${DAEMONLESS_CACHE:-${HOME}/.cache/daemonless}"
bin="${cache_root}/rie-${version}"
target="$bin/aws-lambda-rie"
if [[ -x "$target" ]]; then echo "$target"; exit 0; fi
mkdir -p "$bin"
started=$(date +%s)
# Built into a temporary file and renamed when complete: an interrupted build never leaves a half-written binary
# that a later run would take for a cached one (rename within one folder is atomic).
tmp="$(mktemp "$bin/.aws-lambda-rie.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
echo "rie: building aws-lambda-rie ${version} ..." >&2
go build -trimpath -ldflags='-s -w' -o "$tmp" "${module}/cmd/aws-lambda-rie"
chmod 0755 "$tmp"
mv -f "$tmp" "$target"
trap - EXIT
echo "rie: built in $(( $(date +%s) - started )) s -> $target" >&2
echo "$target"
