"""Command-line tools the tests build from the Go module proxy: helm, actionlint.

Each tool is pinned by its caller and built once with `go install` into the tools folder,
`.local/bin` (or the folder named by `TRADESTREAM_TOOLS_BIN`); later runs find it there and
check its version. Go is a prerequisite of `make test` (README, Quick start), so a tool that
is missing while Go is not on PATH makes the test that needs it fail with what to install:
a machine without Go must not pass by skipping the chart and workflow checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN_ENV = "TRADESTREAM_TOOLS_BIN"
# helm v3.19.0's go.mod says `go 1.24.0` (Debian 12's golang-go, 1.19, is too old).
GO_MINIMUM = "1.24"


def tools_bin() -> Path:
    """The folder of the built tools: $TRADESTREAM_TOOLS_BIN, else .local/bin."""
    return Path(os.environ.get(TOOLS_BIN_ENV) or REPO / ".local" / "bin")


def installed_version(path: Path, version_args: list[str]) -> str | None:
    """The first line the tool prints for `version_args`, None when it does not run."""
    try:
        out = subprocess.run([str(path), *version_args], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def go_tool(
    name: str, package: str, version: str, version_args: list[str], ldflags: str = ""
) -> Path:
    """The pinned tool in the tools folder, built with `go install` when missing or stale.

    Args:
        name: the binary's name (`helm`).
        package: the Go package of its main (`helm.sh/helm/v3/cmd/helm`).
        version: the module version, also what the tool must print first for `version_args`.
        version_args: the arguments that make the tool print its version.
        ldflags: passed to `go install -ldflags`.

    Returns:
        The tool's path. Fails the calling test, naming what to install, when the tool is
        not there and Go is not on PATH.
    """
    path = tools_bin() / name
    found = installed_version(path, version_args)
    if found == version:
        return path
    go = shutil.which("go")
    if go is None:
        if not path.exists():
            state = "it is missing"
        else:
            state = f"it reports version {found!r}" if found else "it does not run"
        pytest.fail(
            f"{name} {version} is needed at {path} ({state}) and Go is not "
            f"on PATH to build it: install Go {GO_MINIMUM} or newer (README, Quick start), "
            f"or put {name} {version} in {path.parent} (the folder {TOOLS_BIN_ENV} sets)",
            pytrace=False,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [go, "install"] + ([f"-ldflags={ldflags}"] if ldflags else [])
    build = subprocess.run(
        [*command, f"{package}@{version}"],
        env={**os.environ, "GOBIN": str(path.parent), "CGO_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, (
        f"go install {package}@{version} failed (it needs Go {GO_MINIMUM} or newer):\n"
        f"{build.stderr[-3000:]}"
    )
    found = installed_version(path, version_args)
    assert found == version, f"{path} reports version {found!r} after the build, not {version}"
    return path
