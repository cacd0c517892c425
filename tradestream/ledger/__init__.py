"""Where portfolios are kept: the database of `paper run` and `backtest --portfolio`.

    store.py    SQLAlchemy schema and transactions: SQLite by default, PostgreSQL for a
                postgresql:// URL; state, fills, signals, equity, risk events and Kafka
                offsets, each batch in one transaction

Read by `paper status` and the dashboard. Below the Beam transforms and above the portfolio
engine, whose state it stores.
"""
