#!/bin/bash
# `make k8s-down` (KEEP_DOCKERD=1: without the image builder): stops the local cluster of `make k8s-up` and leaves nothing behind: no
# process (each stopped by the pid it was started with), mount, network namespace, bridge or
# iptables chain of ours. Keeps the built binaries and images under .local/k8s (a warm
# `make k8s-up` reuses them); WIPE=1 also deletes the cluster's state (etcd, volumes).
source "$(dirname "$0")/common.sh"
require_host
# Best effort from here on: every step runs even when an earlier one found nothing to do.
set +e +o pipefail
stop_pid controller-manager
stop_pid scheduler
if [ -f $L/kubelet.pid ] && kubectl get --raw /readyz >/dev/null 2>&1; then
  # Let the kubelet stop every pod itself (CNI teardown), then wait for the tasks to go.
  kubectl delete pods --all -A --grace-period=5 --wait=false >/dev/null 2>&1 || true
  for _ in $(seq 60); do
    $CTR tasks ls 2>/dev/null | grep -q RUNNING || break
    sleep 1
  done
fi
stop_pid kubelet
stop_pid kube-proxy
[ -x $B/kube-proxy ] && $B/kube-proxy --cleanup >/dev/null 2>&1 || true
# Whatever still runs in our containerd: the CRI tears down sandboxes (and their netns).
if [ -S $SOCK ]; then
  for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  sleep 1
  for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks rm -f "$t" >/dev/null 2>&1 || true; done
  for c in $($CTR containers ls -q 2>/dev/null); do $CTR containers rm "$c" >/dev/null 2>&1 || true; done
fi
stop_pid containerd
# The shims of OUR containerd only (matched by its socket path).
for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" || true); do kill -9 "$p" 2>/dev/null || true; done
stop_pid apiserver
stop_pid etcd
[ "${KEEP_DOCKERD:-0}" = 1 ] || stop_pid dockerd  # KEEP_DOCKERD=1: the image builder stays up
# Mounts under $W (container rootfs, shm, volumes, the image builder's), deepest first.
# (With KEEP_DOCKERD=1, the image builder's mounts stay: its host-network namespace is one.)
keep='^$'
[ "${KEEP_DOCKERD:-0}" = 1 ] && keep="^$W/docker/"
grep -o " $W/[^ ]*" /proc/mounts | sed 's/^ //' | grep -v "$keep" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
# Pod network namespaces (CNI's) and our bridge.
for n in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns del "$n" 2>/dev/null || true; done
ip link del tsk8s0 2>/dev/null || true
for v in $(ip -o link show type veth 2>/dev/null | awk -F': ' '/master tsk8s0/ {print $2}' | cut -d@ -f1); do ip link del "$v" 2>/dev/null || true; done
# iptables: CNI's masquerade chains (CNI-*), kube-proxy's and kubelet's (KUBE-*), v4 and v6.
for ipt in iptables ip6tables; do
  for tb in filter nat mangle; do
    $ipt -t $tb -S 2>/dev/null | grep -E '^-A .* -j (KUBE-|CNI-)' | sed 's/^-A/-D/' \
      | while read -r r; do eval "$ipt -t $tb $r" 2>/dev/null || true; done
    for ch in $($ipt -t $tb -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ {print $2}'); do $ipt -t $tb -F "$ch" 2>/dev/null || true; done
    for ch in $($ipt -t $tb -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/ {print $2}'); do $ipt -t $tb -X "$ch" 2>/dev/null || true; done
  done
done
rm -rf /var/lib/cni/networks/tradestream-local /var/lib/cni/results/tradestream-local-* 2>/dev/null || true
if [ "${WIPE:-0}" = 1 ]; then
  rm -rf $W/etcd $W/kubelet $W/containerd/state $W/volumes $W/loaded
  say "cluster state wiped (binaries and images kept)"
fi
# What is left of ours, if anything (there should be nothing).
left=$([ "${KEEP_DOCKERD:-0}" = 1 ] || pgrep -f "$W/" || true)
[ -z "$left" ] || say "warning: processes still running under $W: $left"
grep -q " $W/" /proc/mounts && say "warning: mounts left under $W" || true
say "cluster down"
