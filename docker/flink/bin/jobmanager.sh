#!/bin/bash
# jobmanager.sh start-foreground [-Dkey=value ...]: the session cluster's JobManager.
[ "${1:-}" = start-foreground ] || { echo "jobmanager.sh: only 'start-foreground' is supported in this image" >&2; exit 2; }
shift
exec /opt/flink/bin/flink-run.sh jobmanager "$@"
