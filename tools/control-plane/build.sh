#!/usr/bin/env bash
# Ensure kube-apiserver, kube-controller-manager, etcd and kubectl exist for the local control plane;
# print their folder.
#
#   tools/control-plane/build.sh [BIN-DIR]
#
# 1. KUBEBUILDER_ASSETS (envtest convention) holding kube-apiserver and etcd: print it, build nothing
#    (kubectl and kube-controller-manager are then taken from that folder, the cache, or PATH — see
#    control_plane.py).
# 2. BIN-DIR (default ${ZOOM_OPERATOR_CACHE:-~/.cache/zoom-operator}/control-plane/<version>) holding
#    all four binaries: print it, build nothing. A folder from before kube-controller-manager was added
#    lacks it, so it is rebuilt (a relink of the other three with warm Go caches).
# 3. Otherwise `go build` all four from this Go module into a temporary folder beside BIN-DIR and
#    rename it into place, so an interrupted build never leaves a half-filled BIN-DIR.
# Only the last line of stdout is the folder; progress goes to stderr.
set -euo pipefail

K8S_VERSION=v1.37.2 # keep in step with go.mod and control_plane.py
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ZOOM_OPERATOR_CACHE:-$HOME/.cache/zoom-operator}"
bin_dir="${1:-$cache/control-plane/$K8S_VERSION}"

has_all() { # DIR NAME... : every NAME is an executable file in DIR
	local dir=$1 name
	shift
	for name in "$@"; do [[ -x "$dir/$name" && -f "$dir/$name" ]] || return 1; done
}

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
	if has_all "$KUBEBUILDER_ASSETS" kube-apiserver etcd; then
		got="$("$KUBEBUILDER_ASSETS/kube-apiserver" --version 2>/dev/null || true)"
		if [[ "$got" != *"$K8S_VERSION"* ]]; then
			echo "build.sh: warning: KUBEBUILDER_ASSETS holds '$got', this project pins $K8S_VERSION" >&2
		fi
		cd "$KUBEBUILDER_ASSETS" && pwd
		exit 0
	fi
	echo "build.sh: KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd; using $bin_dir" >&2
fi

BINARIES=(kube-apiserver kube-controller-manager etcd kubectl)
ready() { # all four there, and the API server stamped with the pinned version
	has_all "$bin_dir" "${BINARIES[@]}" &&
		[[ "$("$bin_dir/kube-apiserver" --version 2>/dev/null)" == "Kubernetes $K8S_VERSION" ]]
}
if ready; then
	echo "$bin_dir"
	exit 0
fi

# One build at a time per BIN-DIR (tests and `make cluster` may race); re-check once we hold the lock.
mkdir -p "$(dirname "$bin_dir")"
exec 9>"$bin_dir.lock"
flock 9
if ready; then
	echo "$bin_dir"
	exit 0
fi

command -v go >/dev/null || {
	echo "build.sh: 'go' not found; install Go >= $(sed -n 's/^go //p' "$here/go.mod") or set KUBEBUILDER_ASSETS" >&2
	exit 1
}

# The same flags on every build so the Go build cache is reused (changing CGO_ENABLED or adding
# -trimpath would recompile everything). -X stamps the version the API server reports; without it
# it says v0.0.0-master. -s -w drops debug info, as Kubernetes' own release builds do.
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
major="${K8S_VERSION#v}"
major="${major%%.*}"
minor="${K8S_VERSION#v*.}"
minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

tmp="$(mktemp -d "$bin_dir.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "build.sh: building kube-apiserver, kube-controller-manager, kubectl ($K8S_VERSION) and etcd into $bin_dir" \
	"(first build takes long; Go caches make later ones fast)" >&2
start=$SECONDS
(
	cd "$here"
	go build -ldflags "$ldflags" -o "$tmp/" \
		./cmd/etcd k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kubectl
)
has_all "$tmp" "${BINARIES[@]}"
echo "build.sh: built in $((SECONDS - start)) s" >&2

# Replace BIN-DIR as a whole: move any old one aside, rename the new one in, drop the old one.
if [[ -e "$bin_dir" ]]; then
	old="$(mktemp -d "$bin_dir.old.XXXXXX")"
	mv "$bin_dir" "$old/"
	trap 'rm -rf "$tmp" "$old"' EXIT
fi
mv -T "$tmp" "$bin_dir"
chmod 755 "$bin_dir"
echo "$bin_dir"
