"""The HTML reports of backtest and optimize runs (self-contained pages, inline SVG).

    html.py              the shared page pieces: CSS, number formats, colours, SVG charts
    backtest_report.py   report.html of `tradestream backtest`
    optimize_report.py   report.html of `tradestream optimize`
    param_map.py         parameter maps (heat maps of fitness over two parameters)

May import: tradestream.backtest, tradestream.optimize and below. No Beam.
"""
