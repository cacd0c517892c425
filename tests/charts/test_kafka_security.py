"""The chart's Kafka security settings on a real broker: TLS between controllers and brokers,
a SASL_SSL listener whose JAAS line and store passwords are Secret files.

The broker is the chart's rendered server.properties (one replica, paths moved into a temporary
directory, the per-pod lines kafka-start.sh adds) run from the project's Kafka jars. Its
controller and replication listeners and its certificate use the pod's DNS name: the JVM
resolves that name to 127.0.0.1 through a hosts file of the test's (`-Djdk.net.hosts.file`),
and the chart's fixed ports (9092-9095) become free loopback ports. The listeners a client
uses are advertised as `localhost`, which the certificate names too: the Python client
(confluent-kafka) resolves names in librdkafka, through the system's resolver, which a test
cannot point elsewhere without root. So no root and no network namespace are needed: it runs
wherever `make test` runs, hosted CI runners too."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.charts.test_chart import render
from tests.support.kafka import free_port
from tradestream.runtime.jvm import find_java

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

# The client listeners' advertised name (the pod's DNS name is the brokers' own).
CLIENT_HOST = "localhost"

CLIENT = """
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

host, cafile, plain, secure_port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
# The broker listens on 127.0.0.1 only: no attempt at localhost's IPv6 address first.
common = {"broker.address.family": "v4"}
secure = dict(common, **{"bootstrap.servers": f"{host}:{secure_port}",
                         "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
                         "ssl.ca.location": cafile, "sasl.username": "alice"})
admin = AdminClient(dict(common, **{"bootstrap.servers": f"{host}:{plain}"}))
admin.create_topics([NewTopic("secured", num_partitions=1, replication_factor=1)])[
    "secured"
].result(timeout=60)
failures = []
producer = Producer(dict(secure, **{"sasl.password": "alice-pw"}))
producer.produce("secured", b"over SASL_SSL", on_delivery=lambda err, msg: failures.append(err))
assert producer.flush(30) == 0 and failures == [None], failures
consumer = Consumer(dict(common, **{"bootstrap.servers": f"{host}:{plain}", "group.id": "test",
                                    "auto.offset.reset": "earliest"}))
consumer.subscribe(["secured"])
deadline = time.monotonic() + 30
msg = None
while msg is None and time.monotonic() < deadline:
    msg = consumer.poll(1)
    assert msg is None or msg.error() is None, msg.error()
print("read", [msg.value() if msg is not None else None])
consumer.close()
errors = []
wrong = Producer(dict(secure, **{"sasl.password": "wrong", "error_cb": errors.append}))
wrong.produce("secured", b"with the wrong password")
unsent = wrong.flush(8)
refused = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
if refused and unsent:
    print("wrong password refused", refused[0].name())
else:
    print("wrong password accepted", errors)
"""


def keytool(*args: str) -> None:
    beside_java = Path(find_java()).with_name("keytool")
    tool = str(beside_java) if beside_java.is_file() else shutil.which("keytool")
    if tool is None:
        pytest.fail("keytool is not on PATH: it comes with the JDK 17 the README requires")
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def move_ports(props: str, ports: dict[int, int]) -> str:
    """server.properties with the chart's fixed ports replaced, its listeners on loopback."""
    props = re.sub(r":(909[2-5])\b", lambda m: f":{ports[int(m.group(1))]}", props)
    return re.sub(r"^(listeners=.*)$", lambda m: m.group(1).replace("://:", "://127.0.0.1:"),
                  props, flags=re.M)  # fmt: skip


def wait_for_port(port: int, broker: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert broker.poll() is None, f"the broker exited:\n{log.read_text()[-3000:]}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the broker did not listen on {port} within {timeout:.0f} s:\n"
                f"{log.read_text()[-3000:]}")  # fmt: skip


@pytest.mark.integration
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
    san = (
        "SAN=dns:*.my-tradestream-kafka-headless.tradestream-namespace.svc.cluster.local,"
        f"dns:{CLIENT_HOST}"
    )
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
    ports = {port: free_port() for port in (9092, 9093, 9094, 9095)}
    secure_port = ports[int(env["KAFKA_SECURE_PORT"])]
    props = (
        config["server.properties"]
        .replace("/var/lib/kafka/data/logs", str(tmp_path / "data"))
        .replace("/etc/kafka/secrets", str(secrets))
        .replace("/etc/kafka/tls", str(tls))
    )
    assert "${dir:" + str(secrets) + "/jaas:jaas.conf}" in props  # a reference, not the secret
    props += (
        f"\nnode.id=0\nadvertised.listeners=CLIENT://{CLIENT_HOST}:9092,"
        f"REPLICATION://{HOST}:9094,SECURE://{CLIENT_HOST}:{env['KAFKA_SECURE_PORT']}\n"
    )
    moved = move_ports(props, ports)
    assert not re.search(r":909[2-5]\b", moved), moved  # every fixed port of the chart moved
    (tmp_path / "server.properties").write_text(moved)
    (tmp_path / "log4j.properties").write_text(config["log4j.properties"])
    (tmp_path / "client.py").write_text(CLIENT)
    (tmp_path / "hosts").write_text(
        f"127.0.0.1 localhost\n127.0.0.1 {HOST}\n127.0.0.1 {socket.gethostname()}\n"
    )
    java = [find_java(), f"-Djdk.net.hosts.file={tmp_path / 'hosts'}", "-cp",
            f"{jvm_dir / 'kafka'}/*"]  # fmt: skip
    fmt = subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "--config", str(tmp_path / "server.properties"),
         "--cluster-id", env["KAFKA_CLUSTER_ID"], "--ignore-formatted"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    log = tmp_path / "broker.log"
    with log.open("wb") as out:
        broker = subprocess.Popen(
            [*java, "-Xmx384m", f"-Dlog4j.configuration=file:{tmp_path}/log4j.properties",
             "kafka.Kafka", str(tmp_path / "server.properties")],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_port(secure_port, broker, log, timeout=90)
        result = subprocess.run(
            [sys.executable, str(tmp_path / "client.py"), CLIENT_HOST, str(tmp_path / "ca.pem"),
             str(ports[9092]), str(secure_port)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
    broker_log = log.read_text()
    assert result.returncode == 0, result.stdout + result.stderr + broker_log[-3000:]
    assert "read [b'over SASL_SSL']" in result.stdout, result.stdout + broker_log[-3000:]
    assert "wrong password refused" in result.stdout
    assert "Authentication failed: Invalid username or password" in broker_log
