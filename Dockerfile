# zoom-operator container image.
#   make image                                  # buildah, no daemon (tools/image.sh); or
#   docker build -t <registry>/zoom-operator:0.1.0 .
# Without registry access `make image` builds on a local stand-in of the base below (Debian's
# python3 in a bookworm minbase, made by mmdebstrap) and says so; with access it pulls the real one.
# The base is pinned to an exact Python patch release and Debian release; in production pin its
# digest as well (FROM python:3.11.13-slim-bookworm@sha256:...) from your registry mirror.
# Nothing secret is needed to build: no build arguments, no credentials, no pip cache in any layer.

FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# .dockerignore lets in only what the package needs: pyproject.toml, README.md, operator/.
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m venv /opt/zoom-operator \
 && /opt/zoom-operator/bin/pip install --no-cache-dir . \
 && /opt/zoom-operator/bin/pip uninstall --yes pip setuptools \
 && find /opt/zoom-operator -name '__pycache__' -type d -prune -exec rm -rf {} + \
 && find /opt/zoom-operator -path '*/site-packages/*' -type d -name tests -prune -exec rm -rf {} +
# No `kubernetes` client in the image: the operator talks to the API server over aiohttp
# (operator/zoom_operator/kube/api.py), as kopf does.

FROM python:3.11.13-slim-bookworm
ENV PATH=/opt/zoom-operator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/zoom-operator /opt/zoom-operator
# A numeric non-root user (Pod Security "restricted": runAsNonRoot can check a numeric UID only).
# The root filesystem can be read-only: the operator writes nothing to disk.
USER 65532:65532
# Metrics (--metrics-port) and kopf's liveness endpoint (--liveness).
EXPOSE 8080 8081
ENTRYPOINT ["zoom-operator", "run"]
