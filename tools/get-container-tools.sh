#!/usr/bin/env bash
# Install what `make image` and the image tests need, from Debian's packages: buildah (builds the
# Dockerfile without a daemon), podman and runc (run the image; crun fails on hybrid-cgroup hosts),
# mmdebstrap (a local stand-in for the base image when the registry cannot be reached).
#
#   tools/get-container-tools.sh        # no-op when all four are on PATH; prints podman's path
#
# Needs root and apt-get (Debian/Ubuntu). Elsewhere, install those four with your package manager.
set -euo pipefail

TOOLS=(buildah podman runc mmdebstrap)
missing=()
for tool in "${TOOLS[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  command -v podman
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || [[ $(id -u) -ne 0 ]]; then
  echo "get-container-tools: missing ${missing[*]}; install them as root (Debian: apt-get install ${TOOLS[*]})" >&2
  exit 1
fi
echo "get-container-tools: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${TOOLS[@]}" uidmap >&2 2>/dev/null; then
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${TOOLS[@]}" uidmap >&2
fi
for tool in "${TOOLS[@]}"; do
  command -v "$tool" >/dev/null || { echo "get-container-tools: $tool still missing after apt-get" >&2; exit 1; }
done
command -v podman
