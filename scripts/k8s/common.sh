# Shared settings for the local Kubernetes scripts (sourced, not run).
# Everything they build, cache and run lives under $W (default: <repo>/.local/k8s, git-ignored).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
W=${TS_K8S_DIR:-$REPO/.local/k8s}
K8S_VERSION=1.34.2          # 1.35+ refuse cgroup v1 hosts
HELM_VERSION=v3.19.0
COREDNS_VERSION=v1.12.4
B=$W/bin; P=$W/pki; L=$W/logs
KUBECONFIG=$P/admin.kubeconfig; export KUBECONFIG
SOCK=$W/containerd/containerd.sock
CTR="ctr -a $SOCK -n k8s.io"
BASE_TAG=tradestream/debian-base:bookworm    # local base image (debootstrap + docker import)
IMAGE_TAG=${TS_IMAGE_TAG:-0.1.0-local}        # never 'latest': there is no registry to pull from
export PATH=$B:/usr/local/go/bin:$PATH
DOCKER_SOCK=$W/docker/docker.sock
export DOCKER_HOST=unix://$DOCKER_SOCK

say() { printf '[k8s] %s\n' "$*" >&2; }
die() { printf '[k8s] error: %s\n' "$*" >&2; exit 1; }

# The route needs root (containerd, kubelet, iptables, mounts) and Debian 12 (apt packages,
# debootstrap of bookworm). Refuse politely anywhere else.
require_host() {
  [ "$(id -u)" = 0 ] || die "the local cluster needs root (it runs containerd, the kubelet, iptables and mounts). Run it as root on a Debian 12 machine or VM, or use Minikube/kind (see README, 'Deploy on Kubernetes')."
  grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release || die "the local cluster is built for Debian 12 (bookworm): it installs Debian's docker.io, containerd, etcd-server and CNI plugins with apt and debootstraps a bookworm base image. This host is: $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}"). Use Minikube/kind instead (README, 'Deploy on Kubernetes')."
  command -v apt-get >/dev/null || die "apt-get not found: the local cluster needs Debian 12."
}

APT_PACKAGES="docker.io containerd runc debootstrap etcd-server containernetworking-plugins conntrack iptables openssl curl socat ethtool iproute2"
ensure_packages() {
  local missing=()
  for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  [ -x /usr/local/go/bin/go ] || command -v go >/dev/null || die "Go (>= 1.24) is needed to build Kubernetes, helm and CoreDNS from the Go module proxy; install it to /usr/local/go (https://go.dev/dl) or put 'go' on PATH."
}

# A private dockerd for image builds (vfs storage, no bridge/iptables: nothing of the host's network is touched).
start_dockerd() {
  if docker version >/dev/null 2>&1; then return 0; fi
  mkdir -p $W/docker $L
  say "starting a private dockerd ($DOCKER_SOCK)"
  nohup dockerd --host "unix://$DOCKER_SOCK" --data-root $W/docker/root --exec-root $W/docker/exec \
    --pidfile $W/docker/dockerd.pid --storage-driver=vfs --iptables=false ${DOCKERD_DEBUG:+--debug} --ip6tables=false --bridge=none \
    > $L/dockerd.log 2>&1 &
  echo $! > $L/dockerd.pid
  for _ in $(seq 60); do docker version >/dev/null 2>&1 && return 0; sleep 1; done
  die "dockerd did not start; see $L/dockerd.log"
}

stop_pid() {  # stop_pid NAME: stop the process recorded in $L/NAME.pid (ours only)
  local f=$L/$1.pid p
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  if kill "$p" 2>/dev/null; then
    for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$f"
}
