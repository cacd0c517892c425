"""The processes of a running local pipeline, from /proc: who they are, their CPU and memory.

Shared by the realtime benches: a run says how the machine's CPU was shared between the
Flink job server, each Python SDK worker, the launcher, the Kafka broker and the bench itself
(whose trade generator runs on the same cores), and each one's resident memory.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def stop_cleanly_on_sigterm() -> None:
    """Makes SIGTERM (`kill`, `pkill`, a CI timeout) end the bench as Ctrl-C does: through its
    `finally` blocks, which stop the pipeline it started. By default SIGTERM ended the bench
    at once and left the launcher, the job server and the SDK workers running, orphaned."""

    def _exit(signum, _frame) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def descendants(pid: int) -> list[int]:
    """Child processes of `pid`, recursively."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def is_java(pid: int) -> bool:
    argv = _cmdline(pid)
    return bool(argv) and b"java" in argv[0]


def pipeline_processes(launcher: int, broker: int | None = None) -> dict[str, int]:
    """Name -> pid: the launcher, its job server and SDK workers, the broker, this bench."""
    named = {"launcher": launcher}
    workers = 0
    for pid in descendants(launcher):
        argv = b" ".join(_cmdline(pid))
        if is_java(pid):
            named["job server (JVM)"] = pid
        elif b"tradestream.runtime.workers" in argv:
            workers += 1
            named[f"SDK worker {workers}"] = pid
    if broker is not None:
        named["Kafka broker (JVM)"] = broker
    named["bench (generator)"] = os.getpid()
    return named


def cpu_table(
    processes: dict[str, int], before: dict[str, float], after: dict[str, float], seconds: float
) -> list[str]:
    """Rows: each process's CPU over the interval, as cores used and share of the total."""
    used = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in processes}
    total = sum(used.values()) or 1.0
    rows = [f"    {'process':<22}{'CPU s':>8}{'cores':>7}{'share':>7}{'RSS MB':>8}"]
    for name in processes:
        rows.append(f"    {name:<22}{used[name]:>8.1f}{used[name] / seconds:>7.2f}"
                    f"{100 * used[name] / total:>6.0f}%{after.get(name + ' rss', 0.0):>8,.0f}")  # fmt: skip
    rows.append(f"    {'total':<22}{total:>8.1f}{total / seconds:>7.2f}")
    return rows


def cpu_now(processes: dict[str, int]) -> dict[str, float]:
    """Each process's CPU seconds so far, and its RSS (as "<name> rss", MB)."""
    now = {name: cpu_s(pid) for name, pid in processes.items()}
    now.update({f"{name} rss": rss_mb(pid) for name, pid in processes.items()})
    return now
