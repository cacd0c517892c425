"""The floor plan holds: import-linter's contracts (pyproject.toml) pass, and break on a violation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("tradestream", "tests")  # copytree copies what tradestream/'s links point to


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300
    )


def test_layers_import_linter_contracts_are_kept():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_layers_transforms_importing_pipelines_breaks_the_contracts(tmp_path):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    module = tmp_path / "tradestream" / "transforms" / "gaps.py"
    module.write_text(module.read_text() + "\nimport tradestream.pipelines  # noqa: E402,F401\n")

    result = _lint_imports(tmp_path)

    assert result.returncode != 0, result.stdout
    assert "Beam transforms never import pipelines or the apps BROKEN" in result.stdout
    assert "tradestream.transforms.gaps -> tradestream.pipelines" in result.stdout
