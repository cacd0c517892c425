"""The installed distribution holds one top-level package, `tradestream`.

`pipelines/`, `transforms/` and `strategies/` stay at the repository's top level and are
linked into `tradestream/` (README, "Layout"): the wheel must carry their modules under
`tradestream.*` and install no generic top-level name such as `strategies`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINKED = ("pipelines", "transforms", "strategies")


def test_the_source_tree_links_the_top_level_folders_into_the_package():
    for name in LINKED:
        link = REPO / "tradestream" / name
        assert link.is_symlink(), f"tradestream/{name} must link to the top-level folder"
        assert link.resolve() == (REPO / name).resolve()


def test_the_wheel_installs_only_tradestream(tmp_path):
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    # the links are kept as links, as git and Docker's COPY keep them; the build runs as
    # `pip install .` does (isolated, with the build requirements of pyproject.toml)
    shutil.copytree(REPO / "tradestream", source / "tradestream", symlinks=True, ignore=ignore)
    for name in LINKED:
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("tradestream-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert archive.read(top_level).decode().split() == ["tradestream"]
    roots = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert roots == {"tradestream"}
    for module in (
        "tradestream/pipelines/realtime.py",
        "tradestream/transforms/kafka_source.py",
        "tradestream/strategies/library/__init__.py",
        "tradestream/v1/trade_pb2.py",
    ):
        assert module in names, module
