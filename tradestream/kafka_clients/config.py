"""Kafka client configuration from settings: one place for bootstrap servers and security.

Every Kafka client TradeStream builds is a confluent-kafka (librdkafka) client whose
properties come from `client_config` (with `consumer_config` or `producer_config`), so TLS
and SASL/SCRAM are configured once, by the `TRADESTREAM_KAFKA_*` environment (see
`tradestream.settings`). Secret values stay `SecretStr` until here, where they are handed to
the client and nowhere else: never logged, never put into pipeline options.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from tradestream.kafka_clients.properties import CONNECTION_PROPERTIES, PRODUCER_PROPERTIES
from tradestream.kafka_clients.properties import READER_GROUP as READER_GROUP  # re-exported
from tradestream.kafka_clients.properties import consumer_config as consumer_config  # re-exported
from tradestream.settings import Settings, get_settings

VERIFY_TIMEOUT_S = 30.0
# How long a command waits for a broker before it says there is none (issue 15: ~30 s of
# client retries and a traceback were the old behaviour).
BROKER_TIMEOUT_S = 8.0


class KafkaSecurityError(RuntimeError):
    """Brokers refused the configured TLS or SASL settings (or could not be reached)."""


class KafkaUnavailableError(KafkaSecurityError):
    """No broker answered at the bootstrap servers."""


def client_config(settings: Settings, bootstrap: str | None = None) -> dict[str, Any]:
    """librdkafka properties shared by every confluent-kafka producer, consumer and admin client.

    Args:
        settings: The environment settings (security protocol, SASL, TLS files).
        bootstrap: Bootstrap servers overriding `settings.bootstrap` (e.g. from a flag).

    Returns:
        A configuration dict for `confluent_kafka.Producer`, `Consumer` or `AdminClient`
        (add `consumer_config`'s or `producer_config`'s options for those).
    """
    config: dict[str, Any] = {
        "bootstrap.servers": ",".join(
            s.strip() for s in (bootstrap or settings.bootstrap).split(",") if s.strip()
        ),
        "security.protocol": settings.kafka_security_protocol,
        **CONNECTION_PROPERTIES,
    }
    if settings.kafka_security_protocol.startswith("SASL_"):
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_security_protocol.endswith("SSL"):
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if settings.kafka_ssl_check_hostname else "none"
        )
        for option, path in (
            ("ssl.ca.location", settings.kafka_ssl_cafile),
            ("ssl.certificate.location", settings.kafka_ssl_certfile),
            ("ssl.key.location", settings.kafka_ssl_keyfile),
        ):
            if path is not None:
                config[option] = str(path)
        if settings.kafka_ssl_key_password is not None:
            config["ssl.key.password"] = settings.kafka_ssl_key_password.get_secret_value()
    return config


def producer_config(settings: Settings, bootstrap: str | None = None) -> dict[str, Any]:
    """An idempotent producer (acks=all) batching for throughput with low latency."""
    return {**client_config(settings, bootstrap), **PRODUCER_PROPERTIES}


def env_client_config(bootstrap: str | None = None) -> dict[str, Any]:
    """`client_config` from this process's environment, for code running on Beam workers.

    Transforms carry only the bootstrap servers and a `WorkerClientConfig` in the pipeline
    graph; credentials are read here, on the worker, when a client is built, so they are never
    pickled, sent to the runner or logged with the pipeline options. With TLS or SASL the
    first call per process checks the connection (`verify_connection`), so bad credentials
    fail the worker with a clear error instead of clients retrying silently.
    """
    settings = get_settings()
    verify_connection(settings, bootstrap)
    return client_config(settings, bootstrap)


@dataclass(frozen=True)
class WorkerClientConfig:
    """`env_client_config` as the picklable factory the Kafka transforms take.

    The pipeline passes an instance into `ReadTrades`, `WriteSignals` and `WriteDeadLetters`
    (their `client_config`): only this empty object is pickled into the pipeline graph, and
    each worker reads TLS and SASL settings from its own `TRADESTREAM_KAFKA_*` environment
    when it builds a client.
    """

    def __call__(self, bootstrap_servers: str) -> dict[str, Any]:
        return env_client_config(bootstrap_servers)


_verified: set[str] = set()
_verified_lock = threading.Lock()

# librdkafka's error codes for a failed TLS handshake and a refused SASL login.
_TLS_FAILURE = KafkaError._SSL
_SASL_FAILURE = KafkaError._AUTHENTICATION
# How long one metadata request may wait before the errors reported so far are looked at.
_ATTEMPT_S = 1.0


def verify_connection(
    settings: Settings, bootstrap: str | None = None, timeout_s: float = VERIFY_TIMEOUT_S
) -> None:
    """Connects once with the settings' security; raises a clear error when brokers refuse it.

    librdkafka retries a refused TLS handshake or SASL login in the background for as long as
    the client lives, and a metadata request only times out. This names the cause (and the
    variables to check) as soon as the first attempt fails: the admin client's `error_cb`
    hears of the failure while short metadata requests are retried. PLAINTEXT is not
    checked; a successful check is remembered for the rest of the process.

    Raises:
        KafkaSecurityError: the TLS handshake or SASL login failed, or no broker answered
            within `timeout_s`.
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return
    config = client_config(settings, bootstrap)
    servers = config["bootstrap.servers"]
    # A digest, not the options themselves: the set outlives the call and holds no password.
    # (The logger is left out: its repr shows its level, which is no connection setting.)
    key = hashlib.sha256(
        repr(sorted((k, v) for k, v in config.items() if k != "logger")).encode()
    ).hexdigest()
    with _verified_lock:
        if key in _verified:
            return
    errors: list[KafkaError] = []
    try:
        admin = AdminClient(
            {
                **config,
                "error_cb": errors.append,
                # The failure is reported below as one line; librdkafka's own log lines about
                # each retry would only repeat it.
                "log_level": 0,
            }
        )
    except KafkaException as exc:  # e.g. a CA file that holds no certificate
        raise KafkaSecurityError(
            f"cannot connect to Kafka at {servers} with {settings.kafka_security_protocol}: "
            f"{exc.args[0].str()}"
        ) from exc
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                admin.list_topics(timeout=min(_ATTEMPT_S, max(deadline - time.monotonic(), 0.1)))
                break
            except KafkaException as exc:
                errors.append(exc.args[0])
            admin.poll(0)  # serves error_cb
            failure = next((e for e in errors if e.code() in (_TLS_FAILURE, _SASL_FAILURE)), None)
            if failure is not None:
                raise KafkaSecurityError(_explain(settings, servers, failure))
            if time.monotonic() >= deadline:
                # The most telling error: why a connection broke, over "timed out" or "all
                # brokers are down".
                summaries = (KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN)
                cause = next(
                    (e.str() for e in reversed(errors) if e.code() not in summaries),
                    errors[-1].str() if errors else f"no answer within {timeout_s:.0f}s",
                )
                raise KafkaSecurityError(
                    f"cannot connect to Kafka at {servers} with "
                    f"{settings.kafka_security_protocol}: {cause}"
                )
    finally:
        del admin  # destroys the client: its background retries end here
    with _verified_lock:
        _verified.add(key)


def require_broker(
    settings: Settings, bootstrap: str | None = None, timeout_s: float = BROKER_TIMEOUT_S
) -> None:
    """Fails fast, with one readable line, when no broker is reachable or security is refused.

    For the commands a person starts (`realtime`, `ingest`, `paper run`, `signals tail`):
    first a plain TCP connection to each bootstrap server (a stopped local broker is refused
    at once), then `verify_connection` for TLS/SASL settings.

    Raises:
        KafkaUnavailableError: no bootstrap server accepted a connection within `timeout_s`.
        KafkaSecurityError: the brokers refused the TLS handshake or SASL login.
    """
    servers = [s.strip() for s in (bootstrap or settings.bootstrap).split(",") if s.strip()]
    start = time.monotonic()
    while True:
        reasons, refused_only = [], True
        for server in servers:
            try:
                _tcp_probe(server, timeout_s=min(3.0, timeout_s))
                break
            except OSError as exc:
                refused_only &= isinstance(exc, ConnectionRefusedError)
                reasons.append(f"{server}: {exc.strerror or exc}")
        else:
            # A refused connection is retried briefly (a broker that is just starting);
            # a silent host until the whole timeout.
            waited = time.monotonic() - start
            if waited + 0.5 < (min(2.0, timeout_s) if refused_only else timeout_s):
                time.sleep(0.5)
                continue
            raise KafkaUnavailableError(
                f"no Kafka broker answers at {','.join(servers)} ({'; '.join(reasons)}); "
                "start the local one with `tradestream local up`, or point "
                "--bootstrap_servers or TRADESTREAM_BOOTSTRAP_SERVERS at a running cluster"
            )
        break
    verify_connection(settings, bootstrap, timeout_s=max(timeout_s, 5.0))


def _tcp_probe(server: str, timeout_s: float) -> None:
    """Opens and closes a TCP connection to `host:port` (raises OSError when it cannot)."""
    host, _, port = server.rpartition(":")
    if not port.isdigit():
        raise OSError(f"not host:port: {server!r}")
    with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout_s):
        pass


def _explain(settings: Settings, servers: str, failure: KafkaError) -> str:
    if failure.code() == _TLS_FAILURE:
        return (
            f"TLS handshake with Kafka at {servers} failed: {failure.str()}. Check "
            "TRADESTREAM_KAFKA_SSL_CAFILE (the CA that signed the brokers' certificates), "
            "TRADESTREAM_KAFKA_SSL_CHECK_HOSTNAME and TRADESTREAM_KAFKA_SECURITY_PROTOCOL."
        )
    return (
        f"Kafka at {servers} refused the SASL {settings.kafka_sasl_mechanism} login of user "
        f"{settings.kafka_sasl_username!r}: {failure.str()}. Check "
        "TRADESTREAM_KAFKA_SASL_USERNAME, TRADESTREAM_KAFKA_SASL_PASSWORD and "
        "TRADESTREAM_KAFKA_SASL_MECHANISM."
    )
