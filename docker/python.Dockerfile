# TradeStream's Python image: the `tradestream` CLI (ingest, realtime submission, backtest,
# optimize, signals tail) and Beam's Python SDK worker pool (docker/worker_pool.py) that
# Flink's TaskManagers use as the EXTERNAL environment. Build from the repository root:
#
#   docker build --network host -f docker/python.Dockerfile -t tradestream:0.1.0 .
#
# BASE_IMAGE is any Debian 12 (bookworm) image; its python3 is 3.11, the project's Python.
# The default is the image docker/base-image.sh builds with debootstrap (no registry needed,
# `make k8s-up` does it); elsewhere pass --build-arg BASE_IMAGE=debian:bookworm-slim.
#
# The steps are `make install`'s without the dev tools: generate the protobuf modules with
# grpcio-tools (in a throwaway virtualenv), then install the package into /opt/venv. The
# dependencies are one layer of their own, so a source change rebuilds in seconds.
ARG BASE_IMAGE=tradestream/debian-base:bookworm
# checkov:skip=CKV_DOCKER_7:the base is a build argument, a versioned Debian 12 image (a local debootstrap tag or e.g. debian:bookworm-slim)

FROM ${BASE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# protoc for Python, matched to the grpcio pin of pyproject.toml (its `dev` extra).
RUN python3 -m venv /opt/protoc \
 && /opt/protoc/bin/pip install --quiet grpcio-tools==1.65.5
# The runtime dependencies of pyproject.toml, except apache-flink: PyFlink (350 MB, its own
# Flink 2.3) is not imported by TradeStream's code; the pipelines reach Flink 1.19 through
# Beam's job server.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('apache-flink')))" > /tmp/requirements.txt \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet -r /tmp/requirements.txt

# The package itself, in a stage of its own (so that a source change does not copy the
# dependencies again): protobuf modules generated, then `pip install --no-deps` into a small
# virtualenv at the same path, which the final stage lays over the dependencies.
FROM ${BASE_IMAGE} AS package
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/protoc \
 && /opt/protoc/bin/pip install --quiet grpcio-tools==1.65.5
COPY pyproject.toml ./
COPY README.md ./
COPY protos/ protos/
COPY scripts/gen_protos.py scripts/gen_protos.py
COPY tradestream/ tradestream/
COPY pipelines/ pipelines/
COPY transforms/ transforms/
COPY strategies/ strategies/
RUN /opt/protoc/bin/python scripts/gen_protos.py \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet --no-deps . \
 && test -x /opt/venv/bin/tradestream

# Metadata and small files first, the large virtualenv last: every instruction after it would
# copy it again on storage drivers without layer sharing (vfs).
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="tradestream" \
      org.opencontainers.image.description="TradeStream pipelines and Beam Python SDK worker pool" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 tradestream \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin tradestream
# Local state (TRADESTREAM_STATE_DIR) and HOME live in /tmp: the chart mounts an emptyDir
# there and keeps the root filesystem read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TRADESTREAM_STATE_DIR=/tmp/tradestream
WORKDIR /tmp
# Kubernetes probes each container itself (the chart's liveness/readiness probes).
HEALTHCHECK NONE
ENTRYPOINT ["tradestream"]
CMD ["--help"]
USER 10001:10001
COPY docker/worker_pool.py /opt/tradestream/worker_pool.py
COPY --from=deps /opt/venv /opt/venv
COPY --from=package /opt/venv /opt/venv
