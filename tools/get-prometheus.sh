#!/usr/bin/env bash
# Print the path of a Prometheus server binary, fetching it on first use.
#
# The server comes from the same Debian `prometheus` package as promtool (tools/get-promtool.sh): the
# .deb is fetched with `apt-get download` and only usr/bin/prometheus is unpacked (it needs only libc;
# the tests give it their own config, rule files and data folder), into
#   ${ZOOM_OPERATOR_CACHE:-~/.cache/zoom-operator}/prometheus/<package version>/prometheus
# PROMETHEUS=/path uses another binary instead.
set -euo pipefail

if [[ -n "${PROMETHEUS:-}" ]]; then
  command -v "$PROMETHEUS"
  exit 0
fi

ROOT="${ZOOM_OPERATOR_CACHE:-$HOME/.cache/zoom-operator}/prometheus"
for cached in "$ROOT"/*/prometheus; do
  if [[ -x "$cached" ]]; then
    echo "$cached"
    exit 0
  fi
done

command -v apt-get >/dev/null || { echo "get-prometheus: needs apt-get (Debian) or PROMETHEUS=/path" >&2; exit 1; }
mkdir -p "$ROOT"
WORK="$(mktemp -d "$ROOT/.fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
chmod 0777 "$WORK"  # apt's sandbox user must be able to write the download

if ! (cd "$WORK" && apt-get download prometheus >&2 2>"$WORK/apt.err"); then
  echo "get-prometheus: package lists missing or stale; running apt-get update" >&2
  apt-get update -qq >&2
  (cd "$WORK" && apt-get download prometheus >&2)
fi

DEB="$(ls "$WORK"/prometheus_*.deb)"
VERSION="$(dpkg-deb --field "$DEB" Version)"
dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$WORK" ./usr/bin/prometheus
"$WORK/usr/bin/prometheus" --version >&2
mkdir -p "$ROOT/$VERSION"
mv -f "$WORK/usr/bin/prometheus" "$ROOT/$VERSION/prometheus"
echo "$ROOT/$VERSION/prometheus"
