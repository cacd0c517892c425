"""Python SDK workers as child processes, for pipelines on a local (embedded) Flink.

Beam's LOOPBACK environment runs every SDK worker as a thread of the launching process, so
all Python work shares one interpreter lock and one core, however many workers the runner
asks for. `WorkerProcesses` serves the runner's worker-pool API (Beam's EXTERNAL
environment) instead and starts each requested worker as a process of its own:

    with WorkerProcesses(state_cache_mb=256) as address:
        args += ["--environment_type=EXTERNAL", f"--environment_config={address}",
                 "--sdk_worker_parallelism=2"]

Workers run this interpreter (`main` of this module, see `worker_command`), so they import
the same code; they ignore Ctrl-C from their first statement, since it is the launcher's to
handle (it cancels the job, and the runner then stops its workers). They share the launcher's process group,
so killing the group kills them, and a worker whose runner goes away exits by itself.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import traceback

log = logging.getLogger(__name__)

_STOP_GRACE_S = 5.0


def _pool_servicer_base():
    from apache_beam.portability.api import beam_fn_api_pb2_grpc

    return beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolServicer


class WorkerProcesses:
    """A worker-pool service on localhost that starts SDK workers as child processes.

    Args:
        state_cache_mb: each worker's user-state cache (Beam's `--max_cache_memory_usage_mb`).
        port: where to listen on localhost (0: any free port).
    """

    def __init__(self, state_cache_mb: int, port: int = 0) -> None:
        self._cache_bytes = state_cache_mb << 20
        self._port = port
        self._workers: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._server = None

    def __enter__(self) -> str:
        import grpc
        from apache_beam.portability.api import beam_fn_api_pb2_grpc
        from apache_beam.utils import thread_pool_executor

        self._server = grpc.server(thread_pool_executor.shared_unbounded_instance())
        port = self._server.add_insecure_port(f"localhost:{self._port}")
        beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
            _Servicer(self), self._server
        )
        self._server.start()
        return f"localhost:{port}"

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
        with self._lock:
            workers, self._workers = dict(self._workers), {}
        for worker_id, proc in workers.items():
            _stop(worker_id, proc)

    def start_worker(self, worker_id: str, control_url: str) -> None:
        command = worker_command(control_url, worker_id, self._cache_bytes)
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        with self._lock:
            self._workers[worker_id] = proc
        log.info("started SDK worker %s (pid %d)", worker_id, proc.pid)

    def stop_worker(self, worker_id: str) -> None:
        with self._lock:
            proc = self._workers.pop(worker_id, None)
        if proc is not None:
            _stop(worker_id, proc)

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._workers.values() if p.poll() is None]


# A worker ignores Ctrl-C from its first statement: importing Beam takes seconds, and a
# KeyboardInterrupt in those imports (Ctrl-C right after the job started) printed a 50-line
# traceback per worker.
_BOOT = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); import runpy; "
    "runpy.run_module('tradestream.runtime.workers', run_name='__main__', alter_sys=True)"
)


def worker_command(control_url: str, worker_id: str, cache_bytes: int) -> list[str]:
    """The command line of one SDK worker process (`main` below, Ctrl-C ignored)."""
    return [sys.executable, "-c", _BOOT, control_url, worker_id, str(cache_bytes)]


def _stop(worker_id: str, proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        log.warning("SDK worker %s did not stop within %.0f s: killed", worker_id, _STOP_GRACE_S)
        proc.kill()
        proc.wait()


class _Servicer(_pool_servicer_base()):
    def __init__(self, pool: WorkerProcesses) -> None:
        self._pool = pool

    def StartWorker(self, request, context):  # noqa: N802 - gRPC method name
        from apache_beam.portability.api import beam_fn_api_pb2

        try:
            self._pool.start_worker(request.worker_id, request.control_endpoint.url)
            return beam_fn_api_pb2.StartWorkerResponse()
        except Exception:  # noqa: BLE001 - reported to the runner, which fails the job
            return beam_fn_api_pb2.StartWorkerResponse(error=traceback.format_exc())

    def StopWorker(self, request, context):  # noqa: N802 - gRPC method name
        from apache_beam.portability.api import beam_fn_api_pb2

        self._pool.stop_worker(request.worker_id)
        return beam_fn_api_pb2.StopWorkerResponse()


def _runner_gone(exc: BaseException | None) -> bool:
    """Whether an exception is a gRPC stream ended because the runner went away."""
    import grpc

    gone = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    return isinstance(exc, grpc.RpcError) and exc.code() in gone


class _RunnerGoneFilter(logging.Filter):
    """Drops log records whose exception is the runner going away: Beam's data plane logs
    'Failed to read inputs in the data plane.' with the traceback of that RpcError when the
    job server stops (Ctrl-C); anything else is logged as usual."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _runner_gone(record.exc_info[1]))


def _quiet_when_the_runner_is_gone(args: threading.ExceptHookArgs) -> None:
    """A thread of the SDK harness whose gRPC stream ends because the runner went away (Ctrl-C
    stops the job server with the job) dies with an RpcError UNAVAILABLE or CANCELLED: the
    end of the worker, not an error. One line at INFO instead of a traceback per stream;
    anything else is reported as usual."""
    if _runner_gone(args.exc_value):
        name = args.thread.name if args.thread is not None else "?"
        log.info("thread %s ends: the runner went away", name)
        return
    threading.__excepthook__(args)


def main(argv: list[str]) -> int:
    """A worker process: serves the runner at CONTROL_URL until the runner lets it go."""
    control_url, worker_id, cache_bytes = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.excepthook = _quiet_when_the_runner_is_gone
    logging.basicConfig(
        level=logging.WARNING, format=f"[worker {worker_id}] %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:  # records of every logger pass through
        handler.addFilter(_RunnerGoneFilter())
    from apache_beam.runners.worker.sdk_worker import SdkHarness

    try:
        SdkHarness(control_url, worker_id=worker_id, state_cache_size=int(cache_bytes)).run()
    except Exception as exc:  # noqa: BLE001 - the runner went away: nothing left to serve
        logging.getLogger(__name__).info("worker %s ends: %s", worker_id, exc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
