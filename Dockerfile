# MetalPool's one image: both programs, a venv on a slim Python 3.11 base, non-root by default.
#
#   podman build -t ghcr.io/metalpool/metalpool:0.1.0 .
#
# The default entrypoint is the controller; the speaker DaemonSet runs `metalpool-speaker` through
# `command:` (deploy/speaker.yaml), so one image serves both. docs/images.md explains building it
# without a registry (.ci/image does that: a debootstrap base and wheels fetched beforehand).

# The base must carry python3 (3.11, as requires-python) with the venv module. The default is the
# official image, pinned to a patch release; a digest pin is better still (`@sha256:...`) where a
# registry is reachable to read it. CI overrides it with a Debian bookworm base it builds itself.
ARG BASE=docker.io/library/python:3.11.13-slim-bookworm

# ---------------------------------------------------------------- build: a venv with MetalPool
# DL3006 (tag the base): BASE carries its tag; hadolint cannot see through the ARG.
# hadolint ignore=DL3006
FROM ${BASE} AS build
# Empty: install from the package index. A folder of wheels inside the build context (say
# /src/.build/wheels): install from it alone, for builds with no index reachable.
ARG WHEELS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY . /src
# Only the runtime dependencies: no [dev] extras. pip and setuptools leave afterwards: the pods
# install nothing. Bytecode is compiled here so that the read-only root filesystem of the pods
# never needs a __pycache__.
# DL3013 (pin pip packages): /src is our own project; its pyproject.toml bounds its dependencies.
# hadolint ignore=DL3013
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir ${WHEELS:+--no-index --find-links "$WHEELS"} /src \
    && /opt/venv/bin/pip uninstall --quiet --yes pip setuptools \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---------------------------------------------------------------- run: the venv and nothing else
# The same base: the venv's python is a link to the base's interpreter. DL3006 as above.
# hadolint ignore=DL3006
FROM ${BASE}
LABEL org.opencontainers.image.title="metalpool" \
      org.opencontainers.image.description="A MetalLB-compatible layer-2 LoadBalancer: metalpool-controller and metalpool-speaker" \
      org.opencontainers.image.source="https://github.com/metalpool/metalpool" \
      org.opencontainers.image.licenses="Apache-2.0"
# 65532 is the conventional "nonroot" id of distroless images; the pods set it too.
# --no-log-init: a high uid would otherwise grow a sparse lastlog file (hadolint DL3046);
# --key UID_MAX: 65532 lies above login.defs' range for ordinary users, which is only a warning.
RUN groupadd --gid 65532 metalpool \
    && useradd --uid 65532 --gid 65532 --no-log-init --key UID_MAX=65532 \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin metalpool
COPY --from=build /opt/venv /opt/venv
# Logs go straight to stderr (no buffering); nothing is written next to the code at run time.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
# 7472/7473: metrics of the controller/speaker; 17472/17473: their /healthz and /readyz.
EXPOSE 7472 7473 17472 17473
ENTRYPOINT ["metalpool-controller"]
