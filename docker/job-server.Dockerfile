# Beam's Flink job server (Beam 2.62, Flink 1.19 runner) for the chart's Flink session
# cluster. Build from the repository root:
#
#   docker build --network host -f docker/job-server.Dockerfile -t tradestream-flink-job-server:0.1.0 .
#
# BASE_IMAGE: any Debian 12 image (default: docker/base-image.sh's debootstrapped one;
# elsewhere --build-arg BASE_IMAGE=debian:bookworm-slim); Maven and the JRE come from Debian.
# Beam's pre-shaded job-server jar is not on the Maven Central TradeStream builds from, so
# the same program is assembled from Beam's modules by scripts/jvm/beam/pom.xml, as
# `tradestream local fetch` does on a workstation; here the jars stay on a plain class path.
ARG BASE_IMAGE=tradestream/debian-base:bookworm
# checkov:skip=CKV_DOCKER_7:the base is a build argument, a versioned Debian 12 image (a local debootstrap tag or e.g. debian:bookworm-slim)

FROM ${BASE_IMAGE} AS build
# (man1: the JDK's update-alternatives links there; slim bases strip /usr/share/man.)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends maven openjdk-17-jdk-headless ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/jvm/beam/pom.xml scripts/jvm/beam/pom.xml
COPY scripts/jvm/beam/src scripts/jvm/beam/src
RUN mvn -B -q -f scripts/jvm/beam/pom.xml package -Dtradestream.out=/opt/beam/lib \
 && test -n "$(ls /opt/beam/lib/beam-runners-flink-1.19-*.jar)" \
 && test -f /opt/beam/lib/tradestream-beam-patches.jar

FROM ${BASE_IMAGE}
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
# The JRE layer above is shared by the Kafka, Flink and job-server images.
LABEL org.opencontainers.image.title="tradestream-flink-job-server" \
      org.opencontainers.image.description="Apache Beam Flink 1.19 job server for TradeStream" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 beam \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin beam
USER 10001:10001
WORKDIR /tmp
HEALTHCHECK NONE
# Java expands the class-path wildcard itself; TradeStream's replacement of one Beam class
# comes first (scripts/jvm/beam/pom.xml). The opens are the ones the workstation
# launcher jar declares (tradestream/local/jvm.py, JAVA17_OPENS). Heap and other JVM
# flags come from JDK_JAVA_OPTIONS; the chart passes the --flink-master and port flags.
ENTRYPOINT ["java", \
  "--add-opens=java.base/java.util=ALL-UNNAMED", \
  "--add-opens=java.base/java.lang=ALL-UNNAMED", \
  "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED", \
  "--add-opens=java.base/java.io=ALL-UNNAMED", \
  "--add-opens=java.base/java.nio=ALL-UNNAMED", \
  "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", \
  "--add-opens=java.base/java.net=ALL-UNNAMED", \
  "--add-opens=java.base/java.text=ALL-UNNAMED", \
  "--add-opens=java.base/java.time=ALL-UNNAMED", \
  "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED", \
  "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED", \
  "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED", \
  "-cp", "/opt/beam/lib/tradestream-beam-patches.jar:/opt/beam/lib/*", \
  "org.apache.beam.runners.flink.FlinkJobServerDriver"]
CMD ["--flink-master=localhost:8081", "--job-host=0.0.0.0"]
COPY --from=build /opt/beam/lib /opt/beam/lib
