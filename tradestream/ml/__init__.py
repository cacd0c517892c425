"""Learned strategies: models trained on strategy-graph features, written for the model node.

    tradestream train --model classifier|dqn --input FILES --seed N --output DIR

    data.py        one symbol's candles from trades or candles files, without Beam
    features.py    the feature nodes (a default indicator set, or a strategy's values)
    supervised.py  labels (the next N candles' return) and the scikit-learn regressors
    dqn.py         the Deep-Q-Network trader (experience replay, target network, epsilon-greedy)
    export.py      fitted estimators -> the model directory (strategies/models.py's format)
    evaluate.py    backtests of the model strategy, buy-and-hold and the classic library
    report.py      report.html
    train.py       the command's work, step by step

No Beam here (import-linter): the training reads its files itself and runs in one process.
"""
