"""Process-wide tuning of the Python SDK worker for the streaming pipeline (Beam 2.61).

Called from the `setup` of the realtime pipeline's stateful DoFn, so it runs once in every
worker process, embedded (LOOPBACK) or remote.

State-cache sizing: the SDK's user-state cache (`--max_cache_memory_usage_mb`) weighs every
value it stores with `objsize.get_deep_size`. With objsize's default settings each call
first collects the globals of every loaded module (about 2,000 modules in a worker here) to
exclude them: a fixed ~0.6 ms per call, and a state write makes two calls. Measured on the
realtime pipeline, sizing was about 30% of the Python worker's busy time. Beam's own filter
already skips modules, types and functions (the only ways a state value could reach module
globals), so the exclusion adds nothing for plain-data state. objsize documents
`default_settings` as the place to change its defaults.
"""

from __future__ import annotations

_tuned = False


def tune_worker() -> None:
    """Idempotent: the first call in a process applies the settings above."""
    global _tuned
    if _tuned:
        return
    import objsize

    objsize.default_settings.update(exclude_modules_globals=False)
    _tuned = True
