"""Parameter specs: bounds, types and unknown names are StrategyErrors with clear messages."""

import pytest

from tradestream.strategies.errors import StrategyError
from tradestream.strategies.params import ParamSpec, resolve_params

SPECS = (
    ParamSpec("fast", "int", 2, 50, 10, "fast period"),
    ParamSpec("k", "float", 0.5, 4.0, 2.0, "width"),
)


def test_resolve_params_fills_defaults_and_coerces_types():
    assert resolve_params(SPECS, {"fast": 12.0}) == {"fast": 12, "k": 2.0}
    assert isinstance(resolve_params(SPECS, {"k": 3})["k"], float)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"slow": 3}, "unknown parameter"),
        ({"fast": 1}, "outside its bounds"),
        ({"k": 9.0}, "outside its bounds"),
        ({"fast": "10"}, "must be a number"),
        ({"fast": True}, "must be a number"),
        ({"fast": 3.5}, "must be an integer"),
    ],
)
def test_resolve_params_rejects_bad_values(values, message):
    with pytest.raises(StrategyError, match=message):
        resolve_params(SPECS, values)


def test_param_spec_rejects_default_outside_bounds():
    with pytest.raises(StrategyError):
        ParamSpec("x", "int", 1, 5, 9, "bad")


def test_strategy_error_is_a_value_error():
    assert issubclass(StrategyError, ValueError)
