"""The ``model`` kind: a trained model's value per candle from its feature inputs.

Both sides run one recurrence (`tradestream.strategies.models.ModelStep`, row by row on the
batch side, as `loop_batch` does), so the evaluators agree bit for bit. Its one parameter is
the loaded model (`ModelRef`, equal by its file's sha256).
"""

from __future__ import annotations

from tradestream.strategies.kinds.registry import NodeKind, loop_batch, register
from tradestream.strategies.models import ModelRef, ModelStep


def _step(params, input_lookback: int) -> ModelStep:
    return ModelStep(params["ref"], input_lookback)


register(
    NodeKind(
        name="model",
        arity=None,
        params=(("ref", ModelRef),),
        inputs="series",
        output="series",
        own_lookback=lambda p: 0,
        batch=loop_batch(_step),
        incremental=_step,
        description="a trained model's value (tradestream train) from its feature inputs",
        min_inputs=1,
    )
)
