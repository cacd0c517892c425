"""TradeStream: one installed package, `tradestream`, for the whole platform.

Bottom to top (a layer imports only layers below it; `lint-imports` checks it):

    v1/, settings.py, cli_types.py    contracts and base: import nothing of ours
    market/, kafka_clients/           the domain without Beam: import the base only
    strategies/                       strategy graphs; neither Beam nor Kafka
    portfolio/, backtest/, optimize/, reports/
                                      engines without Beam: may import strategies/ too
    transforms/, runtime/             Beam steps, and what pipelines need to run on Flink
    pipelines/                        the Beam jobs
    cli.py, demo.py, ingest/, paper/, dashboard/, local/, signals_tail.py, sample_cli.py
                                      the apps: may import everything, pipelines included

`pipelines/`, `transforms/` and `strategies/` live at the repository's top level (where the
design puts them) and are linked here, so that they are `tradestream.pipelines`, ... in the
source tree as in the installed package (README, "Layout").
"""

import warnings

# Beam's GCP extras (google-api-core, google-auth) warn about future Python and grpcio support
# on every import, in every process (SDK workers included): nothing a TradeStream user can act
# on. Only that category from those modules is hidden; every other warning still shows.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")
