"""What a user sees is TradeStream's own output: no third-party warnings on everyday commands.

Beam's GCP extras, Beam's own graph checks and the Kafka client used to print FutureWarnings,
"No iterator is returned", "Key coder ... may not be deterministic" and "Unknown pipeline
options" on every run. Each was fixed at its cause (declared options, typed steps, sinks that
return nothing) or, for the Google future-support notices only, filtered narrowly. librdkafka
(confluent-kafka) would write its log lines straight to stderr; its clients hand them to Python
logging instead, where only a command that set up logging shows them.
"""

from __future__ import annotations

import re

import pytest

from tests.support.cli import tradestream

THIRD_PARTY = re.compile(
    r"^(WARNING|INFO|ERROR):(apache_beam|kafka|google|grpc)"
    r"|Warning: |warnings\.warn\("
    r"|^%\d\|\d+\.\d+\|"  # librdkafka's own format: %3|1712345678.123|FAIL|rdkafka#...
)


def _third_party_lines(proc) -> list[str]:
    lines = (proc.stdout + proc.stderr).splitlines()
    return [line for line in lines if THIRD_PARTY.search(line)]


@pytest.mark.parametrize("command", [["backtest", "--help"], ["paper", "run", "--help"]])
def test_help_shows_no_third_party_warnings(command):
    proc = tradestream(*command)
    assert proc.returncode == 0, proc.stderr
    assert "usage: tradestream" in proc.stdout
    assert _third_party_lines(proc) == [], proc.stdout + proc.stderr


def test_a_short_backtest_prints_only_its_own_lines(tmp_path):
    trades = tmp_path / "trades.csv"
    made = tradestream("sample", "--hours", "2", "--output", str(trades))
    assert made.returncode == 0, made.stderr
    proc = tradestream(
        "backtest",
        "--input",
        str(trades),
        "--output",
        str(tmp_path / "out"),
        "--strategy",
        "SMA_CROSSOVER",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "summary.json").exists()
    assert "[backtest]" in proc.stdout + proc.stderr
    assert _third_party_lines(proc) == [], proc.stdout + proc.stderr


def test_the_filter_hides_only_the_google_future_notices():
    code = (
        "import warnings, tradestream\n"
        "warnings.warn_explicit('g', FutureWarning, 'x.py', 1, module='google.api_core.x')\n"
        "warnings.warn_explicit('ours', FutureWarning, 'y.py', 1, module='tradestream.x')\n"
        "warnings.warn_explicit('other', UserWarning, 'z.py', 1, module='google.auth')\n"
    )
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "FutureWarning: g" not in proc.stderr
    assert "FutureWarning: ours" in proc.stderr
    assert "UserWarning: other" in proc.stderr


LIBRDKAFKA_CLIENT = """
import logging, sys, time
from confluent_kafka import Consumer
from tradestream.kafka_clients.config import client_config, consumer_config
from tradestream.settings import Settings

if sys.argv[1] == "logging":
    logging.basicConfig(level=logging.WARNING)
# No broker at port 1: librdkafka reports each refused connection as a log line.
settings = Settings(state_dir=sys.argv[2], bootstrap_servers="127.0.0.1:1")
consumer = Consumer(consumer_config(client_config(settings)))
deadline = time.monotonic() + 3
while time.monotonic() < deadline:
    consumer.poll(0.2)
consumer.close()
"""


@pytest.mark.parametrize("setup", ["none", "logging"])
def test_librdkafka_log_lines_show_only_through_a_commands_logging(setup, tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", LIBRDKAFKA_CLIENT, setup, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert _third_party_lines(proc) == [], proc.stderr
    refused = [line for line in proc.stderr.splitlines() if "Connection refused" in line]
    if setup == "none":
        assert proc.stderr == ""  # no bare lines from Python's last-resort handler either
    else:
        assert refused and all(
            line.startswith("ERROR:tradestream.kafka.client:") for line in refused
        ), proc.stderr
