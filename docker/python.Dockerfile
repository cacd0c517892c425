# syntax=docker/dockerfile:1
# TradeStream's Python image: the `tradestream` CLI (ingest, realtime submission, backtest,
# optimize, signals tail) and Beam's Python SDK worker pool (docker/worker_pool.py) that
# Flink's TaskManagers use as the EXTERNAL environment. Build from the repository root:
#
#   docker build -f docker/python.Dockerfile -t tradestream:0.1.0 .
#
# The steps are `make install`'s without the dev tools: generate the protobuf modules with
# grpcio-tools (in a throwaway virtualenv), then `pip install .` into /opt/venv.
# Base: python:3.11.13-slim-bookworm in both stages (same interpreter path, so the venv moves
# between them); pin it by digest in your registry mirror if you need bit-for-bit rebuilds.
FROM python:3.11.13-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# protoc for Python, matched to the grpcio pin of pyproject.toml (its `dev` extra).
RUN python -m venv /opt/protoc \
 && /opt/protoc/bin/pip install grpcio-tools==1.65.5
COPY pyproject.toml README.md ./
COPY protos/ protos/
COPY scripts/gen_protos.py scripts/gen_protos.py
COPY tradestream/ tradestream/
COPY pipelines/ pipelines/
COPY transforms/ transforms/
COPY strategies/ strategies/
RUN /opt/protoc/bin/python scripts/gen_protos.py \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install . \
 && /opt/venv/bin/python -c "import tradestream.v1.signal_pb2, pipelines.realtime"

FROM python:3.11.13-slim-bookworm
LABEL org.opencontainers.image.title="tradestream" \
      org.opencontainers.image.description="TradeStream pipelines and Beam Python SDK worker pool" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 tradestream \
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
