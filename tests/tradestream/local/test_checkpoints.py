"""Locating retained Flink checkpoints and the restore configuration."""

from __future__ import annotations

import os
import time

from tradestream.local.checkpoints import flink_checkpoint_args, latest_checkpoint


def _checkpoint(root, job, n, complete=True):
    d = root / job / f"chk-{n}"
    d.mkdir(parents=True)
    if complete:
        (d / "_metadata").write_bytes(b"x")
    return d


def test_latest_checkpoint_picks_newest_complete_one(tmp_path):
    assert latest_checkpoint(tmp_path / "none") is None
    old = _checkpoint(tmp_path, "job-a", 7)
    os.utime(old, (time.time() - 100, time.time() - 100))
    newest = _checkpoint(tmp_path, "job-b", 2)
    _checkpoint(tmp_path, "job-b", 3, complete=False)  # still being written: ignored
    assert latest_checkpoint(tmp_path) == newest


def test_flink_checkpoint_args_write_restore_path_only_when_resuming(tmp_path):
    ckpt = _checkpoint(tmp_path / "ckpt", "job", 4)
    args, restored = flink_checkpoint_args(tmp_path / "ckpt", tmp_path / "conf", 10_000, True)
    assert restored == ckpt
    conf = (tmp_path / "conf" / "flink-conf.yaml").read_text()
    assert f"execution.savepoint.path: {ckpt.resolve().as_uri()}" in conf
    assert "--checkpointing_interval=10000" in args
    assert f"--flink_conf_dir={(tmp_path / 'conf').resolve()}" in args

    _, restored = flink_checkpoint_args(tmp_path / "ckpt", tmp_path / "conf", 10_000, False)
    assert restored is None
    assert "execution.savepoint.path" not in (tmp_path / "conf" / "flink-conf.yaml").read_text()
