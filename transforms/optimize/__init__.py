"""The parameter optimizer: a genetic search whose fitness is the backtest, with honest results.

    genome.py        search spaces: int/float genes within bounds, constraint repair
    selection.py     which spaces a run explores (--strategy, --strategies, --bound)
    ga.py            the genetic algorithm (tournament, crossover, mutation, elitism, seeding)
    objectives.py    sharpe | sortino | calmar | total_return | weighted, min-trades guard
    fitness.py       EvaluateFitness: batches of genomes backtested as Beam work
    store.py         working files shared by the driver and the workers (series, results)
    walk_forward.py  rolling / anchored train and test windows
    search.py        the driver: searches in lockstep, one fitness job per generation, cache
    overfitting.py   deflated Sharpe ratio, probability of backtest overfitting (CSCV)
    outputs.py       best.json, history.json, StrategySets on Kafka

The pipeline that wires them is `pipelines/optimize.py` (`tradestream optimize`).
"""
