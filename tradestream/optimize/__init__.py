"""The parameter optimizer without Beam: a genetic search whose fitness is the backtest.

    genome.py        search spaces: int/float genes within bounds, constraint repair
    selection.py     which spaces a run explores (--strategy, --strategies, --bound)
    ga.py            the genetic algorithm (tournament, crossover, mutation, elitism, seeding)
    objectives.py    sharpe | sortino | calmar | total_return | weighted, min-trades guard
    fitness.py       batches of genomes backtested (evaluate_genomes, evaluate_locally)
    indicators.py    indicator nodes cached across generations
    store.py         working files shared by the driver and the workers (series, results)
    walk_forward.py  rolling / anchored train and test windows
    search.py        the driver: searches in lockstep, one fitness job per generation, cache
    overfitting.py   deflated Sharpe ratio, probability of backtest overfitting (CSCV)
    outputs.py       best.json, history.json, evaluations.json
    strategy_sets.py the StrategySet topic contract: build, publish, read (realtime --strategies_topic)

The Beam steps are in `transforms/optimize/`, the job in `pipelines/optimize.py`.
May import: tradestream.backtest, strategies, tradestream.market and below. No Beam.
"""
