"""A single-node Apache Kafka broker in KRaft mode, on 127.0.0.1, for local work and tests.

State lives in `<state_dir>/kafka/`: `data/` (log dirs), `logs/`, `server.properties`,
`broker.json` (pid and ports of the running broker) and `cluster-id`.

`up()` runs a PLAINTEXT broker. Its `server_properties` and `format_args` hooks let a caller
(the secured-Kafka tests) replace listeners and add, for instance, SASL_SSL with SCRAM
credentials created at `kafka-storage format --add-scram`; the helpers here then connect with
the client security of the `Settings` they are given.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from tradestream.kafka_clients.config import client_config, env_client_config
from tradestream.runtime.errors import LocalRuntimeError
from tradestream.runtime.jvm import find_java, require
from tradestream.settings import Settings

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class BrokerPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j.properties"

    @property
    def pidfile(self) -> Path:
        return self.root / "broker.json"

    @property
    def cluster_id(self) -> Path:
        return self.root / "cluster-id"

    @property
    def stdout(self) -> Path:
        return self.logs / "stdout.log"


@dataclass(frozen=True)
class BrokerInfo:
    pid: int
    host: str
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


def paths(settings: Settings) -> BrokerPaths:
    return BrokerPaths(settings.state_dir / "kafka")


def _alive(pid: int) -> bool:
    """True when pid runs a Kafka broker (not merely a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline


def running_broker(settings: Settings) -> BrokerInfo | None:
    """The broker this state directory started, if it still runs."""
    pidfile = paths(settings).pidfile
    try:
        info = BrokerInfo(**json.loads(pidfile.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if _alive(info.pid):
        return info
    pidfile.unlink(missing_ok=True)  # stale: the broker died without `local down`
    return None


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _client(bootstrap: str, settings: Settings | None) -> dict[str, Any]:
    """Client options for `bootstrap`: the given settings' security, else the environment's."""
    return client_config(settings, bootstrap) if settings else env_client_config(bootstrap)


def _with_overrides(properties: str, overrides: Mapping[str, str]) -> str:
    """`properties` with the overridden keys' values replaced and new keys appended."""
    pending = dict(overrides)
    lines = []
    for line in properties.splitlines():
        key = line.partition("=")[0]
        lines.append(f"{key}={pending.pop(key)}" if key in pending else line)
    return "\n".join([*lines, *(f"{k}={v}" for k, v in pending.items()), ""])


def _server_properties(
    settings: Settings, p: BrokerPaths, overrides: Mapping[str, str] | None = None
) -> str:
    host, port, cport = settings.kafka_host, settings.kafka_port, settings.controller_port
    properties = "\n".join(
        [
            "# Written by `tradestream local up`; edits are overwritten at the next start.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{cport}",
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={p.data}",
            f"num.partitions={settings.topic_partitions}",
            "default.replication.factor=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "group.initial.rebalance.delay.ms=0",
            # Topics are created explicitly (local up, tests), so a typo in a topic
            # flag shows up as an error rather than as a new empty topic.
            "auto.create.topics.enable=false",
            # Retention by size, not time: replayed trades carry their original (past)
            # timestamps, and time-based retention would delete them on arrival.
            "log.retention.ms=-1",
            "log.retention.bytes=1073741824",
            "log.segment.bytes=268435456",
            "",
        ]
    )
    return _with_overrides(properties, overrides) if overrides else properties


_LOG4J = """\
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={logfile}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=WARN
"""


def _cluster_id(p: BrokerPaths) -> str:
    if p.cluster_id.is_file():
        return p.cluster_id.read_text().strip()
    cid = "-"
    while cid.startswith("-"):  # as Kafka's own ids: one starting with '-' reads as a flag
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    p.cluster_id.write_text(cid + "\n")
    return cid


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def up(
    settings: Settings,
    wait_s: float = START_TIMEOUT_S,
    *,
    server_properties: Mapping[str, str] | None = None,
    format_args: Sequence[str] = (),
) -> BrokerInfo:
    """Starts the broker (if not already running), waits for it, creates the topics.

    Args:
        settings: State directory, ports, and the client security used to reach the broker.
        wait_s: How long to wait for the broker to accept clients.
        server_properties: Broker properties replacing or adding to the defaults (e.g. a
            SASL_SSL listener); default: a PLAINTEXT broker.
        format_args: Extra `kafka-storage format` arguments (e.g. `--add-scram ...`), used
            when the data directory is new.

    Returns:
        The running broker.

    Raises:
        LocalRuntimeError: Java missing, a port taken, or the broker failed to start.
    """
    if settings.kafka_security_protocol != "PLAINTEXT" and not server_properties:
        raise LocalRuntimeError(
            "the local broker serves PLAINTEXT, but TRADESTREAM_KAFKA_SECURITY_PROTOCOL="
            f"{settings.kafka_security_protocol}; unset the TRADESTREAM_KAFKA_SECURITY_PROTOCOL/"
            "SASL/SSL variables for `tradestream local up` (they are for a secured cluster)"
        )
    existing = running_broker(settings)
    if existing:
        print(f"[local] Kafka is already running (pid {existing.pid}) on {existing.bootstrap}")
        ensure_topics(
            existing.bootstrap, settings.local_topics, settings.topic_partitions, settings
        )
        return existing
    java = find_java()
    host, port, cport = settings.kafka_host, settings.kafka_port, settings.controller_port
    for what, prt in (("client", port), ("controller", cport)):
        if not _port_free(host, prt):
            raise LocalRuntimeError(
                f"port {prt} on {host} (the broker's {what} port) is already in use by another "
                "process. Stop that process, or choose other ports with TRADESTREAM_KAFKA_PORT / "
                "`tradestream local up --port N`."
            )
    layout = require(settings, "kafka")
    p = paths(settings)
    for d in (p.data, p.logs):
        d.mkdir(parents=True, exist_ok=True)
    p.config.write_text(_server_properties(settings, p, server_properties))
    p.log4j.write_text(_LOG4J.format(logfile=p.logs / "server.log"))
    classpath = f"{layout.kafka_lib}/*"
    jvm_flags = [
        f"-Xmx{settings.kafka_heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{p.log4j}",
        f"-Dkafka.logs.dir={p.logs}",
    ]
    if not (p.data / "meta.properties").is_file():
        fmt = subprocess.run(
            [java, *jvm_flags, "-cp", classpath, "kafka.tools.StorageTool", "format",
             f"--cluster-id={_cluster_id(p)}", "-c", str(p.config), *format_args],
            capture_output=True, text=True,
        )  # fmt: skip
        if fmt.returncode != 0:
            raise LocalRuntimeError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
    with open(p.stdout, "ab") as out:
        proc = subprocess.Popen(
            [java, *jvm_flags, "-cp", classpath, "kafka.Kafka", str(p.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI; `local down` stops it
        )
    info = BrokerInfo(pid=proc.pid, host=host, port=port, controller_port=cport)
    p.pidfile.write_text(json.dumps(info.__dict__))
    print(f"[local] starting Kafka (pid {proc.pid}) on {info.bootstrap} ...", flush=True)
    deadline = time.monotonic() + wait_s
    while True:
        if proc.poll() is not None:
            p.pidfile.unlink(missing_ok=True)
            raise LocalRuntimeError(
                f"Kafka exited with code {proc.returncode} while starting. Last log lines "
                f"({p.logs / 'server.log'}):\n{_tail(p.logs / 'server.log')}\n{_tail(p.stdout, 5)}"
            )
        if broker_reachable(info.bootstrap, settings=settings):
            break
        if time.monotonic() > deadline:
            stop_pid(proc.pid)
            p.pidfile.unlink(missing_ok=True)
            raise LocalRuntimeError(
                f"Kafka did not accept clients within {wait_s:.0f}s; see {p.logs / 'server.log'}"
            )
        time.sleep(0.5)
    ensure_topics(info.bootstrap, settings.local_topics, settings.topic_partitions, settings)
    print(f"[local] Kafka is up on {info.bootstrap} (data in {p.data})", flush=True)
    return info


def _admin(bootstrap: str, settings: Settings | None, quiet: bool = False) -> AdminClient:
    """An admin client for `bootstrap` (`quiet`: without librdkafka's log lines)."""
    config = _client(bootstrap, settings)
    # A probe's answer is its result: its failed attempts are no news for the console.
    return AdminClient({**config, "log_level": 0} if quiet else config)


def broker_reachable(
    bootstrap: str, timeout_s: float = 5.0, settings: Settings | None = None
) -> bool:
    """True when a Kafka client can fetch cluster metadata from `bootstrap`."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            pass
    except OSError:
        return False
    try:
        metadata = _admin(bootstrap, settings, quiet=True).list_topics(timeout=timeout_s)
    except Exception:  # noqa: BLE001 - any client failure means "not ready yet"
        return False
    return bool(metadata.brokers)


def _topic_metadata(admin: AdminClient, bootstrap: str, timeout_s: float) -> dict:
    """Topic name -> librdkafka's TopicMetadata; a readable error when none arrives."""
    try:
        return admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise LocalRuntimeError(
            f"Kafka at {bootstrap} sent no topic list within {timeout_s:.0f}s: {exc.args[0].str()}"
        ) from exc


def ensure_topics(
    bootstrap: str,
    topics: tuple[str, ...] | list[str],
    partitions: int,
    settings: Settings | None = None,
) -> None:
    """Creates the topics that do not exist yet (existing ones are left as they are)."""
    admin = _admin(bootstrap, settings)
    missing = [t for t in topics if t not in _topic_metadata(admin, bootstrap, 30)]
    if not missing:
        return
    created = admin.create_topics(
        [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing],
        operation_timeout=30,
        request_timeout=30,
    )
    for name, future in created.items():
        try:
            future.result(timeout=60)
        except KafkaException as exc:
            # Another client creating the same topic at the same moment is no failure.
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise LocalRuntimeError(
                    f"creating topic {name} on {bootstrap} failed: {exc.args[0].str()}"
                ) from exc
    # Created on the controller is not yet known to every broker: wait until the metadata
    # lists each topic with its partitions, as a producer or consumer will look them up.
    deadline = time.monotonic() + 30
    while True:
        listed = _topic_metadata(admin, bootstrap, 10)
        pending = [
            t for t in missing if t not in listed or listed[t].error or not listed[t].partitions
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise LocalRuntimeError(f"topics {pending} not ready on {bootstrap} after 30s")
        time.sleep(0.2)


def describe_topics(bootstrap: str, settings: Settings | None = None) -> dict[str, int]:
    """Topic name -> partition count, internal topics excluded."""
    listed = _topic_metadata(_admin(bootstrap, settings), bootstrap, 10)
    return {name: len(t.partitions) for name, t in listed.items() if not name.startswith("__")}


def stop_pid(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (a clean, controlled shutdown), then SIGKILL after timeout_s."""
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                # Reap it if it is our child; otherwise just probe it.
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                if not Path(f"/proc/{pid}").exists():
                    return
            time.sleep(0.2)


def down(settings: Settings) -> bool:
    """Stops the broker. Returns False when none was running."""
    info = running_broker(settings)
    if info is None:
        print("[local] Kafka is not running; nothing to stop")
        return False
    print(f"[local] stopping Kafka (pid {info.pid}) ...", flush=True)
    stop_pid(info.pid)
    paths(settings).pidfile.unlink(missing_ok=True)
    print("[local] Kafka stopped")
    return True


def status(settings: Settings) -> tuple[bool, str]:
    """(healthy, a readable report) of the local broker and its topics."""
    info = running_broker(settings)
    if info is None:
        return False, "Kafka: not running (start it with `tradestream local up`)"
    lines = [f"Kafka: running, pid {info.pid}, bootstrap {info.bootstrap}"]
    if not broker_reachable(info.bootstrap, settings=settings):
        lines.append("  broker process is up but does not answer clients yet")
        return False, "\n".join(lines)
    topics = describe_topics(info.bootstrap, settings)
    healthy = True
    for name in settings.local_topics:
        if name in topics:
            lines.append(f"  topic {name:<12} {topics[name]} partition(s)")
        else:
            healthy = False
            lines.append(f"  topic {name:<12} MISSING (run `tradestream local up` to create it)")
    others = sorted(set(topics) - set(settings.local_topics))
    if others:
        lines.append(f"  other topics: {', '.join(others)}")
    lines.append("  status: healthy" if healthy else "  status: degraded")
    return healthy, "\n".join(lines)
