#!/bin/bash
# `make k8s-up`: a single-node Kubernetes v1.34.2 on this machine (containerd, etcd, the
# control plane, kubelet, kube-proxy, CoreDNS, a default StorageClass of hostPath volumes),
# with TradeStream's images built and loaded. Builds and caches everything under .local/k8s
# on the first run (cold ~25 min on 2 cores), then starts in about a minute.
# Needs: root, Debian 12, the Go toolchain; installs Debian's docker.io, containerd, runc,
# etcd-server, containernetworking-plugins, debootstrap with apt-get.
source "$(dirname "$0")/common.sh"
require_host
t_start=$SECONDS
if [ "${1:-}" != --no-build ]; then  # --no-build: start from the cached binaries and images
  # The Go builds and the image builds are independent: run them side by side (cold, that
  # saves about 10 minutes on 2 cores); the pause and CoreDNS images need the Go binaries.
  ensure_packages
  mkdir -p $L
  bash "$REPO/scripts/k8s/build-tools.sh" > $L/build-tools.log 2>&1 &
  tools=$!
  images_rc=0
  bash "$REPO/scripts/k8s/images.sh" build || images_rc=$?
  wait $tools || { tail -20 $L/build-tools.log >&2; die "building the tools failed (log: $L/build-tools.log)"; }
  tail -1 $L/build-tools.log >&2
  [ $images_rc = 0 ] || die "building the images failed"
  bash "$REPO/scripts/k8s/images.sh" build   # cached: adds the pause and CoreDNS images
fi

if [ -f $L/apiserver.pid ] && kill -0 "$(cat $L/apiserver.pid)" 2>/dev/null && kubectl get --raw /readyz >/dev/null 2>&1; then
  say "the cluster already runs; loading images"
  bash "$REPO/scripts/k8s/images.sh" load
  exit 0
fi
for port in 2379 2380 6443 10250 10256 10249; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    die "port $port on 127.0.0.1 is in use: another Kubernetes or etcd runs on this machine (make k8s-down stops ours)"
  fi
done
mkdir -p $L $W/containerd $W/cni/net.d $W/kubelet $W/volumes
# The node's address: the source address of this machine's default route. Pods reach the
# apiserver and the apiserver the kubelet there (Kubernetes refuses a loopback node IP).
NODE_IP=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "src") {print $(i + 1); exit}}')
[ -n "$NODE_IP" ] || NODE_IP=$(ip -4 -o addr show scope global | awk '{sub("/.*", "", $4); print $4; exit}')
[ -n "$NODE_IP" ] || die "no IPv4 address for the node (a default route or a global address)"
start() { local name=$1; shift; nohup "$@" > $L/$name.log 2>&1 & echo $! > $L/$name.pid; }

# --- certificates: one CA; the apiserver's serving cert; an admin client cert (also used by
# the control-plane components and the kubelet: a single-user, single-node cluster).
if [ ! -f $P/admin.kubeconfig ]; then
  mkdir -p $P
  (
    cd $P
    openssl genrsa -out ca.key 2048 2>/dev/null
    openssl req -x509 -new -nodes -key ca.key -subj "/CN=tradestream-local-ca" -days 3650 -out ca.crt
    printf 'subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:10.96.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > apiserver.ext
    openssl genrsa -out apiserver.key 2048 2>/dev/null
    openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl genrsa -out admin.key 2048 2>/dev/null
    openssl req -new -key admin.key -subj "/O=system:masters/CN=admin" -out admin.csr
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  cat > $P/admin.kubeconfig <<EOT
apiVersion: v1
kind: Config
clusters:
- name: tradestream-local
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$P/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$P/admin.crt", client-key: "$P/admin.key"}
contexts:
- name: tradestream-local
  context: {cluster: tradestream-local, user: admin}
current-context: tradestream-local
EOT
fi

# --- containerd (the CRI runtime), with our own root, state and socket under $W
cat > $W/containerd/config.toml <<EOT
version = 2
root = "$W/containerd/root"
state = "$W/containerd/state"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "tradestream-k8s/pause:3.10"
  # This machine's sandbox lacks CAP_SYS_RESOURCE: the negative oom_score_adj containerd gives
  # pod sandboxes (-998) makes runc fail ("can't get final child's PID from pipe: EOF").
  # Clamp every container's score to containerd's own instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/cni/net.d"
EOT
cat > $W/cni/net.d/10-tradestream.conflist <<'EOT'
{"cniVersion": "0.4.0", "name": "tradestream-local", "plugins": [
  {"type": "bridge", "bridge": "tsk8s0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
EOT
# kube-proxy (iptables mode) and the bridge need these.
modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.ipv4.ip_forward=1 || true
sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
start containerd containerd --config $W/containerd/config.toml
start etcd etcd --name tradestream-local --data-dir $W/etcd \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster tradestream-local=http://127.0.0.1:2380
for _ in $(seq 60); do curl -sf http://127.0.0.1:2379/health >/dev/null && break; sleep 0.5; done
curl -sf http://127.0.0.1:2379/health >/dev/null || die "etcd did not start (log: $L/etcd.log)"
for _ in $(seq 60); do ctr -a $SOCK version >/dev/null 2>&1 && break; sleep 0.5; done
ctr -a $SOCK version >/dev/null 2>&1 || die "containerd did not start (log: $L/containerd.log)"
bash "$REPO/scripts/k8s/images.sh" load

start apiserver $B/kube-apiserver --etcd-servers=http://127.0.0.1:2379 \
  --advertise-address=$NODE_IP --secure-port=6443 \
  --tls-cert-file=$P/apiserver.crt --tls-private-key-file=$P/apiserver.key --client-ca-file=$P/ca.crt \
  --service-account-key-file=$P/sa.pub --service-account-signing-key-file=$P/sa.key \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range=10.96.0.0/16 --authorization-mode=Node,RBAC --allow-privileged=true \
  --kubelet-client-certificate=$P/admin.crt --kubelet-client-key=$P/admin.key \
  --kubelet-preferred-address-types=InternalIP
for _ in $(seq 120); do kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 0.5; done
kubectl get --raw /readyz >/dev/null 2>&1 || die "kube-apiserver did not become ready (log: $L/apiserver.log)"
start controller-manager $B/kube-controller-manager --kubeconfig=$KUBECONFIG \
  --authentication-kubeconfig=$KUBECONFIG --authorization-kubeconfig=$KUBECONFIG \
  --service-account-private-key-file=$P/sa.key --root-ca-file=$P/ca.crt \
  --cluster-signing-cert-file=$P/ca.crt --cluster-signing-key-file=$P/ca.key \
  --use-service-account-credentials=true --leader-elect=false --bind-address=127.0.0.1 \
  --service-cluster-ip-range=10.96.0.0/16 --controllers='*,-nodeipam'
start scheduler $B/kube-scheduler --kubeconfig=$KUBECONFIG --authentication-kubeconfig=$KUBECONFIG \
  --authorization-kubeconfig=$KUBECONFIG --leader-elect=false --bind-address=127.0.0.1
cat > $W/kubelet-config.yaml <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$SOCK
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: $P/ca.crt}}
authorization: {mode: AlwaysAllow}
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
maxPods: 60
EOT
cat > $W/kube-proxy-config.yaml <<EOT
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KUBECONFIG}
mode: iptables
clusterCIDR: 10.244.0.0/24
hostnameOverride: tradestream-local
conntrack: {maxPerCore: 0}
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
EOT
start kubelet $B/kubelet --config=$W/kubelet-config.yaml --kubeconfig=$KUBECONFIG --root-dir=$W/kubelet \
  --cert-dir=$W/kubelet/pki --hostname-override=tradestream-local --node-ip=$NODE_IP
start kube-proxy $B/kube-proxy --config=$W/kube-proxy-config.yaml
for _ in $(seq 120); do kubectl get node tradestream-local 2>/dev/null | grep -q ' Ready' && break; sleep 0.5; done
kubectl get node tradestream-local 2>/dev/null | grep -q ' Ready' || die "the node did not become Ready (log: $L/kubelet.log)"
kubectl apply -f $REPO/k8s/local/coredns.yaml >/dev/null

# --- storage: a pool of hostPath PersistentVolumes of the default class (local-hostpath).
# Released volumes of earlier runs are emptied and made available again.
for i in $(seq 1 8); do
  d=$W/volumes/pv$i
  mkdir -p $d && chmod 0777 $d
  phase=$(kubectl get pv tradestream-local-pv$i -o jsonpath='{.status.phase}' 2>/dev/null || true)
  if [ "$phase" = Released ]; then
    find $d -mindepth 1 -delete
    kubectl patch pv tradestream-local-pv$i --type json -p '[{"op":"remove","path":"/spec/claimRef"}]' >/dev/null
  elif [ -z "$phase" ]; then
    kubectl apply -f - >/dev/null <<EOT
apiVersion: v1
kind: PersistentVolume
metadata: {name: tradestream-local-pv$i, labels: {tradestream.io/local-pool: "true"}}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local-hostpath
  hostPath: {path: $d, type: Directory}
  nodeAffinity:
    required:
      nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [tradestream-local]}]}]
EOT
  fi
done
kubectl -n kube-system rollout status deploy/coredns --timeout=180s >/dev/null || die "CoreDNS did not start"
say "cluster up in $((SECONDS - t_start)) s: $(kubectl get node tradestream-local --no-headers | awk '{print $1, $2, $5}')"
echo "export KUBECONFIG=$KUBECONFIG PATH=$B:\$PATH"
