#!/bin/bash
# kafka-run-class.sh CLASS [ARGS...]: runs a Kafka main class on /opt/kafka/libs, with the
# environment variables of Kafka's own launcher (KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS,
# KAFKA_LOG4J_OPTS, KAFKA_OPTS, LOG_DIR). Nothing is written outside LOG_DIR.
set -euo pipefail
class=$1
shift
: "${LOG_DIR:=/tmp/kafka-logs}"
mkdir -p "$LOG_DIR"
# shellcheck disable=SC2086  # the *_OPTS variables are lists of JVM flags
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} \
  ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
  ${KAFKA_LOG4J_OPTS:-} ${KAFKA_OPTS:-} "-Dkafka.logs.dir=$LOG_DIR" \
  -cp '/opt/kafka/libs/*' "$class" "$@"
