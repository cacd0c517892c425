"""Running Beam pipelines on the Flink runner locally.

Beam's FlinkRunner starts the job server from `--flink_job_server_jar` (the launcher
jar that `tradestream local fetch` writes); `--flink_master=[local]` runs an embedded
Flink cluster inside it, and `--environment_type=LOOPBACK` runs the Python SDK
workers inside the submitting process, so no Docker is involved. The job server's JVM heap
defaults to 2 GiB (`JDK_JAVA_OPTIONS`, which a user may set instead).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from tradestream.cli_types import integer, positive_int
from tradestream.runtime.jvm import require
from tradestream.settings import Settings


class FlinkJobOptions(PipelineOptions):
    """Flink runner flags that Beam's Python SDK does not declare, declared here.

    Beam passes them on to the Flink job server either way; declared, they are typed, shown
    by `--help`, and no longer reported as "Unknown pipeline options" on every start.
    """

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("Flink job (passed to Beam's Flink runner)")
        group.add_argument(
            "--checkpointing_interval",
            type=integer,
            default=None,
            help="ms between Flink checkpoints (the local launcher sets it from "
            "--checkpoint_interval)",
        )
        group.add_argument(
            "--externalized_checkpoints_enabled",
            action="store_true",
            default=None,
            help="keep completed checkpoints outside the job (to restore after a restart)",
        )
        group.add_argument(
            "--retain_externalized_checkpoints_on_cancellation",
            action="store_true",
            default=None,
            help="keep them when the job is cancelled too",
        )
        group.add_argument(
            "--state_backend", default=None, help="Flink state backend (e.g. filesystem)"
        )
        group.add_argument(
            "--state_backend_storage_path", default=None, help="where the state backend writes"
        )
        group.add_argument(
            "--flink_conf_dir",
            default=None,
            help="a directory holding the job's flink-conf.yaml (tradestream realtime writes "
            "one itself, with its checkpoints and --network_buffer_timeout; give your own "
            "only with --checkpoint_interval=0)",
        )
        group.add_argument(
            "--max_bundle_time_mills",
            type=positive_int,
            default=None,
            help="longest time a bundle stays open, in ms (latency against overhead)",
        )


def flink_runner_args(
    settings: Settings,
    flink_master: str = "[local]",
    parallelism: int | None = None,
    streaming: bool = False,
) -> list[str]:
    """Pipeline arguments for the Flink runner with the cached job server.

    Args:
        settings: locates the JVM cache (fetched first when missing).
        flink_master: `[local]` for an embedded cluster, or `host:port` of a session cluster.
        parallelism: Flink parallelism (default: the runner's).
        streaming: run as a streaming job.

    Returns:
        Arguments to append to a pipeline's argv.
    """
    layout = require(settings, "beam")
    # The job server JVM (with the embedded Flink) would otherwise take a quarter of RAM.
    os.environ.setdefault("JDK_JAVA_OPTIONS", "-Xmx2g -XX:+UseG1GC")
    args = [
        "--runner=FlinkRunner",
        f"--flink_master={flink_master}",
        f"--flink_job_server_jar={layout.job_server_jar}",
        "--environment_type=LOOPBACK",
    ]
    if parallelism:
        args.append(f"--parallelism={parallelism}")
    if streaming:
        args.append("--streaming")
    return args


def write_flink_conf(conf_dir: Path, lines: Sequence[str]) -> str:
    """Writes `lines` as `conf_dir`/flink-conf.yaml, anew at every start -> the
    `--flink_conf_dir` flag that has the job server the launcher starts read it (Flink's
    settings of the job: checkpoints, network buffers)."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    header = "# Written by `tradestream realtime` for this run; regenerated at every start."
    (conf_dir / "flink-conf.yaml").write_text("\n".join([header, *lines]) + "\n")
    return f"--flink_conf_dir={conf_dir.resolve()}"


def network_buffer_conf(timeout_ms: int) -> list[str]:
    """Flink's setting for how long a task may hold records in a network buffer before it
    sends them on to the next task (Flink's default: 100 ms; 0: after every record)."""
    return [f"execution.buffer-timeout.interval: {timeout_ms} ms"]


@contextmanager
def python_worker_processes(options) -> Iterator[None]:
    """LOOPBACK workers become processes when `--sdk_worker_parallelism` is above 1.

    In LOOPBACK every worker is a thread of this process, all sharing one interpreter
    lock; here they are child processes (`tradestream.runtime.workers`) serving the runner
    through Beam's EXTERNAL environment, for as long as the block runs. `options` (Beam
    PipelineOptions) are changed in place; other environments are left alone.
    """
    from apache_beam.options.pipeline_options import PortableOptions, WorkerOptions

    from tradestream.runtime.workers import WorkerProcesses

    portable = options.view_as(PortableOptions)
    if portable.environment_type != "LOOPBACK" or int(portable.sdk_worker_parallelism) <= 1:
        yield
        return
    cache_mb = options.view_as(WorkerOptions).max_cache_memory_usage_mb
    with WorkerProcesses(state_cache_mb=cache_mb) as address:
        portable.environment_type = "EXTERNAL"
        portable.environment_config = address
        yield


class _JobServerWait(logging.Filter):
    """Drops Beam's 'Waiting for grpc channel to be ready at localhost:PORT.' WARNING: Beam
    logs it on the root logger while the Flink job server's JVM starts (a few seconds, every
    start), though nothing is wrong; a job server that does not come up is still an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Waiting for grpc channel to be ready")


def hide_job_server_wait() -> None:
    """Installs `_JobServerWait` on the root logger (once)."""
    root = logging.getLogger()
    if not any(isinstance(f, _JobServerWait) for f in root.filters):
        root.addFilter(_JobServerWait())


def running_where(options: PipelineOptions) -> str:
    """Where a job of these options runs: the Flink web UI of a session cluster
    (`--flink_master=host:port` is its REST address), the job server a PortableRunner
    submitted it to (the chart's), or the embedded cluster."""
    given = options.get_all_options()
    master = given.get("flink_master") or "[local]"
    if not master.startswith("["):
        return f"Flink at {master} (web UI: http://{master})"
    if given.get("runner") == "PortableRunner" and given.get("job_endpoint"):
        return f"the Flink cluster of the job server at {given['job_endpoint']}"
    return "an embedded Flink cluster (no web UI)"


def announce_when_running(result, options: PipelineOptions, say) -> threading.Thread:
    """Calls `say(message)` once the runner reports the job RUNNING (from a daemon thread).

    The message names where to watch the job (`running_where`).
    """
    from apache_beam.runners.runner import PipelineState

    where = running_where(options)

    def watch() -> None:
        while True:
            try:
                state = result.state
            except Exception:  # noqa: BLE001 - the job service went away: nothing to say
                return
            if state == PipelineState.RUNNING:
                say(f"the job is running on {where}")
                return
            if PipelineState.is_terminal(state):
                return
            time.sleep(0.5)

    thread = threading.Thread(target=watch, name="announce-running", daemon=True)
    thread.start()
    return thread
