"""`tradestream ingest`: flags, the file sources into Kafka, and the Coinbase process end to end."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.support.cli import closed_bootstrap, timed_tradestream
from tests.support.kafka import consume_all, create_topics, free_port
from tests.support.realtime import read_topic
from tests.tradestream.ingest import scenario
from tradestream.ingest import cli as ingest
from tradestream.ingest.fake_coinbase import FakeCoinbaseServer
from tradestream.ingest.producer import TradeProducer
from tradestream.ingest.resume import TopicTail
from tradestream.kafka_clients.config import consumer_config
from tradestream.kafka_clients.tail import read_range
from tradestream.v1 import trade_pb2

REPO = Path(__file__).resolve().parents[3]


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
def test_ingest_bad_flag_exits_2_with_one_error_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        ingest.run(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err  # no usage block above it
    assert err.startswith("tradestream ingest: error: "), err


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


@pytest.mark.integration
def test_ingest_replay_run_again_resumes_and_sends_nothing_twice(kafka_broker, tmp_path, capsys):
    topic, dlq = "ingest-resume-trades", "ingest-resume-dlq"
    create_topics(kafka_broker, [topic, dlq])
    path = tmp_path / "trades.csv"
    rows = [f"2024-01-02T14:30:{s:02d}Z,{sym},{100 + s},0.1,buy,{s}" for s in range(12)
            for sym in ("BTC-USD", "ETH-USD", "SOL-USD")]  # fmt: skip
    header = "time,symbol,price,size,side,trade_id\n"
    path.write_text(header + "\n".join(rows) + "\n")
    flags = [
        "--source=replay",
        f"--bootstrap_servers={kafka_broker.bootstrap}",
        f"--trades_topic={topic}",
        f"--dlq_topic={dlq}",
    ]
    half = tmp_path / "half.csv"
    half.write_text(header + "\n".join(rows[:18]) + "\n")
    assert ingest.run([*flags, f"--input={half}"]) == 0  # a run that stopped half way
    first = capsys.readouterr().out
    assert f"resuming: {topic} has no trades yet" in first
    assert "done: 18 trades" in first

    assert ingest.run([*flags, f"--input={path}"]) == 0
    second = capsys.readouterr().out
    assert "resuming: 3 symbol(s) already on the topic up to 2024-01-02T14:30:05.000Z" in second
    assert "done: 18 trades" in second and "18 already on the topic skipped" in second
    records = consume_all(kafka_broker.bootstrap, topic, expected=37, timeout_s=20)
    assert sorted((k, trade_pb2.Trade.FromString(v).trade_id) for k, v in records) == sorted(
        (sym.encode(), str(s)) for s in range(12) for sym in ("BTC-USD", "ETH-USD", "SOL-USD")
    )

    # The real partitioner puts each symbol where TopicTail looks for it (one record per step,
    # nothing read in advance).
    with TopicTail(reader(kafka_broker.bootstrap), topic, chunk=1) as tail:
        assert {s: tail.last_trade(s).trade_id for s in ("BTC-USD", "ETH-USD", "SOL-USD")} == {
            "BTC-USD": "11",
            "ETH-USD": "11",
            "SOL-USD": "11",
        }

    assert ingest.run([*flags, f"--input={path}", "--no_resume"]) == 0
    assert "done: 36 trades" in capsys.readouterr().out


def reader(bootstrap: str) -> Consumer:
    return Consumer(consumer_config({"bootstrap.servers": bootstrap}))


@pytest.mark.integration
def test_topic_tail_partition_of_is_the_partition_the_producer_chose(kafka_broker):
    # TradeProducer partitions keys with librdkafka's murmur2_random; a resumed ingest looks
    # for a symbol's last trade in `partition_of(symbol)` only, so the two must agree.
    topic = "ingest-partitioner"
    create_topics(kafka_broker, [topic], partitions=7)
    symbols = [f"S{n}-USD" for n in range(300)] + ["BTC-USD", "ETH-USD", "SOL-USD", "X"]
    producer = TradeProducer(kafka_broker, topic, "ingest-partitioner-dlq")
    try:
        for n, symbol in enumerate(symbols):
            producer.send(trade_pb2.Trade(symbol=symbol, trade_id=str(n), time_ms=n + 1))
        producer.flush(timeout_s=30)
    finally:
        producer.close()
    consumer = reader(kafka_broker.bootstrap)
    with TopicTail(consumer, topic) as tail:
        ends = {
            (topic, p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(7)
        }
        records = read_range(consumer, dict.fromkeys(ends, 0), ends, timeout_s=30)
        placed = {m.key().decode(): m.partition() for m in records}
        assert placed == {s: tail.partition_of(s) for s in symbols}
    assert len(set(placed.values())) == 7  # every partition used: a real test of the modulo


# Issue 15: a 21-row file, the first 5 rows bad (and one more further on), reported
# "15 trades, 1 dead-lettered": 5 rows went nowhere and the summary did not say.
HEADER = "time,symbol,price,size,side\n"
BAD_FIRST = [
    "2024-01-02T14:29:00Z,BTC-USD,abc,0.1,buy",  # malformed
    "2024-01-02T14:29:01Z,BTC-USD,-1,0.1,buy",  # invalid_price
    "2024-01-02T14:29:02Z,ETH-USD,2200,0,sell",  # invalid_size
    "2024-01-02T14:29:03Z,ETH-USD,2200,1,hold",  # invalid_side
    "2024-01-02T14:29:04Z,BTC_USD,42000,1,buy",  # invalid_symbol
]
BAD_ROW = 14  # invalid_price, between good rows
ROWS = BAD_FIRST + [
    f"2024-01-02T14:30:{n:02d}Z,{('BTC-USD', 'ETH-USD', 'SOL-USD')[n % 3]},"
    f"{-5 if n == BAD_ROW else 100 + n},0.1,buy"
    for n in range(6, 22)
]
SUMMARY = re.compile(
    r"\[ingest\] done: \d+ trades .*; (?P<rows>\d+) rows: (?P<sent>\d+) sent, "
    r"(?P<dead>\d+) dead-lettered to \S+(?: \((?P<reasons>[^)]*)\))?, "
    r"(?P<skipped>\d+) (?:already on the topic skipped|skipped \(--no_resume\))"
)


def accounting(output: str) -> dict:
    """The counts of the summary line; they must add up to its rows."""
    found = SUMMARY.search(output)
    assert found, output
    counts = {k: int(found[k]) for k in ("rows", "sent", "dead", "skipped")}
    assert counts["sent"] + counts["dead"] + counts["skipped"] == counts["rows"], output
    reasons = Counter()
    for part in (found["reasons"] or "").split(", "):
        if part:
            reason, n = part.split()
            reasons[reason] = int(n)
    assert sum(reasons.values()) == counts["dead"], output
    return {**counts, "reasons": reasons}


def on_topics(bootstrap: str, topic: str, dlq: str) -> tuple[Counter, Counter, Counter]:
    """What the topics hold: trade ids (= their row numbers), dead letters by reason and row."""
    trades = Counter(t.trade_id for t in read_topic(bootstrap, topic, trade_pb2.Trade.FromString))
    letters = read_topic(bootstrap, dlq, trade_pb2.DeadLetter.FromString)
    rows = Counter(int(re.match(r"row (\d+):", d.detail)[1]) for d in letters)
    return trades, Counter(d.reason for d in letters), rows


def replay_rows(bootstrap: str, topic: str, dlq: str, path: Path, capsys, *flags: str) -> dict:
    code = ingest.run(
        ["--source=replay", f"--input={path}", f"--bootstrap_servers={bootstrap}",
         f"--trades_topic={topic}", f"--dlq_topic={dlq}", *flags]
    )  # fmt: skip
    output = capsys.readouterr().out
    assert code == 0, output
    return accounting(output)


@pytest.mark.integration
def test_ingest_replay_resumed_accounts_for_every_row_and_the_topics_agree(
    kafka_broker, tmp_path, capsys
):
    topic, dlq = "ingest-account-trades", "ingest-account-dlq"
    create_topics(kafka_broker, [topic, dlq])
    bootstrap = kafka_broker.bootstrap
    half, path = tmp_path / "half.csv", tmp_path / "trades.csv"
    half.write_text(HEADER + "\n".join(ROWS[:12]) + "\n")  # a run stopped after row 12
    path.write_text(HEADER + "\n".join(ROWS) + "\n")
    bad_first = {"malformed": 1, "invalid_price": 1, "invalid_size": 1, "invalid_side": 1,
                 "invalid_symbol": 1}  # fmt: skip

    first = replay_rows(bootstrap, topic, dlq, half, capsys)
    assert first == {"rows": 12, "sent": 7, "dead": 5, "skipped": 0, "reasons": bad_first}
    trades, reasons, rows = on_topics(bootstrap, topic, dlq)
    assert trades == Counter(str(n) for n in range(6, 13))
    assert (reasons, rows) == (first["reasons"], Counter(range(1, 6)))

    # The whole file: rows 1-12 were handled by the first run (the bad ones are dead letters).
    second = replay_rows(bootstrap, topic, dlq, path, capsys)
    assert second == {
        "rows": 21, "sent": 8, "dead": 1, "skipped": 12, "reasons": {"invalid_price": 1}
    }  # fmt: skip
    trades, reasons, rows = on_topics(bootstrap, topic, dlq)
    good = Counter(str(n) for n in range(6, 22) if n != BAD_ROW)
    assert trades == good  # 15 trades, each once
    assert reasons == first["reasons"] + second["reasons"]
    assert rows == Counter([1, 2, 3, 4, 5, BAD_ROW])  # every bad row, each once

    third = replay_rows(bootstrap, topic, dlq, path, capsys)
    assert third == {"rows": 21, "sent": 0, "dead": 0, "skipped": 21, "reasons": {}}
    assert on_topics(bootstrap, topic, dlq) == (trades, reasons, rows)


@pytest.mark.integration
def test_ingest_replay_no_resume_accounts_for_every_row_and_the_topics_agree(
    kafka_broker, tmp_path, capsys
):
    topic, dlq = "ingest-account-all-trades", "ingest-account-all-dlq"
    create_topics(kafka_broker, [topic, dlq])
    bootstrap = kafka_broker.bootstrap
    path = tmp_path / "trades.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n")
    reasons = {"invalid_price": 2, "malformed": 1, "invalid_size": 1, "invalid_side": 1,
               "invalid_symbol": 1}  # fmt: skip
    for run in (1, 2):  # everything again, each time
        counts = replay_rows(bootstrap, topic, dlq, path, capsys, "--no_resume")
        assert counts == {"rows": 21, "sent": 15, "dead": 6, "skipped": 0, "reasons": reasons}
        trades, on_dlq, rows = on_topics(bootstrap, topic, dlq)
        assert trades == Counter({str(n): run for n in range(6, 22) if n != BAD_ROW})
        assert on_dlq == Counter({r: n * run for r, n in reasons.items()})
        assert rows == Counter({n: run for n in [1, 2, 3, 4, 5, BAD_ROW]})


@pytest.mark.integration
def test_ingest_replay_resume_missing_topic_is_an_error(kafka_broker, tmp_path, capsys):
    path = tmp_path / "trades.csv"
    path.write_text("time,symbol,price,size\n2024-01-02T14:30:00Z,BTC-USD,1,1\n")
    code = ingest.run(
        [
            "--source=replay",
            f"--input={path}",
            f"--bootstrap_servers={kafka_broker.bootstrap}",
            "--trades_topic=ingest-no-such-topic",
        ]
    )
    assert code == 2
    assert "topic 'ingest-no-such-topic' does not exist" in capsys.readouterr().err


def no_broker_run(argv: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    """`tradestream ARGV` against a closed port: (the finished process, seconds it took)."""
    return timed_tradestream(*argv, f"--bootstrap_servers={closed_bootstrap()}", timeout=60)


@pytest.mark.parametrize(
    "source",
    [
        ["--source=replay", "--input={trades}"],
        ["--source=replay", "--sample_hours=0.1"],
        ["--source=ohlc-replay", "--input={bars}"],
        ["--source=coinbase", "--products=BTC-USD"],
    ],
    ids=["replay-file", "replay-sample", "ohlc-replay", "coinbase"],
)
def test_ingest_no_broker_is_one_line_on_stderr_exit_2_within_seconds(source, tmp_path):
    trades, bars = tmp_path / "trades.csv", tmp_path / "AAPL.csv"
    trades.write_text(HEADER + "\n".join(ROWS) + "\n")
    bars.write_text("datetime,open,high,low,close\n2024-01-02 09:30:00,185,185.5,184.8,185.2\n")
    argv = [a.format(trades=trades, bars=bars) for a in source]
    done, seconds = no_broker_run(["ingest", *argv])
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "no Kafka broker answers at 127.0.0.1:" in done.stderr
    assert "tradestream local up" in done.stderr
    # What must be short is the wait for the broker (a refused port: ~2 s; the Kafka client's
    # own retries: 30 s and more with kafka-python, no end with librdkafka), not the
    # interpreter's start-up, which takes several seconds on a loaded machine: measured here
    # with `--help` and taken off.
    help_run, startup = timed_tradestream("ingest", *argv, "--help", timeout=60)
    assert help_run.returncode == 0, help_run.stderr
    assert seconds - startup < 15, (seconds, startup)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return response.read().decode()


def produced(text: str) -> int:
    return sum(
        int(n) for n in re.findall(r"^tradestream_ingest_trades_total\{.*\} (\d+)$", text, re.M)
    )


def duplicates(text: str) -> int:
    return sum(
        int(n) for n in re.findall(r"^tradestream_ingest_duplicates_total\{.*\} (\d+)$", text, re.M)
    )


def run_coinbase_scenario(bootstrap: str, topic: str, dlq: str, done) -> tuple[int, str, str]:
    """The coinbase ingest process against the scripted fake exchange until `done(metrics)`.

    Returns:
        (exit code after SIGTERM, its output, the last metrics text).
    """
    port = free_port()
    with FakeCoinbaseServer(scenario.scripts(), heartbeat_every_s=0.05) as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tradestream.ingest.cli",
                "--source=coinbase",
                f"--products={','.join(scenario.PRODUCTS)}",
                f"--products_per_connection={scenario.PER_CONNECTION}",
                f"--ws_url={server.url}",
                # Long next to the fake's back-to-back frames: only the scripted silences
                # time out, even when a loaded machine holds the process back for a while.
                "--silence_timeout=2s",
                "--reconnect_initial=20ms",
                "--reconnect_max=100ms",
                "--log_every=200ms",
                f"--metrics_port={port}",
                f"--bootstrap_servers={bootstrap}",
                f"--trades_topic={topic}",
                f"--dlq_topic={dlq}",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120  # only a bound: `done` ends the wait
            text = ""
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    text = scrape(port)
                    if done(text):
                        break
                except OSError:
                    pass  # not listening yet
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return process.returncode, output, text


@pytest.mark.integration
def test_ingest_coinbase_process_survives_the_scenario_and_exits_0_on_sigterm(kafka_broker):
    topic, dlq = "ingest-cli-coinbase-trades", "ingest-cli-coinbase-dlq"
    create_topics(kafka_broker, [topic, dlq])
    total = scenario.expected_total()
    code, output, text = run_coinbase_scenario(
        kafka_broker.bootstrap, topic, dlq, lambda metrics: produced(metrics) >= total
    )
    assert produced(text) == total, text
    assert "tradestream_ingest_reconnects_total" in text
    assert code == 0, output
    assert "stopping (SIGTERM); flushing Kafka" in output
    assert re.search(r"BTC-USD=[\d.]+/s ETH-USD=[\d.]+/s SOL-USD=[\d.]+/s \| trades", output)
    records = consume_all(kafka_broker.bootstrap, topic, expected=total, timeout_s=30)
    by_symbol: dict[str, list[str]] = {}
    for key, value in records:
        trade = trade_pb2.Trade.FromString(value)
        assert key == trade.symbol.encode()
        by_symbol.setdefault(trade.symbol, []).append(trade.trade_id)
    assert by_symbol == scenario.expected_ids()


@pytest.mark.integration
def test_ingest_coinbase_restarted_takes_the_exchange_replay_for_duplicates(kafka_broker):
    topic, dlq = "ingest-resume-coinbase-trades", "ingest-resume-coinbase-dlq"
    create_topics(kafka_broker, [topic, dlq])
    total = scenario.expected_total()
    code, output, first = run_coinbase_scenario(
        kafka_broker.bootstrap, topic, dlq, lambda metrics: produced(metrics) >= total
    )
    assert code == 0 and produced(first) == total, output
    assert f"resuming: 0 of 3 product(s) already on {topic}" in output
    # The restarted process gets every trade again (the exchange's snapshots and updates).
    received = produced(first) + duplicates(first)
    code, output, second = run_coinbase_scenario(
        kafka_broker.bootstrap, topic, dlq, lambda metrics: duplicates(metrics) >= received
    )
    assert code == 0, output
    assert f"resuming: 3 of 3 product(s) already on {topic}; their last {total} trade id(s)" in (
        output
    )
    assert (produced(second), duplicates(second)) == (0, received), second
    assert (
        len(consume_all(kafka_broker.bootstrap, topic, expected=total + 1, timeout_s=10)) == total
    )
