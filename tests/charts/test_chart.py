"""The Helm chart (charts/tradestream): lint, render, schema validation and security rules.

Helm is built from the Go module proxy into `.local/bin/helm` on first use (pinned below; about
3 minutes cold, then cached); without it and without Go the tests that need it fail naming what
to install. Rendered objects are validated offline against the Kubernetes schemas of a pinned
version with `kubernetes-validate`. Tests that need helm are marked `integration`; the values
documentation check needs nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.support.go_tools import TOOLS_BIN_ENV, go_tool

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "tradestream"
HELM_VERSION = "v3.19.0"
# What helm's own release build stamps in (its Makefile): the version, and the Kubernetes
# version of its client libraries (k8s.io/* v0.34) as `helm template`'s default.
HELM_LDFLAGS = " ".join(
    [
        "-s -w",
        f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
        "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1",
        "-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=34",
        "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1",
        "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=34",
    ]
)
# The oldest Kubernetes the chart's Chart.yaml promises to support with every API it uses is
# 1.27; the schemas checked are 1.31's (what current managed clusters and kind/Minikube run).
KUBE_VERSION = "1.31.0"
NAMESPACE = "tradestream-namespace"
VALUES = {
    "default": [],
    "minikube": [REPO / "k8s" / "values-minikube.yaml"],
    "production": [CHART / "values-production.yaml"],
}
WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob", "Pod"}


# --- values.yaml documentation (no helm needed) ---------------------------------------------

_KEY = re.compile(r"^(\s*)([\w.\-/]+):(.*)$")


def undocumented_keys(text: str) -> list[str]:
    """Leaf keys with no comment directly above them or above one of their parents."""
    lines = text.splitlines()
    stack: list[tuple[int, str, bool]] = []
    missing = []
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        match = _KEY.match(line)
        if not match or stripped.startswith(("#", "-")):
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3).strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        documented = i > 0 and lines[i - 1].strip().startswith("#")
        if rest and not documented and not any(doc for _, _, doc in stack):
            missing.append(".".join([k for _, k, _ in stack] + [key]))
        stack.append((indent, key, documented))
    return missing


def test_values_every_key_is_documented():
    assert undocumented_keys((CHART / "values.yaml").read_text()) == []


def test_values_undocumented_key_is_reported():
    text = "kafka:\n  # -- brokers\n  replicaCount: 3\n  heapOpts: x\n"
    assert undocumented_keys(text) == ["kafka.heapOpts"]


def test_values_hold_no_credentials():
    text = (CHART / "values.yaml").read_text() + (CHART / "values-production.yaml").read_text()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        assert not re.search(r"(?i)(password|passwd|secret_?key|token)\s*[:=]\s*\S", line), line


# --- helm -----------------------------------------------------------------------------------


@cache
def helm_binary() -> Path:
    """The pinned helm in the tools folder (.local/bin), built with `go install` when missing.

    Without it and without Go the calling test fails naming what to install (never skips).
    """
    return go_tool(
        "helm",
        "helm.sh/helm/v3/cmd/helm",
        HELM_VERSION,
        ["version", "--template", "{{.Version}}"],
        ldflags=HELM_LDFLAGS,
    )


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.parametrize("helm_there", ["absent", "wrong version"])
def test_chart_test_without_go_and_helm_fails_naming_go(tmp_path, helm_there):
    """A machine without Go whose tools folder lacks the pinned helm: a chart test run there
    fails, and says to install Go, instead of being skipped."""
    no_go = tmp_path / "path"  # the only PATH entry: no go (nor anything else) on it
    no_go.mkdir()
    tools = tmp_path / "bin"
    tools.mkdir()
    if helm_there == "wrong version":
        (tools / "helm").write_text("#!/bin/sh\necho v3.0.0\n")
        (tools / "helm").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env.update(PATH=str(no_go), **{TOOLS_BIN_ENV: str(tools)})
    one_test = f"{__file__}::test_chart_default_render_has_every_component"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", one_test],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 failed" in out and "skipped" not in out, out
    assert f"helm {HELM_VERSION} is needed at {tools / 'helm'}" in out, out
    assert "Go is not on PATH to build it: install Go 1.24 or newer" in out, out
    if helm_there == "wrong version":
        assert "reports version 'v3.0.0'" in out, out


@cache
def _rendered(values: tuple[str, ...], sets: tuple[str, ...]) -> tuple[dict, ...]:
    args = ["template", "my-tradestream", str(CHART), "--namespace", NAMESPACE]
    args += ["--kube-version", KUBE_VERSION]
    for path in values:
        args += ["-f", path]
    for item in sets:
        args += ["--set", item]
    out = helm(*args).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def render(name: str = "default", *sets: str) -> list[dict]:
    """Objects `helm template` renders with one of VALUES and --set overrides."""
    return list(_rendered(tuple(str(p) for p in VALUES[name]), sets))


def pod_specs(objects: list[dict]) -> list[tuple[str, dict]]:
    """(kind/name, pod spec) of every workload."""
    specs = []
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Pod":
            spec = obj["spec"]
        elif kind == "CronJob":
            spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif kind in WORKLOADS:
            spec = obj["spec"]["template"]["spec"]
        else:
            continue
        specs.append((f"{kind}/{name}", spec))
    return specs


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def named(objects: list[dict], kind: str, suffix: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, f"{kind} *{suffix}: {[o['metadata']['name'] for o in found]}"
    return found[0]


@pytest.mark.integration
@pytest.mark.parametrize("values", sorted(VALUES))
def test_chart_lint_is_clean(values):
    args = ["lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION]
    for path in VALUES[values]:
        args += ["-f", str(path)]
    helm(*args)


@pytest.mark.integration
@pytest.mark.parametrize("values", sorted(VALUES))
def test_chart_renders_objects_valid_for_the_pinned_kubernetes(values):
    import kubernetes_validate

    objects = render(values)
    assert len(objects) > 20
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert problems == []


@pytest.mark.integration
def test_chart_default_render_has_every_component():
    objects = render()
    named(objects, "StatefulSet", "-kafka")
    named(objects, "Service", "-kafka-headless")
    named(objects, "Service", "-kafka")
    named(objects, "PodDisruptionBudget", "-kafka")
    named(objects, "Deployment", "-kafka-ui")
    named(objects, "Job", "-topic-init-r1")
    named(objects, "Deployment", "-flink-jobmanager")
    named(objects, "Service", "-flink-jobmanager")
    taskmanager = named(objects, "Deployment", "-flink-taskmanager")
    named(objects, "Deployment", "-job-server")
    named(objects, "Deployment", "-ingest")
    realtime = named(objects, "Job", "-realtime-r1")
    paper = named(objects, "Deployment", "-paper")
    named(objects, "PersistentVolumeClaim", "-paper")
    assert [c["name"] for c in paper["spec"]["template"]["spec"]["containers"]] == [
        "paper",
        "dashboard",
    ]
    sidecars = [c["name"] for c in taskmanager["spec"]["template"]["spec"]["containers"]]
    assert sidecars == ["taskmanager", "sdk-worker-pool"]
    args = realtime["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--environment_type=EXTERNAL" in args
    assert "--environment_config=localhost:50000" in args
    assert "--runner=PortableRunner" in args
    kinds = {o["kind"] for o in objects}
    assert {"NetworkPolicy", "ServiceAccount", "ConfigMap"} <= kinds
    # backtest/optimize are off by default, on in the production example.
    assert not [o for o in objects if o["metadata"]["name"].endswith(("-backtest", "-optimize"))]
    production = render("production")
    named(production, "CronJob", "-backtest")
    named(production, "CronJob", "-optimize")


def _paper_containers(objects: list[dict]) -> dict[str, dict]:
    paper = named(objects, "Deployment", "-paper")
    return {c["name"]: c for c in paper["spec"]["template"]["spec"]["containers"]}


@pytest.mark.integration
def test_chart_job_server_gives_its_jobs_short_network_buffers():
    # Flink's 100 ms default would hold the realtime job's trades and watermark on their way
    # to the keyed step; the job server applies its --flink-conf-dir to every job it submits.
    objects = render()
    spec = named(objects, "Deployment", "-job-server")["spec"]["template"]["spec"]
    (server,) = spec["containers"]
    (flag,) = [a for a in server["args"] if a.startswith("--flink-conf-dir=")]
    where = flag.split("=", 1)[1]
    (mount,) = [m for m in server["volumeMounts"] if m["mountPath"] == where]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    config = named(objects, "ConfigMap", "-flink")
    assert volume["configMap"]["name"] == config["metadata"]["name"]
    assert volume["configMap"]["items"] == [{"key": "jobs-config.yaml", "path": "config.yaml"}]
    jobs = yaml.safe_load(config["data"]["jobs-config.yaml"])
    assert jobs == {"execution.buffer-timeout.interval": "5 ms"}
    more = render("default", "jobServer.flinkConfig.pipeline\\.object-reuse=true")
    jobs = yaml.safe_load(named(more, "ConfigMap", "-flink")["data"]["jobs-config.yaml"])
    assert jobs["pipeline.object-reuse"] == "true"  # quoted, as in the cluster's config.yaml
    assert jobs["execution.buffer-timeout.interval"] == "5 ms"


def test_chart_paper_database_defaults_to_sqlite_on_the_claim():
    for name, c in _paper_containers(render()).items():
        assert "--db=sqlite:////data/paper.db" in c["args"], name
        assert "TRADESTREAM_PAPER_DB_URL" not in {e["name"] for e in c.get("env", [])}, name


@pytest.mark.integration
def test_chart_paper_database_url_comes_from_an_existing_secret():
    objects = render("default", "paper.database.existingSecret=paper-db")
    for name, c in _paper_containers(objects).items():
        assert not [a for a in c["args"] if a.startswith("--db")], name
        env = {e["name"]: e for e in c["env"]}
        ref = env["TRADESTREAM_PAPER_DB_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "paper-db", "key": "url"}, name
    assert [o for o in objects if o["kind"] == "Secret"] == []  # referenced, never rendered
    keyed = render("default", "paper.database.existingSecret=paper-db", "paper.database.key=dsn")
    for c in _paper_containers(keyed).values():
        ref = {e["name"]: e for e in c["env"]}["TRADESTREAM_PAPER_DB_URL"]["valueFrom"]
        assert ref["secretKeyRef"]["key"] == "dsn"


@pytest.mark.integration
@pytest.mark.parametrize("values", sorted(VALUES))
def test_chart_pods_run_as_non_root_with_limits(values):
    problems = []
    for where, spec in pod_specs(render(values)):
        pod_ctx = spec.get("securityContext", {})
        if pod_ctx.get("runAsNonRoot") is not True or not pod_ctx.get("runAsUser"):
            problems.append(f"{where}: pod not runAsNonRoot with a numeric user")
        if pod_ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: no RuntimeDefault seccomp profile")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: service account token mounted")
        if spec.get("hostNetwork") or spec.get("hostPID"):
            problems.append(f"{where}: host namespaces")
        for volume in spec.get("volumes", []):
            if "hostPath" in volume:
                problems.append(f"{where}: hostPath volume {volume['name']}")
        for c in containers(spec):
            ctx = c.get("securityContext", {})
            if ctx.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}/{c['name']}: privilege escalation allowed")
            if ctx.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}/{c['name']}: writable root filesystem")
            if ctx.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}/{c['name']}: capabilities not dropped")
            if ctx.get("runAsUser", 1) == 0:
                problems.append(f"{where}/{c['name']}: runs as root")
            resources = c.get("resources", {})
            for bound in ("requests", "limits"):
                for what in ("cpu", "memory"):
                    if what not in resources.get(bound, {}):
                        problems.append(f"{where}/{c['name']}: no {bound}.{what}")
            if c["image"].endswith(":latest") or ":" not in c["image"].rsplit("/", 1)[-1]:
                problems.append(f"{where}/{c['name']}: unpinned image {c['image']}")
    assert problems == []


@pytest.mark.integration
@pytest.mark.parametrize("values", sorted(VALUES))
def test_chart_credentials_only_from_secrets(values):
    objects = render(values)
    assert [o for o in objects if o["kind"] == "Secret"] == []
    sensitive = re.compile(r"(?i)password|passwd|secret|jaas|token|credential")
    for where, spec in pod_specs(objects):
        for c in containers(spec):
            for env in c.get("env", []):
                if sensitive.search(env["name"]):
                    assert "secretKeyRef" in env.get("valueFrom", {}), f"{where}: {env['name']}"
    for obj in objects:
        if obj["kind"] != "ConfigMap":
            continue
        for text in obj["data"].values():
            for line in text.splitlines():
                if re.match(r"^\s*[\w.\-]*(password|jaas\.config)\s*=", line):
                    # A reference to a mounted Secret file, resolved by the broker.
                    assert "=${dir:/etc/kafka/secrets/" in line, (
                        f"{obj['metadata']['name']}: {line}"
                    )


KAFKA_CLIENT_SASL = [
    "kafkaClient.securityProtocol=SASL_SSL",
    "kafkaClient.saslMechanism=SCRAM-SHA-256",
    "kafkaClient.saslSecret=tradestream-kafka-client",
    "kafkaClient.sslCaFile=/etc/tradestream/kafka-ca/ca.crt",
]


def _python_containers(objects: list[dict]) -> list[tuple[str, dict]]:
    """(workload, container) of every container that is a TradeStream Kafka client."""
    return [
        (where, c)
        for where, spec in pod_specs(objects)
        for c in containers(spec)
        if any(e["name"] == "TRADESTREAM_BOOTSTRAP_SERVERS" for e in c.get("env", []))
    ]


@pytest.mark.integration
def test_chart_kafka_client_sasl_credentials_reach_every_client_from_the_secret():
    objects = render("default", *KAFKA_CLIENT_SASL)
    clients = _python_containers(objects)
    assert {w.split("/")[0] for w, _ in clients} >= {"Deployment", "Job"}
    for where, c in clients:
        env = {e["name"]: e for e in c["env"]}
        assert env["TRADESTREAM_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL", where
        assert env["TRADESTREAM_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-256", where
        for var, key in (("USERNAME", "username"), ("PASSWORD", "password")):
            ref = env[f"TRADESTREAM_KAFKA_SASL_{var}"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "tradestream-kafka-client", "key": key}, where
        assert env["TRADESTREAM_KAFKA_SSL_CAFILE"]["value"] == "/etc/tradestream/kafka-ca/ca.crt"
    assert [o for o in objects if o["kind"] == "Secret"] == []


@pytest.mark.integration
@pytest.mark.parametrize("values", sorted(VALUES))
def test_chart_kafka_clients_default_to_plaintext_without_security_env(values):
    for where, c in _python_containers(render(values)):
        names = {e["name"] for e in c["env"]}
        assert not {n for n in names if n.startswith("TRADESTREAM_KAFKA_")}, where


@pytest.mark.integration
def test_chart_production_kafka_credentials_are_mounted_secret_files():
    objects = render("production")
    spec = named(objects, "StatefulSet", "-kafka")["spec"]["template"]["spec"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    assert secrets == {
        "tls": "tradestream-kafka-tls",
        "tls-passwords": "tradestream-kafka-tls-passwords",
        "jaas": "tradestream-kafka-jaas",
    }
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["jaas"] == "/etc/kafka/secrets/jaas"
    props = named(objects, "ConfigMap", "-kafka")["data"]["server.properties"]
    assert (
        "listener.name.secure.scram-sha-512.sasl.jaas.config="
        "${dir:/etc/kafka/secrets/jaas:jaas.conf}" in props
    )
    assert (
        "ssl.keystore.password=${dir:/etc/kafka/secrets/tls-passwords:keystore-password}" in props
    )
    assert "SECURE:SASL_SSL" in props and "REPLICATION:SSL" in props


@pytest.mark.integration
@pytest.mark.parametrize("replicas", [1, 3, 5])
def test_chart_kafka_replicas_follow_replica_count(replicas):
    objects = render("default", f"kafka.replicaCount={replicas}")
    kafka = named(objects, "StatefulSet", "-kafka")
    assert kafka["spec"]["replicas"] == replicas
    assert kafka["spec"]["podManagementPolicy"] == "Parallel"
    assert kafka["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    props = named(objects, "ConfigMap", "-kafka")["data"]["server.properties"]
    config = dict(
        line.split("=", 1) for line in props.splitlines() if "=" in line and line[0] != "#"
    )
    voters = config["controller.quorum.voters"].split(",")
    assert [v.split("@")[0] for v in voters] == [str(i) for i in range(replicas)]
    assert all(
        v.split("@")[1]
        == f"my-tradestream-kafka-{i}.my-tradestream-kafka-headless.{NAMESPACE}.svc.cluster.local:9093"
        for i, v in enumerate(voters)
    )
    rf = min(3, replicas)
    assert config["default.replication.factor"] == str(rf)
    assert config["min.insync.replicas"] == ("2" if rf >= 3 else "1")
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert len(pdbs) == (1 if replicas > 1 else 0)


@pytest.mark.integration
def test_chart_kafka_cluster_id_is_stable_and_valid():
    import base64

    def cluster_id(*sets):
        kafka = named(render("default", *sets), "StatefulSet", "-kafka")
        env = kafka["spec"]["template"]["spec"]["containers"][0]["env"]
        return next(e["value"] for e in env if e["name"] == "KAFKA_CLUSTER_ID")

    first = cluster_id()
    assert first == cluster_id()  # the same release renders the same id on every upgrade
    assert len(first) == 22
    assert len(base64.urlsafe_b64decode(first + "==")) == 16
    assert cluster_id("kafka.clusterId=AAAAAAAAAAAAAAAAAAAAAA") == "AAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.integration
def test_chart_network_policies_fence_every_component():
    objects = render()
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    deny = named(objects, "NetworkPolicy", "-default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny["spec"]
    selected = {
        p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") for p in policies
    }
    assert {"kafka", "kafka-ui", "flink-jobmanager", "flink-taskmanager", "job-server"} <= selected
    kafka = named(objects, "NetworkPolicy", "-kafka")
    client_rule = kafka["spec"]["ingress"][0]
    assert client_rule["ports"] == [{"port": 9092, "protocol": "TCP"}]
    assert client_rule["from"][0]["podSelector"]["matchLabels"]["tradestream.io/kafka-client"]
    # Every pod that talks to Kafka carries the label the policy admits.
    clients = [
        o["metadata"]["name"]
        for o in objects
        if o["kind"] in WORKLOADS
        and (o["spec"].get("template", {}).get("metadata", {}).get("labels") or {}).get(
            "tradestream.io/kafka-client"
        )
    ]
    assert any(n.endswith("-ingest") for n in clients)
    assert any(n.endswith("-flink-taskmanager") for n in clients)
    assert any(n.endswith("-realtime-r1") for n in clients)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["kafka.security.interBroker=true"], "kafka.security.tls.existingSecret is required"),
        (
            ["kafka.security.secureListener.enabled=true", "kafka.security.tls.existingSecret=t"],
            "kafka.security.tls.passwordsSecret is required",
        ),
        (["topics.replicationFactor=3", "kafka.replicaCount=1"], "exceeds kafka.replicaCount"),
        (["ingest.source=ftp"], "ingest.source must be"),
        (["ingest.source=ohlc-replay"], "ingest.input is required"),
        (["kafka.enabled=false"], "externalKafka.bootstrapServers is required"),
        (["optimize.enabled=true"], "optimize.args is required"),
        (["kafkaClient.securityProtocol=SASL_SSL"], "kafkaClient.saslSecret is required"),
        (["kafkaClient.securityProtocol=TLS"], "kafkaClient.securityProtocol must be"),
        (
            [
                "kafkaClient.securityProtocol=SASL_SSL",
                "kafkaClient.saslSecret=s",
                "kafkaClient.saslMechanism=GSSAPI",
            ],
            "kafkaClient.saslMechanism must be",
        ),  # fmt: skip
    ],
)
def test_chart_rejects_inconsistent_values(sets, message):
    args = ["template", "t", str(CHART), "--kube-version", KUBE_VERSION]
    for item in sets:
        args += ["--set", item]
    result = helm(*args, check=False)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.integration
def test_chart_replay_ingest_is_a_job_and_live_ingest_a_deployment():
    minikube = render("minikube")
    job = named(minikube, "Job", "-ingest-r1")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["ingest", "--source=replay"]
    assert not [
        o for o in minikube if o["kind"] == "Deployment" and "ingest" in o["metadata"]["name"]
    ]
    live = named(render(), "Deployment", "-ingest")
    assert live["spec"]["strategy"]["type"] == "Recreate"
    assert "--metrics_host=0.0.0.0" in live["spec"]["template"]["spec"]["containers"][0]["args"]
