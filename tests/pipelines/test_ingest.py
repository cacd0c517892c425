"""`tradestream ingest`: flags, the file sources into Kafka, and the Coinbase process end to end."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines import ingest
from tests.support.kafka import consume_all, create_topics, free_port
from tests.tradestream.ingest import scenario
from tradestream.ingest.fake_coinbase import FakeCoinbaseServer
from tradestream.v1 import trade_pb2

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "argv",
    [
        ["--source=coinbase", "--products", "BTC_USD"],
        ["--source=coinbase", "--products", "BTC-USD", "--ws_url", "http://example.com"],
        ["--source=coinbase", "--products", "BTC-USD", "--silence_timeout", "soon"],
        ["--source=coinbase", "--products", "BTC-USD", "--metrics_port", "70000"],
        ["--source=ohlc-replay", "--ohlc_timezone", "Mars/Olympus"],
        ["--source=bogus"],
        ["--no_such_flag"],
    ],
)
def test_ingest_bad_flag_exits_2_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as info:
        ingest.run(argv)
    assert info.value.code == 2
    assert "usage: tradestream ingest" in capsys.readouterr().err


def test_ingest_coinbase_without_products_is_an_error(capsys):
    assert ingest.run(["--source=coinbase"]) == 2
    assert "--source=coinbase needs --products" in capsys.readouterr().err


def test_ingest_ohlc_replay_without_input_is_an_error(capsys):
    assert ingest.run(["--source=ohlc-replay"]) == 2
    assert "needs --input" in capsys.readouterr().err


def test_ingest_ohlc_replay_missing_file_is_an_error(tmp_path, capsys):
    assert ingest.run(["--source=ohlc-replay", "--input", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.integration
def test_ingest_ohlc_replay_writes_four_trades_per_bar(kafka_broker, tmp_path, capsys):
    topic, dlq = "ingest-ohlc-trades", "ingest-ohlc-dlq"
    create_topics(kafka_broker, [topic, dlq])
    header = "datetime,open,high,low,close,% change\n"
    (tmp_path / "AAPL.csv").write_text(
        header
        + "2024-01-02 09:30:00,185.0,185.5,184.8,185.2,0.1\n"
        + "2024-01-02 09:31:00,185.2,185.3,184.9,185.0,-0.1\n"
        + "2024-01-02 09:32:00,185.0,184.0,185.0,185.0,0\n"  # not a bar
    )
    (tmp_path / "MSFT.csv").write_text(header + "2024-01-02 09:30:00,370.0,371.0,369.5,370.5,0.1\n")
    code = ingest.run(
        [
            "--source=ohlc-replay",
            f"--input={tmp_path}",
            "--ohlc_timezone=America/New_York",
            f"--bootstrap_servers={kafka_broker.bootstrap}",
            f"--trades_topic={topic}",
            f"--dlq_topic={dlq}",
        ]
    )
    assert code == 0
    assert "done: 12 trades" in capsys.readouterr().out
    trades = [
        trade_pb2.Trade.FromString(v)
        for _, v in consume_all(kafka_broker.bootstrap, topic, expected=12, timeout_s=30)
    ]
    aapl = [t for t in trades if t.symbol == "AAPL-USD"]
    assert [t.price for t in aapl] == [185.0, 184.8, 185.5, 185.2, 185.2, 185.3, 184.9, 185.0]
    assert aapl[0].time_ms == 1_704_205_800_000  # 09:30 New York = 14:30 UTC
    assert len([t for t in trades if t.symbol == "MSFT-USD"]) == 4
    letters = consume_all(kafka_broker.bootstrap, dlq, expected=1, timeout_s=30)
    assert trade_pb2.DeadLetter.FromString(letters[0][1]).reason == "invalid_bar"


@pytest.mark.integration
def test_ingest_replay_file_writes_trades_and_dead_letters(kafka_broker, tmp_path, capsys):
    topic, dlq = "ingest-replay-trades", "ingest-replay-dlq"
    create_topics(kafka_broker, [topic, dlq])
    path = tmp_path / "trades.csv"
    path.write_text(
        "time,symbol,price,size,side\n"
        "2024-01-02T14:30:00Z,BTC-USD,42000.5,0.1,buy\n"
        "2024-01-02T14:30:01Z,BTC-USD,-1,0.1,sell\n"
        "2024-01-02T14:30:02Z,ETH-USD,2200,1.5,sell\n"
    )
    code = ingest.run(
        [
            "--source=replay",
            f"--input={path}",
            f"--bootstrap_servers={kafka_broker.bootstrap}",
            f"--trades_topic={topic}",
            f"--dlq_topic={dlq}",
        ]
    )
    assert code == 0
    assert "done: 2 trades" in capsys.readouterr().out
    records = consume_all(kafka_broker.bootstrap, topic, expected=2, timeout_s=30)
    assert sorted(key for key, _ in records) == [b"BTC-USD", b"ETH-USD"]
    letters = consume_all(kafka_broker.bootstrap, dlq, expected=1, timeout_s=30)
    assert trade_pb2.DeadLetter.FromString(letters[0][1]).reason == "invalid_price"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return response.read().decode()


def produced(text: str) -> int:
    return sum(
        int(n) for n in re.findall(r"^tradestream_ingest_trades_total\{.*\} (\d+)$", text, re.M)
    )


@pytest.mark.integration
def test_ingest_coinbase_process_survives_the_scenario_and_exits_0_on_sigterm(kafka_broker):
    topic, dlq = "ingest-cli-coinbase-trades", "ingest-cli-coinbase-dlq"
    create_topics(kafka_broker, [topic, dlq])
    port = free_port()
    total = scenario.expected_total()
    with FakeCoinbaseServer(scenario.scripts(), heartbeat_every_s=0.05) as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipelines.ingest",
                "--source=coinbase",
                f"--products={','.join(scenario.PRODUCTS)}",
                f"--products_per_connection={scenario.PER_CONNECTION}",
                f"--ws_url={server.url}",
                "--silence_timeout=1s",
                "--reconnect_initial=20ms",
                "--reconnect_max=100ms",
                "--log_every=200ms",
                f"--metrics_port={port}",
                f"--bootstrap_servers={kafka_broker.bootstrap}",
                f"--trades_topic={topic}",
                f"--dlq_topic={dlq}",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 45
            text = ""
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    text = scrape(port)
                    if produced(text) >= total:
                        break
                except OSError:
                    pass  # not listening yet
                time.sleep(0.1)
            assert produced(text) == total, text
            assert "tradestream_ingest_reconnects_total" in text
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, output
    assert "stopping (SIGTERM); flushing Kafka" in output
    assert re.search(r"BTC-USD=[\d.]+/s ETH-USD=[\d.]+/s SOL-USD=[\d.]+/s \| trades", output)
    records = consume_all(kafka_broker.bootstrap, topic, expected=total, timeout_s=30)
    by_symbol: dict[str, list[str]] = {}
    for key, value in records:
        trade = trade_pb2.Trade.FromString(value)
        assert key == trade.symbol.encode()
        by_symbol.setdefault(trade.symbol, []).append(trade.trade_id)
    assert by_symbol == scenario.expected_ids()
