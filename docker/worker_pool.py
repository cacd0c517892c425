"""Beam's Python SDK worker pool for Flink's EXTERNAL environment (the TaskManager sidecar).

    python docker/worker_pool.py --service_port=50000 --state_cache_mb=256

The same as `python -m apache_beam.runners.worker.worker_pool_main`, plus the user-state
cache size: that module starts every worker with the cache off (it does not see the
pipeline's --max_cache_memory_usage_mb), which made candle building ~20x slower on Flink.
Each StartWorker request from the TaskManager runs one SDK harness in its own process
(`python` from PATH: the image's virtualenv), so workers use separate cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service_port", type=int, required=True, help="port to listen on")
    parser.add_argument(
        "--state_cache_mb", type=int, default=256, help="user-state cache per worker (MB)"
    )
    args = parser.parse_args(argv)
    # Beam starts each worker as `python -c ...` from PATH: make that this interpreter.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    address, server = BeamFnExternalWorkerPoolServicer.start(
        use_process=True, port=args.service_port, state_cache_size=args.state_cache_mb << 20
    )
    logging.info(
        "SDK worker pool listening at %s (state cache %d MB)", address, args.state_cache_mb
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
