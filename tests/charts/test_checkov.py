"""checkov over the rendered chart and the Dockerfiles: no finding left unexplained.

Accepted findings are listed, each with its reason, in the repository's .checkov.yaml (and,
for the helm test pod alone, in annotations). checkov runs from its own virtualenv,
`.local/checkov-venv` (pinned below; about 2.5 minutes to create, then cached), because its
dependencies do not fit the project's pins.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.charts.test_chart import CHART, KUBE_VERSION, NAMESPACE, VALUES, helm

REPO = Path(__file__).resolve().parents[2]
CHECKOV_VERSION = "3.3.30"
VENV = REPO / ".local" / "checkov-venv"
CHECKOV = VENV / "bin" / "checkov"


def checkov_binary() -> Path:
    stamp = VENV / ".installed"
    if CHECKOV.exists() and stamp.exists() and stamp.read_text().strip() == CHECKOV_VERSION:
        return CHECKOV
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    install = subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         f"checkov=={CHECKOV_VERSION}"],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    stamp.write_text(CHECKOV_VERSION + "\n")
    return CHECKOV


def run_checkov(*args: str) -> list[dict]:
    """Failed checks (id, resource, file) of one checkov run with the repository's config."""
    result = subprocess.run(
        [str(checkov_binary()), *args, "--config-file", str(REPO / ".checkov.yaml"),
         "--skip-download", "--quiet", "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-3000:]
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    if isinstance(reports, dict):
        reports = [reports]
    failed = []
    for report in reports:
        if "results" not in report:  # "no resources found" summaries
            continue
        for check in report["results"]["failed_checks"]:
            failed.append(f"{check['check_id']} {check['resource']} ({check['file_path']})")
    return failed


@pytest.mark.integration
def test_checkov_rendered_chart_has_no_unexplained_finding(tmp_path):
    for name, files in VALUES.items():
        args = ["template", "my-tradestream", str(CHART), "--namespace", NAMESPACE]
        args += ["--kube-version", KUBE_VERSION]
        for path in files:
            args += ["-f", str(path)]
        (tmp_path / f"{name}.yaml").write_text(helm(*args).stdout)
    assert run_checkov("-d", str(tmp_path), "--framework", "kubernetes") == []


@pytest.mark.integration
def test_checkov_dockerfiles_have_no_unexplained_finding():
    assert run_checkov("-d", str(REPO / "docker"), "--framework", "dockerfile") == []
