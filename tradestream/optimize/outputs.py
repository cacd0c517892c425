"""What an optimization leaves behind: best.json, history.json, evaluations.json, StrategySets.

`DIR/best.json` is a list, best first (by fitness; ties by strategy id), of the best `top`
parameter sets of every (strategy type, symbol), each::

    {"rank": 1, "strategy": "SMA_CROSSOVER", "strategy_id": "SMA_CROSSOVER(fast=9,slow=31)",
     "symbol": "BTC-USD", "params": {"fast": 9, "slow": 31},
     "objective": "sharpe", "fitness": 1.93,
     "metrics": {...},                  # backtest metrics on the window it was chosen on
     "annualized_omitted": null,        # or why CAGR, volatility, Sharpe, Sortino and
                                        # Calmar are null (a window under 30 days)
     "in_sample": {"start": ..., "end": ..., "candles": ...},   # that window
     "overfitting": {"deflated_sharpe_ratio": ..., "pbo": ..., ...},
     "walk_forward": {"mode": "rolling", "folds": [{"params": ..., "in_sample": {...},
                      "out_of_sample": {...}}, ...], "summary": {...}} | null}

`overfitting` holds the deflated Sharpe ratio of that set among all the trials of its search
and the PBO of the search's selection (:mod:`tradestream.optimize.overfitting`; per-candle
Sharpe ratios). `walk_forward` (the same for every entry of a strategy type and symbol)
shows, per fold, the parameters chosen on the training window with their in-sample metrics
next to their metrics on the test window, and a summary: mean in-sample vs out-of-sample
objective value (without the min-trades guard) and Sharpe, the compounded out-of-sample return over the test windows, and the
walk-forward efficiency (mean out-of-sample CAGR / mean in-sample CAGR). Undefined numbers
are null. As in a backtest's summary.json, the annualized metrics of a window under 30 days
are null with the reason in `annualized_omitted` (:mod:`tradestream.backtest.metrics`), so
the Sharpe means and the efficiency leave such windows out (null when every window is that
short); `fitness` and `objective` stay the computed values the GA ranked by (on one window
the annualization does not change the order of Sharpe, Sortino or total return).

`DIR/history.json`: per search, per generation: best, mean and best-ever fitness, genomes
evaluated and cache hits.

`DIR/evaluations.json`: every distinct genome each search evaluated, once (a genome served
from the fitness cache in a later generation is not listed again), so a search's records
number its `evaluations` in history.json::

    {"objective": "sharpe",
     "searches": [{"search": "SMA_CROSSOVER|BTC-USD|final", "strategy": ..., "symbol": ...,
                   "fold": null, "window": {...}, "annualized_omitted": null,
                   "evaluations": 412,
                   "genes": [{"name": "fast", "kind": "int", "low": 2, "high": 50}, ...]}],
     "evaluations": [
      {"search": ..., "strategy": ..., "symbol": ..., "fold": null, "generation": 0,
       "params": {"fast": 9, "slow": 31}, "fitness": 1.93, "objective": 1.93,
       "metrics": {"sharpe": ..., "total_return": ..., "max_drawdown": ..., "num_trades": ...}},
      ...]}

one record per line, by search (the order of `searches`), then by the generation that first
evaluated the genome, then population order: the same file for the same seed. `fold` is the
walk-forward fold (1-based; null for the final search), `fitness` what the GA ranked by
(null under the min-trades guard), `objective` the plain objective value. The records are
written one at a time, so the file costs no memory beyond the trials the search keeps for
DSR and PBO anyway. Only training-window evaluations are listed; each fold winner's test
result is in best.json.

With `--publish_topic`, one protobuf `StrategySet` per symbol (its entries, best first,
`source = "optimize"`) is written to that Kafka topic keyed by symbol, with the project's
idempotent producer settings; the topic must exist.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from tradestream.backtest.metrics import ANNUALIZED_METRICS, MetricArrays, annualization_caveat
from tradestream.backtest.outputs import iso_time
from tradestream.optimize.fitness import FitnessConfig, FitnessResult
from tradestream.optimize.objectives import objective_values
from tradestream.optimize.overfitting import (
    deflated_sharpe_ratio,
    moments_from_blocks,
    pbo_cscv,
)
from tradestream.optimize.search import SearchOutcome
from tradestream.optimize.store import finite_or_none, load_series, write_json
from tradestream.optimize.walk_forward import Window


def _clean(document: Any) -> Any:
    """A copy with NaN/inf as None and numpy scalars as Python numbers."""
    if isinstance(document, Mapping):
        return {str(k): _clean(v) for k, v in document.items()}
    if isinstance(document, list | tuple):
        return [_clean(v) for v in document]
    if isinstance(document, np.generic):
        document = document.item()
    return finite_or_none(document)


def _window_json(window: Window, start_ms: np.ndarray) -> dict[str, Any]:
    first, stop = window.indices(start_ms)
    return {
        "start": iso_time(window.start_ms),
        "end": iso_time(window.end_ms),
        "candles": stop - first,
    }


class SearchOverfitting:
    """The overfitting statistics of one search: its trials' Sharpe ratios and its PBO."""

    def __init__(self, outcome: SearchOutcome) -> None:
        with_blocks = [r for r in outcome.ranked() if r.blocks is not None]
        self.sharpes = [moments_from_blocks(r.blocks).sharpe for r in with_blocks]
        self.pbo = (
            pbo_cscv(np.stack([r.blocks for r in with_blocks])) if len(with_blocks) > 1 else None
        )

    def describe(self, chosen: FitnessResult) -> dict[str, Any]:
        """DSR of `chosen` among the trials, and the search's PBO."""
        if chosen.blocks is None or not self.sharpes:
            return {"deflated_sharpe_ratio": None, "pbo": None, "note": "window too short"}
        dsr = deflated_sharpe_ratio(moments_from_blocks(chosen.blocks), self.sharpes)
        out: dict[str, Any] = {
            "deflated_sharpe_ratio": dsr.deflated_sharpe_ratio,
            "probabilistic_sharpe_ratio": dsr.probabilistic_sharpe_ratio,
            "sharpe_per_candle": dsr.sharpe,
            "expected_max_sharpe_per_candle": dsr.expected_max_sharpe,
            "trials": dsr.trials,
            "trials_sharpe_variance": dsr.trials_sharpe_variance,
            "returns": dsr.returns,
            "skewness": dsr.skewness,
            "kurtosis": dsr.kurtosis,
            "pbo": None,
        }
        if self.pbo is not None:
            out.update(
                pbo=self.pbo.pbo,
                pbo_trials=self.pbo.trials,
                pbo_splits=self.pbo.splits,
                cscv_blocks=self.pbo.blocks,
                pbo_logit_median=self.pbo.logit_median,
            )
        return out


def objective_value(objective: str, metrics: Mapping[str, float | int]) -> float:
    """The objective of one result's metrics without the min-trades guard (NaN if none)."""
    if not metrics:
        return math.nan
    arrays = MetricArrays(**{f.name: np.array([metrics[f.name]]) for f in fields(MetricArrays)})
    value = float(objective_values(objective, arrays, min_trades=0)[0])
    return value if math.isfinite(value) else math.nan


def window_caveat(window: Window) -> str | None:
    """Why a window's annualized metrics are not shown (under 30 days); None when they are."""
    return annualization_caveat(window.end_ms - window.start_ms)


def shown_metrics(metrics: Mapping[str, Any], caveat: str | None) -> dict[str, Any]:
    """The metrics as best.json shows them: the annualized ones null on a short window."""
    out = dict(metrics)
    if caveat is not None:
        out.update({name: None for name in ANNUALIZED_METRICS if name in out})
    return out


def _result_json(
    result: FitnessResult | None, objective: str, caveat: str | None
) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "fitness": result.fitness,
        "objective": objective_value(objective, result.metrics),
        "metrics": shown_metrics(result.metrics, caveat),
        "annualized_omitted": caveat,
    }


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else None


def walk_forward_json(
    folds: Sequence[SearchOutcome],
    out_of_sample: Mapping[str, FitnessResult],
    mode: str,
    objective: str,
) -> dict[str, Any]:
    """The walk-forward part of an entry (module docstring).

    Each side shows the fitness (what the GA ranked by, -inf/null under the min-trades
    guard), the plain objective value and the metrics; the summary averages the objective.
    """
    rows = []
    is_fit, oos_fit, is_sharpe, oos_sharpe, is_cagr, oos_cagr = [], [], [], [], [], []
    growth = 1.0
    for outcome in folds:
        spec = outcome.spec
        best = outcome.best()
        test = out_of_sample.get(spec.key)
        start_ms = load_series(spec.train.series_path).start_ms
        train_caveat = window_caveat(spec.train.window)
        test_caveat = window_caveat(spec.test.window)
        row: dict[str, Any] = {
            "fold": spec.fold.index + 1,
            "train": _window_json(spec.train.window, start_ms),
            "test": _window_json(spec.test.window, start_ms),
            "params": None,
            "strategy_id": None,
            "in_sample": _result_json(best, objective, train_caveat),
            "out_of_sample": _result_json(test, objective, test_caveat),
        }
        if best is not None:
            row["params"] = spec.space.params(best.genome)
            row["strategy_id"] = spec.space.build(best.genome).strategy_id
            is_fit.append(objective_value(objective, best.metrics))
            shown = shown_metrics(best.metrics, train_caveat)
            is_sharpe.append(shown.get("sharpe"))
            is_cagr.append(shown.get("cagr"))
        if test is not None and test.metrics:
            oos_fit.append(objective_value(objective, test.metrics))
            shown = shown_metrics(test.metrics, test_caveat)
            oos_sharpe.append(shown.get("sharpe"))
            oos_cagr.append(shown.get("cagr"))
            growth *= 1.0 + test.metrics["total_return"]
        rows.append(row)
    mean_is_cagr, mean_oos_cagr = _mean(is_cagr), _mean(oos_cagr)
    efficiency = None
    if mean_is_cagr and mean_is_cagr > 0 and mean_oos_cagr is not None:
        efficiency = mean_oos_cagr / mean_is_cagr
    return {
        "mode": mode,
        "folds": rows,
        "summary": {
            "folds": len(rows),
            "in_sample_objective_mean": _mean(is_fit),
            "out_of_sample_objective_mean": _mean(oos_fit),
            "in_sample_sharpe_mean": _mean(is_sharpe),
            "out_of_sample_sharpe_mean": _mean(oos_sharpe),
            "out_of_sample_total_return": growth - 1.0 if oos_cagr else None,
            "walk_forward_efficiency": efficiency,
        },
    }


def best_entries(
    outcomes: Sequence[SearchOutcome],
    out_of_sample: Mapping[str, FitnessResult],
    config: FitnessConfig,
    top: int,
    mode: str | None = None,
) -> list[dict[str, Any]]:
    """The best.json document (module docstring): finite-fitness sets only.

    Args:
        outcomes: every finished search (final and folds).
        out_of_sample: fold key -> test result of the fold's best (walk-forward).
        config: the fitness settings (objective).
        top: sets per strategy type and symbol.
        mode: the walk-forward mode, None without walk-forward.
    """
    entries = []
    for final in (o for o in outcomes if o.spec.fold is None):
        spec = final.spec
        folds = [
            o
            for o in outcomes
            if o.spec.fold is not None
            and o.spec.symbol == spec.symbol
            and o.spec.space.stype.name == spec.space.stype.name
        ]
        folds.sort(key=lambda o: o.spec.fold.index)
        walk = (
            walk_forward_json(folds, out_of_sample, mode or "rolling", config.objective)
            if folds
            else None
        )
        start_ms = load_series(spec.train.series_path).start_ms
        window = _window_json(spec.train.window, start_ms)
        caveat = window_caveat(spec.train.window)
        ranked = [r for r in final.ranked() if math.isfinite(r.fitness)][:top]
        overfitting = SearchOverfitting(final) if ranked else None
        source = spec.space.stype.source
        for result in ranked:
            strategy = spec.space.build(result.genome)
            entries.append(
                {
                    "strategy": strategy.type_name,
                    # a type of a strategy file: where to load it again (and its models)
                    **({"strategy_file": source} if source else {}),
                    "strategy_id": strategy.strategy_id,
                    "symbol": spec.symbol,
                    "params": dict(strategy.params),
                    "objective": config.objective,
                    "fitness": result.fitness,
                    "metrics": shown_metrics(result.metrics, caveat),
                    "annualized_omitted": caveat,
                    "in_sample": window,
                    "overfitting": overfitting.describe(result),
                    "walk_forward": walk,
                }
            )
    entries.sort(key=lambda e: (-e["fitness"], e["strategy_id"], e["symbol"]))
    return [_clean({"rank": i + 1, **entry}) for i, entry in enumerate(entries)]


def history_json(outcomes: Sequence[SearchOutcome]) -> dict[str, Any]:
    """The history.json document: every search's generations."""
    searches = []
    for o in outcomes:
        spec = o.spec
        searches.append(
            {
                "search": spec.key,
                "strategy": spec.space.stype.name,
                "symbol": spec.symbol,
                "fold": None if spec.fold is None else spec.fold.index + 1,
                "window": {
                    "start": iso_time(spec.train.window.start_ms),
                    "end": iso_time(spec.train.window.end_ms),
                },
                "evaluations": o.evaluations,
                "stopped_early": o.search.stopped_early,
                "generations": [
                    {
                        "generation": r.stats.generation,
                        "best": r.stats.best,
                        "mean": r.stats.mean,
                        "best_ever": r.stats.best_ever,
                        "evaluated": r.evaluated,
                        "cached": r.cached,
                        "elapsed_s": round(r.elapsed_s, 3),
                    }
                    for r in o.history
                ],
            }
        )
    return _clean({"searches": searches})


EVALUATION_METRICS = ("sharpe", "total_return", "max_drawdown", "num_trades")


def _fold_number(outcome: SearchOutcome) -> int | None:
    return None if outcome.spec.fold is None else outcome.spec.fold.index + 1


def evaluation_searches(outcomes: Sequence[SearchOutcome]) -> list[dict[str, Any]]:
    """The `searches` of evaluations.json: each search's window and searched genes."""
    return [
        _clean(
            {
                "search": o.spec.key,
                "strategy": o.spec.space.stype.name,
                "symbol": o.spec.symbol,
                "fold": _fold_number(o),
                "window": {
                    "start": iso_time(o.spec.train.window.start_ms),
                    "end": iso_time(o.spec.train.window.end_ms),
                },
                "annualized_omitted": window_caveat(o.spec.train.window),
                "evaluations": o.evaluations,
                "genes": [
                    {"name": g.name, "kind": g.kind, "low": g.low, "high": g.high}
                    for g in o.spec.space.genes
                ],
            }
        )
        for o in outcomes
    ]


def evaluation_records(outcomes: Sequence[SearchOutcome], objective: str) -> Iterator[dict]:
    """The `evaluations` of evaluations.json, one per distinct genome of each search.

    Args:
        outcomes: every finished search, in plan order.
        objective: the run's objective (for the unguarded `objective` value).

    Yields:
        Records in file order (module docstring).
    """
    for o in outcomes:
        spec = o.spec
        caveat = window_caveat(spec.train.window)
        for genome, generation in o.first_generation.items():
            result = o.trials[genome]
            shown = shown_metrics(result.metrics, caveat)
            yield _clean(
                {
                    "search": spec.key,
                    "strategy": spec.space.stype.name,
                    "symbol": spec.symbol,
                    "fold": _fold_number(o),
                    "generation": generation,
                    "params": spec.space.params(genome),
                    "fitness": result.fitness,
                    "objective": objective_value(objective, result.metrics),
                    "metrics": {name: shown.get(name) for name in EVALUATION_METRICS},
                }
            )


def write_evaluations(output_dir: str, outcomes: Sequence[SearchOutcome], objective: str) -> str:
    """Writes DIR/evaluations.json (strict JSON, one record per line); returns its path."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "evaluations.json")
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f'{{"objective": {json.dumps(objective)},\n "searches": [\n')
        fh.write(",\n".join(json.dumps(s, allow_nan=False) for s in evaluation_searches(outcomes)))
        fh.write('],\n "evaluations": [\n')
        for i, record in enumerate(evaluation_records(outcomes, objective)):
            fh.write((",\n" if i else "") + json.dumps(record, allow_nan=False))
        fh.write("\n]}\n")
    os.replace(tmp, path)
    return path


def write_outputs(
    output_dir: str, entries: list[dict[str, Any]], history: dict[str, Any]
) -> list[str]:
    """Writes best.json and history.json (strict JSON); returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    paths = []
    for name, document in (("best.json", entries), ("history.json", history)):
        path = os.path.join(output_dir, name)
        json.dumps(document, allow_nan=False)  # strict JSON: fail here, not in a reader
        paths.append(write_json(path, document))
    return paths


def console_summary(entries: Sequence[Mapping[str, Any]], shown: int = 10) -> str:
    """A few lines for stderr: the best sets with their fitness, Sharpe, DSR and PBO."""
    if not entries:
        return "[optimize] no parameter set reached a finite fitness (see --min_trades)"
    lines = ["[optimize] best parameter sets:"]
    for entry in entries[:shown]:
        over = entry.get("overfitting") or {}
        metrics = entry["metrics"]

        def num(value: Any) -> str:
            return "n/a" if value is None else f"{value:.3g}"

        lines.append(
            f"  {entry['rank']:>2}. {entry['symbol']} {entry['strategy_id']}: fitness "
            f"{num(entry['fitness'])}, sharpe {num(metrics.get('sharpe'))}, return "
            f"{num(metrics.get('total_return'))}, trades {metrics.get('num_trades')}, "
            f"DSR {num(over.get('deflated_sharpe_ratio'))}, PBO {num(over.get('pbo'))}"
        )
        walk = entry.get("walk_forward")
        if walk and entry["rank"] == 1:
            s = walk["summary"]
            lines.append(
                f"      walk-forward ({walk['mode']}, {s['folds']} folds): objective in-sample "
                f"{num(s['in_sample_objective_mean'])} vs out-of-sample "
                f"{num(s['out_of_sample_objective_mean'])}, out-of-sample return "
                f"{num(s['out_of_sample_total_return'])}"
            )
    return "\n".join(lines)
