"""The chart's Kafka security settings on a real broker: TLS between controllers and brokers,
a SASL_SSL listener whose JAAS line and store passwords are Secret files.

The broker is the chart's rendered server.properties (one replica, paths moved into a temporary
directory, the per-pod lines kafka-start.sh adds) run from the project's Kafka jars. Its
listeners use the chart's fixed ports and the pod's DNS name, so it runs in a network and mount
namespace of its own (`unshare`, root only) with that name in its /etc/hosts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

from tests.charts.test_chart import render

HOST = (
    "my-tradestream-kafka-0.my-tradestream-kafka-headless.tradestream-namespace.svc.cluster.local"
)
SECURITY = [
    "kafka.replicaCount=1",
    "kafka.security.tls.existingSecret=kafka-tls",
    "kafka.security.tls.passwordsSecret=kafka-tls-passwords",
    "kafka.security.interBroker=true",
    "kafka.security.secureListener.enabled=true",
    "kafka.security.secureListener.protocol=SASL_SSL",
    "kafka.security.secureListener.saslMechanism=PLAIN",
    "kafka.security.secureListener.jaasSecret=kafka-jaas",
]

CLIENT = """
import sys
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

host, cafile = sys.argv[1], sys.argv[2]
secure = dict(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", ssl_cafile=cafile)
admin = KafkaAdminClient(bootstrap_servers=f"{host}:9092", request_timeout_ms=30000)
admin.create_topics([NewTopic("secured", num_partitions=1, replication_factor=1)])
admin.close()
producer = KafkaProducer(bootstrap_servers=f"{host}:9095", sasl_plain_username="alice",
                         sasl_plain_password="alice-pw", **secure)
producer.send("secured", b"over SASL_SSL").get(timeout=30)
producer.close()
consumer = KafkaConsumer("secured", bootstrap_servers=f"{host}:9092",
                         auto_offset_reset="earliest", consumer_timeout_ms=15000)
print("read", [next(iter(consumer)).value])
consumer.close()
try:
    KafkaProducer(bootstrap_servers=f"{host}:9095", sasl_plain_username="alice",
                  sasl_plain_password="wrong", max_block_ms=8000, **secure)
    print("wrong password accepted")
except Exception as exc:
    print("wrong password refused", type(exc).__name__)
"""


def keytool(*args: str) -> None:
    done = subprocess.run(["keytool", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("keytool"),
    reason="needs root (unshare of the network and mount namespaces) and keytool",
)
def test_kafka_security_tls_and_sasl_ssl_work_with_secret_files(jvm_dir, tmp_path):
    objects = render("default", *SECURITY)
    config = next(
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-kafka")
    )["data"]
    kafka = next(o for o in objects if o["kind"] == "StatefulSet")
    env = {
        e["name"]: e.get("value") for e in kafka["spec"]["template"]["spec"]["containers"][0]["env"]
    }

    # The Secrets' content, as files where the pod mounts them (moved under tmp_path).
    tls, secrets = tmp_path / "tls", tmp_path / "secrets"
    for d in (tls, secrets / "tls-passwords", secrets / "jaas", tmp_path / "data"):
        d.mkdir(parents=True)
    san = "SAN=dns:*.my-tradestream-kafka-headless.tradestream-namespace.svc.cluster.local"
    keytool("-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
            "-validity", "2", "-storetype", "PKCS12", "-keystore", str(tls / "keystore.p12"),
            "-storepass", "keystore-pw", "-keypass", "keystore-pw", "-dname", f"CN={HOST}", "-ext", san)  # fmt: skip
    keytool("-exportcert", "-alias", "broker", "-keystore", str(tls / "keystore.p12"),
            "-storepass", "keystore-pw", "-rfc", "-file", str(tmp_path / "ca.pem"))  # fmt: skip
    keytool("-importcert", "-noprompt", "-alias", "broker", "-file", str(tmp_path / "ca.pem"),
            "-storetype", "PKCS12", "-keystore", str(tls / "truststore.p12"),
            "-storepass", "truststore-pw")  # fmt: skip
    (secrets / "tls-passwords" / "keystore-password").write_text("keystore-pw")
    (secrets / "tls-passwords" / "truststore-password").write_text("truststore-pw")
    (secrets / "jaas" / "jaas.conf").write_text(
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="admin" password="admin-pw" user_admin="admin-pw" user_alice="alice-pw";'
    )
    props = (
        config["server.properties"]
        .replace("/var/lib/kafka/data/logs", str(tmp_path / "data"))
        .replace("/etc/kafka/secrets", str(secrets))
        .replace("/etc/kafka/tls", str(tls))
    )
    assert "${dir:" + str(secrets) + "/jaas:jaas.conf}" in props  # a reference, not the secret
    props += (
        f"\nnode.id=0\nadvertised.listeners=CLIENT://{HOST}:9092,REPLICATION://{HOST}:9094,"
        f"SECURE://{HOST}:{env['KAFKA_SECURE_PORT']}\n"
    )
    (tmp_path / "server.properties").write_text(props)
    (tmp_path / "log4j.properties").write_text(config["log4j.properties"])
    (tmp_path / "client.py").write_text(CLIENT)
    (tmp_path / "hosts").write_text(
        f"127.0.0.1 localhost\n127.0.0.1 {HOST}\n127.0.0.1 {socket.gethostname()}\n"
    )
    classpath = f"{jvm_dir / 'kafka'}/*"
    script = textwrap.dedent(
        f"""\
        set -eu
        ip link set lo up
        mount --bind {tmp_path}/hosts /etc/hosts
        java -cp '{classpath}' kafka.tools.StorageTool format --config {tmp_path}/server.properties \\
          --cluster-id {env["KAFKA_CLUSTER_ID"]} --ignore-formatted
        java -Xmx384m -Dlog4j.configuration=file:{tmp_path}/log4j.properties -cp '{classpath}' \\
          kafka.Kafka {tmp_path}/server.properties > {tmp_path}/broker.log 2>&1 &
        broker=$!
        trap 'kill $broker; wait $broker || true' EXIT
        for _ in $(seq 1 90); do (echo > /dev/tcp/127.0.0.1/9095) 2>/dev/null && break; sleep 1; done
        {sys.executable} {tmp_path}/client.py {HOST} {tmp_path}/ca.pem
        """
    )
    result = subprocess.run(
        ["unshare", "--net", "--mount", "bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (tmp_path / "broker.log").read_text() if (tmp_path / "broker.log").exists() else ""
    assert result.returncode == 0, result.stdout + result.stderr + log[-3000:]
    assert "read [b'over SASL_SSL']" in result.stdout, result.stdout + log[-3000:]
    assert "wrong password refused" in result.stdout
    assert "Authentication failed: Invalid username or password" in log
