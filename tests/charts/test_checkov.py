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
from typing import NamedTuple

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


class Scan(NamedTuple):
    """What one checkov run looked at and found."""

    failed: list[str]  # "check resource (file)" of every failed check
    files: set[str]  # base names of the files that at least one check ran on
    checks: int  # checks run (passed + failed + skipped)
    parsing_errors: list[str]


def run_checkov(*args: str) -> Scan:
    """One checkov run with the repository's config, read from its JSON report.

    Not `--quiet`: that leaves the passed checks out of the report, and with them the proof
    that anything was scanned (a directory checkov finds nothing in reports zero checks and
    no failure).
    """
    result = subprocess.run(
        [str(checkov_binary()), *args, "--config-file", str(REPO / ".checkov.yaml"),
         "--skip-download", "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-3000:]
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    if isinstance(reports, dict):
        reports = [reports]
    scan = Scan([], set(), 0, [])
    for report in reports:
        summary = report.get("summary", report)  # "no resources found" is a bare summary
        scan = scan._replace(checks=scan.checks + summary["passed"] + summary["failed"]
                             + summary["skipped"])  # fmt: skip
        results = report.get("results", {})
        for check in results.get("failed_checks", []):
            scan.failed.append(f"{check['check_id']} {check['resource']} ({check['file_path']})")
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            scan.files.update(Path(c["file_path"]).name for c in results.get(kind, []))
        scan.parsing_errors.extend(results.get("parsing_errors", []))
    return scan


@pytest.mark.integration
def test_checkov_rendered_chart_has_no_unexplained_finding(tmp_path):
    for name, files in VALUES.items():
        args = ["template", "my-tradestream", str(CHART), "--namespace", NAMESPACE]
        args += ["--kube-version", KUBE_VERSION]
        for path in files:
            args += ["-f", str(path)]
        (tmp_path / f"{name}.yaml").write_text(helm(*args).stdout)
    scan = run_checkov("-d", str(tmp_path), "--framework", "kubernetes")
    assert scan.failed == []
    assert scan.parsing_errors == []
    assert scan.files == {f"{name}.yaml" for name in VALUES}, "checkov skipped a rendering"
    assert scan.checks >= 10 * len(VALUES)


@pytest.mark.integration
def test_checkov_dockerfiles_have_no_unexplained_finding():
    scan = run_checkov("-d", str(REPO / "docker"), "--framework", "dockerfile")
    assert scan.failed == []
    assert scan.parsing_errors == []
    dockerfiles = {p.name for p in (REPO / "docker").glob("*Dockerfile*")}
    assert dockerfiles and scan.files == dockerfiles, "checkov skipped a Dockerfile"
    assert scan.checks >= 10 * len(dockerfiles)


@pytest.mark.integration
def test_checkov_report_of_an_empty_directory_counts_nothing(tmp_path):
    """The guard above: a scan of nothing is told apart from a clean scan."""
    scan = run_checkov("-d", str(tmp_path), "--framework", "dockerfile")
    assert scan == Scan([], set(), 0, [])
