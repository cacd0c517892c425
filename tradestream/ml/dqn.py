"""The Deep-Q-Network trader: experience replay, a target network, epsilon-greedy exploration.

    agent = train_dqn(x, close, rows, config, seed)     # rows: the training window's usable rows
    agent.arrays                                        # the "dqn" model directory arrays

The environment walks a training window candle by candle. State at candle t: the t-th
feature row (standardised with the window's mean and deviation) and the agent's position
(0 flat, 1 long; standardised as (p - 0.5) / 0.5). Actions: hold, buy, sell; buy only when
flat and sell only when long (otherwise the action is not offered), as the model node trades
(:class:`tradestream.strategies.models.ModelStep`). The trade happens at t's close and the
reward is the next candle's P&L after fees, as a fraction of equity:
``r = p' * (close[t+1] / close[t] - 1) - fee * |p' - p|`` for the new position p', divided by
the window's standard deviation of one-candle returns (a constant scale, for the network).

Training (Mnih et al. 2015, without the Atari parts): episodes of `episode` candles start at
random rows of the window; each step picks a random allowed action with probability epsilon
(from 1 down to `epsilon_end` over the first `explore` fraction of the steps), else the
allowed action of the highest Q-value; the transition (t, p, a, r, p') goes into a replay
memory of the last `replay` steps; after `warmup` steps, every `train_every`-th step trains
the Q-network on a random minibatch: targets are the network's own Q-values with the taken action's entry
replaced by ``r + gamma * max over allowed a' of Q_target(s', a')``. The target network is a
copy of the Q-network refreshed every `target_every` steps. Episodes are cut by their length,
not ended, so the next state's value is always bootstrapped.

The Q-network is scikit-learn's `MLPRegressor` (ReLU layers, Adam) trained one minibatch at a
time with `partial_fit`: no hand-written gradient. Every random draw comes from `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradestream.ml.export import dqn_arrays, network_layers
from tradestream.ml.supervised import standardisation
from tradestream.strategies.models import BUY, SELL

# Per position: the actions offered (flat: hold or buy; long: hold or sell) as a mask.
_ALLOWED = np.array([[True, True, False], [True, False, True]])
_MOVE = {(0, BUY): 1, (1, SELL): 0}  # (position, action) -> the new position


@dataclass(frozen=True)
class DQNConfig:
    """Settings of one DQN training (bounds are checked by the command's flags)."""

    steps: int = 20_000  # environment steps (one candle each)
    episode: int = 500  # candles per episode
    hidden: tuple[int, ...] = (32, 32)
    gamma: float = 0.95
    learning_rate: float = 1e-3
    batch: int = 64
    replay: int = 20_000
    warmup: int = 1_000  # steps before the first training minibatch
    train_every: int = 4  # steps between training minibatches
    target_every: int = 1_000  # K: steps between target-network refreshes
    epsilon_end: float = 0.05
    explore: float = 0.5  # fraction of the steps over which epsilon falls to epsilon_end
    fee: float = 0.001


@dataclass(frozen=True)
class TrainedAgent:
    arrays: dict[str, np.ndarray]
    steps: int
    updates: int
    episodes: int
    reward_scale: float
    mean_reward: float  # per step over the last tenth of training, in return units


def _q(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Q-values of (rows, inputs) states: matrix products, as the network trains (faster in
    the training loop than the model node's input-by-input sums, and no less its choice:
    the exported node decides from its own sums)."""
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def _allowed_max(q: np.ndarray, position: np.ndarray) -> np.ndarray:
    return np.where(_ALLOWED[position], q, -np.inf).max(axis=1)


def train_dqn(
    x: np.ndarray, close: np.ndarray, rows: np.ndarray, config: DQNConfig, seed: int
) -> TrainedAgent:
    """Trains the agent on the candles `rows` (sorted indices of `x` with finite features).

    Args:
        x: (n, k) feature matrix of the whole series.
        close: (n,) closes.
        rows: the training window's usable candles; a step from t needs t + 1 in `rows`.
        config: the settings.
        seed: every random draw (episode starts, exploration, the network's initial weights
            and minibatch order) derives from it.

    Raises:
        ValueError: fewer than 2 * config.batch steppable rows.
    """
    from sklearn.neural_network import MLPRegressor

    rows = np.asarray(rows, dtype=np.int64)
    steppable = rows[:-1][np.diff(rows) == 1]  # t whose next candle is usable too
    if steppable.size < 2 * config.batch:
        raise ValueError(f"{steppable.size} steppable candles; the DQN needs {2 * config.batch}")
    x_mean, x_scale = standardisation(x[rows])
    z = (x - x_mean) / x_scale
    returns = close[steppable + 1] / close[steppable] - 1.0
    reward_scale = float(returns.std()) or 1.0
    next_return = np.zeros(x.shape[0])
    next_return[steppable] = returns
    can_step = np.zeros(x.shape[0], dtype=bool)
    can_step[steppable] = True

    rng = np.random.default_rng([seed, 0x0D9])
    network = MLPRegressor(
        hidden_layer_sizes=config.hidden,
        activation="relu",
        solver="adam",
        alpha=1e-4,
        batch_size=config.batch,
        learning_rate_init=config.learning_rate,
        shuffle=False,
        random_state=int(rng.integers(2**31 - 1)),
    )

    def states(t: np.ndarray, position: np.ndarray) -> np.ndarray:
        return np.column_stack([z[t], (position - 0.5) / 0.5])

    def layers() -> list[tuple[np.ndarray, np.ndarray]]:
        return list(zip(network.coefs_, network.intercepts_, strict=True))

    fitted = False  # the network exists once it has seen its first minibatch
    target: list[tuple[np.ndarray, np.ndarray]] = []
    size = config.replay
    memory_t = np.zeros(size, dtype=np.int64)
    memory_p = np.zeros(size, dtype=np.int64)
    memory_a = np.zeros(size, dtype=np.int64)
    memory_r = np.zeros(size)
    memory_next = np.zeros(size, dtype=np.int64)
    updates = episodes = 0
    rewards = []
    t = position = left = 0
    for step in range(config.steps):
        if left == 0 or not can_step[t]:
            t = int(steppable[rng.integers(steppable.size)])
            position, left = int(rng.integers(2)), config.episode
            episodes += 1
        epsilon = max(
            config.epsilon_end,
            1.0 - (1.0 - config.epsilon_end) * step / max(1.0, config.explore * config.steps),
        )
        allowed = np.flatnonzero(_ALLOWED[position])
        if not fitted or rng.random() < epsilon:
            action = int(allowed[rng.integers(allowed.size)])
        else:
            q = _q(layers(), states(np.array([t]), np.array([position])))[0]
            action = int(allowed[np.argmax(q[allowed])])  # the first on a tie, as the node
        new = _MOVE.get((position, action), position)
        reward = new * next_return[t] - config.fee * abs(new - position)
        rewards.append(reward)
        slot = step % size
        memory_t[slot], memory_p[slot], memory_a[slot] = t, position, action
        memory_r[slot], memory_next[slot] = reward / reward_scale, new
        stored = step + 1  # transitions in the memory so far (the last `size` kept)
        t, position, left = t + 1, new, left - 1

        learn = stored >= max(config.warmup, config.batch) and step % config.train_every == 0
        if learn:
            pick = rng.integers(min(stored, size), size=config.batch)
            s = states(memory_t[pick], memory_p[pick])
            s_next = states(memory_t[pick] + 1, memory_next[pick])
            if not fitted:
                q_now = np.zeros((config.batch, 3))
                q_next = np.zeros(config.batch)
            else:
                q_now = _q(layers(), s)
                q_next = _allowed_max(_q(target, s_next), memory_next[pick])
            wanted = q_now.copy()
            wanted[np.arange(config.batch), memory_a[pick]] = memory_r[pick] + config.gamma * q_next
            network.partial_fit(s, wanted)
            updates += 1
            if not fitted:
                fitted, target = True, [(w.copy(), b.copy()) for w, b in layers()]
        if fitted and step % config.target_every == 0:
            target = [(w.copy(), b.copy()) for w, b in layers()]

    position_mean, position_scale = np.array([0.5]), np.array([0.5])
    arrays = dqn_arrays(
        network_layers(network),
        np.concatenate([x_mean, position_mean]),
        np.concatenate([x_scale, position_scale]),
    )
    tail = rewards[-max(1, len(rewards) // 10) :]
    return TrainedAgent(arrays, config.steps, updates, episodes, reward_scale, float(np.mean(tail)))
