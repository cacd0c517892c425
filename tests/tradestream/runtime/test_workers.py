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
