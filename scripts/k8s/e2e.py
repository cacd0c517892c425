"""`make k8s-e2e`: the chart on the local cluster, a recorded trades file replayed through
its ingest, and the `signals` topic checked against `tradestream backtest` on the same file.

    scripts/k8s/e2e.sh            (make k8s-e2e; needs `make k8s-up` first)

1. A recorded trades file (`tradestream sample`, plus one closing trade per symbol in the
   interval after the last, so that the stream closes every candle of the file) is put on a
   volume of the cluster; `tradestream backtest` computes the expected signals of two
   strategy sets (A, B) on the same file: every signal except those of the closing
   interval, which the stream never closes.
2. `helm install` with charts/tradestream/values-local.yaml (1 Kafka broker, a Flink session
   cluster with 2 TaskManagers) and strategy set A; the ingest Job replays the file at a
   paced speed, into a namespace that enforces the restricted Pod Security Standard.
3. Mid-stream, while the replay goes on: a TaskManager pod is deleted (the job must restart
   from its checkpoint and go on), then the Kafka broker pod (its data is on its volume;
   clients must reconnect). The signals so far must each be expected and none twice; once
   the replay is over they must be exactly set A's (ids equal, none missing, none twice).
4. `helm upgrade` with strategy set B (and a new consumer group reading from the start):
   the old Flink job is cancelled, the new one's signals must be exactly set B's, set A's
   unchanged. 5. `helm test`.

One summary line per check; exit status 1 when any check fails (diagnostics in
.local/k8s/e2e/diagnostics.txt), 2 when the cluster is not up.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
W = Path(os.environ.get("TS_K8S_DIR", REPO / ".local" / "k8s"))
BIN = W / "bin"
KUBECONFIG = W / "pki" / "admin.kubeconfig"
CHART = REPO / "charts" / "tradestream"
VALUES = CHART / "values-local.yaml"
TRADESTREAM = REPO / ".venv" / "bin" / "tradestream"
NS = "tradestream-e2e"
RELEASE = "ts"
FULL = f"{RELEASE}-tradestream"
INTERVAL_MS = 60_000
STRATEGIES = {
    "A": [("SMA_CROSSOVER", {"fast": 10, "slow": 30}), ("RSI_OVERBOUGHT_OVERSOLD", {"period": 14})],
    "B": [("EMA_MACD", {}), ("BBAND_W_R", {})],
}
RESULTS: list[tuple[bool, str]] = []
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[e2e {time.monotonic() - T0:6.0f}s] {msg}", flush=True)


def check(ok: bool, name: str, detail: str) -> bool:
    RESULTS.append((ok, name))
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    return ok


def run(*cmd, check_rc=True, timeout=600, capture=True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG)}
    result = subprocess.run(
        [str(c) for c in cmd], capture_output=capture, text=True, timeout=timeout, env=env, **kw
    )
    if check_rc and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} ... exited {result.returncode}: "
                           f"{(result.stderr or '')[-2000:]}")  # fmt: skip
    return result


def kubectl(*args, **kw) -> subprocess.CompletedProcess:
    return run(BIN / "kubectl", *args, **kw)


def k(*args, **kw) -> subprocess.CompletedProcess:
    return kubectl("-n", NS, *args, **kw)


def helm(*args, **kw) -> subprocess.CompletedProcess:
    return run(BIN / "helm", *args, **kw)


def wait_for(what: str, predicate, timeout_s: float, every_s: float = 3.0):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = predicate()
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
            value, last = None, exc
        else:
            last = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}"
                               + (f" (last error: {last})" if last else ""))  # fmt: skip
        time.sleep(every_s)


# ---------------------------------------------------------------------------- the data
def recorded_file(path: Path, hours: float) -> int:
    """The sample trades plus one closing trade per symbol; returns the closing interval."""
    run(TRADESTREAM, "sample", "--hours", hours, "--output", path)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    last: dict[str, dict] = {}
    for row in rows:
        last[row["symbol"]] = row
    end = max(int(r["time"]) for r in rows)
    close_at = end - end % INTERVAL_MS + INTERVAL_MS
    with path.open("a") as f:
        for symbol in sorted(last):
            f.write(f"{close_at},{symbol},{last[symbol]['price']},0.000001,buy,closing-{symbol}\n")
    path.chmod(0o644)
    return close_at


def strategy_flags(name: str) -> list[str]:
    flags = []
    for kind, params in STRATEGIES[name]:
        flags.append(f"--strategy={kind}")
        flags += [f"--param={p}={v}" for p, v in params.items()]
    return flags


def backtest(name: str, trades: Path, out: Path) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [str(TRADESTREAM), "backtest", "--input", str(trades), "--output", str(out / "bt"),
           "--candle_interval=1m", "--detail_top=100000", *strategy_flags(name)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=open(out / "backtest.log", "w"), stderr=subprocess.STDOUT)  # noqa: SIM115


def expected_signals(out: Path, close_at: int) -> dict[str, str]:
    """signal_id -> a short description, without the closing interval's signals."""
    expected = {}
    with (out / "bt" / "signals.csv").open() as f:
        for row in csv.DictReader(f):
            t = datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
            if int(t.timestamp() * 1000) >= close_at:
                continue
            expected[row["signal_id"]] = (
                f"{row['time']} {row['symbol']} {row['action']} {row['strategy']}"
            )
    return expected


# ---------------------------------------------------------------------------- the cluster
def probe_exec(*cmd, timeout=120) -> str:
    return k("exec", "e2e-probe", "-c", "probe", "--", *cmd, timeout=timeout).stdout


def signals_on_topic() -> list[dict]:
    out = probe_exec(
        "tradestream", "signals", "tail", "--from_beginning", "--json", "--timeout", "6"
    )
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


PY_REST = (
    "import json,sys,urllib.request as u; print(u.urlopen(sys.argv[1], timeout=10).read().decode())"
)


def flink(path: str) -> dict:
    return json.loads(
        probe_exec("python", "-c", PY_REST, f"http://{FULL}-flink-jobmanager:8081{path}")
    )


PY_TOPIC_SIZE = """
import os, sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": os.environ["TRADESTREAM_BOOTSTRAP_SERVERS"],
              "group.id": "e2e-probe"})
topic = sys.argv[1]
parts = c.list_topics(topic, timeout=30).topics[topic].partitions
ranges = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=30) for p in parts]
print(sum(high - low for low, high in ranges))
"""


def topic_size(topic: str) -> int:
    return int(probe_exec("python", "-c", PY_TOPIC_SIZE, topic).strip())


def running_job() -> dict | None:
    jobs = [j for j in flink("/jobs/overview")["jobs"] if j["state"] == "RUNNING"]
    return jobs[0] if len(jobs) == 1 else None


def pods() -> list[dict]:
    return json.loads(k("get", "pods", "-o", "json").stdout)["items"]


def all_pods_up() -> bool:
    """Every pod Running and ready, or a Job's pod Succeeded."""
    items = pods()
    for p in items:
        phase = p["status"].get("phase")
        if phase == "Succeeded":
            continue
        ready = all(c.get("ready") for c in p["status"].get("containerStatuses", []))
        if phase != "Running" or not ready:
            return False
    return bool(items)


def pod_names(component: str) -> list[str]:
    return [p["metadata"]["name"] for p in pods()
            if p["metadata"]["labels"].get("app.kubernetes.io/component") == component
            and not p["metadata"].get("deletionTimestamp")]  # fmt: skip


def compare(name: str, got: list[dict], expected: dict[str, str], final: bool) -> tuple[bool, str]:
    ids = [s["signal_id"] for s in got]
    twice = len(ids) - len(set(ids))
    unexpected = set(ids) - set(expected)
    missing = set(expected) - set(ids)
    ok = not twice and not unexpected and (not missing or not final)
    detail = (f"set {name}: {len(expected)} expected, {len(set(ids))} on the topic, "
              f"{len(missing)} missing, {twice} twice, {len(unexpected)} unexpected")  # fmt: skip
    for sid in sorted(unexpected)[:3]:
        s = next(x for x in got if x["signal_id"] == sid)
        detail += f"\n    unexpected {sid}: {s.get('symbol')} {s.get('action')} {s.get('candle_start_ms')}"
    if final:
        for sid in sorted(missing)[:3]:
            detail += f"\n    missing {sid}: {expected[sid]}"
    return ok, detail


def probe_pod_manifest(image: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "e2e-probe", "labels": {"tradestream.io/kafka-client": "true"}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe", "image": image, "imagePullPolicy": "Never",
                "command": ["python", "-c", "import time; time.sleep(1e9)"],
                "env": [
                    {"name": "TRADESTREAM_BOOTSTRAP_SERVERS", "value": f"{FULL}-kafka:9092"},
                    {"name": "TRADESTREAM_SIGNALS_TOPIC", "value": "signals"},
                    {"name": "HOME", "value": "/tmp"},
                ],
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "512Mi"}},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
        },
    })  # fmt: skip


def data_volume_manifests(data_dir: Path) -> str:
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{NS}-data"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(data_dir), "type": "Directory"},
            "claimRef": {"namespace": NS, "name": "e2e-data"},
        },
    }
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "e2e-data", "namespace": NS},
        "spec": {
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "",
            "volumeName": f"{NS}-data",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [pv, pvc]})  # fmt: skip


def recycle_volumes() -> None:
    """Empties the local pool's Released volumes and makes them Available again."""
    pvs = json.loads(kubectl("get", "pv", "-o", "json").stdout)["items"]
    for pv in pvs:
        name = pv["metadata"]["name"]
        if name == f"{NS}-data":
            kubectl("delete", "pv", name, "--wait=false")
            continue
        if pv["status"].get("phase") != "Released" or "hostPath" not in pv["spec"]:
            continue
        path = Path(pv["spec"]["hostPath"]["path"])
        for child in path.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        kubectl(
            "patch", "pv", name, "--type", "json", "-p", '[{"op":"remove","path":"/spec/claimRef"}]'
        )


def diagnostics(path: Path) -> None:
    with path.open("w") as f:
        for cmd in (["get", "pods", "-o", "wide"], ["get", "events", "--sort-by=.lastTimestamp"],
                    ["get", "pvc"], ["get", "jobs"]):  # fmt: skip
            f.write(f"$ kubectl -n {NS} {' '.join(cmd)}\n{k(*cmd, check_rc=False).stdout}\n")
        for p in pods():
            for c in p["spec"].get("initContainers", []) + p["spec"]["containers"]:
                out = k("logs", p["metadata"]["name"], "-c", c["name"], "--tail=60", check_rc=False)
                f.write(f"--- logs {p['metadata']['name']}/{c['name']}\n{out.stdout}{out.stderr}\n")
    print(f"diagnostics: {path}", flush=True)


# ---------------------------------------------------------------------------- the run
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0, help="hours of recorded trades")
    parser.add_argument("--speed", default="45", help="replay speed (45: 3 h in 4 min)")
    parser.add_argument("--keep", action="store_true", help="leave the release installed")
    args = parser.parse_args(argv)
    work = W / "e2e"
    if run(BIN / "kubectl", "get", "--raw", "/readyz", check_rc=False).returncode != 0:
        print("k8s-e2e: the local cluster is not up: run `make k8s-up` first", file=sys.stderr)
        return 2
    image = "tradestream:" + json.dumps(
        run(sys.executable, "-c", "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['images']['python']['tag'])", VALUES).stdout.strip()
    ).strip('"')  # fmt: skip

    # A fresh namespace (restricted Pod Security Standard) and data volume.
    if helm("status", RELEASE, "-n", NS, check_rc=False).returncode == 0:
        helm("uninstall", RELEASE, "-n", NS, "--wait", "--timeout", "5m")
    kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true", timeout=600)
    recycle_volumes()
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    data.mkdir(parents=True)
    data.chmod(0o755)
    trades = data / "trades.csv"
    close_at = recorded_file(trades, args.hours)
    n_trades = sum(1 for _ in trades.open()) - 1
    log(f"recorded file: {n_trades} trades, closing interval at {close_at}")
    runs = {name: backtest(name, trades, work / f"backtest-{name}") for name in STRATEGIES}

    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest"}}}  # fmt: skip
    kubectl("apply", "-f", "-", input=json.dumps(ns))
    kubectl("apply", "-f", "-", input=data_volume_manifests(data))

    common = ["-n", NS, "-f", VALUES, "--set", "ingest.input=/data/trades.csv",
              "--set", "ingest.data.existingClaim=e2e-data", "--set-string", f"ingest.speed={args.speed}"]  # fmt: skip
    sets = {}
    for name, strategies in STRATEGIES.items():
        # A values file per set: --set on a list would merge into values-local.yaml's list.
        values = {"realtime": {"strategies": [{"type": t, "params": p} for t, p in strategies]}}
        (work / f"strategies-{name}.yaml").write_text(json.dumps(values))
        sets[name] = ["-f", str(work / f"strategies-{name}.yaml")]
    t = time.monotonic()
    try:
        helm(
            "install",
            RELEASE,
            CHART,
            *common,
            *sets["A"],
            "--wait",
            "--timeout",
            "15m",
            timeout=1000,
        )
        kubectl("apply", "-n", NS, "-f", "-", input=probe_pod_manifest(image))
        k("wait", "--for=condition=Ready", "pod/e2e-probe", "--timeout=180s", timeout=200)
        wait_for("every pod Running and ready", all_pods_up, 600)
        check(True, "install", f"helm install --wait and every pod Running/ready in {time.monotonic() - t:.0f}s "
              f"({len(pods())} pods, restricted Pod Security Standard enforced)")  # fmt: skip

        expected = {}
        for name, proc in runs.items():
            if proc.wait(timeout=900) != 0:
                raise RuntimeError(
                    f"backtest {name} failed: {(work / f'backtest-{name}' / 'backtest.log').read_text()[-2000:]}"
                )
            expected[name] = expected_signals(work / f"backtest-{name}", close_at)
        log(f"expected signals: A {len(expected['A'])}, B {len(expected['B'])}")
        ids_a, ids_b = set(expected["A"]), set(expected["B"])

        # --- fault 1: a TaskManager, mid-stream
        wait_for("the first signals", lambda: len(signals_on_topic()) > 0, 600, 5)
        job = wait_for("the realtime Flink job RUNNING", running_job, 300)
        sent = topic_size("trades")
        victim = pod_names("flink-taskmanager")[0]
        t = time.monotonic()
        k("delete", "pod", victim, "--wait=false")
        log(f"deleted TaskManager pod {victim} with {sent}/{n_trades} trades replayed")

        def restored():
            cp = flink(f"/jobs/{job['jid']}/checkpoints")
            latest = (cp.get("latest") or {}).get("restored")
            state = flink(f"/jobs/{job['jid']}")["state"]
            return latest if state == "RUNNING" and latest else None

        restored_cp = wait_for("the job restored from a checkpoint", restored, 300, 5)
        wait_for("2 TaskManagers again", lambda: flink("/overview")["taskmanagers"] == 2, 300)
        before = len(signals_on_topic())
        wait_for(
            "signals after the restart",
            lambda: len(signals_on_topic()) > before or topic_size("trades") >= n_trades,
            300,
            5,
        )
        ok, detail = compare("A", signals_on_topic(), expected["A"], final=False)
        check(
            ok,
            "TaskManager deleted mid-stream",
            f"job restored checkpoint {restored_cp.get('id')} after {time.monotonic() - t:.0f}s; so far {detail}",
        )

        # --- fault 2: the Kafka broker, mid-stream
        sent = topic_size("trades")
        t = time.monotonic()
        k("delete", "pod", f"{FULL}-kafka-0", "--wait=false")
        log(f"deleted Kafka broker pod with {sent}/{n_trades} trades replayed")
        time.sleep(5)
        k("wait", "--for=condition=Ready", f"pod/{FULL}-kafka-0", "--timeout=300s", timeout=320)
        wait_for("the realtime job RUNNING after the broker restart", running_job, 300)
        before = len(signals_on_topic())
        ok, detail = compare("A", signals_on_topic(), expected["A"], final=False)
        check(
            ok,
            "Kafka broker deleted mid-stream",
            f"broker back and job RUNNING after {time.monotonic() - t:.0f}s; so far {detail}",
        )

        # --- complete after the replay
        wait_for("the replay to end", lambda: topic_size("trades") >= n_trades, 900, 10)
        t = time.monotonic()
        try:
            wait_for(
                "every expected signal of set A",
                lambda: ids_a <= {s["signal_id"] for s in signals_on_topic()},
                600,
                10,
            )
        except TimeoutError as exc:
            log(str(exc))
        time.sleep(10)  # anything late (a duplicate) would show now
        ok, detail = compare("A", signals_on_topic(), expected["A"], final=True)
        check(ok, "parity after the faults", detail)

        # --- fault 3: helm upgrade with strategy set B
        old = running_job()
        t = time.monotonic()
        helm("upgrade", RELEASE, CHART, *common, *sets["B"], "--set", "realtime.consumerGroup=tradestream-realtime-b",
             "--wait", "--timeout", "10m", timeout=700)  # fmt: skip

        def replaced():
            jobs = flink("/jobs/overview")["jobs"]
            old_state = next((j["state"] for j in jobs if j["jid"] == old["jid"]), None)
            new = [j for j in jobs if j["state"] == "RUNNING" and j["jid"] != old["jid"]]
            return (old_state, new[0]["name"]) if old_state == "CANCELED" and new else None

        old_state, new_name = wait_for(
            "the old job cancelled and a new one running", replaced, 600, 5
        )
        try:
            wait_for(
                "every expected signal of set B",
                lambda: ids_b <= {s["signal_id"] for s in signals_on_topic()},
                900,
                10,
            )
        except TimeoutError as exc:
            log(str(exc))
        time.sleep(10)
        got = signals_on_topic()
        ok_b, detail_b = compare(
            "B", [x for x in got if x["signal_id"] not in ids_a], expected["B"], final=True
        )
        ok_a, detail_a = compare(
            "A", [x for x in got if x["signal_id"] in ids_a], expected["A"], final=True
        )
        check(
            ok_a and ok_b,
            "helm upgrade to strategy set B",
            f"old job {old_state}, new job {new_name} RUNNING; after {time.monotonic() - t:.0f}s {detail_b}; {detail_a}",
        )

        # --- helm test
        t = time.monotonic()
        result = helm(
            "test", RELEASE, "-n", NS, "--logs", "--timeout", "10m", check_rc=False, timeout=700
        )
        check(
            result.returncode == 0,
            "helm test",
            f"{'passed' if result.returncode == 0 else 'failed'} in {time.monotonic() - t:.0f}s"
            + ("" if result.returncode == 0 else f": {(result.stdout + result.stderr)[-800:]}"),
        )
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as exc:
        check(False, "run", str(exc))
    failed = [name for ok, name in RESULTS if not ok]
    if failed:
        diagnostics(work / "diagnostics.txt")
    elif not args.keep:
        helm("uninstall", RELEASE, "-n", NS, "--wait", "--timeout", "5m", check_rc=False)
    print(
        f"k8s-e2e: {len(RESULTS) - len(failed)}/{len(RESULTS)} checks passed in "
        f"{time.monotonic() - T0:.0f}s" + (f"; failed: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
