"""Submits the realtime pipeline to the Flink session cluster, then waits on it.

    FLINK_REST_URL=http://jm:8081 JOB_SERVER=job-server:8099 JOB_NAME=tradestream-realtime-r3 \\
        python submit_realtime.py [tradestream realtime flags...]

The chart's realtime Job runs this. The Flink job is named after the Helm revision
(`<realtime.jobName>-r<revision>`), which makes a restarted pod and an upgrade behave:
1. jobs of an older revision of the same release still running are cancelled (the upgrade
   replaces the pipeline; it resumes from the consumer group's committed offsets);
2. if this revision's job already runs (the pod was restarted), wait on it instead of
   submitting a second copy;
3. otherwise run `tradestream realtime --job_name=<name> ...`, which submits through the Beam
   job server and waits until the job ends.
SIGTERM (the pod is deleted: `helm uninstall`, an upgrade, realtime.enabled=false) cancels this
revision's job through Flink's REST API: cancelling through the Beam job server only stops
the job server's own wait, not a job on a remote Flink cluster (measured).
Exit status: 0 when the job finished or was cancelled, 1 when it failed (the Job retries).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ACTIVE = {
    "INITIALIZING",
    "CREATED",
    "RUNNING",
    "FAILING",
    "CANCELLING",
    "RESTARTING",
    "RECONCILING",
}
POLL_S = 15.0


def rest(base: str, path: str, method: str = "GET") -> dict:
    request = urllib.request.Request(base.rstrip("/") + path, method=method)
    with urllib.request.urlopen(request, timeout=15) as response:
        body = response.read()
    return json.loads(body) if body else {}


def wait_until_up(flink_rest: str, job_server: str, deadline: float) -> None:
    """Blocks until the JobManager's REST API and the job server's port answer."""
    host, _, port = job_server.rpartition(":")
    while True:
        try:
            rest(flink_rest, "/overview")
            with socket.create_connection((host, int(port)), timeout=5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"submit_realtime: Flink or the job server not up: {exc}") from exc
            print(f"submit_realtime: waiting for Flink and the job server ({exc})", flush=True)
            time.sleep(5)


def all_jobs(flink_rest: str) -> list[dict]:
    return rest(flink_rest, "/jobs/overview").get("jobs", [])


def jobs_named(flink_rest: str, prefix: str) -> list[dict]:
    """Active Flink jobs whose name is `prefix` or starts with `prefix-r`."""
    return [
        j
        for j in all_jobs(flink_rest)
        if j.get("state") in ACTIVE and (j["name"] == prefix or j["name"].startswith(prefix + "-r"))
    ]


def final_state(flink_rest: str, name: str) -> str | None:
    """State of the most recently started job called `name`, if Flink knows one."""
    jobs = [j for j in all_jobs(flink_rest) if j["name"] == name]
    return max(jobs, key=lambda j: j.get("start-time", 0))["state"] if jobs else None


def cancel(flink_rest: str, job: dict) -> None:
    print(f"submit_realtime: cancelling {job['name']} ({job['jid']})", flush=True)
    try:
        rest(flink_rest, f"/jobs/{job['jid']}?mode=cancel", method="PATCH")
    except OSError as exc:
        print(f"submit_realtime: cancel failed: {exc}", file=sys.stderr, flush=True)


def cancel_named(flink_rest: str, name: str) -> None:
    try:
        jobs = [j for j in all_jobs(flink_rest) if j["name"] == name and j["state"] in ACTIVE]
    except OSError as exc:
        print(f"submit_realtime: cannot list jobs to cancel: {exc}", file=sys.stderr)
        return
    for job in jobs:
        cancel(flink_rest, job)


def exit_code(state: str | None, fallback: int) -> int:
    if state in {"FINISHED", "CANCELED"}:
        return 0
    if state == "FAILED":
        return 1
    return fallback


def attach(flink_rest: str, job: dict) -> int:
    """Waits until `job` ends."""
    print(f"submit_realtime: {job['name']} ({job['jid']}) already runs; waiting on it", flush=True)
    while True:
        try:
            state = rest(flink_rest, f"/jobs/{job['jid']}").get("state", "UNKNOWN")
        except OSError as exc:
            print(f"submit_realtime: cannot read the job's state: {exc}", file=sys.stderr)
            return 1
        if state not in ACTIVE:
            print(f"submit_realtime: {job['name']} ended: {state}", flush=True)
            return exit_code(state, 1)
        time.sleep(POLL_S)


def submit(flink_rest: str, name: str, argv: list[str]) -> int:
    """Runs `tradestream realtime` (submit, then wait) and maps the job's end to an exit code."""
    command = ["tradestream", "realtime", *argv, f"--job_name={name}"]
    print(f"submit_realtime: {' '.join(command)}", flush=True)
    child = subprocess.Popen(command)
    code = child.wait()
    try:
        state = final_state(flink_rest, name)
    except OSError:
        state = None
    print(f"submit_realtime: `tradestream realtime` exited {code}; job state {state}", flush=True)
    return exit_code(state, code)


def main(argv: list[str]) -> int:
    flink_rest = os.environ["FLINK_REST_URL"]
    job_server = os.environ["JOB_SERVER"]
    name = os.environ["JOB_NAME"]
    prefix = os.environ.get("JOB_NAME_PREFIX", name)
    deadline = time.monotonic() + float(os.environ.get("WAIT_SECONDS", "900"))

    def on_term(signum, frame):
        cancel_named(flink_rest, name)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    wait_until_up(flink_rest, job_server, deadline)
    mine = None
    for job in jobs_named(flink_rest, prefix):
        if job["name"] == name:
            mine = job
        else:
            cancel(flink_rest, job)
    if mine is not None:
        return attach(flink_rest, mine)
    return submit(flink_rest, name, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
