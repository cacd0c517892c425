"""Scale-out on the local Kubernetes cluster: realtime throughput with 1 and 2 TaskManagers.

    .venv/bin/python bench/k8s_scaleout.py [--trades 200000] [--symbols 20]   (after make k8s-up)

The throughput measurement of bench/realtime.py, on the chart: for each TaskManager count P
(1, then 2), the chart is installed with charts/tradestream/values-local.yaml, P
TaskManagers, pipeline parallelism P and one SDK worker per TaskManager (the worker pool
sidecar of each pod), no ingest and no realtime job yet. A loader pod writes start markers
(one malformed record per partition, which the pipeline dead-letters at once), N trades for
S symbols, and end markers into `trades`; then `helm upgrade` starts the realtime job, and
the rate is N / (time the end markers reached `trades-dlq` - time the start markers did):
reading, parsing, candles, six strategies, signals, with Flink back-pressure, excluding job
start-up. Prints both rates and their ratio.

On a 2-core machine the ratio measures overhead rather than speed-up: the two TaskManagers,
their Python workers, Kafka and the control plane share the same two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "k8s"))

import e2e  # noqa: E402  (the e2e's kubectl/helm helpers, pointed at another namespace)

NS = "tradestream-bench"
PARTITIONS = 2
STRATEGIES = ["SMA_CROSSOVER", "EMA_MACD", "SMA_RSI", "BBAND_W_R", "DONCHIAN_BREAKOUT",
              "RSI_OVERBOUGHT_OVERSOLD"]  # fmt: skip

# Runs in the loader pod (the Python image): `load N S` then `measure N`.
LOADER = r"""
import json, os, sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
from tradestream.market.sample_day import sample_trades
from tradestream.v1 import trade_pb2
boot = os.environ["TRADESTREAM_BOOTSTRAP_SERVERS"]
P = int(os.environ["PARTITIONS"])
def send(producer, value, key, partition=-1):
    while True:
        try:
            return producer.produce("trades", value=value, key=key, partition=partition)
        except BufferError:
            producer.poll(0.05)
def markers(producer, label):
    for p in range(P):
        send(producer, b"marker-" + label, b"marker", p)
    if producer.flush(60):
        raise SystemExit("markers unacknowledged")
def dlq_markers(label, timeout_s):
    c = Consumer({"bootstrap.servers": boot, "group.id": "bench-loader", "enable.auto.commit": False})
    parts = c.list_topics("trades-dlq", timeout=30).topics["trades-dlq"].partitions
    c.assign([TopicPartition("trades-dlq", p, 0) for p in parts])
    seen, deadline = 0, time.monotonic() + timeout_s
    try:
        while seen < P:
            if time.monotonic() > deadline:
                raise SystemExit(f"markers {label!r} did not reach trades-dlq")
            m = c.poll(0.1)
            if m is None:
                continue
            if m.error() is not None:
                raise SystemExit(f"reading trades-dlq: {m.error().str()}")
            seen += trade_pb2.DeadLetter.FromString(m.value()).payload == b"marker-" + label
        return time.monotonic()
    finally:
        c.close()
if sys.argv[1] == "load":
    n, s = int(sys.argv[2]), int(sys.argv[3])
    symbols = {f"S{i:02d}-USD": 100.0 + i for i in range(s)}
    trades = list(sample_trades(hours=n / (s * 3600.0), seed=3, symbols=symbols))
    producer = Producer({"bootstrap.servers": boot, "acks": 1, "linger.ms": 5,
                         "queue.buffering.max.messages": 1000000})
    markers(producer, b"start")
    for t in trades:
        send(producer, t.SerializeToString(), t.symbol.encode())
        producer.poll(0)
    if producer.flush(300):
        raise SystemExit("trades unacknowledged")
    markers(producer, b"end")
    print(json.dumps({"trades": len(trades)}))
else:
    t_start = dlq_markers(b"start", 900)
    t_end = dlq_markers(b"end", 3600)
    print(json.dumps({"seconds": t_end - t_start}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--taskmanagers", default="1,2")
    args = parser.parse_args(argv)
    e2e.NS = NS
    e2e.FULL = f"{e2e.RELEASE}-tradestream"
    image = "tradestream:0.1.0-local"
    results = {}
    for p in [int(x) for x in args.taskmanagers.split(",")]:
        if e2e.helm("status", e2e.RELEASE, "-n", NS, check_rc=False).returncode == 0:
            e2e.helm("uninstall", e2e.RELEASE, "-n", NS, "--wait", "--timeout", "5m")
        e2e.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", timeout=600)
        e2e.recycle_volumes()
        e2e.kubectl("create", "namespace", NS)
        common = ["-n", NS, "-f", e2e.VALUES, "--set", "ingest.enabled=false", "--set", "paper.enabled=false",
                  "--set", f"flink.taskmanager.replicaCount={p}", "--set", f"flink.parallelism={p}",
                  "--set", f"realtime.parallelism={p}", "--set", "realtime.sdkWorkers=1",
                  "--set", "realtime.consumerGroup=bench",
                  "--set-json", "realtime.strategies=" + json.dumps([{"type": s} for s in STRATEGIES])]  # fmt: skip
        e2e.helm("install", e2e.RELEASE, e2e.CHART, *common, "--set", "realtime.enabled=false",
                 "--wait", "--timeout", "15m", timeout=1000)  # fmt: skip
        e2e.kubectl("apply", "-n", NS, "-f", "-", input=e2e.probe_pod_manifest(image))
        e2e.k("wait", "--for=condition=Ready", "pod/e2e-probe", "--timeout=180s", timeout=200)
        e2e.wait_for("the topics", lambda: "trades-dlq" in e2e.probe_exec(
            "python", "-c", "import os; from confluent_kafka.admin import AdminClient; print(list(AdminClient("
            "{'bootstrap.servers': os.environ['TRADESTREAM_BOOTSTRAP_SERVERS']}).list_topics(timeout=10).topics))"), 300)  # fmt: skip
        env = ["env", f"PARTITIONS={PARTITIONS}", "python", "-c", LOADER]
        loaded = json.loads(
            e2e.probe_exec(*env, "load", args.trades, args.symbols, timeout=1200)
            .strip()
            .splitlines()[-1]
        )
        e2e.helm("upgrade", e2e.RELEASE, e2e.CHART, *common, "--set", "realtime.enabled=true", "--wait",
                 "--timeout", "10m", timeout=700)  # fmt: skip
        measured = json.loads(
            e2e.probe_exec(*env, "measure", timeout=4000).strip().splitlines()[-1]
        )
        rate = loaded["trades"] / measured["seconds"]
        results[p] = rate
        print(f"{p} TaskManager(s): {loaded['trades']} trades in {measured['seconds']:.1f} s = {rate:,.0f} trades/s",
              flush=True)  # fmt: skip
        e2e.helm("uninstall", e2e.RELEASE, "-n", NS, "--wait", "--timeout", "5m", check_rc=False)
    if 1 in results and 2 in results:
        print(f"ratio 2/1 TaskManagers: {results[2] / results[1]:.2f} "
              f"({os.cpu_count()} cores, {platform.machine()}, {time.strftime('%Y-%m-%d')})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
