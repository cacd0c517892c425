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
"""

from __future__ import annotations

from pathlib import Path


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest complete retained checkpoint (`<job>/chk-N` with `_metadata`), if any."""
    if not checkpoint_dir.is_dir():
        return None
    complete = [m.parent for m in checkpoint_dir.glob("*/chk-*/_metadata") if m.is_file()]
    if not complete:
        return None
    return max(complete, key=lambda d: (d.stat().st_mtime, int(d.name.split("-")[1])))


def flink_checkpoint_args(
    checkpoint_dir: Path, conf_dir: Path, interval_ms: int, resume: bool
) -> tuple[list[str], Path | None]:
    """Beam/Flink arguments for retained checkpoints, and the checkpoint restored (if any)."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    conf_dir.mkdir(parents=True, exist_ok=True)
    restore = latest_checkpoint(checkpoint_dir) if resume else None
    lines = [
        "# Written by `tradestream realtime` for this run; regenerated at every start.",
        f"state.checkpoints.dir: {checkpoint_dir.resolve().as_uri()}",
        "state.checkpoints.num-retained: 3",
        "execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION",
    ]
    if restore is not None:
        lines.append(f"execution.savepoint.path: {restore.resolve().as_uri()}")
    (conf_dir / "flink-conf.yaml").write_text("\n".join(lines) + "\n")
    args = [
        f"--checkpointing_interval={interval_ms}",
        "--externalized_checkpoints_enabled",
        "--retain_externalized_checkpoints_on_cancellation",
        "--state_backend=filesystem",
        f"--state_backend_storage_path={checkpoint_dir.resolve().as_uri()}",
        f"--flink_conf_dir={conf_dir.resolve()}",
    ]
    return args, restore
