#!/bin/bash
# kafka-storage.sh format|info|random-uuid ...: KRaft storage tool.
KAFKA_HEAP_OPTS=${KAFKA_STORAGE_HEAP_OPTS:--Xmx128m} exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
