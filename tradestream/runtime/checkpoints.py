"""Flink checkpoints of a realtime job: where they go and how a restart resumes from them.

The realtime pipeline checkpoints its whole state (Kafka offsets inside the source's
restriction, candles, strategy state, timers) every `--checkpoint_interval` into
`<checkpoint_dir>/<flink job id>/chk-N`, retained when the job stops. Started again with the
same checkpoint directory, it restores the newest complete checkpoint, so it resumes exactly
where the checkpoint was taken; signals it had written after that checkpoint are written again
only once (WriteSignals skips signal ids already on the topic).

With an embedded Flink (`--flink_master=[local]`) Beam does not pass a savepoint path itself,
so the restore goes through a generated Flink configuration directory
(`execution.savepoint.path`), given to Beam with `--flink_conf_dir`.

A checkpoint holds Kafka offsets, so it only fits the topic it was read from. Every start
records that topic (name and Kafka topic id) in `<checkpoint_dir>/source.json`; before a
restore the launcher compares it, and the group's committed offsets (those of the newest
finalized checkpoint), with the topic as it is now (`checkpoint_fit`). After a broker reset
or a recreated topic the checkpoint does not fit: resuming would wait at offsets the topic
no longer has and make every replayed trade late. Checkpoints that no longer fit are moved
to `<checkpoint_dir>/stale/<time>/`, so a later start cannot restore them.

Housekeeping: Flink keeps the newest `retained` complete checkpoints of a job
(`state.checkpoints.num-retained`), but every start is a new Flink job with a directory of its
own, and Flink never removes the directories of earlier jobs. So each start keeps the newest
`retained` job directories (newest by their latest checkpoint) and deletes older ones, never
the one holding the checkpoint being restored; set-aside sets under `stale/` are kept the same
way (the newest `retained` of them), since they cannot be restored and are only there to be
looked at. Only directories named as Flink names them are touched (a 32-digit hex job id; a
`stale/` set's time stamp), so a `--checkpoint_dir` shared with anything else loses nothing
else.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from tradestream.kafka_clients.positions import (
    PositionCheck,
    StalePositionError,
    TopicState,
    check_position,
)
from tradestream.runtime.flink import write_flink_conf

SOURCE_FILE = "source.json"
STALE_DIR = "stale"
# Checkpoints (per job) and job directories kept: a restore uses the newest; the others are a
# fallback to restore by hand (`execution.savepoint.path`) when the newest is damaged.
DEFAULT_RETAINED = 3
_JOB_DIR = re.compile(r"[0-9a-f]{32}")  # a Flink JobID
_STALE_SET = re.compile(r"\d{8}T\d{6}")  # set_aside's time stamp


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest complete retained checkpoint (`<job>/chk-N` with `_metadata`), if any."""
    if not checkpoint_dir.is_dir():
        return None
    complete = [m.parent for m in checkpoint_dir.glob("*/chk-*/_metadata") if m.is_file()]
    if not complete:
        return None
    return max(complete, key=lambda d: (d.stat().st_mtime, int(d.name.split("-")[1])))


def _newest_change(directory: Path) -> float:
    """When a job directory (or set-aside set) last changed: its own time or its newest
    checkpoint's, whichever is later."""
    times = [directory.stat().st_mtime]
    times += [d.stat().st_mtime for d in directory.glob("chk-*") if d.is_dir()]
    times += [d.stat().st_mtime for d in directory.glob("*/chk-*") if d.is_dir()]
    return max(times)


def _prune(directories: list[Path], keep: int, protect: Path | None) -> list[Path]:
    """Deletes all but the newest `keep` of `directories`, never `protect`; returns those."""
    newest_first = sorted(directories, key=_newest_change, reverse=True)
    removed = []
    for directory in newest_first[keep:]:
        if protect is not None and directory.resolve() == protect.resolve():
            continue
        try:
            shutil.rmtree(directory)
        except OSError:  # not ours to delete (permissions): left as it is, tried next start
            continue
        removed.append(directory)
    return removed


def prune_checkpoints(checkpoint_dir: Path, retained: int, restore: Path | None) -> list[Path]:
    """Keeps the newest `retained` job directories and `stale/` sets; deletes older ones.

    Args:
        checkpoint_dir: where the jobs' directories are (`<checkpoint_dir>/<job id>/chk-N`).
        retained: how many job directories, and how many set-aside sets, to keep (>= 1).
        restore: the checkpoint this start restores: its job directory is always kept.

    Returns:
        The directories deleted: job directories, then set-aside sets.
    """
    if retained < 1:
        raise ValueError(f"retained must be >= 1, got {retained}")
    if not checkpoint_dir.is_dir():
        return []
    jobs = [d for d in checkpoint_dir.iterdir() if d.is_dir() and _JOB_DIR.fullmatch(d.name)]
    removed = _prune(jobs, retained, restore.parent if restore is not None else None)
    stale = checkpoint_dir / STALE_DIR
    if stale.is_dir():
        sets = [d for d in stale.iterdir() if d.is_dir() and _STALE_SET.fullmatch(d.name)]
        removed += _prune(sets, retained, None)
    return removed


def flink_checkpoint_args(
    checkpoint_dir: Path,
    conf_dir: Path,
    interval_ms: int,
    resume: bool,
    retained: int = DEFAULT_RETAINED,
    conf: Sequence[str] = (),
) -> tuple[list[str], Path | None]:
    """Beam/Flink arguments for retained checkpoints, and the checkpoint restored (if any).

    Flink keeps the newest `retained` checkpoints of the job (`prune_checkpoints` deals with
    the directories of earlier jobs). `conf`: more lines of the job's flink-conf.yaml.
    """
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    restore = latest_checkpoint(checkpoint_dir) if resume else None
    lines = [
        f"state.checkpoints.dir: {checkpoint_dir.resolve().as_uri()}",
        f"state.checkpoints.num-retained: {retained}",
        "execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION",
    ]
    if restore is not None:
        lines.append(f"execution.savepoint.path: {restore.resolve().as_uri()}")
    args = [
        f"--checkpointing_interval={interval_ms}",
        "--externalized_checkpoints_enabled",
        "--retain_externalized_checkpoints_on_cancellation",
        "--state_backend=filesystem",
        f"--state_backend_storage_path={checkpoint_dir.resolve().as_uri()}",
        write_flink_conf(conf_dir, [*lines, *conf]),
    ]
    return args, restore


def recorded_source(checkpoint_dir: Path) -> dict | None:
    """The topic the checkpoints in `checkpoint_dir` were read from, if recorded."""
    try:
        return json.loads((checkpoint_dir / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return None


def record_source(checkpoint_dir: Path, state: TopicState, bootstrap: str) -> None:
    """Records the topic this run reads (and the checkpoints it takes will hold)."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    record = {"topic": state.topic, "topic_id": state.topic_id, "bootstrap_servers": bootstrap}
    (checkpoint_dir / SOURCE_FILE).write_text(json.dumps(record, indent=2) + "\n")


def checkpoint_fit(checkpoint_dir: Path, state: TopicState) -> PositionCheck:
    """Whether the retained checkpoints of `checkpoint_dir` can resume reading `state.topic`.

    Compares the recorded topic (name and id) with the topic now, and the group's committed
    offsets with the partitions' ranges. Checkpoints of an earlier TradeStream record no
    topic: then a group without any committed offset on the topic (Kafka drops them with the
    topic) is taken as a sign that the broker was reset.
    """
    recorded = recorded_source(checkpoint_dir)
    problems: list[str] = []
    if recorded is None:
        if not state.committed:
            problems.append(
                f"the checkpoint does not record its topic and the consumer group has no "
                f"committed offset on {state.topic} (a reset broker or a recreated topic)"
            )
    elif recorded.get("topic") != state.topic:
        problems.append(
            f"the checkpoint was reading topic {recorded.get('topic')}, not {state.topic}"
        )
    check = check_position(
        state.topic,
        recorded.get("topic_id") if recorded else None,
        state.topic_id,
        state.committed,
        state.beginning,
        state.end,
    )
    return PositionCheck(tuple(problems) + check.problems, check.outside)


def set_aside(checkpoint_dir: Path) -> Path | None:
    """Moves every retained checkpoint to `stale/<time>/` (kept for inspection, never restored).

    Returns:
        Where they went, or None when there was nothing to move.
    """
    jobs = [d for d in checkpoint_dir.glob("*") if d.is_dir() and d.name != STALE_DIR]
    if not jobs:
        return None
    target = checkpoint_dir / STALE_DIR / time.strftime("%Y%m%dT%H%M%S")
    target.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        job.rename(target / job.name)
    return target


def prepare_resume(
    checkpoint_dir: Path, state: TopicState, bootstrap: str, resume: bool, on_topic_reset: str
) -> list[str]:
    """Checks the retained checkpoint against the topic before a restart restores it.

    A checkpoint that does not fit (`checkpoint_fit`) stops the start with one line
    (`on_topic_reset="fail"`), or is set aside with a warning (`"start_over"`). Checkpoints of
    another topic are also set aside when this run ignores them (`--fresh_start`), so a
    later start cannot restore them. Records the topic read by this run.

    Returns:
        Warnings for the console: what was set aside, and why.

    Raises:
        StalePositionError: the checkpoint does not fit and the policy is "fail".
    """
    warnings = []
    restore = latest_checkpoint(checkpoint_dir)
    if restore is not None:
        fit = checkpoint_fit(checkpoint_dir, state)
        if not fit.fits and resume and on_topic_reset == "fail":
            raise StalePositionError(
                f"the retained checkpoint {restore} does not fit {state.topic}: "
                f"{fit.summary()}. Resuming would skip or refuse its records; start with "
                "--on_topic_reset=start_over (or --fresh_start) to set the checkpoint aside "
                "and read the topic afresh"
            )
        if not fit.fits:
            moved = set_aside(checkpoint_dir)
            warnings.append(
                f"the retained checkpoint {restore} does not fit {state.topic} "
                f"({fit.summary()}): moved to {moved}, starting with empty candles and "
                "indicators"
            )
    record_source(checkpoint_dir, state, bootstrap)
    return warnings
