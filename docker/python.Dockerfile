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

FROM ${BASE_IMAGE} AS build
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
COPY README.md ./
COPY protos/ protos/
COPY scripts/gen_protos.py scripts/gen_protos.py
COPY tradestream/ tradestream/
COPY pipelines/ pipelines/
COPY transforms/ transforms/
COPY strategies/ strategies/
RUN /opt/protoc/bin/python scripts/gen_protos.py \
 && /opt/venv/bin/pip install --quiet --no-deps . \
 && /opt/venv/bin/python -c "import tradestream.v1.signal_pb2, pipelines.realtime, pipelines.ingest" \
 && /opt/venv/bin/tradestream --help >/dev/null

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
COPY --from=build /opt/venv /opt/venv
COPY docker/worker_pool.py /opt/tradestream/worker_pool.py
# Local state (TRADESTREAM_STATE_DIR) and HOME live in /tmp: the chart mounts an emptyDir
# there and keeps the root filesystem read-only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TRADESTREAM_STATE_DIR=/tmp/tradestream
USER 10001:10001
WORKDIR /tmp
# Kubernetes probes each container itself (the chart's liveness/readiness probes).
HEALTHCHECK NONE
ENTRYPOINT ["tradestream"]
CMD ["--help"]
