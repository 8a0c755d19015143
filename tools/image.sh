#!/usr/bin/env bash
# Build, run and push the operator's container image without a Docker daemon (buildah and podman).
#
#   tools/image.sh build            # `make image`: build the Dockerfile; prints the image name last
#   tools/image.sh push DEST        # e.g. docker://registry.example.com/zoom-operator:0.1.0
#   tools/image.sh podman ARGS...   # podman on the same image storage, e.g. `run --rm IMAGE --help`
#   tools/image.sh name             # the image name the build produces
#
# Images live in their own storage, ${ZOOM_OPERATOR_IMAGE_STORE:-~/.cache/zoom-operator/containers}
# (root/ and run/), not in the machine's default podman storage. Storage driver: overlay, or
# ZOOM_OPERATOR_STORAGE_DRIVER=vfs where the kernel refuses overlay mounts.
#
# The base image. The Dockerfile's FROM is pulled from its registry when the registry answers. When
# it cannot be pulled (no registry access, as on this project's CI machines), a LOCAL STAND-IN is made
# and given the FROM's name, and the build says so: Debian bookworm minbase with Debian's python3
# (3.11.2), python3-venv and ca-certificates, made by mmdebstrap from Debian's packages and cached as
#   ${ZOOM_OPERATOR_CACHE:-~/.cache/zoom-operator}/image-base/bookworm-python3-minbase.tar
# The stand-in carries the label io.zoom-operator.stand-in=true; the next build tries the registry
# again first. An image built on a stand-in is for tests: push one built on the real base.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="${ZOOM_OPERATOR_CACHE:-$HOME/.cache/zoom-operator}"
store="${ZOOM_OPERATOR_IMAGE_STORE:-$cache/containers}"
driver="${ZOOM_OPERATOR_STORAGE_DRIVER:-overlay}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml")"
image="${ZOOM_OPERATOR_IMAGE:-localhost/zoom-operator:$version}"
STAND_IN_LABEL=io.zoom-operator.stand-in

storage=(--root "$store/root" --runroot "$store/run" --storage-driver "$driver")
bah() { buildah "${storage[@]}" "$@"; }
# cgroupfs and runc: this host's hybrid cgroups make crun and the systemd manager fail. The ulimits:
# podman's defaults need CAP_SYS_RESOURCE, which containers here lack.
pod() { podman "${storage[@]}" --cgroup-manager cgroupfs --runtime runc "$@"; }

log() { echo "image.sh: $*" >&2; }

base_images() { # the distinct FROM images of the Dockerfile (not earlier stages' names)
	awk 'toupper($1) == "FROM" { print $2 }' "$repo/Dockerfile" | sort -u
}

qualified() { # python:3.11 -> docker.io/library/python:3.11, as registries.conf short names resolve
	local name=$1
	case "$name" in
	*/*/*) echo "$name" ;;
	*.*/* | localhost/*) echo "$name" ;;
	*/*) echo "docker.io/$name" ;;
	*) echo "docker.io/library/$name" ;;
	esac
}

stand_in_tarball() { # make (once) and print the cached stand-in root filesystem
	local tarball="$cache/image-base/bookworm-python3-minbase.tar"
	if [[ ! -f "$tarball" || ! -s "$tarball" ]]; then
		rm -rf "$tarball" "$tarball.tmp"  # a directory left by an earlier version of this script
		mkdir -p "$(dirname "$tarball")"
		log "making the stand-in base with mmdebstrap (about 2 minutes, once; cached in $tarball)"
		# --format=tar: mmdebstrap picks the format from the target's name, and "*.tmp" made a directory
		mmdebstrap --quiet --format=tar --variant=minbase \
			--include=python3,python3-venv,python-is-python3,ca-certificates bookworm "$tarball.tmp" >&2
		mv -f "$tarball.tmp" "$tarball"
	fi
	echo "$tarball"
}

ensure_base() { # NAME: the real image when it can be pulled, else a stand-in under its name
	local name full current
	name=$1
	full="$(qualified "$name")"
	current="$(bah inspect --type image --format "{{index .OCIv1.Config.Labels \"$STAND_IN_LABEL\"}}" "$full" 2>/dev/null || echo missing)"
	if [[ "$current" != "missing" && "$current" != "true" ]]; then
		return 0 # the real base, pulled before
	fi
	if timeout 300 buildah "${storage[@]}" pull --policy always --quiet "$full" >/dev/null 2>"$store/pull.err"; then
		log "pulled the base image $full"
		return 0
	fi
	log "cannot pull $full: $(tail -1 "$store/pull.err")"
	if [[ "$current" == "true" ]]; then
		log "USING A LOCAL STAND-IN for $full (made earlier; see tools/image.sh)"
		return 0
	fi
	log "USING A LOCAL STAND-IN for $full: Debian bookworm minbase + Debian's python3 3.11.2, not the registry's image"
	pod import --quiet --change "LABEL $STAND_IN_LABEL=true" "$(stand_in_tarball)" "$full" >/dev/null
}

build() {
	"$here/get-container-tools.sh"
	mkdir -p "$store"
	local base
	while read -r base; do ensure_base "$base"; done < <(base_images)

	# pip inside the build uses the machine's pip configuration and CA bundle when it has them
	# (an index mirror, a proxy's CA); they are mounted for the RUN steps only and land in no layer.
	local mounts=()
	for file in /etc/pip.conf /etc/ssl/certs/ca-certificates.crt; do
		[[ -f "$file" ]] && mounts+=(--volume "$file:$file:ro")
	done
	log "building $image from $repo/Dockerfile (buildah, no daemon; storage $store, driver $driver)"
	local start=$SECONDS
	bah bud --quiet --pull=never --isolation chroot "${mounts[@]}" \
		--tag "$image" --file "$repo/Dockerfile" "$repo" >/dev/null
	log "built in $((SECONDS - start)) s"
	pod image prune --force >/dev/null # the previous build's image, now untagged

	local size base_size
	size="$(pod image inspect --format '{{.Size}}' "$image")"
	base_size="$(pod image inspect --format '{{.Size}}' "$(qualified "$(base_images | tail -1)")")"
	log "image $image: $((size / 1000000)) MB in all, of which the project's layers $(((size - base_size) / 1000000)) MB" \
		"(base $((base_size / 1000000)) MB$([[ "$(bah inspect --type image --format "{{index .OCIv1.Config.Labels \"$STAND_IN_LABEL\"}}" "$image" 2>/dev/null)" == true ]] && echo ', a LOCAL STAND-IN'))"
	echo "$image"
}

case "${1:-}" in
build) build ;;
push)
	[[ $# -eq 2 ]] || {
		echo "usage: $0 push DEST (e.g. docker://registry.example.com/zoom-operator:$version)" >&2
		exit 2
	}
	if [[ "$(bah inspect --type image --format "{{index .OCIv1.Config.Labels \"$STAND_IN_LABEL\"}}" "$image" 2>/dev/null)" == true ]]; then
		log "warning: $image was built on a LOCAL STAND-IN base; rebuild with registry access before shipping it"
	fi
	bah push "$image" "$2"
	;;
podman)
	shift
	pod "$@"
	;;
name) echo "$image" ;;
*)
	sed -n '2,7p' "$0" >&2
	exit 2
	;;
esac
