# Apache Kafka 3.9 (KRaft) for the chart's StatefulSet, from the Maven Central jars that
# `tradestream local fetch` resolves (scripts/jvm/kafka/pom.xml), on Debian's Java 17 JRE.
# Build from the repository root:
#
#   docker build --network host -f docker/kafka.Dockerfile -t tradestream-kafka:3.9.1 .
#
# BASE_IMAGE: any Debian 12 image (default: docker/base-image.sh's debootstrapped one;
# elsewhere --build-arg BASE_IMAGE=debian:bookworm-slim). The image has what the chart's
# kafka-start.sh calls: /opt/kafka/bin/kafka-storage.sh and kafka-server-start.sh (thin
# launchers of the same main classes as Kafka's own scripts), and runs as uid 1000.
ARG BASE_IMAGE=tradestream/debian-base:bookworm
# checkov:skip=CKV_DOCKER_7:the base is a build argument, a versioned Debian 12 image (a local debootstrap tag or e.g. debian:bookworm-slim)

FROM ${BASE_IMAGE} AS build
# (man1: the JDK's update-alternatives links there; slim bases strip /usr/share/man.)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends maven openjdk-17-jdk-headless ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/jvm/kafka/pom.xml /src/pom.xml
RUN mvn -B -q -f /src/pom.xml package -Dtradestream.out=/opt/kafka/libs \
 && test -n "$(ls /opt/kafka/libs/kafka_2.13-*.jar)"

FROM ${BASE_IMAGE}
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
# The JRE layer above is shared by the Kafka, Flink and job-server images.
LABEL org.opencontainers.image.title="tradestream-kafka" \
      org.opencontainers.image.description="Apache Kafka (KRaft) from Maven Central jars for TradeStream" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 1000 kafka \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin kafka \
 && mkdir -p /var/lib/kafka/data \
 && chown 1000:1000 /var/lib/kafka/data
ENV PATH=/opt/kafka/bin:$PATH \
    LOG_DIR=/tmp/kafka-logs
USER 1000:1000
WORKDIR /tmp
HEALTHCHECK NONE
ENTRYPOINT ["/opt/kafka/bin/kafka-server-start.sh"]
CMD ["/etc/kafka/server.properties"]
COPY docker/kafka/bin/ /opt/kafka/bin/
COPY --from=build /opt/kafka/libs /opt/kafka/libs
