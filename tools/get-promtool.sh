#!/usr/bin/env bash
# Print the path of a promtool binary, fetching it on first use.
#
# promtool comes from Debian's `prometheus` package. Installing that package would also pull in
# its web-UI JavaScript dependencies and a service user; the tests only need promtool, so the
# .deb is fetched with `apt-get download` and promtool alone is unpacked into the cache:
#   ${ZOOM_OPERATOR_CACHE:-~/.cache/zoom-operator}/promtool/<package version>/promtool
# A promtool already on PATH (or PROMTOOL=/path) is used as is.
set -euo pipefail

if [[ -n "${PROMTOOL:-}" ]]; then
  command -v "$PROMTOOL"
  exit 0
fi
if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi

ROOT="${ZOOM_OPERATOR_CACHE:-$HOME/.cache/zoom-operator}/promtool"
for cached in "$ROOT"/*/promtool; do
  if [[ -x "$cached" ]]; then
    echo "$cached"
    exit 0
  fi
done

command -v apt-get >/dev/null || { echo "get-promtool: needs apt-get (Debian) or PROMTOOL=/path" >&2; exit 1; }
mkdir -p "$ROOT"
WORK="$(mktemp -d "$ROOT/.fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
chmod 0777 "$WORK"  # apt's sandbox user must be able to write the download

if ! (cd "$WORK" && apt-get download prometheus >&2 2>"$WORK/apt.err"); then
  echo "get-promtool: package lists missing or stale; running apt-get update" >&2
  apt-get update -qq >&2
  (cd "$WORK" && apt-get download prometheus >&2)
fi

DEB="$(ls "$WORK"/prometheus_*.deb)"
VERSION="$(dpkg-deb --field "$DEB" Version)"
dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$WORK" ./usr/bin/promtool
"$WORK/usr/bin/promtool" --version >&2
mkdir -p "$ROOT/$VERSION"
mv -f "$WORK/usr/bin/promtool" "$ROOT/$VERSION/promtool"
echo "$ROOT/$VERSION/promtool"
