"""Kept for `docker/worker_pool.py` (the Kubernetes image's worker pool, owned by the k8s
deployment) until its import moves to :mod:`tradestream.runtime.workers`, where the worker
processes now live."""

from tradestream.runtime.workers import WorkerProcesses

__all__ = ["WorkerProcesses"]
