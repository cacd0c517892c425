"""Beam's Python SDK worker pool for Flink's EXTERNAL environment (the TaskManager sidecar).

    python docker/worker_pool.py --service_port=50000 --state_cache_mb=256

Serves the worker-pool API on localhost:PORT for the TaskManager in the same pod and starts
each worker it asks for as a process of its own (`tradestream.runtime.workers`, the same pool
that `tradestream realtime` uses locally), so workers use separate cores. Unlike Beam's
`worker_pool_main`, the workers get the user-state cache (that module starts them with the
cache off, which made candle building ~20x slower on Flink). Stops on SIGTERM or SIGINT,
stopping its workers.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from tradestream.runtime.workers import WorkerProcesses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service_port", type=int, required=True, help="port to listen on")
    parser.add_argument(
        "--state_cache_mb", type=int, default=256, help="user-state cache per worker (MB)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with WorkerProcesses(args.state_cache_mb, port=args.service_port) as address:
        logging.info(
            "SDK worker pool listening at %s (state cache %d MB)", address, args.state_cache_mb
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
