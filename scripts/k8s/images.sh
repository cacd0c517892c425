#!/bin/bash
# Builds TradeStream's images from docker/*.Dockerfile on the debootstrapped Debian base (no
# registry), plus the cluster's pause and CoreDNS images, and loads them into the cluster's
# containerd when it runs. Docker's layer cache makes a re-run take seconds.
#
#   scripts/k8s/images.sh [build|load|all]      (default: all)
source "$(dirname "$0")/common.sh"
require_host
what=${1:-all}
start_dockerd
# Debian's docker.io CLI (same version as its dockerd) and its classic builder: BuildKit would
# fetch its Dockerfile frontend from a registry.
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=0

# name=dockerfile tag
IMAGES=(
  "tradestream:$IMAGE_TAG docker/python.Dockerfile"
  "tradestream-kafka:$IMAGE_TAG docker/kafka.Dockerfile"
  "tradestream-flink:$IMAGE_TAG docker/flink.Dockerfile"
  "tradestream-flink-job-server:$IMAGE_TAG docker/job-server.Dockerfile"
)

build() {
  bash $REPO/docker/base-image.sh "$BASE_TAG" $W/base
  # The build context: the repository files the Dockerfiles copy, nothing else (no .venv,
  # .local, .git or generated protobuf modules), laid out as in the repository.
  local ctx=$W/context.tar
  (cd $REPO && tar -c --exclude=__pycache__ --exclude='*.pyc' --anchored --exclude=tradestream/v1 \
    pyproject.toml README.md protos scripts/gen_protos.py scripts/jvm/kafka/pom.xml \
    scripts/jvm/beam/pom.xml scripts/jvm/beam/src docker tradestream pipelines transforms \
    strategies) > $ctx
  for spec in "${IMAGES[@]}"; do
    set -- $spec
    local t0=$SECONDS old new
    old=$($DOCKER image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)
    say "building $1 ($2)"
    $DOCKER build -q --network host --build-arg "BASE_IMAGE=$BASE_TAG" -f "$2" -t "$1" - < $ctx \
      > $L/build-${1%%:*}.log 2>&1 || { tail -30 $L/build-${1%%:*}.log >&2; die "building $1 failed (log: $L/build-${1%%:*}.log)"; }
    new=$($DOCKER image inspect -f '{{.Id}}' "$1")
    # The build it supersedes: on the vfs driver each layer is a full copy of its parent,
    # gigabytes each. Only that image goes; a blanket `image prune` would also delete the
    # untagged builder stages, which are the cache that makes the next build take seconds.
    if [ -n "$old" ] && [ "$old" != "$new" ]; then $DOCKER rmi "$old" >/dev/null 2>&1 || true; fi
    say "built $1 in $((SECONDS - t0)) s"
  done
  # Builder stages left from builds over a day old are no longer anyone's cache.
  $DOCKER image prune -f --filter "until=24h" >/dev/null
  # The pod sandbox (pause) and CoreDNS: static Go programs built by build-tools.sh.
  if [ ! -x $B/pause ] || [ ! -x $B/coredns ]; then
    say "pause and CoreDNS images: after scripts/k8s/build-tools.sh"
    return 0
  fi
  mkdir -p $W/img/pause $W/img/coredns
  cp $B/pause $W/img/pause/ && printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > $W/img/pause/Dockerfile
  cp $B/coredns $W/img/coredns/ && printf 'FROM scratch\nCOPY coredns /coredns\nENTRYPOINT ["/coredns"]\n' > $W/img/coredns/Dockerfile
  $DOCKER build -q -t tradestream-k8s/pause:3.10 $W/img/pause >/dev/null
  $DOCKER build -q -t tradestream-k8s/coredns:${COREDNS_VERSION#v} $W/img/coredns >/dev/null
}

# Loads an image into the cluster's containerd unless the same image id is already there.
load() {
  [ -S $SOCK ] || die "containerd is not running (make k8s-up starts it)"
  mkdir -p $W/loaded
  for img in "${IMAGES[@]%% *}" tradestream-k8s/pause:3.10 tradestream-k8s/coredns:${COREDNS_VERSION#v}; do
    local id stamp=$W/loaded/$(echo "$img" | tr '/:' '__')
    id=$($DOCKER image inspect -f '{{.Id}}' "$img" 2>/dev/null) || { say "warning: $img is not built (scripts/k8s/images.sh build)"; continue; }
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$id" ] && $CTR images ls -q | grep "/$img\$" >/dev/null; then
      continue
    fi
    local t0=$SECONDS
    $DOCKER save "$img" | $CTR images import - >/dev/null
    echo "$id" > "$stamp"
    say "loaded $img into the cluster in $((SECONDS - t0)) s"
  done
}

case "$what" in
  build) build ;;
  load) load ;;
  all) build; [ -S $SOCK ] && load || true ;;
  *) die "usage: images.sh [build|load|all]" ;;
esac
