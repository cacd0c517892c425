"""Python SDK workers as processes for the local Flink runner (tradestream.runtime.workers).

The pipelines on Flink with these workers: tests/pipelines/test_realtime_flink.py.
"""

from __future__ import annotations

import os
import time

import grpc
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc, endpoints_pb2

from tradestream.runtime.flink import python_worker_processes
from tradestream.runtime.workers import WorkerProcesses


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def _wait(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _start(stub, worker_id: str, control_url: str):
    return stub.StartWorker(
        beam_fn_api_pb2.StartWorkerRequest(
            worker_id=worker_id,
            control_endpoint=endpoints_pb2.ApiServiceDescriptor(url=control_url),
        )
    )


def test_the_runner_starts_and_stops_worker_processes_through_the_pool():
    pool = WorkerProcesses(state_cache_mb=16)
    with pool as address, grpc.insecure_channel(address) as channel:
        stub = beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolStub(channel)
        # Nothing listens on the control address: the worker keeps trying until stopped.
        for worker_id in ("1-1", "1-2"):
            assert _start(stub, worker_id, "localhost:1").error == ""
        pids = pool.pids()
        assert len(pids) == 2 and os.getpid() not in pids
        assert all(_alive(pid) for pid in pids)

        stub.StopWorker(beam_fn_api_pb2.StopWorkerRequest(worker_id="1-1"))
        assert not _alive(pids[0])
        assert _alive(pids[1])
    assert not _alive(pids[1])  # the pool stops what the runner did not


def test_loopback_with_several_workers_becomes_the_external_pool_only_inside_the_block():
    options = PipelineOptions(["--environment_type=LOOPBACK", "--sdk_worker_parallelism=2"])
    portable = options.view_as(PortableOptions)
    with python_worker_processes(options):
        assert portable.environment_type == "EXTERNAL"
        address = portable.environment_config
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
    with grpc.insecure_channel(address) as channel:
        ready = grpc.channel_ready_future(channel)
        assert not _wait(ready.done, 1.0)  # the pool is gone


def test_one_worker_or_another_environment_is_left_alone():
    for args in (
        ["--environment_type=LOOPBACK", "--sdk_worker_parallelism=1"],
        ["--environment_type=PROCESS", "--sdk_worker_parallelism=2"],
    ):
        options = PipelineOptions(args)
        with python_worker_processes(options):
            portable = options.view_as(PortableOptions)
            assert portable.environment_type == args[0].split("=")[1]
            assert portable.environment_config is None


def test_a_worker_ignores_ctrl_c_from_its_first_statement(tmp_path):
    """Ctrl-C right after a job starts reaches the workers while they still import Beam (for
    seconds); each printed a 50-line KeyboardInterrupt traceback before they ignored it from
    their first statement. (Only the interpreter's own start, milliseconds before that
    statement, is left: a Ctrl-C there ends the worker without a word.)"""
    import signal
    import subprocess

    from tradestream.runtime.workers import worker_command

    # No runner at this address: the worker retries until stopped.
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            worker_command("localhost:1", "w1", 0), stdout=out, stderr=subprocess.STDOUT
        )

        def ignores_sigint() -> bool:
            with open(f"/proc/{proc.pid}/status") as status:
                ignored = next(line for line in status if line.startswith("SigIgn:"))
            return bool(int(ignored.split()[1], 16) & (1 << (signal.SIGINT - 1)))

        try:
            assert _wait(ignores_sigint, 10.0), "the worker's first statement never ran"
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline and proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # the Beam imports and beyond
                time.sleep(0.02)
            assert proc.poll() is None, log.read_text()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log.read_text()
    assert "KeyboardInterrupt" not in text and "Traceback" not in text, text


def test_a_worker_drops_log_records_of_the_runner_going_away_and_keeps_others():
    """Beam's data plane logs 'Failed to read inputs' with the RpcError's traceback when the
    job server stops under it (Ctrl-C); that is the worker's end, not an error."""
    import logging
    import sys

    from tradestream.runtime.workers import _RunnerGoneFilter

    class Stream(grpc.RpcError):
        def __init__(self, code):
            self._code = code

        def code(self):
            return self._code

    def record(exc: BaseException) -> logging.LogRecord:
        try:
            raise exc
        except BaseException:
            info = sys.exc_info()
        return logging.LogRecord("apache_beam", logging.ERROR, "x", 1, "Failed", (), info)

    keep = _RunnerGoneFilter().filter
    assert not keep(record(Stream(grpc.StatusCode.UNAVAILABLE)))
    assert not keep(record(Stream(grpc.StatusCode.CANCELLED)))
    assert keep(record(Stream(grpc.StatusCode.INTERNAL)))
    assert keep(record(ValueError("a real error")))
    assert keep(logging.LogRecord("x", logging.ERROR, "x", 1, "no exception", (), None))
