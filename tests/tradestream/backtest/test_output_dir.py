"""StagedOutputDir: a run's files reach the output directory only when it commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradestream.backtest.outputs import OutputDirError, StagedOutputDir


def _write(directory: str | Path, **files: str) -> None:
    for name, text in files.items():
        (Path(directory) / name).write_text(text)


def test_staged_output_commit_replaces_the_runs_files_and_keeps_the_others(tmp_path):
    _write(tmp_path, **{"summary.json": "old", "notes.txt": "mine"})
    staged = StagedOutputDir(tmp_path)
    with staged as work:
        assert Path(work).parent == tmp_path and Path(work).name.startswith(".staging-")
        _write(work, **{"summary.json": "new", "trades.csv": "t", ".scratch": "x"})
        assert (tmp_path / "summary.json").read_text() == "old"  # nothing moved yet
        moved = staged.commit()
    assert sorted(p.name for p in moved) == ["summary.json", "trades.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "summary.json", "trades.csv"]
    assert (tmp_path / "summary.json").read_text() == "new"


def test_staged_output_without_commit_leaves_the_directory_as_it_was(tmp_path):
    _write(tmp_path, **{"summary.json": "old"})
    before = {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    with pytest.raises(RuntimeError, match="the run failed"), StagedOutputDir(tmp_path) as work:
        _write(work, **{"summary.json": "half"})
        raise RuntimeError("the run failed")
    assert {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()} == before


def test_staged_output_without_commit_removes_the_directories_it_made(tmp_path):
    with StagedOutputDir(tmp_path / "a" / "b") as work:
        assert Path(work).parent == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []


def test_staged_output_refuses_a_file_before_creating_anything(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirError, match="is a file, not a directory"):
        StagedOutputDir(tmp_path / "file")
    with pytest.raises(OutputDirError, match=r"cannot create --output .*file is a file"):
        StagedOutputDir(tmp_path / "file" / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
