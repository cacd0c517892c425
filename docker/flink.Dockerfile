# Apache Flink 1.19 (JobManager and TaskManager of the chart's session cluster), from Flink's
# Maven Central jars (docker/flink/pom.xml), on Debian's Java 17 JRE. Build from the
# repository root:
#
#   docker build --network host -f docker/flink.Dockerfile -t tradestream-flink:1.19.0 .
#
# BASE_IMAGE: any Debian 12 image (default: docker/base-image.sh's debootstrapped one;
# elsewhere --build-arg BASE_IMAGE=debian:bookworm-slim). Layout as in Flink's image:
# /opt/flink/lib, /opt/flink/bin/{jobmanager,taskmanager}.sh (here thin launchers that only
# support `start-foreground` and never write into the read-only FLINK_CONF_DIR), uid 9999.
ARG BASE_IMAGE=tradestream/debian-base:bookworm
# checkov:skip=CKV_DOCKER_7:the base is a build argument, a versioned Debian 12 image (a local debootstrap tag or e.g. debian:bookworm-slim)

FROM ${BASE_IMAGE} AS build
# (man1: the JDK's update-alternatives links there; slim bases strip /usr/share/man.)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends maven openjdk-17-jdk-headless ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY docker/flink/pom.xml /src/pom.xml
RUN mvn -B -q -f /src/pom.xml package -Dtradestream.out=/opt/flink/lib \
 && test -n "$(ls /opt/flink/lib/flink-runtime-*.jar)"

FROM ${BASE_IMAGE}
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
# The JRE layer above is shared by the Kafka, Flink and job-server images.
LABEL org.opencontainers.image.title="tradestream-flink" \
      org.opencontainers.image.description="Apache Flink 1.19 session cluster from Maven Central jars" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 9999 flink \
 && useradd --uid 9999 --gid 9999 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin flink
ENV FLINK_HOME=/opt/flink \
    FLINK_CONF_DIR=/opt/flink/conf \
    FLINK_LOG_DIR=/tmp/flink-log \
    PATH=/opt/flink/bin:$PATH
USER 9999:9999
WORKDIR /tmp
HEALTHCHECK NONE
ENTRYPOINT ["/opt/flink/bin/jobmanager.sh"]
CMD ["start-foreground"]
COPY docker/flink/bin/ /opt/flink/bin/
COPY --from=build /opt/flink/lib /opt/flink/lib
