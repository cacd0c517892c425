#!/bin/bash
# taskmanager.sh start-foreground [-Dkey=value ...]: one TaskManager of the session cluster.
[ "${1:-}" = start-foreground ] || { echo "taskmanager.sh: only 'start-foreground' is supported in this image" >&2; exit 2; }
shift
exec /opt/flink/bin/flink-run.sh taskmanager "$@"
