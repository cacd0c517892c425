"""Running Beam pipelines on the Flink runner locally.

Beam's FlinkRunner starts the job server from `--flink_job_server_jar` (the launcher
jar that `tradestream local fetch` writes); `--flink_master=[local]` runs an embedded
Flink cluster inside it, and `--environment_type=LOOPBACK` runs the Python SDK
workers inside the submitting process, so no Docker is involved. The job server's JVM heap
defaults to 2 GiB (`JDK_JAVA_OPTIONS`, which a user may set instead).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from tradestream.runtime.jvm import require
from tradestream.settings import Settings


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
