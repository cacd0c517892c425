#!/bin/bash
# kafka-server-start.sh server.properties: the broker (and KRaft controller) in the foreground.
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"
