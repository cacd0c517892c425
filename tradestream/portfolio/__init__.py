"""The portfolio engine: signals (and candles) in, decisions and fills out; no I/O, no Beam.

`tradestream paper run` drives it from the `signals` and `trades` topics and stores its state;
`tradestream backtest --portfolio` drives it over the candles and signals of historical data.
Both trade with the same code, so what one decides the other decides too.

    config.py       PortfolioConfig: every knob, typed and bounded
    account.py      cash, positions (signed quantity, average price), marks, equity
    sizing.py       fixed fraction of equity, or risk per trade with a percentage/ATR stop
    atr.py          Wilder ATR over candles built from trades (for ATR stops)
    risk.py         daily and weekly loss limits, the max-drawdown circuit breaker
    aggregation.py  weighted vote across strategies per symbol (the `vote` mode)
    engine.py       PortfolioEngine: signal -> decision -> fills; deterministic
"""
