"""A public OHLCV dataset and an independent backtester, both from PyPI's `backtesting` package.

backtesting.py (kernc/backtesting.py, AGPL-3.0) ships daily NASDAQ:GOOG candles 2004-2013 in
`backtesting/test/GOOG.csv`. It is not a TradeStream dependency: the wheel is fetched with
`pip download` into `.local/test-data/` (the data file only is read), and backtesting.py
itself runs in its own virtualenv under `.local/` created on first use. PyPI is reachable
wherever `make test` runs (it installs the project's own virtualenv from there), so without
it the tests that need these fail with the reason rather than skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
VERSION = "0.6.6"
REQUIREMENT = f"backtesting=={VERSION}"
DATA_DIR = REPO / ".local" / "test-data" / f"backtesting-{VERSION}"
VENV = REPO / ".local" / f"reference-venv-backtesting-{VERSION}"
REFERENCE_SCRIPT = Path(__file__).with_name("backtesting_py_reference.py")


def _why(exc: subprocess.SubprocessError) -> str:
    """The failed command and the end of what pip said."""
    said = getattr(exc, "stderr", None) or b""
    return f"{exc}\n{said.decode(errors='replace')[-2000:]}"


def goog_csv() -> Path:
    """The path of GOOG.csv (`,Open,High,Low,Close,Volume`, daily), fetched once."""
    target = DATA_DIR / "GOOG.csv"
    if target.is_file():
        return target
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                 "--disable-pip-version-check", "-d", tmp, REQUIREMENT],
                check=True, capture_output=True, timeout=300,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"cannot fetch {REQUIREMENT} from PyPI for its GOOG data: {_why(exc)}")
        wheel = next(Path(tmp).glob("backtesting-*.whl"))
        with zipfile.ZipFile(wheel) as archive, archive.open("backtesting/test/GOOG.csv") as src:
            partial = target.with_suffix(".tmp")
            with partial.open("wb") as out:
                shutil.copyfileobj(src, out)
            partial.replace(target)
    return target


def reference_python() -> Path:
    """The interpreter of a virtualenv with backtesting.py, created on first use."""
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    if marker.is_file():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             REQUIREMENT],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"cannot install {REQUIREMENT} from PyPI into {VENV}: {_why(exc)}")
    marker.write_text(REQUIREMENT + "\n")
    return python


def run_backtesting_py(csv: Path, cash: float, pairs: list[tuple[int, int]]) -> list[dict]:
    """backtesting.py's SMA crossover results per (fast, slow) pair (see the script)."""
    result = subprocess.run(
        [str(reference_python()), str(REFERENCE_SCRIPT), str(csv), str(cash),
         *(f"{f}:{s}" for f, s in pairs)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return json.loads(result.stdout)
