#!/bin/bash
# flink-run.sh jobmanager|taskmanager [-Dkey=value ...]: one Flink process in the foreground,
# as Flink's own `jobmanager.sh start-foreground` / `taskmanager.sh start-foreground` start it:
# memory flags derived from config.yaml by Flink's BashJavaUtils, env.java.opts.all added,
# Log4j 2 on the console (FLINK_CONF_DIR/log4j-console.properties). Reads FLINK_CONF_DIR,
# writes only FLINK_LOG_DIR and the configured tmp dirs.
set -euo pipefail
role=$1
shift
: "${FLINK_HOME:=/opt/flink}" "${FLINK_CONF_DIR:=$FLINK_HOME/conf}" "${FLINK_LOG_DIR:=/tmp/flink-log}"
mkdir -p "$FLINK_LOG_DIR"
cp="$FLINK_HOME/lib/*"
case "$role" in
  jobmanager) main=org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint; params=GET_JM_RESOURCE_PARAMS ;;
  taskmanager) main=org.apache.flink.runtime.taskexecutor.TaskManagerRunner; params=GET_TM_RESOURCE_PARAMS ;;
  *) echo "flink-run.sh: jobmanager or taskmanager, not '$role'" >&2; exit 2 ;;
esac
# The opens of Flink's default configuration for Java 17 (its own classes need them), then
# env.java.opts.all of config.yaml (a JSON string in the chart's rendering).
opens=()
for p in java.lang java.lang.reflect java.io java.net java.nio sun.nio.ch java.text java.time java.util java.util.concurrent java.util.concurrent.atomic java.util.concurrent.locks; do
  opens+=("--add-opens=java.base/$p=ALL-UNNAMED")
done
opens+=(--add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED)
extra=$(sed -n 's/^env\.java\.opts\.all:[[:space:]]*//p' "$FLINK_CONF_DIR/config.yaml" | tail -1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/")
# Heap, metaspace and direct memory from the *.memory.process.size settings, exactly as
# Flink's scripts compute them (plus the dynamic properties they pass to the process).
derived=$(java -Xmx128m -cp "$cp" org.apache.flink.runtime.util.bash.BashJavaUtils "$params" \
  --configDir "$FLINK_CONF_DIR" "$@" 2>&1) || { echo "$derived" >&2; exit 1; }
results=$(echo "$derived" | sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p')
jvm_args=$(echo "$results" | sed -n 1p)
dynamic=$(echo "$results" | sed -n 2p)
[ -n "$jvm_args" ] || { echo "flink-run.sh: BashJavaUtils gave no JVM parameters:" >&2; echo "$derived" >&2; exit 1; }
log="$FLINK_LOG_DIR/flink-$role-$(hostname).log"
# shellcheck disable=SC2086  # word lists of JVM flags and dynamic properties
exec java "${opens[@]}" $extra $jvm_args \
  "-Dlog.file=$log" "-Dlog4j.configurationFile=file:$FLINK_CONF_DIR/log4j-console.properties" \
  "-Dlog4j.configuration=file:$FLINK_CONF_DIR/log4j-console.properties" \
  -cp "$cp" "$main" --configDir "$FLINK_CONF_DIR" $dynamic "$@"
