"""No secret is committed or rendered: private keys, key stores, tokens, literal passwords.

Scans every file `git ls-files` lists and the chart rendered with each values file. Credentials
belong in Secrets (chart) or the environment (`TRADESTREAM_KAFKA_SASL_PASSWORD`, ...), so any
literal one here is a leak. Test fixtures under tests/ may hold made-up passwords for throw-away
brokers; they are still scanned for private keys and real token formats.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Written in two parts so that this file does not match itself.
PRIVATE_KEY = re.compile("-----BEGIN " + r"(?:[A-Z]+ )*PRIVATE KEY-----")
TOKEN_FORMATS = {
    "AWS access key id": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
}
KEY_STORE_SUFFIXES = {".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".truststore"}
# `name: value` / `name = value` where the name says it holds a credential.
CREDENTIAL = re.compile(
    r"(?i)^\s*(?:export\s+|-\s+)?[\"']?(?P<name>[\w.\-]*(?:password|passwd|pwd|token|"
    r"api[_-]?key|secret[_-]?key|access[_-]?key|private[_-]?key))[\"']?\s*[:=]\s*(?P<value>.*)$"
)
NOT_A_VALUE = {"true", "false", "null", "none", "~"}


def literal_credential(line: str, python: bool) -> str | None:
    """The credential literal assigned on `line`, if any (references and placeholders pass).

    Args:
        line: One line of a file.
        python: Python source: only quoted string literals count as values there.

    Returns:
        The literal, or None when the line assigns no literal credential.
    """
    match = CREDENTIAL.match(line)
    if not match:
        return None
    value = match["value"].strip().rstrip(",;")
    quoted = re.fullmatch(r"([\"'])(.*)\1", value)
    if python and not quoted:
        return None  # an expression, annotation or call, not a literal
    value = quoted.group(2) if quoted else value.split(" #")[0].strip()
    if not value or value.lower() in NOT_A_VALUE or value.startswith(("$", "<", "{{", "...")):
        return None  # empty, a reference (${...}, $(...), {{ ... }}) or a placeholder
    return value if len(value) >= 6 and not re.search(r"\s", value) else None


def leaks(text: str, python: bool = False, fixtures: bool = False) -> list[str]:
    """What in `text` looks like a committed secret (line numbers and kinds, not values)."""
    found = [f"private key block at line {text[: m.start()].count(chr(10)) + 1}"
             for m in PRIVATE_KEY.finditer(text)]  # fmt: skip
    found += [kind for kind, pattern in TOKEN_FORMATS.items() if pattern.search(text)]
    if not fixtures:
        for number, line in enumerate(text.splitlines(), 1):
            if literal_credential(line, python):
                found.append(f"literal credential at line {number}")
    return found


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return [name for name in out.split("\0") if name]


def test_leaks_detects_keys_tokens_and_literal_passwords():
    key = "-----BEGIN " + "PRIVATE KEY-----\nMIIE\n-----END " + "PRIVATE KEY-----\n"
    assert leaks(key) == ["private key block at line 1"]
    assert leaks("aws = AKIA" + "ABCDEFGHIJKLMNOP") == ["AWS access key id"]
    assert leaks("kafka:\n  saslPassword: hunter2-real\n") == ["literal credential at line 2"]
    assert leaks("export TRADESTREAM_KAFKA_SASL_PASSWORD=hunter2-real") != []
    assert leaks('sasl_plain_password="hunter2-real"', python=True) != []
    # librdkafka's property names, as a client config dict holds them
    assert leaks('    "sasl.password": "hunter2-real",', python=True) != []
    assert leaks('    "ssl.key.password": "hunter2-real",', python=True) != []


@pytest.mark.parametrize(
    "line",
    [
        "ssl.keystore.password=${dir:/etc/kafka/secrets/tls-passwords:keystore-password}",
        "password: ${{ secrets.GITHUB_TOKEN }}",
        "TRADESTREAM_DASHBOARD_TOKEN=$(openssl rand -hex 16) tradestream dashboard",
        "automountServiceAccountToken: false",
        'saslPassword: ""',
        "TRADESTREAM_KAFKA_SASL_PASSWORD=<from your secret store>",
        "token: {{ .Values.token }}",
    ],
)
def test_leaks_lets_references_and_placeholders_pass(line):
    assert leaks(line) == []


def test_leaks_python_expressions_are_not_literals():
    assert leaks("kafka_sasl_password: SecretStr | None = Field(", python=True) == []
    assert leaks("token = args.token or secret.get_secret_value()", python=True) == []


def test_committed_files_hold_no_private_keys_tokens_or_passwords():
    problems = []
    for name in tracked_files():
        path = REPO / name
        if path.suffix.lower() in KEY_STORE_SUFFIXES:
            problems.append(f"{name}: a key or certificate store is committed")
            continue
        try:
            data = path.read_bytes()
        except OSError:  # listed but deleted in the working tree
            continue
        if b"\0" in data[:8192]:
            continue  # binary
        text = data.decode("utf-8", errors="replace")
        for leak in leaks(text, python=name.endswith(".py"), fixtures=name.startswith("tests/")):
            problems.append(f"{name}: {leak}")
    assert problems == []


@pytest.mark.integration
@pytest.mark.parametrize("values", ["default", "minikube", "production", "secured-clients"])
def test_rendered_chart_holds_no_private_keys_tokens_or_passwords(values):
    import yaml

    from tests.charts.test_chart import KAFKA_CLIENT_SASL, render

    objects = (
        render("default", *KAFKA_CLIENT_SASL) if values == "secured-clients" else render(values)
    )
    text = "\n---\n".join(yaml.safe_dump(o) for o in objects)
    assert leaks(text) == []
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            for key, data in obj["data"].items():
                assert leaks(data, python=key.endswith(".py")) == [], f"{obj['kind']}: {key}"
