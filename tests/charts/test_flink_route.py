"""The chart's Flink route without Kubernetes: session cluster, job server, SDK worker pool.

On 127.0.0.1 and free ports, the test starts what the chart runs as pods: a Flink 1.19
session cluster (JobManager and TaskManager from the Flink jars of the Maven-resolved Beam
runner, without Beam on their class path, configured with the chart's rendered config.yaml),
Beam's job server (`--flink-master=HOST:PORT`), and the SDK worker pool sidecar
(docker/worker_pool.py). It then runs the chart's realtime submission
(files/submit_realtime.py with the arguments the chart renders) against the session's Kafka
broker, replays sample trades, waits for a signal, and stops the submission with SIGTERM,
which must cancel the Flink job.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.charts.test_chart import render
from tradestream.local import kafka as local_kafka
from tradestream.runtime.jvm import find_java

REPO = Path(__file__).resolve().parents[2]
FILES = REPO / "charts" / "tradestream" / "files"
TRADESTREAM = str(Path(sys.executable).parent / "tradestream")
LOGS: dict[str, Path] = {}  # process name -> its log file, for failure messages
TOPICS = {"trades": "chart-e2e-trades", "signals": "chart-e2e-signals", "dlq": "chart-e2e-dlq"}


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def rest(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_for(what: str, check, timeout_s: float, procs: dict) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                tail = LOGS[name].read_text(errors="replace")[-4000:] if name in LOGS else ""
                raise AssertionError(
                    f"{name} exited ({proc.returncode}) waiting for {what}:\n{tail}"
                )
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def chart_pieces() -> tuple[dict, str, list[str], str]:
    """The chart's Flink config.yaml (parsed), log4j config, realtime submission args, and
    the job server's config of the jobs it submits (the text of its --flink-conf-dir's
    config.yaml)."""
    objects = render("minikube")
    flink = next(
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-flink")
    )
    job = next(o for o in objects if o["kind"] == "Job" and "-realtime-r" in o["metadata"]["name"])
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    return (
        yaml.safe_load(flink["data"]["config.yaml"]),
        flink["data"]["log4j-console.properties"],
        args,
        flink["data"]["jobs-config.yaml"],
    )


@pytest.mark.integration
def test_chart_flink_route_submits_realtime_and_signals_come_out(kafka_broker, jvm_dir, tmp_path):
    java = find_java()
    conf, log4j, chart_args, jobs_conf = chart_pieces()
    rest_port, rpc, blob, tm_rpc, tm_data, job_port, artifact, expansion, pool = free_ports(9)
    conf.update(
        {
            "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.rpc.port": rpc,
            "jobmanager.bind-host": "127.0.0.1",
            "rest.address": "127.0.0.1",
            "rest.bind-address": "127.0.0.1",
            "rest.port": rest_port,
            "blob.server.port": blob,
            "taskmanager.bind-host": "127.0.0.1",
            "taskmanager.host": "127.0.0.1",
            "taskmanager.rpc.port": tm_rpc,
            "taskmanager.data.port": tm_data,
            # Both processes share this host: any free port, not the pods' fixed 6125.
            "metrics.internal.query-service.port": "0",
            "io.tmp.dirs": str(tmp_path / "tmp"),
            "web.tmpdir": str(tmp_path / "tmp" / "web"),
            "web.upload.dir": str(tmp_path / "tmp" / "upload"),
        }
    )
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (tmp_path / "tmp").mkdir()
    (conf_dir / "config.yaml").write_text(yaml.safe_dump(conf))
    (conf_dir / "log4j-console.properties").write_text(log4j)
    # The job server's settings of the jobs it submits, as the chart mounts them.
    jobs_conf_dir = tmp_path / "flink-jobs"
    jobs_conf_dir.mkdir()
    (jobs_conf_dir / "config.yaml").write_text(jobs_conf)
    opens = conf["env.java.opts.all"].split()
    lib = jvm_dir / "beam" / "lib"
    # The cluster's class path: Flink and its dependencies, not Beam (the job server ships it).
    cluster_cp = os.pathsep.join(str(j) for j in sorted(lib.glob("*.jar")) if "beam-" not in j.name)
    # Flink's logs on the console (slf4j -> reload4j from the Kafka jars), for failure messages.
    kafka_lib = jvm_dir / "kafka"
    logging_jars = [*kafka_lib.glob("slf4j-reload4j-*.jar"), *kafka_lib.glob("reload4j-*.jar")]
    (tmp_path / "log4j.properties").write_text(
        "log4j.rootLogger=WARN, out\nlog4j.appender.out=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.out.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.out.layout.ConversionPattern=%d %p %c - %m%n\n"
    )
    cluster_cp = os.pathsep.join([cluster_cp, *map(str, logging_jars)])
    opens = [*opens, f"-Dlog4j.configuration=file:{tmp_path / 'log4j.properties'}"]
    bootstrap = kafka_broker.bootstrap
    local_kafka.ensure_topics(bootstrap, list(TOPICS.values()), 2)
    env = {
        **os.environ,
        "TRADESTREAM_BOOTSTRAP_SERVERS": bootstrap,
        "TRADESTREAM_TRADES_TOPIC": TOPICS["trades"],
        "TRADESTREAM_SIGNALS_TOPIC": TOPICS["signals"],
        "TRADESTREAM_DLQ_TOPIC": TOPICS["dlq"],
        "TRADESTREAM_STATE_DIR": str(tmp_path / "state"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: dict[str, subprocess.Popen] = {}

    def start(name: str, command: list[str], **kwargs) -> subprocess.Popen:
        LOGS[name] = logs / f"{name}.log"
        out = open(LOGS[name], "wb")  # noqa: SIM115 - closed with the process
        procs[name] = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        return procs[name]

    try:
        start(
            "jobmanager",
            [java, *opens, "-Xmx512m", "-cp", cluster_cp,
             "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
             "--configDir", str(conf_dir)],
        )  # fmt: skip
        # What Flink's taskmanager.sh derives from the configuration (heap, memory sizes).
        derived = subprocess.run(
            [java, "-cp", cluster_cp, "org.apache.flink.runtime.util.bash.BashJavaUtils",
             "GET_TM_RESOURCE_PARAMS", "--configDir", str(conf_dir)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        results = [
            line.split(":", 1)[1]
            for line in derived.stdout.splitlines()
            if line.startswith("BASH_JAVA_UTILS_EXEC_RESULT:")
        ]
        assert len(results) == 2, derived.stdout + derived.stderr
        start(
            "taskmanager",
            [java, *opens, *results[0].split(), "-cp", cluster_cp,
             "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
             "--configDir", str(conf_dir), *results[1].split()],
        )  # fmt: skip
        start(
            "job-server",
            [java, *opens, "-Xmx512m", "-cp", str(lib / "*"),
             "org.apache.beam.runners.flink.FlinkJobServerDriver",
             f"--flink-master=127.0.0.1:{rest_port}", "--job-host=127.0.0.1",
             f"--job-port={job_port}", f"--artifact-port={artifact}",
             f"--expansion-port={expansion}", f"--artifacts-dir={tmp_path / 'artifacts'}",
             f"--flink-conf-dir={jobs_conf_dir}"],
        )  # fmt: skip
        start(
            "worker-pool",
            [sys.executable, str(REPO / "docker" / "worker_pool.py"),
             f"--service_port={pool}", "--state_cache_mb=64"],
            env=env,
        )  # fmt: skip
        flink = f"http://127.0.0.1:{rest_port}"
        wait_for(
            "a TaskManager", lambda: rest(flink + "/overview")["taskmanagers"] == 1, 180, procs
        )

        # The chart's arguments, pointed at this job server and worker pool.
        args = [
            a.replace("my-tradestream-job-server:8099", f"127.0.0.1:{job_port}")
            .replace("my-tradestream-job-server:8098", f"127.0.0.1:{artifact}")
            .replace("localhost:50000", f"localhost:{pool}")
            for a in chart_args
        ]
        submit_env = {
            **env,
            "FLINK_REST_URL": flink,
            "JOB_SERVER": f"127.0.0.1:{job_port}",
            "JOB_NAME": "tradestream-realtime-r1",
            "JOB_NAME_PREFIX": "tradestream-realtime",
            "WAIT_SECONDS": "120",
        }
        submit = start(
            "submit", [sys.executable, str(FILES / "submit_realtime.py"), *args], env=submit_env
        )

        def running() -> bool:
            jobs = rest(flink + "/jobs/overview")["jobs"]
            return any(
                j["name"] == "tradestream-realtime-r1"
                and j["state"] == "RUNNING"
                and j["tasks"]["running"] == j["tasks"]["total"]
                for j in jobs
            )

        wait_for("the realtime job to run", running, 300, procs)
        ingest = subprocess.run(
            [TRADESTREAM, "ingest", "--source=replay",
             "--speed=max", "--sample_hours=3"],
            env=env, capture_output=True, text=True, timeout=300, cwd=REPO,
        )  # fmt: skip
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr
        tail = subprocess.run(
            [TRADESTREAM, "signals", "tail", "--from_beginning",
             "--json", "--max", "1", "--timeout", "180"],
            env=env, capture_output=True, text=True, timeout=400, cwd=REPO,
        )  # fmt: skip
        assert tail.stdout.strip(), tail.stderr + (logs / "submit.log").read_text()[-3000:]
        signal_ = json.loads(tail.stdout.splitlines()[0])
        assert signal_["action"] in {"BUY", "SELL"} and signal_["signal_id"]

        # Deleting the pod: SIGTERM cancels the Flink job, and the submission exits 0.
        submit.send_signal(signal.SIGTERM)
        assert submit.wait(timeout=60) == 0
        wait_for(
            "the job to be cancelled",
            lambda: (
                not running()
                and any(
                    j["name"] == "tradestream-realtime-r1" and j["state"] == "CANCELED"
                    for j in rest(flink + "/jobs/overview")["jobs"]
                )
            ),
            60,
            {k: v for k, v in procs.items() if k != "submit"},
        )
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
