"""Running Beam pipelines on the Flink runner locally.

Beam's FlinkRunner starts the job server from `--flink_job_server_jar` (the launcher
jar that `tradestream local fetch` writes); `--flink_master=[local]` runs an embedded
Flink cluster inside it, and `--environment_type=LOOPBACK` runs the Python SDK
workers inside the submitting process, so no Docker is involved. The job server's JVM heap
defaults to 2 GiB (`JDK_JAVA_OPTIONS`, which a user may set instead).
"""

from __future__ import annotations

import os

from tradestream.local.jvm import require
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
