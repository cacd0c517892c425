"""The chart's programs (charts/tradestream/files/*.py) against fakes and a real broker.

submit_realtime.py talks to a fake Flink REST API on 127.0.0.1; create_topics.py and
wait_for_topics.py run against the test session's real Kafka broker (integration).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[2] / "charts" / "tradestream" / "files"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, FILES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeFlink:
    """Flink's REST API for /overview, /jobs/overview, /jobs/<id> and PATCH cancel."""

    def __init__(self, jobs: list[dict]):
        self.jobs = {j["jid"]: dict(j) for j in jobs}
        self.cancelled: list[str] = []
        self.finish_after_polls: dict[str, tuple[int, str]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, body: dict, status: int = 200):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/overview":
                    return self._send({"taskmanagers": 1})
                if self.path == "/jobs/overview":
                    return self._send({"jobs": list(fake.jobs.values())})
                jid = self.path.rsplit("/", 1)[-1]
                job = fake.jobs.get(jid)
                if job is None:
                    return self._send({"errors": ["not found"]}, 404)
                polls, final = fake.finish_after_polls.get(jid, (None, None))
                if polls is not None:
                    if polls <= 0:
                        job["state"] = final
                    fake.finish_after_polls[jid] = (polls - 1, final)
                return self._send(job)

            def do_PATCH(self):
                jid = self.path.split("?")[0].rsplit("/", 1)[-1]
                fake.cancelled.append(jid)
                fake.jobs[jid]["state"] = "CANCELED"
                self._send({}, 202)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def job_server_port():
    """A listening socket standing in for the Beam job server's port."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def _submit_env(monkeypatch, flink: FakeFlink, port: int, name: str) -> None:
    monkeypatch.setenv("FLINK_REST_URL", flink.url)
    monkeypatch.setenv("JOB_SERVER", f"127.0.0.1:{port}")
    monkeypatch.setenv("JOB_NAME", name)
    monkeypatch.setenv("JOB_NAME_PREFIX", "tradestream-realtime")
    monkeypatch.setenv("WAIT_SECONDS", "5")


class FakeChild:
    """Stands in for the `tradestream realtime` process: records its command, exits `code`."""

    def __init__(self, calls: list, code: int, on_run=None):
        self.calls, self.code, self.on_run = calls, code, on_run

    def __call__(self, command):
        self.calls.append(command)
        return self

    def wait(self):
        if self.on_run:
            self.on_run()
        return self.code


@pytest.mark.parametrize(
    ("final", "child_code", "code"),
    [("CANCELED", 1, 0), ("FINISHED", 0, 0), ("FAILED", 1, 1), (None, 3, 3)],
)
def test_submit_realtime_no_running_job_runs_the_pipeline_and_maps_the_end(
    monkeypatch, job_server_port, final, child_code, code
):
    module = load("submit_realtime")
    flink = FakeFlink([{"jid": "a", "name": "other-job", "state": "RUNNING"}])
    _submit_env(monkeypatch, flink, job_server_port, "tradestream-realtime-r2")

    def job_ran():  # what the pipeline leaves in Flink's job list
        if final:
            flink.jobs["new"] = {"jid": "new", "name": "tradestream-realtime-r2", "state": final}

    calls: list = []
    monkeypatch.setattr(module.subprocess, "Popen", FakeChild(calls, child_code, job_ran))
    try:
        assert module.main(["--runner=PortableRunner"]) == code
    finally:
        flink.close()
    assert calls == [
        ["tradestream", "realtime", "--runner=PortableRunner", "--job_name=tradestream-realtime-r2"]
    ]
    assert flink.cancelled == []  # jobs of other names are left alone


def test_submit_realtime_older_revision_is_cancelled_before_submitting(
    monkeypatch, job_server_port
):
    module = load("submit_realtime")
    flink = FakeFlink(
        [
            {"jid": "old", "name": "tradestream-realtime-r1", "state": "RUNNING"},
            {"jid": "done", "name": "tradestream-realtime-r0", "state": "CANCELED"},
        ]
    )
    _submit_env(monkeypatch, flink, job_server_port, "tradestream-realtime-r2")
    calls: list = []
    monkeypatch.setattr(module.subprocess, "Popen", FakeChild(calls, 0))
    try:
        module.main([])
    finally:
        flink.close()
    assert flink.cancelled == ["old"]
    assert len(calls) == 1


def test_submit_realtime_sigterm_cancels_this_revisions_job_through_flink(
    monkeypatch, job_server_port
):
    module = load("submit_realtime")
    flink = FakeFlink(
        [
            {"jid": "mine", "name": "tradestream-realtime-r2", "state": "RUNNING"},
            {"jid": "other", "name": "unrelated", "state": "RUNNING"},
        ]
    )
    _submit_env(monkeypatch, flink, job_server_port, "tradestream-realtime-r2")
    handlers = {}
    monkeypatch.setattr(module.signal, "signal", lambda sig, h: handlers.setdefault(sig, h))
    monkeypatch.setattr(module, "attach", lambda *a: handlers[module.signal.SIGTERM](15, None))
    try:
        with pytest.raises(SystemExit) as stopped:
            module.main([])
    finally:
        flink.close()
    assert stopped.value.code == 0
    assert flink.cancelled == ["mine"]


@pytest.mark.parametrize(("final", "code"), [("FINISHED", 0), ("CANCELED", 0), ("FAILED", 1)])
def test_submit_realtime_running_job_of_this_revision_is_awaited_not_resubmitted(
    monkeypatch, job_server_port, final, code
):
    module = load("submit_realtime")
    monkeypatch.setattr(module, "POLL_S", 0.01)
    flink = FakeFlink([{"jid": "mine", "name": "tradestream-realtime-r2", "state": "RUNNING"}])
    flink.finish_after_polls["mine"] = (2, final)
    _submit_env(monkeypatch, flink, job_server_port, "tradestream-realtime-r2")
    monkeypatch.setattr(module.subprocess, "Popen", lambda *a: pytest.fail("resubmitted"))
    try:
        assert module.main([]) == code
    finally:
        flink.close()
    assert flink.cancelled == []


def test_submit_realtime_flink_down_gives_up_after_the_wait(monkeypatch, job_server_port):
    module = load("submit_realtime")
    monkeypatch.setenv("FLINK_REST_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("JOB_SERVER", f"127.0.0.1:{job_server_port}")
    monkeypatch.setenv("JOB_NAME", "tradestream-realtime-r1")
    monkeypatch.setenv("WAIT_SECONDS", "0")
    with pytest.raises(SystemExit, match="not up"):
        module.main([])


def _run(script: str, env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FILES / script), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.integration
def test_create_topics_creates_then_grows_then_keeps_topics(kafka_broker):
    from tradestream.local import kafka as local_kafka

    bootstrap = kafka_broker.bootstrap
    spec = [
        {"name": "chart-trades", "partitions": 2, "replication_factor": 1,
         "config": {"retention.ms": "-1", "min.insync.replicas": "1"}},
        {"name": "chart-signals", "partitions": 1, "replication_factor": 1, "config": {}},
    ]  # fmt: skip
    env = {"TRADESTREAM_BOOTSTRAP_SERVERS": bootstrap, "WAIT_SECONDS": "60"}
    first = _run("create_topics.py", {**env, "TOPICS_JSON": json.dumps(spec)})
    assert first.returncode == 0, first.stdout + first.stderr
    assert "chart-trades: created with 2 partitions" in first.stdout
    spec[0]["partitions"] = 4
    second = _run("create_topics.py", {**env, "TOPICS_JSON": json.dumps(spec)})
    assert second.returncode == 0, second.stdout + second.stderr
    assert "chart-trades: partitions 2 -> 4" in second.stdout
    assert "chart-signals: exists" in second.stdout
    topics = local_kafka.describe_topics(bootstrap)
    assert topics["chart-trades"] == 4 and topics["chart-signals"] == 1
    waited = _run("wait_for_topics.py", env, "chart-trades", "chart-signals")
    assert waited.returncode == 0, waited.stdout + waited.stderr


@pytest.mark.integration
def test_wait_for_topics_missing_topic_gives_up(kafka_broker):
    env = {"TRADESTREAM_BOOTSTRAP_SERVERS": kafka_broker.bootstrap, "WAIT_SECONDS": "0"}
    result = _run("wait_for_topics.py", env, "chart-no-such-topic")
    assert result.returncode == 1
    assert "missing topics ['chart-no-such-topic']" in result.stderr
