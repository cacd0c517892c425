#!/bin/bash
# Starts one combined broker + KRaft controller of the Kafka StatefulSet (apache/kafka image).
#
# The static part of server.properties comes from the chart's ConfigMap; this adds what
# differs per pod (node.id = the pod's ordinal, the advertised host names), formats the
# storage on first start (idempotent) and runs the broker in the foreground. Credentials
# stay in the Secrets mounted under /etc/kafka/secrets; server.properties only references
# them (${dir:...}, Kafka's DirectoryConfigProvider).
set -euo pipefail

ordinal="${POD_NAME##*-}"
host="${POD_NAME}.${KAFKA_HEADLESS}.${POD_NAMESPACE}.svc.${CLUSTER_DOMAIN}"
conf=/opt/kafka-runtime/server.properties

advertised="CLIENT://${host}:9092,REPLICATION://${host}:9094"
if [ -n "${KAFKA_SECURE_PORT:-}" ]; then
  advertised="${advertised},SECURE://${host}:${KAFKA_SECURE_PORT}"
fi

{
  cat /etc/kafka-base/server.properties
  echo
  echo "# Per pod (kafka-start.sh)"
  echo "node.id=${ordinal}"
  echo "advertised.listeners=${advertised}"
} > "${conf}"

mkdir -p /var/lib/kafka/data/logs
/opt/kafka/bin/kafka-storage.sh format --config "${conf}" --cluster-id "${KAFKA_CLUSTER_ID}" \
  --ignore-formatted
exec /opt/kafka/bin/kafka-server-start.sh "${conf}"
