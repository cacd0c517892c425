"""The reference paper-trading executor: a downstream consumer of the `signals` topic.

    tradestream paper run --initial_cash 10000 --fee 0.001 --sizing fraction --fraction 0.1
    tradestream paper status
    tradestream paper reset-breaker

The decisions are the portfolio engine's (`tradestream.portfolio`, shared with
`tradestream backtest --portfolio`) and the database `tradestream.ledger`'s; this package
reads Kafka and runs the command:

    executor.py     the Kafka loop: state and offsets stored in one transaction, then committed
    cli.py          `tradestream paper ...`
"""
