"""Locating retained Flink checkpoints and the restore configuration."""

from __future__ import annotations

import os
import time

import pytest

from tradestream.kafka_clients.positions import StalePositionError, TopicState
from tradestream.runtime.checkpoints import (
    checkpoint_fit,
    flink_checkpoint_args,
    latest_checkpoint,
    prepare_resume,
    prune_checkpoints,
    record_source,
    set_aside,
)

TOPIC_ID = "0c9e1f6e-0000-4000-8000-000000000001"


def _state(topic_id=TOPIC_ID, committed=None, end=None, topic="trades"):
    end = end or {0: 100, 1: 100}
    return TopicState(
        topic=topic,
        topic_id=topic_id,
        beginning={p: 0 for p in end},
        end=end,
        committed={0: 80, 1: 90} if committed is None else committed,
    )


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


def test_flink_checkpoint_args_keep_the_jobs_other_settings(tmp_path):
    extra = ["execution.buffer-timeout.interval: 5 ms"]
    flink_checkpoint_args(tmp_path / "ckpt", tmp_path / "conf", 10_000, False, conf=extra)
    conf = (tmp_path / "conf" / "flink-conf.yaml").read_text().splitlines()
    assert extra[0] in conf
    assert f"state.checkpoints.dir: {(tmp_path / 'ckpt').resolve().as_uri()}" in conf


def test_checkpoint_fit_accepts_the_topic_it_was_read_from(tmp_path):
    record_source(tmp_path, _state(), "b:9092")
    assert checkpoint_fit(tmp_path, _state()).fits


def test_checkpoint_fit_refuses_a_recreated_topic_even_with_more_records(tmp_path):
    record_source(tmp_path, _state(), "b:9092")
    # Kafka drops a deleted topic's committed offsets: none on the new one.
    check = checkpoint_fit(tmp_path, _state("other-id", committed={}, end={0: 900, 1: 900}))
    assert not check.fits
    assert "recreated" in check.summary() and TOPIC_ID in check.summary()


def test_checkpoint_fit_refuses_committed_offsets_beyond_the_end(tmp_path):
    record_source(tmp_path, _state(), "b:9092")
    check = checkpoint_fit(tmp_path, _state(committed={0: 80, 1: 150}))
    assert check.problems == ("trades[1] ends at offset 100, before the stored offset 150",)
    assert check.outside == {1}


def test_checkpoint_fit_refuses_another_topic_name(tmp_path):
    record_source(tmp_path, _state(topic="trades-old"), "b:9092")
    assert "was reading topic trades-old" in checkpoint_fit(tmp_path, _state()).summary()


def test_checkpoint_of_an_earlier_version_fits_only_with_committed_offsets(tmp_path):
    assert checkpoint_fit(tmp_path, _state()).fits  # nothing recorded, offsets in range
    assert not checkpoint_fit(tmp_path, _state(committed={})).fits


def test_prepare_resume_refuses_a_stale_checkpoint_and_keeps_it(tmp_path):
    record_source(tmp_path, _state(), "b:9092")
    chk = _checkpoint(tmp_path, "job1", 3)
    with pytest.raises(StalePositionError, match="--on_topic_reset=start_over"):
        prepare_resume(tmp_path, _state("new-id", committed={}), "b:9092", True, "fail")
    assert latest_checkpoint(tmp_path) == chk


def test_prepare_resume_start_over_sets_the_checkpoint_aside_and_records_the_new_topic(tmp_path):
    record_source(tmp_path, _state(), "b:9092")
    _checkpoint(tmp_path, "job1", 3)
    warnings = prepare_resume(
        tmp_path, _state("new-id", committed={}), "b:9092", True, "start_over"
    )
    assert len(warnings) == 1 and "does not fit" in warnings[0]
    assert latest_checkpoint(tmp_path) is None
    assert list(tmp_path.glob("stale/*/job1/chk-3/_metadata"))
    assert checkpoint_fit(tmp_path, _state("new-id", committed={})).fits


def test_fresh_start_sets_aside_checkpoints_of_another_topic(tmp_path):
    # Ignored now, they must not be restored by a later start that does not ignore them.
    record_source(tmp_path, _state(), "b:9092")
    _checkpoint(tmp_path, "job1", 3)
    prepare_resume(tmp_path, _state("new-id", committed={}), "b:9092", False, "fail")
    assert latest_checkpoint(tmp_path) is None


def test_prepare_resume_keeps_a_checkpoint_that_fits(tmp_path):
    record_source(tmp_path, _state(), "b:9092")
    chk = _checkpoint(tmp_path, "job1", 3)
    assert prepare_resume(tmp_path, _state(), "b:9092", True, "fail") == []
    assert latest_checkpoint(tmp_path) == chk


def _job(root, n: int, age_s: float, checkpoints=(1,)):
    """A Flink job directory (32 hex digits) with complete checkpoints, last touched age_s ago."""
    job = root / f"{n:032x}"
    for chk in checkpoints:
        _checkpoint(root, job.name, chk)
    (job / "shared").mkdir(parents=True)
    (job / "shared" / "state").write_bytes(b"s" * 100)
    when = time.time() - age_s
    for path in [*job.glob("chk-*"), job / "shared", job]:
        os.utime(path, (when, when))
    return job


def _jobs_left(root) -> set[str]:
    return {d.name for d in root.iterdir() if d.is_dir() and d.name != "stale"}


def test_prune_checkpoints_keeps_the_newest_jobs_and_whatever_is_not_flinks(tmp_path):
    jobs = [_job(tmp_path, n, age_s=1000 - 100 * n) for n in range(1, 9)]  # job 8 is newest
    (tmp_path / "source.json").write_text("{}")
    (tmp_path / "notes").mkdir()  # not a Flink job id: never touched
    removed = prune_checkpoints(tmp_path, retained=3, restore=latest_checkpoint(tmp_path))
    assert _jobs_left(tmp_path) == {j.name for j in jobs[5:]} | {"notes"}
    assert sorted(removed) == sorted(jobs[:5])
    assert (tmp_path / "source.json").is_file()
    assert latest_checkpoint(tmp_path) == jobs[7] / "chk-1"


def test_prune_checkpoints_orders_jobs_by_their_newest_checkpoint(tmp_path):
    # Job 1's directory is old but it took a checkpoint a moment ago: it is the newest job.
    old_dir_recent_checkpoint = _job(tmp_path, 1, age_s=5000, checkpoints=(1, 2))
    os.utime(old_dir_recent_checkpoint / "chk-2", None)
    middle = _job(tmp_path, 2, age_s=50)
    _job(tmp_path, 3, age_s=500)
    prune_checkpoints(tmp_path, retained=2, restore=None)
    assert _jobs_left(tmp_path) == {old_dir_recent_checkpoint.name, middle.name}


def test_prune_checkpoints_never_deletes_the_job_being_restored(tmp_path):
    restored = _job(tmp_path, 1, age_s=9000)  # the only complete checkpoint, and the oldest
    newer = [_job(tmp_path, n, age_s=10 * n, checkpoints=()) for n in range(2, 5)]
    removed = prune_checkpoints(tmp_path, retained=1, restore=restored / "chk-1")
    assert _jobs_left(tmp_path) == {restored.name, newer[0].name}
    assert restored not in removed and (restored / "chk-1" / "_metadata").is_file()


def test_prune_checkpoints_keeps_the_newest_set_aside_sets(tmp_path):
    stale = tmp_path / "stale"
    sets = []
    for n in range(4):
        stamp = f"2026010{n + 1}T120000"
        _job(stale / stamp, n, age_s=100 * (4 - n))
        os.utime(stale / stamp, (time.time() - 100 * (4 - n),) * 2)
        sets.append(stale / stamp)
    (stale / "keep-me").mkdir()  # not a set_aside time stamp: never touched
    prune_checkpoints(tmp_path, retained=2, restore=None)
    assert {d.name for d in stale.iterdir()} == {sets[2].name, sets[3].name, "keep-me"}


def test_prune_checkpoints_leaves_a_set_aside_checkpoint_in_stale(tmp_path):
    _job(tmp_path, 1, age_s=10)
    moved = set_aside(tmp_path)
    assert prune_checkpoints(tmp_path, retained=1, restore=None) == []
    assert [d.name for d in moved.iterdir()] == [f"{1:032x}"]


def test_prune_checkpoints_needs_at_least_one_and_accepts_a_missing_directory(tmp_path):
    assert prune_checkpoints(tmp_path / "none", retained=3, restore=None) == []
    with pytest.raises(ValueError, match="retained"):
        prune_checkpoints(tmp_path, retained=0, restore=None)


def test_flink_conf_retains_the_configured_number_of_checkpoints(tmp_path):
    flink_checkpoint_args(tmp_path / "ckpt", tmp_path / "conf", 10_000, True, retained=5)
    conf = (tmp_path / "conf" / "flink-conf.yaml").read_text().splitlines()
    assert "state.checkpoints.num-retained: 5" in conf
    flink_checkpoint_args(tmp_path / "ckpt", tmp_path / "conf", 10_000, True)
    conf = (tmp_path / "conf" / "flink-conf.yaml").read_text().splitlines()
    assert "state.checkpoints.num-retained: 3" in conf
