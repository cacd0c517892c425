"""Runs an SMA crossover in backtesting.py (kernc/backtesting.py), the independent reference.

Executed in its own virtualenv (backtesting.py is not a TradeStream dependency):

    REFERENCE_PYTHON backtesting_py_reference.py CANDLES.csv CASH FAST:SLOW [FAST:SLOW ...]

Long-only, fills at the signal bar's close (`trade_on_close=True`), no commission, fractional
sizes (`FractionalBacktest`, all-in `buy()`); open trades stay open. Prints JSON: closed trades
(entry/exit bar and price), their count and the final equity.
"""

import json
import sys
import warnings

import pandas as pd
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover
from backtesting.test import SMA

warnings.filterwarnings("ignore")


def run(data, fast: int, slow: int, cash: float) -> dict:
    class SmaCross(Strategy):
        def init(self):
            self.fast = self.I(SMA, self.data.Close, fast)
            self.slow = self.I(SMA, self.data.Close, slow)

        def next(self):
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    backtest = FractionalBacktest(
        data,
        SmaCross,
        cash=cash,
        commission=0.0,
        trade_on_close=True,
        exclusive_orders=False,
        fractional_unit=1e-9,
    )
    stats = backtest.run()
    return {
        "fast": fast,
        "slow": slow,
        "num_trades": int(stats["# Trades"]),
        "final_equity": float(stats["Equity Final [$]"]),
        "trades": [
            [int(r.EntryBar), int(r.ExitBar), float(r.EntryPrice), float(r.ExitPrice)]
            for r in stats["_trades"].itertuples()
        ],
    }


def main() -> None:
    path, cash = sys.argv[1], float(sys.argv[2])
    pairs = [tuple(int(x) for x in arg.split(":")) for arg in sys.argv[3:]]
    data = pd.read_csv(path, index_col=0, parse_dates=True)
    print(json.dumps([run(data, fast, slow, cash) for fast, slow in pairs]))


if __name__ == "__main__":
    main()
