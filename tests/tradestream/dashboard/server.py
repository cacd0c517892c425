"""A real uvicorn server in a thread for the dashboard tests, and a tiny HTTP client."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from tests.support.kafka import free_port


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str


@contextmanager
def serve(app, host: str = "127.0.0.1") -> Iterator[str]:
    """Serves `app` on a free port; yields its base URL; stops it afterwards."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("dashboard test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        stopping = getattr(getattr(app, "state", None), "stopping", None)
        if stopping is not None:
            stopping.set()  # ends open event streams
        server.should_exit = True
        thread.join(timeout=10)


def get(url: str, headers: dict[str, str] | None = None) -> Response:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return Response(
                r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
            )
    except urllib.error.HTTPError as exc:
        return Response(
            exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()
        )


def first_event(url: str, name: str = "snapshot", timeout: float = 10) -> str:
    """The data of the first server-sent event called `name` on `url`."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == name:
                return line[6:]
    raise AssertionError(f"no {name} event")
