"""The one error type of the local runtime: a message for a person, no traceback; and the
filter that keeps Beam from printing a traceback for an error the command says itself."""

import logging

from tradestream.strategies.errors import StrategyError


class LocalRuntimeError(RuntimeError):
    """Raised with a message that tells the user what went wrong and what to do."""


class _StrategyErrorLog(logging.Filter):
    """Drops Beam's ERROR record (with its traceback) of a step that raised a StrategyError:
    the command catches that error and says it in one line (e.g. a multi-timeframe strategy
    whose longer candles the input's interval cannot build, found once a file is read)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, StrategyError)


def hide_strategy_error_logs() -> None:
    """Installs `_StrategyErrorLog` on Beam's DoFn runner logger (once), in this process
    (the local runners run the steps here)."""
    beam_log = logging.getLogger("apache_beam.runners.common")
    if not any(isinstance(f, _StrategyErrorLog) for f in beam_log.filters):
        beam_log.addFilter(_StrategyErrorLog())
