"""Learning-rate schedules of the original VSLNet and LPNet code, built on Keras' own.

| original (TF1) | here |
|---|---|
| VSLNet `create_optimizer`: `polynomial_decay(power=1)` + optional warmup | `LinearDecayWithWarmup` |
| LPNet `run_*.py`: `exponential_decay(1e-4, global_step, 100000, 0.9, staircase=True)` | `StaircaseExponentialDecay` |

Keras' `PolynomialDecay` and `ExponentialDecay` run the float32 operations of TF1's `polynomial_decay` and
`exponential_decay` in the same order, so the schedules here wrap them and add only what they lack: the warmup,
and LPNet's doubled global step. The initial learning rate is handed to them as a Python float, because Keras
takes the schedule's dtype from it (an `int` would give integer rates) and TF1 made it float32.
"""

import keras
import tensorflow as tf

__all__ = [
    "LinearDecayWithWarmup",
    "StaircaseExponentialDecay",
    "build_learning_rate",
    "warmup_steps_from_proportion",
]


def warmup_steps_from_proportion(total_steps, warmup_proportion):
    """Warmup length W from the original's `--warmup_proportion` p (fidelity VSLNet §4.2).

    W = int(p) when p > 1 (an absolute count), else W = int(T·p). The original's default p = 0 gives W = 0.
    """
    if warmup_proportion > 1.0:
        return int(warmup_proportion)
    return int(total_steps * warmup_proportion)


@keras.saving.register_keras_serializable(package="nlvl")
class LinearDecayWithWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear decay to zero with optional linear warmup (fidelity VSLNet §4.2; TF1: `model/ops.py::create_optimizer`).

    With t the number of updates already applied (0-based, the optimizer's `iterations`), T = `decay_steps`:

        lr_t = init_lr·(1 − min(t, T)/T)            (`tf.train.polynomial_decay`, power 1, end 0)
        lr_t = init_lr·t/W   if t < W               (warmup, W = `warmup_steps`, applied when W > 0)

    The decay is `keras.optimizers.schedules.PolynomialDecay(power=1.0, end_learning_rate=0.0)`, whose float32
    operations are those of the original, and the warmup blends it as the original does, so values match it bit
    for bit.

    Args:
        initial_learning_rate: init_lr. The original uses `1e-4`.
        decay_steps: T = num_batches·epochs, the total number of updates.
        warmup_steps: W; see `warmup_steps_from_proportion`. Defaults to `0`.
        name: name scope. Defaults to `None`.

    Raises:
        ValueError: if `decay_steps` is not positive or `warmup_steps` is negative.
    """

    def __init__(self, initial_learning_rate, decay_steps, warmup_steps=0, name=None):
        if warmup_steps < 0:
            raise ValueError(f"`warmup_steps` must be >= 0, got {warmup_steps}.")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.warmup_steps = warmup_steps
        self.name = name
        self._decay = keras.optimizers.schedules.PolynomialDecay(
            float(initial_learning_rate), decay_steps, end_learning_rate=0.0, power=1.0
        )

    def __call__(self, step):
        with tf.name_scope(self.name or "linear_decay_with_warmup"):
            learning_rate = self._decay(step)
            if self.warmup_steps:
                step_int = tf.cast(step, tf.int32)
                warmup_int = tf.constant(self.warmup_steps, tf.int32)
                warmup_done = tf.cast(step_int, tf.float32) / tf.cast(warmup_int, tf.float32)
                warmup_learning_rate = self.initial_learning_rate * warmup_done
                is_warmup = tf.cast(step_int < warmup_int, tf.float32)
                learning_rate = (1.0 - is_warmup) * learning_rate + is_warmup * warmup_learning_rate
            return learning_rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "warmup_steps": self.warmup_steps,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="nlvl")
class StaircaseExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """LPNet's `tf.train.exponential_decay(..., staircase=True)` (fidelity LPNet §9, D10).

        lr = init_lr · decay_rate^floor(global_step / decay_steps),  global_step = multiplier · t

    where t is the number of optimizer updates already applied. ActivityNet's global step advances twice per
    iteration (both `minimize` ops increment it), so `global_step_multiplier=2` there
    (`anet_double_global_step`); Charades uses 1. The box op's LR may read 2t+1 instead of 2t; with an even
    `decay_steps` the floor is the same, so the choice does not matter.

    The decay is `keras.optimizers.schedules.ExponentialDecay(staircase=True)` at the multiplied step, taken
    in int64 as TF1's global step is, so the values are the original's bit for bit.

    Args:
        initial_learning_rate: Defaults to `1e-4`.
        decay_steps: Defaults to `100000`.
        decay_rate: Defaults to `0.9`.
        global_step_multiplier: global steps per optimizer update, 1 or 2. Defaults to `1`.
        name: name scope. Defaults to `None`.

    Raises:
        ValueError: if `decay_steps` is not positive or `global_step_multiplier` is below 1.
    """

    def __init__(
        self, initial_learning_rate=1e-4, decay_steps=100000, decay_rate=0.9, global_step_multiplier=1, name=None
    ):
        if global_step_multiplier < 1:
            raise ValueError(f"`global_step_multiplier` must be >= 1, got {global_step_multiplier}.")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.global_step_multiplier = global_step_multiplier
        self.name = name
        self._decay = keras.optimizers.schedules.ExponentialDecay(
            float(initial_learning_rate), decay_steps, decay_rate, staircase=True
        )

    def __call__(self, step):
        with tf.name_scope(self.name or "staircase_exponential_decay"):
            return self._decay(tf.cast(step, tf.int64) * self.global_step_multiplier)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "global_step_multiplier": self.global_step_multiplier,
            "name": self.name,
        }


def build_learning_rate(
    schedule,
    initial_learning_rate,
    *,
    total_steps=None,
    warmup_proportion=0.0,
    decay_steps=100000,
    decay_rate=0.9,
    global_step_multiplier=1,
):
    """A learning rate from config values.

    Args:
        schedule: `"linear_decay"` (VSLNet, needs `total_steps`), `"staircase_exponential_decay"` (LPNet
            Charades/ActivityNet) or `"constant"` (LPNet TACoS; returns the float).
        initial_learning_rate: init_lr.
        total_steps: T for `"linear_decay"`.
        warmup_proportion: the original's `--warmup_proportion` for `"linear_decay"`. Defaults to `0.0`.
        decay_steps, decay_rate: for `"staircase_exponential_decay"`. Default to `100000`, `0.9`.
        global_step_multiplier: for `"staircase_exponential_decay"`; `2` reproduces ActivityNet's doubled
            global step (`anet_double_global_step`). Defaults to `1`.

    Returns:
        a `LearningRateSchedule`, or a float for `"constant"`.
    """
    if schedule == "linear_decay":
        if not total_steps:
            raise ValueError("`linear_decay` needs `total_steps`.")
        return LinearDecayWithWarmup(
            initial_learning_rate, total_steps, warmup_steps_from_proportion(total_steps, warmup_proportion)
        )
    if schedule == "staircase_exponential_decay":
        return StaircaseExponentialDecay(initial_learning_rate, decay_steps, decay_rate, global_step_multiplier)
    if schedule == "constant":
        return float(initial_learning_rate)
    raise ValueError(f"Unknown learning-rate schedule {schedule!r}.")
