"""The reference paper-trading executor: a downstream consumer of the `signals` topic.

    tradestream paper run --initial_cash 10000 --fee 0.001 --sizing fraction --fraction 0.1
    tradestream paper status
    tradestream paper reset-breaker

The parts, one job each:

    config.py       PaperConfig: every knob, typed and bounded
    portfolio.py    cash, positions (signed quantity, average price), marks, equity
    sizing.py       fixed fraction of equity, or risk per trade with a percentage/ATR stop
    atr.py          Wilder ATR over candles built from the trades topic (for ATR stops)
    risk.py         daily and weekly loss limits, the max-drawdown circuit breaker
    aggregation.py  weighted vote across strategies per symbol (the `vote` mode)
    engine.py       PaperEngine: signal -> decision -> fills; no I/O, deterministic
    store.py        SQLAlchemy schema and transactions (SQLite by default)
    executor.py     the Kafka loop: state and offsets stored in one transaction, then committed
    cli.py          `tradestream paper ...`
"""
