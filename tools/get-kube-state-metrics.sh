#!/usr/bin/env bash
# Print the path of a kube-state-metrics binary, building it on first use from the Go module proxy.
#
# kube-state-metrics is pinned to v2.15.0 (the module's own go.mod and go.sum pin its dependencies).
# `go install ...@v2.15.0` is refused by this project's module proxy (it will not list versions), so the
# module is fetched with `go mod download`, and built with `go build` in the folder Go unpacked it to.
# The binary is cached beside the control-plane binaries:
#   ${ZOOM_OPERATOR_CACHE:-~/.cache/zoom-operator}/kube-state-metrics/v2.15.0/kube-state-metrics
# About 75 s on 2 cores with cold Go caches. KUBE_STATE_METRICS=/path uses another binary instead.
set -euo pipefail

KSM_VERSION=v2.15.0
if [[ -n "${KUBE_STATE_METRICS:-}" ]]; then
  command -v "$KUBE_STATE_METRICS"
  exit 0
fi

cache="${ZOOM_OPERATOR_CACHE:-$HOME/.cache/zoom-operator}"
bin_dir="$cache/kube-state-metrics/$KSM_VERSION"
target="$bin_dir/kube-state-metrics"
if [[ -x "$target" ]]; then
  echo "$target"
  exit 0
fi

command -v go >/dev/null || { echo "get-kube-state-metrics: 'go' not found; install Go or set KUBE_STATE_METRICS" >&2; exit 1; }
mkdir -p "$bin_dir"
exec 9>"$bin_dir.lock"
flock 9
if [[ -x "$target" ]]; then
  echo "$target"
  exit 0
fi

echo "get-kube-state-metrics: building kube-state-metrics $KSM_VERSION from the Go module proxy" >&2
start=$SECONDS
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Outside any module, so the download is not added to one; -json prints where the source went.
(cd "$work" && GO111MODULE=on go mod download -json "k8s.io/kube-state-metrics/v2@$KSM_VERSION") >"$work/module.json"
src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$work/module.json")"
[[ -d "$src" ]] || { echo "get-kube-state-metrics: no source folder in: $(cat "$work/module.json")" >&2; exit 1; }
# The version its /version and build info report, as the project's release builds stamp it.
ldflags="-s -w -X github.com/prometheus/common/version.Version=${KSM_VERSION#v}"
ldflags+=" -X github.com/prometheus/common/version.Revision=module-proxy"
(cd "$src" && go mod download && go build -ldflags "$ldflags" -o "$work/kube-state-metrics" .)
"$work/kube-state-metrics" version >&2
mv -f "$work/kube-state-metrics" "$target"
echo "get-kube-state-metrics: built in $((SECONDS - start)) s" >&2
echo "$target"
