"""`tradestream dashboard` as a user starts it: the address is bound before it is announced."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request

from tests.support.cli import assert_one_line_error, tradestream


def test_dashboard_on_a_taken_port_is_one_line_exit_2_and_announces_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = tradestream(
            "dashboard", "--no_kafka", "--port", str(port), "--runs_dir", str(tmp_path),
            "--db", f"sqlite:///{tmp_path}/paper.db", timeout=60,
        )  # fmt: skip
    assert_one_line_error(
        proc, "dashboard", f"cannot listen on 127.0.0.1:{port}", "choose another --port"
    )
    assert proc.stdout == ""


def test_dashboard_announces_the_port_it_listens_on_and_serves_at_once(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradestream.cli", "dashboard", "--no_kafka", "--port", "0",
         "--runs_dir", str(tmp_path), "--db", f"sqlite:///{tmp_path}/paper.db"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("dashboard on http://localhost:"), line + proc.stderr.read()
        port = int(line.split()[2].rsplit(":", 1)[1].rstrip("/"))
        assert port != 0
        # Announced after listen(): the first request is served, not refused.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=10) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0
