"""The realtime launcher's defaults: what runs when a user gives no Flink flags."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tradestream.pipelines.realtime import (
    LOCAL_WORKERS,
    NETWORK_BUFFER_TIMEOUT_MS,
    WORKER_PROCESSES,
    RealtimeOptions,
    beam_args_with_defaults,
    checkpoint_mismatch,
    flink_checkpoints,
    launches_flink_job_server,
)
from tradestream.runtime.flink import network_buffer_conf, write_flink_conf


def _value(args: list[str], flag: str) -> str | None:
    return next((a.split("=", 1)[1] for a in args if a.startswith(flag + "=")), None)


@pytest.mark.integration  # the job server jar: the JVM cache
def test_local_flink_gets_worker_processes_and_matching_parallelism(jvm_dir):
    args = beam_args_with_defaults([])
    assert _value(args, "--runner") == "FlinkRunner"
    assert _value(args, "--environment_type") == "LOOPBACK"
    # A worker process for each stage's subtask (3 stages, 5 with the book topic): Beam's
    # Flink runner hands workers out by a job-wide counter, in the order subtasks open.
    assert _value(args, "--sdk_worker_parallelism") == str(WORKER_PROCESSES)
    assert WORKER_PROCESSES >= 5 * LOCAL_WORKERS
    assert _value(args, "--parallelism") == str(LOCAL_WORKERS)
    assert _value(args, "--max_bundle_time_mills") == "50"
    assert _value(args, "--max_cache_memory_usage_mb") == "256"


@pytest.mark.integration
def test_a_users_own_choices_are_kept(jvm_dir):
    args = beam_args_with_defaults(
        ["--parallelism=3", "--sdk_worker_parallelism", "1", "--max_bundle_time_mills=200"]
    )
    assert "--sdk_worker_parallelism" in args and _value(args, "--sdk_worker_parallelism") is None
    assert _value(args, "--parallelism") == "3"
    assert _value(args, "--max_bundle_time_mills") == "200"
    other = beam_args_with_defaults(["--runner=DirectRunner"])
    assert _value(other, "--parallelism") is None and _value(other, "--environment_type") is None


def test_the_launcher_configures_only_the_job_server_it_starts():
    # FlinkRunner (the default) starts the job server here: it reads the flink-conf.yaml the
    # launcher writes. A PortableRunner's job server runs elsewhere: a local path would not
    # exist there.
    assert launches_flink_job_server([])
    assert launches_flink_job_server(["--runner=FlinkRunner", "--flink_master=h:8081"])
    assert not launches_flink_job_server(["--runner=PortableRunner", "--job_endpoint=js:8099"])
    assert not launches_flink_job_server(["--runner=DirectRunner"])


def test_network_buffers_are_flushed_within_the_configured_time(tmp_path):
    options = PipelineOptions([]).view_as(RealtimeOptions)
    assert options.network_buffer_timeout == NETWORK_BUFFER_TIMEOUT_MS == 5
    flag = write_flink_conf(tmp_path / "conf", network_buffer_conf(5))
    assert flag == f"--flink_conf_dir={(tmp_path / 'conf').resolve()}"
    lines = (tmp_path / "conf" / "flink-conf.yaml").read_text().splitlines()
    assert "execution.buffer-timeout.interval: 5 ms" in lines
    zero = PipelineOptions(["--network_buffer_timeout=0"]).view_as(RealtimeOptions)
    assert network_buffer_conf(zero.network_buffer_timeout) == [
        "execution.buffer-timeout.interval: 0 ms"
    ]
    given = PipelineOptions(["--network_buffer_timeout=20ms"]).view_as(RealtimeOptions)
    assert given.network_buffer_timeout == 20


@pytest.mark.integration  # Flink's own jar, from the JVM cache
def test_the_network_buffer_key_is_one_flink_declares(jvm_dir):
    # Flink ignores keys it does not know: a misspelt one would leave its 100 ms default.
    import zipfile

    (core,) = (jvm_dir / "beam" / "lib").glob("flink-core-*.jar")
    with zipfile.ZipFile(core) as jar:
        declared = jar.read("org/apache/flink/configuration/ExecutionOptions.class")
    key = network_buffer_conf(5)[0].split(":", 1)[0]
    assert key.encode() in declared


def test_offsets_follow_checkpoints_only_when_flink_checkpoints():
    assert flink_checkpoints(PipelineOptions(["--checkpointing_interval=10000"]))
    assert not flink_checkpoints(PipelineOptions(["--checkpointing_interval=0"]))
    assert not flink_checkpoints(PipelineOptions([]))


def test_a_checkpoint_of_another_pipeline_gets_a_readable_error():
    # What Flink 1.19 reports (seen after an upgrade that changed the pipeline's steps).
    failure = (
        "Pipeline BeamApp-root-1 failed in state FAILED: java.lang.IllegalStateException: "
        "Failed to rollback to checkpoint/savepoint file:/s/checkpoints/g/fd16/chk-20. Cannot "
        "map checkpoint/savepoint state for operator 4f90 to the new program, because the "
        "operator is not available in the new program."
    )
    message = checkpoint_mismatch(failure)
    assert "file:/s/checkpoints/g/fd16/chk-20" in message and "--fresh_start" in message
    assert checkpoint_mismatch("Pipeline failed: java.lang.OutOfMemoryError") is None
