"""Optimizers of the original VSLNet and LPNet code, as Keras 3 objects.

| original (TF1) | here |
|---|---|
| VSLNet `model/ops.py::AdamWeightDecayOptimizer` (BERT style, no bias correction) | `AdamWeightDecay` |
| VSLNet `create_optimizer`: `tf.clip_by_global_norm(grads, 1.0)` | `global_clipnorm=1.0` of either optimizer |
| LPNet `run_*.py`: one `tf.train.AdamOptimizer` shared by two `minimize` ops | `TF1Adam(adam_double_count=True)` |

Each optimizer runs the original's float32 operations in the original's order. On CPU, outside XLA, the tests
find `AdamWeightDecay` bitwise equal to a float32 replay of the original graph's operations, and `TF1Adam`
bitwise equal to `tf.compat.v1.train.AdamOptimizer` (dense and sparse gradients, with and without double
counting). Keras' own classes are not: `keras.optimizers.AdamW` applies bias correction and decays with
`θ -= θ·wd·lr` before the Adam step (fidelity VSLNet §7.5), and `keras.optimizers.Adam` rounds `1 − β` in float64
and computes `β^t` with `pow`, while TF1's kernel subtracts in float32 and multiplies float32 power accumulators
once per `minimize`. Under `tf.distribute`, both sum the replicas' gradients and then clip them, as one device
would (`common.training.gradients`).

**Private Keras methods.** Keras has no public hooks for what these classes change, so they override or call a
few private members of `keras.optimizers.Optimizer` (each marked where it is used); `setup.py` bounds Keras to
the versions they are tested with.

**Order of calls.** Create the optimizer under `strategy.scope()`, declare the roles
(`exclude_from_weight_decay`, `mark_first_update`), then `build(model.trainable_variables)`; the roles are fixed
once the optimizer is built, because `tf.function` traces them into the step.
"""

import re

import keras
import tensorflow as tf

from common.training.gradients import AllReduceThenClipMixin

__all__ = ["AdamWeightDecay", "TF1Adam", "build_optimizer", "weight_decay_exclusions"]

_LAYER_NORM_CLASS_NAME = re.compile(r"layer_?norm", re.IGNORECASE)


def _handle(variable):
    """The resource handle of a Keras or TF variable (the local copy inside a `tf.distribute` update)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


# === Optimizers ===


@keras.saving.register_keras_serializable(package="nlvl")
class AdamWeightDecay(AllReduceThenClipMixin, keras.optimizers.Optimizer):
    """BERT-style Adam with decoupled weight decay and no bias correction (fidelity VSLNet §4.1, §7.5).

    The original is `model/ops.py::AdamWeightDecayOptimizer` of VSLNet. For every variable θ with gradient g
    (clipped first, §4.3):

        m ← β1·m + (1−β1)·g
        v ← β2·v + (1−β2)·g²
        u = m / (√v + ε)                 no bias correction: early steps are ≈√10× larger than Adam's
        u ← u + weight_decay·θ           only if θ is decayed
        θ ← θ − lr_t·u

    The float32 operations are the original's, in its order; `1−β` is rounded from a Python double as in the
    original graph. Sparse gradients (`tf.IndexedSlices`) are densified, as the original's `tf.multiply` did,
    so every row's m and v decay each step.

    Weight decay is applied here, inside the update, and only here: `_apply_weight_decay` (Keras'
    `θ -= θ·wd·lr` before the step, rounded differently) is disabled. Which variables are decayed is decided
    by role, not name: declare the excluded ones (biases, LayerNorm scale and offset, fidelity VSLNet §3.12)
    with `exclude_from_weight_decay(var_list=...)`; `weight_decay_exclusions(model)` lists them.

    Args:
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`, called with the number of
            updates already applied. Defaults to `1e-4`.
        weight_decay: decay rate of decayed variables. Defaults to `0.01`.
        beta_1: first-moment decay. Defaults to `0.9`.
        beta_2: second-moment decay. Defaults to `0.999`.
        epsilon: added to √v. Defaults to `1e-6`.
        global_clipnorm: clip all gradients of a step together to this global norm, after the cross-replica
            sum, with `tf.clip_by_global_norm` (`common.training.gradients`). The original uses `1.0`. Defaults
            to `None`.
        name: optimizer name. Defaults to `"adam_weight_decay"`.
        **kwargs: other `keras.optimizers.Optimizer` arguments.

    Example:
    ```python
    with strategy.scope():
        optimizer = AdamWeightDecay(schedules.LinearDecayWithWarmup(1e-4, total_steps), global_clipnorm=1.0)
        optimizer.exclude_from_weight_decay(var_list=weight_decay_exclusions(model))
        optimizer.build(model.trainable_variables)
    ```
    """

    def __init__(
        self,
        learning_rate=1e-4,
        weight_decay=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        global_clipnorm=None,
        name="adam_weight_decay",
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            global_clipnorm=global_clipnorm,
            name=name,
            **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["adam_m", "adam_v"])

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Excludes variables from weight decay; repeated calls add to the exclusions.

        Args:
            var_list: variables (Keras or TF) excluded by role. Preferred.
            var_names: regular expressions searched in the Keras variable names (Keras' own semantics). The
                original's TF1 patterns (`LayerNorm`, `layer_norm`, `bias`) do not match Keras names such as
                `gamma`, so use `var_list`.

        Raises:
            ValueError: if the optimizer is already built.
        """
        if self.built:
            raise ValueError("Declare weight-decay exclusions before the optimizer is built.")
        # Keras' method replaces its private set of `_var_key`s (read by `_use_weight_decay`) each call; add to it.
        excluded = set(getattr(self, "_exclude_from_weight_decay", set()))
        excluded.update(self._var_key(variable) for variable in var_list or ())
        patterns = set(getattr(self, "_exclude_patterns", set())) | set(var_names or ())
        super().exclude_from_weight_decay(var_names=sorted(patterns) or None)
        self._exclude_from_weight_decay = excluded
        self._exclude_patterns = patterns

    def _apply_weight_decay(self, variables):
        # Keras' private pre-step decay hook, the only way to turn its decay off but keep `weight_decay` set.
        return  # Decay is part of `update_step`, in the original's form.

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        gradient = tf.cast(gradient, dtype)
        learning_rate = tf.cast(learning_rate, dtype)
        # Keras' own optimizers find their slots this way; it maps a replica's copy to the built variable.
        index = self._get_variable_index(variable)
        m = tf.convert_to_tensor(self._momentums[index])
        v = tf.convert_to_tensor(self._velocities[index])
        param = tf.convert_to_tensor(variable)

        next_m = tf.multiply(tf.constant(self.beta_1, dtype), m) + tf.multiply(
            tf.constant(1.0 - self.beta_1, dtype), gradient
        )
        next_v = tf.multiply(tf.constant(self.beta_2, dtype), v) + tf.multiply(
            tf.constant(1.0 - self.beta_2, dtype), tf.square(gradient)
        )
        update = next_m / (tf.sqrt(next_v) + tf.constant(self.epsilon, dtype))
        if self.weight_decay and self._use_weight_decay(variable):  # Keras' lookup of the exclusions above.
            update += tf.multiply(tf.constant(self.weight_decay, dtype), param)
        next_param = param - learning_rate * update

        self.assign(variable, next_param)
        self.assign(self._momentums[index], next_m)
        self.assign(self._velocities[index], next_v)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="nlvl")
class TF1Adam(AllReduceThenClipMixin, keras.optimizers.Optimizer):
    """`tf.train.AdamOptimizer` of TF1, with LPNet's doubled β-power counter as an option (fidelity LPNet §9, D10).

    Dense gradients go through `tf.raw_ops.ResourceApplyAdam`, the kernel TF1's Adam runs:

        lr_t = lr·√(1−β2^t)/(1−β1^t);  m += (g−m)·(1−β1);  v += (g²−v)·(1−β2);  θ −= m·lr_t/(√v + ε)

    with ε added to √v after the bias correction (ε̂ of Kingma & Ba). `tf.IndexedSlices` gradients follow TF1's
    sparse path, whose float operations differ from the kernel's (duplicate indices summed; m ← m·β1, then the
    rows' (1−β1)·g added; same for v with g·g; every row of θ updated). The hyperparameters are float32, cast
    to the variable's dtype, and β1^t, β2^t are float32 accumulators, `beta_1_power`/`beta_2_power`, that start
    at β and are multiplied by β after each update, as in TF1. `keras.optimizers.Adam` instead evaluates
    `pow(β, t)` and rounds `1−β` in float64; its `lr_t` differs by up to ~1e-5 relative (module docstring).

    **`adam_double_count`.** LPNet runs two `minimize` ops of one shared optimizer per iteration (main loss over
    all variables but the proposal boxes; IoU loss over the boxes), so the accumulators advance twice per
    iteration. Here both groups go through one `apply_gradients` (Adam is elementwise, so this is the same
    update), and at iteration i (0-based) the powers are:
    - variables declared with `mark_first_update`: t = 2i+1 (their op finished first);
    - every other variable: t = 2i+2 (its op read the powers after the first op's `_finish`).
    Declare the proposal-box variable with `mark_first_update`. TF1 leaves the order of the two ops undefined.
    In a two-variable `tf.compat.v1` graph run with TF 2.21, with reference variables (TF1's default), the
    one-variable box op finished first and the other op read t = 2i+2 at every step; with resource variables,
    one step read β1^2 together with β2^1, i.e. the reads race. This convention follows the first case. It is
    probably also LPNet's usual case, because the box gradient path is much shorter than the encoder's.
    Without double counting every variable sees t = i+1.

    Args:
        learning_rate: float or `LearningRateSchedule`. Defaults to `1e-4`.
        beta_1: Defaults to `0.9`.
        beta_2: Defaults to `0.999`.
        epsilon: Defaults to `1e-8`, TF1's default.
        adam_double_count: advance the β powers twice per step (above). Defaults to `False`.
        global_clipnorm: as in `AdamWeightDecay`; LPNet does not clip. Defaults to `None`.
        name: Defaults to `"tf1_adam"`.
        **kwargs: other `keras.optimizers.Optimizer` arguments, except `gradient_accumulation_steps`.

    Example:
    ```python
    with strategy.scope():
        optimizer = TF1Adam(schedules.StaircaseExponentialDecay(1e-4), adam_double_count=True)
        optimizer.mark_first_update(proposal_box_variables)
        optimizer.build(model.trainable_variables)
    ```
    """

    def __init__(
        self,
        learning_rate=1e-4,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        adam_double_count=False,
        global_clipnorm=None,
        name="tf1_adam",
        **kwargs,
    ):
        if kwargs.get("gradient_accumulation_steps"):
            raise ValueError("TF1Adam does not support `gradient_accumulation_steps`.")
        if kwargs.get("weight_decay"):
            raise ValueError("TF1Adam has no weight decay; LPNet uses none (fidelity LPNet §9).")
        super().__init__(learning_rate=learning_rate, global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.adam_double_count = adam_double_count
        self._first_update_keys = set()

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, ["m", "v"])
        self._beta_1_power = self.add_variable(
            shape=(),
            initializer=keras.initializers.Constant(self.beta_1),
            dtype="float32",
            aggregation="only_first_replica",
            name="beta_1_power",
        )
        self._beta_2_power = self.add_variable(
            shape=(),
            initializer=keras.initializers.Constant(self.beta_2),
            dtype="float32",
            aggregation="only_first_replica",
            name="beta_2_power",
        )

    def mark_first_update(self, var_list):
        """Declares the variables of TF1's first-finishing `minimize` op (LPNet: the proposal boxes).

        With `adam_double_count`, they see t = 2i+1 and all others t = 2i+2; otherwise this has no effect.
        Repeated calls add to the set.

        Raises:
            ValueError: if the optimizer is already built.
        """
        if self.built:
            raise ValueError("Declare the first-update variables before the optimizer is built.")
        # Keras' key of a variable, the same for a replica's copy, so `update_step` can look it up.
        self._first_update_keys.update(self._var_key(variable) for variable in var_list)

    def _beta_powers(self, variable):
        beta_1_power = tf.convert_to_tensor(self._beta_1_power)
        beta_2_power = tf.convert_to_tensor(self._beta_2_power)
        if self.adam_double_count and self._var_key(variable) not in self._first_update_keys:
            beta_1_power = beta_1_power * tf.constant(self.beta_1, tf.float32)
            beta_2_power = beta_2_power * tf.constant(self.beta_2, tf.float32)
        return beta_1_power, beta_2_power

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        index = self._get_variable_index(variable)  # As in `AdamWeightDecay.update_step`.
        m, v = self._momentums[index], self._velocities[index]
        beta_1_power, beta_2_power = (tf.cast(p, dtype) for p in self._beta_powers(variable))
        learning_rate = tf.cast(learning_rate, dtype)
        # TF1 makes float32 tensors of the hyperparameters and casts them to the variable's dtype.
        beta_1, beta_2, epsilon = (
            tf.cast(tf.constant(x, tf.float32), dtype) for x in (self.beta_1, self.beta_2, self.epsilon)
        )
        if isinstance(gradient, tf.IndexedSlices):
            self._sparse_update(
                gradient, variable, m, v, learning_rate, beta_1_power, beta_2_power, beta_1, beta_2, epsilon
            )
            return
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(m),
            v=_handle(v),
            beta1_power=beta_1_power,
            beta2_power=beta_2_power,
            lr=learning_rate,
            beta1=beta_1,
            beta2=beta_2,
            epsilon=epsilon,
            grad=tf.cast(gradient, dtype),
            use_locking=False,
            use_nesterov=False,
        )

    def _sparse_update(
        self, gradient, variable, m, v, learning_rate, beta_1_power, beta_2_power, beta_1, beta_2, epsilon
    ):
        # TF1's `_apply_sparse_shared` after `_deduplicate_indexed_slices`: m ← m·β1, then (1−β1)·g scatter-added
        # on the rows; the same for v with g·g; then θ −= lr·m/(√v + ε) on every row. Densifying g (one
        # `unsorted_segment_sum`, duplicates summed in order) gives the same floats (x + 0 = x), and XLA
        # compiles it, which `tf.unique` would prevent.
        gradient = tf.cast(tf.convert_to_tensor(gradient), variable.dtype)
        lr = learning_rate * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m_t = tf.convert_to_tensor(m) * beta_1 + gradient * (1 - beta_1)
        v_t = tf.convert_to_tensor(v) * beta_2 + (gradient * gradient) * (1 - beta_2)
        self.assign(m, m_t)
        self.assign(v, v_t)
        self.assign_sub(variable, lr * m_t / (tf.sqrt(v_t) + epsilon))

    def apply(self, grads, trainable_variables=None):
        # TF1's `_finish` advances the powers once per `minimize`, after every variable of the op is updated.
        super().apply(grads, trainable_variables)
        if not len(grads):
            return  # Keras applies nothing and does not count the update either.
        beta_1 = tf.constant(self.beta_1, tf.float32)
        beta_2 = tf.constant(self.beta_2, tf.float32)
        beta_1_power = tf.convert_to_tensor(self._beta_1_power) * beta_1
        beta_2_power = tf.convert_to_tensor(self._beta_2_power) * beta_2
        if self.adam_double_count:
            beta_1_power = beta_1_power * beta_1
            beta_2_power = beta_2_power * beta_2
        self._beta_1_power.assign(beta_1_power)
        self._beta_2_power.assign(beta_2_power)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "adam_double_count": self.adam_double_count,
            }
        )
        return config


# === Roles and factories ===


def weight_decay_exclusions(model):
    """The trainable variables that the original does not decay, found by role (fidelity VSLNet §3.12).

    Walks every layer of `model` (itself included) and collects
    - the `bias` of any layer that has one (Dense, Conv1D/2D, SeparableConv, EinsumDense, LSTM/GRU cells, ...);
    - every weight of a LayerNorm: `keras.layers.LayerNormalization` or a layer whose class name contains
      "LayerNorm"/"Layer_Norm" (any case);
    - whatever a layer lists in an attribute or method `no_weight_decay_weights` (for custom roles).
    Kernels, filters, positional tables, embeddings and LSTM kernels stay decayed, as in the original.

    Returns:
        list of variables, without duplicates, in discovery order.
    """
    excluded, seen = [], set()

    def add(variable):
        if isinstance(variable, (keras.Variable, tf.Variable)) and variable.trainable and id(variable) not in seen:
            seen.add(id(variable))
            excluded.append(variable)

    # Keras 3 has no public recursive walk: `Model.layers` is one level deep and plain layers have none.
    for layer in model._flatten_layers(include_self=True, recursive=True):
        add(getattr(layer, "bias", None))
        if isinstance(layer, keras.layers.LayerNormalization) or _LAYER_NORM_CLASS_NAME.search(type(layer).__name__):
            for variable in layer.trainable_weights:
                add(variable)
        declared = getattr(layer, "no_weight_decay_weights", None)
        if callable(declared):
            declared = declared()
        for variable in declared or ():
            add(variable)
    return excluded


def build_optimizer(
    name, learning_rate, *, weight_decay=0.01, epsilon=None, global_clipnorm=None, adam_double_count=False
):
    """An optimizer from config values; call it under `strategy.scope()`.

    Args:
        name: `"adam_weight_decay"` (VSLNet: `global_clipnorm=1.0`, `weight_decay=0.01`, ε 1e-6) or
            `"tf1_adam"` (LPNet: ε 1e-8, no clipping, `adam_double_count` per D10).
        learning_rate: float or schedule (`schedules.build_learning_rate`).
        weight_decay: for `"adam_weight_decay"`. Defaults to `0.01`.
        epsilon: overrides the optimizer's default ε. Defaults to `None`.
        global_clipnorm: clip after the all-reduce. Defaults to `None`.
        adam_double_count: for `"tf1_adam"`. Defaults to `False`.
    """
    extra = {} if epsilon is None else {"epsilon": epsilon}
    if name == "adam_weight_decay":
        if adam_double_count:
            raise ValueError("`adam_double_count` applies to `tf1_adam` only.")
        return AdamWeightDecay(learning_rate, weight_decay=weight_decay, global_clipnorm=global_clipnorm, **extra)
    if name == "tf1_adam":
        return TF1Adam(learning_rate, adam_double_count=adam_double_count, global_clipnorm=global_clipnorm, **extra)
    raise ValueError(f"Unknown optimizer {name!r}.")
