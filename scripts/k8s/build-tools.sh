#!/bin/bash
# One-time build of the cluster's binaries into $W/bin (cached; re-run is a no-op):
# Kubernetes v1.34.2 server binaries and kubectl from the Go module proxy, helm, CoreDNS,
# a static pause program. Cold: ~12 min on 2 cores (Go build cache ~4 GB in ~/.cache/go-build).
source "$(dirname "$0")/common.sh"
require_host
ensure_packages
mkdir -p $B $L
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

if [ ! -x $B/kubectl ] || [ ! -x $B/kubelet ]; then
  say "building Kubernetes v$K8S_VERSION from the Go module proxy (cold: ~8 min)"
  dir=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -n "$dir" ] || die "could not download k8s.io/kubernetes@v$K8S_VERSION from the Go module proxy"
  rm -rf $W/src && cp -r "$dir" $W/src && chmod -R u+w $W/src
  (
    cd $W/src
    rm -f go.work go.work.sum
    # the module points its k8s.io/* dependencies at ./staging; use the published v0.x modules instead
    sed -i -E "s#=> \./staging/src/(k8s\.io/[a-z0-9-]+)#=> \1 v0.${K8S_VERSION#1.}#" go.mod
    minor=$(echo $K8S_VERSION | cut -d. -f2)
    # without gitVersion the server reports v0.0.0 and helm's kubeVersion checks fail
    ldf="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    go build -ldflags "$ldf" -o $B/ ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kubelet ./cmd/kube-proxy ./cmd/kubectl
  )
  rm -rf $W/src
fi
export GOBIN=$B
# helm with the version stamps of its release build (tests/charts/test_chart.py builds the same):
# without them `helm version` is empty and `helm template` assumes Kubernetes v1.20.
if [ "$($B/helm version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]; then
  say "building helm $HELM_VERSION"
  go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=34 \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=34" \
    helm.sh/helm/v3/cmd/helm@$HELM_VERSION
fi
[ -x $B/coredns ] || { say "building CoreDNS $COREDNS_VERSION (~3 min)"; go install -ldflags '-s -w' github.com/coredns/coredns@$COREDNS_VERSION; }
if [ ! -x $B/pause ]; then
  mkdir -p $W/pause-src
  cat > $W/pause-src/main.go <<'EOT'
// pause: the pod sandbox's process. Reaps zombies, exits on SIGTERM/SIGINT.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	go func() {
		for range chld {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}()
	<-stop
}
EOT
  printf 'module pause\ngo 1.22\n' > $W/pause-src/go.mod
  (cd $W/pause-src && go build -ldflags '-s -w' -o $B/pause .)
fi
say "tools ready in $B: $(ls $B | tr '\n' ' ')"
