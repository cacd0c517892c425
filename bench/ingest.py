"""Ingest benchmark: sustained trades/s from a local fake Coinbase feed through the client into Kafka.

A fake Coinbase server (another process, so it does not share our GIL) streams `--trades`
trades of `--products` products in `market_trades` updates of `--batch` trades, as fast as the
client reads. The client (`CoinbaseTradeStream`: WebSocket, JSON, Trade protobufs, validation,
de-duplication) produces them, and the clock stops when the last one is acknowledged by Kafka
(acks=all, idempotent). Printed side by side, each run `--repeat` times, alternating:

  client only      the same path with a producer that drops every trade (the client's ceiling)
  TradeProducer    the project's producer (confluent-kafka, librdkafka)

(bench/kafka_client.py compares the Kafka clients themselves.)

    .venv/bin/python bench/ingest.py [--trades 200000] [--batch 50] [--products 4]
                                     [--bootstrap_servers HOST:PORT]

Without --bootstrap_servers a private single-node broker is started on free ports from the
project's JVM cache (`make jvm`), and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tradestream.ingest.coinbase_stream import (  # noqa: E402
    CoinbaseStreamConfig,
    CoinbaseTradeStream,
)
from tradestream.ingest.fake_coinbase import FakeCoinbaseServer, Send, trade  # noqa: E402
from tradestream.ingest.producer import ProducerStats, TradeProducer  # noqa: E402
from tradestream.ingest.ws_client import BackoffPolicy  # noqa: E402
from tradestream.local import kafka as local_kafka  # noqa: E402
from tradestream.settings import Settings, get_settings  # noqa: E402
from tradestream.v1 import trade_pb2  # noqa: E402

T0 = 1_700_000_000_000


def product_ids(n: int) -> list[str]:
    return [f"C{i:02d}-USD" for i in range(n)]


def build_frames(trades: int, batch: int, products: int) -> list[str]:
    """The feed as JSON text, pre-serialized so the server costs little."""
    names = product_ids(products)
    frames: list[str] = []
    for seq, start in enumerate(range(0, trades, batch), start=1):
        items = [
            trade(
                names[i % products],
                i // products + 1,
                price=100 + (i % 97) / 100,
                size="0.01",
                side="BUY" if i % 2 else "SELL",
                time_ms=T0 + i,
            )
            for i in range(start, min(start + batch, trades))
        ]
        frames.append(
            json.dumps(
                {
                    "channel": "market_trades",
                    "client_id": "",
                    "timestamp": "2023-11-14T22:13:20.000000000Z",
                    "sequence_num": seq,
                    "events": [{"type": "update", "trades": items}],
                },
                separators=(",", ":"),
            )
        )
    return frames


def serve(trades: int, batch: int, products: int, runs: int, ports, done) -> None:
    """The fake feed in its own process: every connection gets the whole stream once."""
    frames = build_frames(trades, batch, products)
    script = [Send(f) for f in frames]
    with FakeCoinbaseServer([script] * runs, heartbeat_every_s=1.0) as server:
        ports.put(server.port)
        done.wait()


class DropProducer:
    """Serializes like a producer, sends nothing: the client's own ceiling."""

    def __init__(self) -> None:
        self.stats = ProducerStats()

    def send(self, trade: trade_pb2.Trade) -> None:
        trade.SerializeToString()
        self.stats.sent += 1

    def send_dead_letter(self, *args, **kwargs) -> None:
        self.stats.dead_lettered += 1

    def flush(self, timeout_s: float = 60.0) -> None:
        pass

    def close(self) -> None:
        pass


def one_run(url: str, products: list[str], trades: int, producer) -> float:
    """Trades/s from the first trade received to the last one acknowledged."""
    config = CoinbaseStreamConfig(
        products=tuple(products),
        ws_url=url,
        products_per_connection=len(products),
        silence_timeout_s=30,
        backoff=BackoffPolicy(0.1, 1.0),
        dedup_window=10_000,
        log_every_s=0,
    )
    stream = CoinbaseTradeStream(config, producer)
    started: list[float] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def watch() -> None:
            while stream.metrics.total_trades < trades:
                if not started and stream.metrics.total_trades:
                    started.append(time.perf_counter())
                await asyncio.sleep(0.001)
            stop.set()

        watcher = asyncio.create_task(watch())
        await asyncio.wait_for(stream.run_until(stop), 600)
        watcher.cancel()

    asyncio.run(main())
    producer.flush()
    elapsed = time.perf_counter() - started[0]
    producer.close()
    if stream.metrics.reconnects or stream.metrics.total_malformed:
        raise RuntimeError("the run reconnected or saw malformed input; figures are not clean")
    return trades / elapsed


def free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50, help="trades per update message")
    parser.add_argument("--products", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--bootstrap_servers", default=None)
    args = parser.parse_args(argv)

    clients: dict[str, Callable[[str], object]] = {"client only": lambda topic: DropProducer()}
    broker: Settings | None = None
    bootstrap = args.bootstrap_servers
    if bootstrap is None:
        broker = Settings(
            state_dir=Path(tempfile.mkdtemp(prefix="bench-ingest-")),
            jvm_cache_dir=get_settings().jvm_dir,
            kafka_port=free_port_pair(),
            topic_partitions=3,
        )
        local_kafka.up(broker)
        bootstrap = broker.bootstrap
    settings = broker or get_settings()
    clients["TradeProducer"] = lambda topic: TradeProducer(
        settings, topic, topic + "-dlq", bootstrap
    )

    runs = len(clients) * args.repeat
    context = multiprocessing.get_context("spawn")
    ports, done = context.Queue(), context.Event()
    server = context.Process(
        target=serve, args=(args.trades, args.batch, args.products, runs, ports, done), daemon=True
    )
    server.start()
    results: dict[str, list[float]] = {name: [] for name in clients}
    try:
        url = f"ws://127.0.0.1:{ports.get(timeout=120)}"
        products = product_ids(args.products)
        print(
            f"{args.trades:,} trades, {args.products} products, {args.batch} trades/message, "
            f"Kafka {bootstrap} (3 partitions, acks=all, idempotent)\n"
        )
        for r in range(args.repeat):
            for name, factory in clients.items():
                topic = f"bench-{name.replace(' ', '-')}-{r}-{time.time_ns()}"
                local_kafka.ensure_topics(bootstrap, [topic, topic + "-dlq"], 3)
                rate = one_run(url, products, args.trades, factory(topic))
                results[name].append(rate)
                print(f"  run {r + 1} {name:<16} {rate:>10,.0f} trades/s", flush=True)
    finally:
        done.set()
        server.join(10)
        if broker is not None:
            local_kafka.down(broker)
            shutil.rmtree(broker.state_dir, ignore_errors=True)
    print(f"\n{'CLIENT':<18}{'MEDIAN trades/s':>16}{'BEST':>12}")
    for name, rates in results.items():
        print(f"{name:<18}{statistics.median(rates):>16,.0f}{max(rates):>12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
