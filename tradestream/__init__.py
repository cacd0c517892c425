"""TradeStream: the contracts, domain, engines and apps around the Beam pipelines.

Bottom to top (a layer imports only layers below it; `lint-imports` checks it):

    v1/, settings.py, cli_types.py    contracts and base: import nothing of ours
    market/, kafka_clients/           the domain without Beam: import the base only
    backtest/, optimize/, reports/    engines without Beam: may import strategies/ too
    runtime/                          what pipelines need to run on Flink (beside transforms/)
    cli.py, demo.py, ingest/, paper/, dashboard/, local/, signals_tail.py, sample_cli.py
                                      the apps: may import everything, pipelines included
"""

import warnings

# Beam's GCP extras (google-api-core, google-auth) warn about future Python and grpcio support
# on every import, in every process (SDK workers included): nothing a TradeStream user can act
# on. Only that category from those modules is hidden; every other warning still shows.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")

