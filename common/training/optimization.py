"""Optimizers and learning-rate schedules of the original VSLNet and LPNet code, as Keras 3 objects.

| original (TF1) | here |
|---|---|
| VSLNet `model/ops.py::AdamWeightDecayOptimizer` (BERT style, no bias correction) | `AdamWeightDecay` |
| VSLNet `create_optimizer`: `tf.clip_by_global_norm(grads, 1.0)` | `global_clipnorm=1.0` of either optimizer |
| VSLNet `create_optimizer`: `polynomial_decay(power=1)` + optional warmup | `LinearDecayWithWarmup` |
| LPNet `run_*.py`: one `tf.train.AdamOptimizer` shared by two `minimize` ops | `TF1Adam(adam_double_count=True)` |
| LPNet `run_*.py`: `exponential_decay(1e-4, global_step, 100000, 0.9, staircase=True)` | `StaircaseExponentialDecay` |

Each optimizer runs the original's float32 operations in the original's order. On CPU, outside XLA, the tests
find `AdamWeightDecay` bitwise equal to a float32 replay of the original graph's operations, and `TF1Adam`
bitwise equal to `tf.compat.v1.train.AdamOptimizer` (dense and sparse gradients, with and without double
counting). Keras' own classes are not: `keras.optimizers.AdamW` applies bias correction and decays with
`θ -= θ·wd·lr` before the Adam step (spec vslnet §7.5), and `keras.optimizers.Adam` rounds `1 − β` in float64
and computes `β^t` with `pow`, while TF1's kernel subtracts in float32 and multiplies float32 power accumulators
once per `minimize`.

**Summing and clipping under `tf.distribute`.** On one device, Keras 3's `global_clipnorm` gives the same floats
as `tf.clip_by_global_norm`. But its TF backend applies it to each replica's *local* gradients, before the
all-reduce, so with two replicas the norm that is clipped is not the batch's norm. And its all-reduce sends
`tf.IndexedSlices` gradients (embedding rows) through an all-gather whose row count differs between replicas and
steps, which crashes TensorFlow's collective ring (segfault in `RingGatherer`, or `UnavailableError` across
workers). Both optimizers here take the sum over: `all_reduce_gradients` densifies each replica's slices (one
`unsorted_segment_sum`, what the update does with them anyway) and sums fixed-shape tensors; then
`tf.clip_by_global_norm`, the function the original calls, clips all gradients of the step after the sum. Its
norm keeps the original's quirk for slices, which are normed as given, duplicates not summed: each replica
contributes the squared norm of its own slices' values, and these sum to the global batch's. The result is the
single-device result for the same global batch, to float32 rounding of the sums' order. On one replica nothing
is densified or summed, so the single-device floats are unchanged. `clipnorm`/`clipvalue` keep Keras'
per-replica behaviour.

**Order of calls.** Create the optimizer under `strategy.scope()`, declare the roles
(`exclude_from_weight_decay`, `mark_first_update`), then `build(model.trainable_variables)`; the roles are fixed
once the optimizer is built, because `tf.function` traces them into the step.
"""

import re

import keras
import tensorflow as tf

__all__ = [
    "AdamWeightDecay",
    "TF1Adam",
    "LinearDecayWithWarmup",
    "StaircaseExponentialDecay",
    "warmup_steps_from_proportion",
    "weight_decay_exclusions",
    "build_learning_rate",
    "build_optimizer",
]

_LAYER_NORM_CLASS_NAME = re.compile(r"layer_?norm", re.IGNORECASE)


# === Summing and clipping across replicas ===


def all_reduce_gradients(grads):
    """The cross-replica sums of one replica's gradients, with slices made dense first (module docstring).

    Args:
        grads: this replica's gradients (tensors, `tf.IndexedSlices` or `None`), in a replica context.

    Returns:
        `(summed, slices_squared_norm)`: the summed gradients in the order given (`None` stays `None`; a
        gradient that was `tf.IndexedSlices` comes back as `tf.IndexedSlices` over every row, so the optimizer's
        sparse path still runs), and the sum over replicas of the squared norms of the slices' values (`None`
        without slices). On one replica, `(grads, None)` unchanged.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return list(grads), None
    present = [g for g in grads if g is not None]
    slices = [g for g in present if isinstance(g, tf.IndexedSlices)]
    dense = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in present]
    squared_norm = [tf.add_n([tf.reduce_sum(tf.square(tf.cast(g.values, tf.float32))) for g in slices])] if slices \
        else []
    reduced = context.all_reduce(tf.distribute.ReduceOp.SUM, dense + squared_norm)
    summed, position = [], 0
    for g in grads:
        if g is None:
            summed.append(None)
            continue
        value = reduced[position]
        position += 1
        if isinstance(g, tf.IndexedSlices):
            value = tf.IndexedSlices(value, tf.range(tf.shape(value, out_type=tf.int64)[0]),
                                     tf.shape(value, out_type=tf.int64))
        summed.append(value)
    return summed, (reduced[-1] if slices else None)


def clip_summed_gradients(grads, clip_norm, slices_squared_norm=None):
    """`tf.clip_by_global_norm` of summed gradients; with `slices_squared_norm` (from `all_reduce_gradients`) the
    norm of gradients that were slices is that of their values as given, as on one device."""
    if slices_squared_norm is None:
        return tf.clip_by_global_norm(grads, clip_norm)[0]
    squares = [tf.reduce_sum(tf.square(tf.cast(g, tf.float32))) for g in grads
               if g is not None and not isinstance(g, tf.IndexedSlices)]
    norm = tf.sqrt(tf.add_n(squares + [slices_squared_norm]))
    return tf.clip_by_global_norm(grads, clip_norm, use_norm=norm)[0]


class _AllReduceThenClipMixin:
    """Replaces Keras' cross-replica sum and moves its `global_clipnorm` after that sum (module docstring).

    Keras 3's TF backend calls `_clip_gradients` on the local gradients and all-reduces them later, inside
    `_backend_update_step` (`keras/src/backend/tensorflow/optimizer.py`). This mixin turns the first into a
    no-op and repeats the three lines of the second with `all_reduce_gradients` for the sum and
    `clip_summed_gradients` between the sum and the update.
    """

    def _clip_gradients(self, grads):
        if self.global_clipnorm and self.global_clipnorm > 0:
            return grads  # Deferred to `_backend_update_step`, after the all-reduce.
        return super()._clip_gradients(grads)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        trainable_variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]
        grads, slices_squared_norm = all_reduce_gradients(grads)
        if self.global_clipnorm and self.global_clipnorm > 0:
            grads = clip_summed_gradients(grads, self.global_clipnorm, slices_squared_norm)
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._distributed_tf_update_step,
            self._distribution_strategy,
            [(g, v) for g, v in zip(grads, trainable_variables) if g is not None],
            learning_rate,
        )


def _handle(variable):
    """The resource handle of a Keras or TF variable (the local copy inside a `tf.distribute` update)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


# === Optimizers ===


@keras.saving.register_keras_serializable(package="nlvl")
class AdamWeightDecay(_AllReduceThenClipMixin, keras.optimizers.Optimizer):
    """BERT-style Adam with decoupled weight decay and no bias correction (spec vslnet §4.1, §7.5).

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
    by role, not name: declare the excluded ones (biases, LayerNorm scale and offset, spec vslnet §3.12)
    with `exclude_from_weight_decay(var_list=...)`; `weight_decay_exclusions(model)` lists them.

    Args:
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`, called with the number of
            updates already applied. Defaults to `1e-4`.
        weight_decay: decay rate of decayed variables. Defaults to `0.01`.
        beta_1: first-moment decay. Defaults to `0.9`.
        beta_2: second-moment decay. Defaults to `0.999`.
        epsilon: added to √v. Defaults to `1e-6`.
        global_clipnorm: clip all gradients of a step together to this global norm, after the cross-replica
            sum, with `tf.clip_by_global_norm` (module docstring). The original uses `1.0`. Defaults to `None`.
        name: optimizer name. Defaults to `"adam_weight_decay"`.
        **kwargs: other `keras.optimizers.Optimizer` arguments.

    Example:
    ```python
    with strategy.scope():
        optimizer = AdamWeightDecay(LinearDecayWithWarmup(1e-4, total_steps), global_clipnorm=1.0)
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
        excluded = set(getattr(self, "_exclude_from_weight_decay", set()))
        excluded.update(self._var_key(variable) for variable in var_list or ())
        patterns = set(getattr(self, "_exclude_patterns", set())) | set(var_names or ())
        super().exclude_from_weight_decay(var_names=sorted(patterns) or None)
        self._exclude_from_weight_decay = excluded
        self._exclude_patterns = patterns

    def _apply_weight_decay(self, variables):
        return  # Decay is part of `update_step`, in the original's form.

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        gradient = tf.cast(gradient, dtype)
        learning_rate = tf.cast(learning_rate, dtype)
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
        if self.weight_decay and self._use_weight_decay(variable):
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
class TF1Adam(_AllReduceThenClipMixin, keras.optimizers.Optimizer):
    """`tf.train.AdamOptimizer` of TF1, with LPNet's doubled β-power counter as an option (spec lpnet §9, D10).

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
        optimizer = TF1Adam(StaircaseExponentialDecay(1e-4), adam_double_count=True)
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
            raise ValueError("TF1Adam has no weight decay; LPNet uses none (spec lpnet §9).")
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
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        beta_1_power, beta_2_power = (tf.cast(p, dtype) for p in self._beta_powers(variable))
        learning_rate = tf.cast(learning_rate, dtype)
        # TF1 makes float32 tensors of the hyperparameters and casts them to the variable's dtype.
        beta_1, beta_2, epsilon = (tf.cast(tf.constant(x, tf.float32), dtype)
                                   for x in (self.beta_1, self.beta_2, self.epsilon))
        if isinstance(gradient, tf.IndexedSlices):
            self._sparse_update(gradient, variable, m, v, learning_rate, beta_1_power, beta_2_power, beta_1,
                                beta_2, epsilon)
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

    def _sparse_update(self, gradient, variable, m, v, learning_rate, beta_1_power, beta_2_power, beta_1, beta_2,
                       epsilon):
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

    def _backend_apply_gradients(self, grads, trainable_variables):
        super()._backend_apply_gradients(grads, trainable_variables)
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


# === Learning-rate schedules ===


def warmup_steps_from_proportion(total_steps, warmup_proportion):
    """Warmup length W from the original's `--warmup_proportion` p (spec vslnet §4.2).

    W = int(p) when p > 1 (an absolute count), else W = int(T·p). The original's default p = 0 gives W = 0.
    """
    if warmup_proportion > 1.0:
        return int(warmup_proportion)
    return int(total_steps * warmup_proportion)


@keras.saving.register_keras_serializable(package="nlvl")
class LinearDecayWithWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear decay to zero with optional linear warmup (spec vslnet §4.2; TF1: `model/ops.py::create_optimizer`).

    With t the number of updates already applied (0-based, the optimizer's `iterations`), T = `decay_steps`:

        lr_t = init_lr·(1 − min(t, T)/T)            (`tf.train.polynomial_decay`, power 1, end 0)
        lr_t = init_lr·t/W   if t < W               (warmup, W = `warmup_steps`, applied when W > 0)

    The float32 operations are those of the original, so values match it bit for bit.

    Args:
        initial_learning_rate: init_lr. The original uses `1e-4`.
        decay_steps: T = num_batches·epochs, the total number of updates.
        warmup_steps: W; see `warmup_steps_from_proportion`. Defaults to `0`.
        name: name scope. Defaults to `None`.
    """

    def __init__(self, initial_learning_rate, decay_steps, warmup_steps=0, name=None):
        if decay_steps <= 0:
            raise ValueError(f"`decay_steps` must be positive, got {decay_steps}.")
        if warmup_steps < 0:
            raise ValueError(f"`warmup_steps` must be >= 0, got {warmup_steps}.")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.warmup_steps = warmup_steps
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name or "linear_decay_with_warmup"):
            initial_learning_rate = tf.convert_to_tensor(self.initial_learning_rate, tf.float32)
            end_learning_rate = tf.constant(0.0, tf.float32)
            power = tf.constant(1.0, tf.float32)
            decay_steps = tf.cast(self.decay_steps, tf.float32)
            global_step = tf.minimum(tf.cast(step, tf.float32), decay_steps)
            p = tf.divide(global_step, decay_steps)
            learning_rate = tf.add(
                tf.multiply(initial_learning_rate - end_learning_rate, tf.pow(1 - p, power)), end_learning_rate
            )
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
    """LPNet's `tf.train.exponential_decay(..., staircase=True)` (spec lpnet §9, D10).

        lr = init_lr · decay_rate^floor(global_step / decay_steps),  global_step = multiplier · t

    where t is the number of optimizer updates already applied. ActivityNet's global step advances twice per
    iteration (both `minimize` ops increment it), so `global_step_multiplier=2` there
    (`anet_double_global_step`); Charades uses 1. The box op's LR may read 2t+1 instead of 2t; with an even
    `decay_steps` the floor is the same, so the choice does not matter.

    Args:
        initial_learning_rate: Defaults to `1e-4`.
        decay_steps: Defaults to `100000`.
        decay_rate: Defaults to `0.9`.
        global_step_multiplier: global steps per optimizer update, 1 or 2. Defaults to `1`.
        name: name scope. Defaults to `None`.
    """

    def __init__(self, initial_learning_rate=1e-4, decay_steps=100000, decay_rate=0.9, global_step_multiplier=1,
                 name=None):
        if decay_steps <= 0:
            raise ValueError(f"`decay_steps` must be positive, got {decay_steps}.")
        if global_step_multiplier < 1:
            raise ValueError(f"`global_step_multiplier` must be >= 1, got {global_step_multiplier}.")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.global_step_multiplier = global_step_multiplier
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name or "staircase_exponential_decay"):
            initial_learning_rate = tf.convert_to_tensor(self.initial_learning_rate, tf.float32)
            decay_steps = tf.cast(self.decay_steps, tf.float32)
            decay_rate = tf.cast(self.decay_rate, tf.float32)
            global_step = tf.cast(tf.cast(step, tf.int64) * self.global_step_multiplier, tf.float32)
            p = tf.floor(global_step / decay_steps)
            return tf.multiply(initial_learning_rate, tf.pow(decay_rate, p))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "global_step_multiplier": self.global_step_multiplier,
            "name": self.name,
        }


# === Roles and factories ===


def weight_decay_exclusions(model):
    """The trainable variables that the original does not decay, found by role (spec vslnet §3.12).

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

    for layer in model._flatten_layers(include_self=True, recursive=True):
        add(getattr(layer, "bias", None))
        if isinstance(layer, keras.layers.LayerNormalization) or _LAYER_NORM_CLASS_NAME.search(
            type(layer).__name__
        ):
            for variable in layer.trainable_weights:
                add(variable)
        declared = getattr(layer, "no_weight_decay_weights", None)
        if callable(declared):
            declared = declared()
        for variable in declared or ():
            add(variable)
    return excluded


def build_learning_rate(schedule, initial_learning_rate, *, total_steps=None, warmup_proportion=0.0,
                        decay_steps=100000, decay_rate=0.9, global_step_multiplier=1):
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
        return LinearDecayWithWarmup(initial_learning_rate, total_steps,
                                     warmup_steps_from_proportion(total_steps, warmup_proportion))
    if schedule == "staircase_exponential_decay":
        return StaircaseExponentialDecay(initial_learning_rate, decay_steps, decay_rate, global_step_multiplier)
    if schedule == "constant":
        return float(initial_learning_rate)
    raise ValueError(f"Unknown learning-rate schedule {schedule!r}.")


def build_optimizer(name, learning_rate, *, weight_decay=0.01, epsilon=None, global_clipnorm=None,
                    adam_double_count=False):
    """An optimizer from config values; call it under `strategy.scope()`.

    Args:
        name: `"adam_weight_decay"` (VSLNet: `global_clipnorm=1.0`, `weight_decay=0.01`, ε 1e-6) or
            `"tf1_adam"` (LPNet: ε 1e-8, no clipping, `adam_double_count` per D10).
        learning_rate: float or schedule (`build_learning_rate`).
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
        return TF1Adam(learning_rate, adam_double_count=adam_double_count, global_clipnorm=global_clipnorm,
                       **extra)
    raise ValueError(f"Unknown optimizer {name!r}.")
