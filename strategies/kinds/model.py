"""The ``model`` kind: a trained model's value per candle from its feature inputs.

The batch side runs `models.model_values` over the whole feature matrix, the incremental side
`models.ModelStep` (the same functions on one row), so the evaluators agree bit for bit. Its
one parameter is the loaded model (`ModelRef`, equal by its file's sha256).
"""

from __future__ import annotations

import numpy as np

from tradestream.strategies.kinds.registry import NodeKind, register
from tradestream.strategies.models import ModelRef, ModelStep, model_values


def _step(params, input_lookback: int) -> ModelStep:
    return ModelStep(params["ref"], input_lookback)


def _batch(inputs: list[np.ndarray], params, input_lookback: int) -> np.ndarray:
    return model_values(params["ref"], np.column_stack(inputs), input_lookback)


register(
    NodeKind(
        name="model",
        arity=None,
        params=(("ref", ModelRef),),
        inputs="series",
        output="series",
        own_lookback=lambda p: 0,
        batch=_batch,
        incremental=_step,
        description="a trained model's value (tradestream train) from its feature inputs",
        min_inputs=1,
    )
)
