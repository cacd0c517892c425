"""The optimizer's Beam steps (the search itself is :mod:`tradestream.optimize`).

    evaluate_fitness.py  EvaluateFitness: batches of genomes backtested as Beam work
    work_files.py        SaveCandleSeries, SaveRejections: the run's working files

The pipeline that wires them is `pipelines/optimize.py` (`tradestream optimize`).
"""
