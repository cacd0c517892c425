"""Book features benchmark: BookTracker updates/s on a generated level-2 stream, vs a target.

A seeded stream like Coinbase's level2 feed for `--symbols` symbols: a snapshot of `--levels`
levels a side per symbol, then `--updates` small updates (1-3 levels, most within a few
ticks of the touch, a third of them removals, now and then a new best price), interleaved
across the symbols with one connection-wide sequence number, spread over `--minutes` of
event time. The BookUpdate messages are built before the clock starts. Measured, each run
`--repeat` times, alternating, medians printed side by side:

  tracker step     what the realtime step does: `receive` every update as it arrives, and
                   `advance` every symbol's tracker at each candle end (the watermark)
  batch            `book_features_by_candle` over the whole list (the backtest path: sort,
                   then the same tracker)
  bag + timer      the same in the shape a Beam step keeping state would have: each update
                   appended to its symbol's bag as bytes (BagState), and at each candle end
                   the tracker unpickled, the bag's updates parsed and received, the tracker
                   advanced and pickled back (ValueState); informative, no target
  + pickle/update  (with --pickle_each) the tracker step plus a pickle round trip of the
                   symbol's tracker after every update: the whole tracker, buffered updates
                   included, in one state cell written per element (the shape to avoid; slow:
                   its cost grows with the updates buffered in the open candle)

The target (`--target`, default 50,000 updates/s) is for the pure step on this machine
(2 cores, shared with other jobs: each mode's rate is printed from wall time and from the
process's CPU time, with the load average before and after; the ratio uses wall time). The
run also checks that the step's and the bag's rows equal the batch rows, and prints the
state's pickled size.

    .venv/bin/python bench/book_step.py [--symbols 20] [--updates 200000] [--levels 50]
                                        [--minutes 30] [--interval_s 60] [--repeat 3]
                                        [--pickle_each]
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tradestream.market.book_features import (  # noqa: E402
    DEFAULT_DEPTH,
    DEFAULT_MAX_LEVELS,
    BookTracker,
    book_features_by_candle,
)
from tradestream.v1 import book_pb2  # noqa: E402

T0 = 1_700_000_040_000  # a minute boundary
BID, ASK = book_pb2.BOOK_SIDE_BID, book_pb2.BOOK_SIDE_ASK


def symbol_names(n: int) -> list[str]:
    return [f"C{i:02d}-USD" for i in range(n)]


def generate(symbols: int, updates: int, levels: int, minutes: int, seed: int = 7):
    """The stream in arrival order: each symbol's snapshot, then the interleaved updates."""
    rng = random.Random(seed)
    names = symbol_names(symbols)
    books: dict[str, tuple[dict[int, float], dict[int, float]]] = {}
    ticks: dict[str, float] = {}
    out: list[book_pb2.BookUpdate] = []
    seq = 0
    for name in names:
        tick = rng.choice([0.01, 0.05, 0.1])
        mid = rng.randint(1_000, 100_000)  # in ticks
        bids = {mid - 1 - k: round(rng.uniform(0.01, 5), 8) for k in range(levels)}
        asks = {mid + 1 + k: round(rng.uniform(0.01, 5), 8) for k in range(levels)}
        books[name], ticks[name] = (bids, asks), tick
        seq += 1
        out.append(
            book_pb2.BookUpdate(
                exchange="coinbase",
                symbol=name,
                sequence_num=seq,
                time_ms=T0,
                is_snapshot=True,
                levels=[
                    book_pb2.BookLevel(side=BID, price=p * tick, size=q) for p, q in bids.items()
                ]
                + [book_pb2.BookLevel(side=ASK, price=p * tick, size=q) for p, q in asks.items()],
            )
        )
    span_ms = minutes * 60_000
    for i in range(updates):
        name = rng.choice(names)
        bids, asks = books[name]
        best_bid, best_ask = max(bids), min(asks)
        changes = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            side_is_bid = rng.random() < 0.5
            side = bids if side_is_bid else asks
            roll = rng.random()
            if roll < 0.33 and len(side) > levels // 2:  # remove a level near the touch
                near = sorted(side, reverse=side_is_bid)[: rng.randint(1, 8)]
                price, size = near[-1], 0.0
            else:
                # most changes within 5 ticks of the touch, some within 60, a few deeper
                # than the levels kept; a few improve the touch
                reach = 5 if roll < 0.75 else 60 if roll < 0.95 else 2 * levels
                offset = rng.randint(-1 if roll > 0.7 and roll < 0.75 else 0, reach)
                if side_is_bid:
                    price = min(best_bid - offset, best_ask - 1)
                else:
                    price = max(best_ask + offset, best_bid + 1)
                size = round(rng.uniform(0.001, 3), 8)
            if size > 0:
                side[price] = size
            else:
                side.pop(price, None)
            best_bid, best_ask = max(bids), min(asks)
            changes.append(
                book_pb2.BookLevel(
                    side=BID if side_is_bid else ASK, price=price * ticks[name], size=size
                )  # fmt: skip
            )
        seq += rng.randint(1, 3)  # other channels' messages share the connection's numbers
        out.append(
            book_pb2.BookUpdate(
                exchange="coinbase",
                symbol=name,
                sequence_num=seq,
                time_ms=T0 + 1 + i * span_ms // updates,
                levels=changes,
            )
        )
    return out


def tracker_step(stream, interval_ms: int, pickle_each: bool = False):
    """Receives in arrival order; advances every tracker at each candle end passed."""
    trackers: dict[str, BookTracker] = {}
    rows: dict[str, list] = {}
    refused = 0
    next_end = None
    for update in stream:
        if next_end is None:
            next_end = update.time_ms - update.time_ms % interval_ms + interval_ms
        while update.time_ms >= next_end:  # the watermark passes a candle end
            for symbol, tracker in trackers.items():
                done, bad = tracker.advance(next_end)
                rows[symbol] += done
                refused += len(bad)
            next_end += interval_ms
        tracker = trackers.get(update.symbol)
        if tracker is None:
            tracker = trackers[update.symbol] = BookTracker(update.symbol, interval_ms)
            rows[update.symbol] = []
        if tracker.receive(update) is not None:
            refused += 1
        if pickle_each:
            trackers[update.symbol] = pickle.loads(pickle.dumps(tracker))
    for symbol, tracker in trackers.items():
        done, bad = tracker.advance(next_end)
        rows[symbol] += done
        refused += len(bad)
    return rows, refused, trackers


def bag_and_timer(stream, interval_ms: int):
    """Updates kept as bytes per symbol until the candle end; the tracker kept pickled."""
    blobs: dict[str, bytes] = {}
    bags: dict[str, list[bytes]] = {}
    rows: dict[str, list] = {}
    refused = 0
    next_end = None

    def fire(end: int) -> None:
        nonlocal refused
        for symbol, bag in bags.items():
            tracker = pickle.loads(blobs[symbol])
            for data in bag:
                if tracker.receive(book_pb2.BookUpdate.FromString(data)) is not None:
                    refused += 1
            bag.clear()
            done, bad = tracker.advance(end)
            rows[symbol] += done
            refused += len(bad)
            blobs[symbol] = pickle.dumps(tracker)

    for update in stream:
        if next_end is None:
            next_end = update.time_ms - update.time_ms % interval_ms + interval_ms
        while update.time_ms >= next_end:
            fire(next_end)
            next_end += interval_ms
        if update.symbol not in blobs:
            blobs[update.symbol] = pickle.dumps(BookTracker(update.symbol, interval_ms))
            bags[update.symbol], rows[update.symbol] = [], []
        bags[update.symbol].append(update.SerializeToString())
    fire(next_end)
    return rows, refused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--updates", type=int, default=200_000)
    parser.add_argument("--levels", type=int, default=50, help="snapshot levels per side")
    parser.add_argument("--minutes", type=int, default=30, help="event time the stream spans")
    parser.add_argument("--interval_s", type=int, default=60, help="candle length")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target", type=float, default=50_000, help="updates/s, pure step")
    parser.add_argument(
        "--pickle_each", action="store_true", help="also the pickle-per-update mode (slow)"
    )
    args = parser.parse_args(argv)
    interval_ms = args.interval_s * 1000

    start = time.perf_counter()
    stream = generate(args.symbols, args.updates, args.levels, args.minutes)
    levels = sum(len(u.levels) for u in stream[args.symbols :])
    print(
        f"{args.symbols} symbols, {args.levels} levels a side in each snapshot, "
        f"{args.updates:,} updates ({levels / args.updates:.2f} levels each) over "
        f"{args.minutes} min, {args.interval_s} s candles, depth {DEFAULT_DEPTH}, "
        f"max_levels {DEFAULT_MAX_LEVELS} (generated in {time.perf_counter() - start:.1f} s)"
    )
    load_before = os.getloadavg()[0]
    print(f"load average before: {load_before:.1f} (2 cores)\n")

    modes = {
        "tracker step": lambda: tracker_step(stream, interval_ms),
        "batch": lambda: book_features_by_candle(stream, interval_ms),
        "bag + timer": lambda: bag_and_timer(stream, interval_ms),
    }
    if args.pickle_each:
        modes["+ pickle/update"] = lambda: tracker_step(stream, interval_ms, pickle_each=True)
    rates: dict[str, list[float]] = {name: [] for name in modes}
    cpu_rates: dict[str, list[float]] = {name: [] for name in modes}
    results: dict[str, object] = {}
    for r in range(args.repeat):
        for name, run in modes.items():
            begin, begin_cpu = time.perf_counter(), time.process_time()
            results[name] = run()
            elapsed, cpu = time.perf_counter() - begin, time.process_time() - begin_cpu
            rates[name].append(len(stream) / elapsed)
            cpu_rates[name].append(len(stream) / cpu)
            print(
                f"  run {r + 1} {name:<16} {len(stream) / elapsed:>10,.0f} updates/s "
                f"({len(stream) / cpu:,.0f} per CPU second)",
                flush=True,
            )

    step_rows, step_refused, trackers = results["tracker step"]
    batch_rows, batch_refused = results["batch"]
    bag_rows, bag_refused = results["bag + timer"]

    def same_as_batch(rows_by_symbol) -> bool:
        return all(
            [(s, f.as_tuple()) for s, f in rows_by_symbol[k]]
            == [(s, f.as_tuple()) for s, f in rows]
            for k, rows in batch_rows.items()
        )

    same = step_refused == bag_refused == len(batch_refused) == 0
    same = same and same_as_batch(step_rows) and same_as_batch(bag_rows)
    complete = sum(f.depth_complete for rows in batch_rows.values() for _, f in rows)
    sizes = sorted(len(pickle.dumps(t)) for t in trackers.values())

    print(
        f"\n{'MODE':<18}{'MEDIAN updates/s':>17}{'BEST':>12}{'PER CPU s':>12}"
        f"{'TARGET':>10}{'RATIO':>8}"
    )
    for name, values in rates.items():
        median = statistics.median(values)
        target = (
            f"{args.target:>10,.0f}{median / args.target:>7.2f}x"
            if name in ("tracker step", "batch")
            else ""
        )
        print(
            f"{name:<18}{median:>17,.0f}{max(values):>12,.0f}"
            f"{statistics.median(cpu_rates[name]):>12,.0f}{target}"
        )
    rows_total = sum(len(rows) for rows in batch_rows.values())
    print(
        f"\nrows: {rows_total:,} ({rows_total // max(len(batch_rows), 1)} candles x "
        f"{len(batch_rows)} symbols, top {DEFAULT_DEPTH} complete in {complete:,}); "
        f"step and bag rows == batch rows: {'yes' if same else 'NO'}; "
        f"refused: {len(batch_refused)}"
    )
    print(
        f"state per symbol after the last candle: {statistics.median(sizes):,.0f} bytes pickled "
        f"(median; max {sizes[-1]:,}), levels kept {max(len(t.bids) for t in trackers.values())}"
        f"/{max(len(t.asks) for t in trackers.values())} a side (bid/ask, max)"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
