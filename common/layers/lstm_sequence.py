"""A unidirectional LSTM over a whole sequence with a hand-written backward pass, fast on CPU.

`keras.layers.LSTM` on CPU runs `LSTMCell` in a generic while loop, and TensorFlow differentiates that loop
automatically: per-step weight-gradient matmuls and accumulations, TensorLists of every intermediate and large
`ZerosLike` ops. `lstm_sequence` computes the same function with a hand-written backpropagation through time whose
weight gradients are single large matmuls over all `batch · time` rows.

On a GPU the opposite holds: Keras' TensorFlow backend runs the layer itself through cuDNN, while the per-step loop
here is bound by kernel launches. `run_lstm` computes a layer with either implementation (`LSTM_IMPLEMENTATIONS`).
"""

import tensorflow as tf

from common.layers.backbone_config import LSTM_IMPLEMENTATIONS


def lstm_sequence(inputs, kernel, recurrent_kernel, bias):
    """`keras.layers.LSTM(u, return_sequences=True)` (tanh, sigmoid, bias) from zero state, as one function.

    Gates in Keras' order i, f, c, o along the last weight axis: `z_t = x_t · kernel + h_{t-1} · recurrent_kernel +
    bias`, `c_t = σ(z_f) c_{t-1} + σ(z_i) tanh(z_c)`, `h_t = σ(z_o) tanh(c_t)`, `h_{-1} = c_{-1} = 0`. The bias is
    used as given (Keras' `unit_forget_bias` only initializes it). There is no mask: with right padding, valid
    outputs do not depend on the padding because the recurrence is causal.

    The gradient is backpropagation through time written out (`tf.custom_gradient`); the kernel, recurrent-kernel
    and bias gradients are one matmul each over the `batch · time` rows, after the loop. Per step, the only
    sequential work is `h_{t-1} · recurrent_kernel` forward and `dz_t · recurrent_kernelᵀ` backward; the products
    with `kernel` (`x_t · kernel` forward, `dz_t · kernelᵀ` backward) hang off that chain inside the loops, so the
    executor runs them on another core while the chain waits. Measured on 2 cores, this is faster than one large
    input-projection matmul before the loop (and one `dz · kernelᵀ` after it), which nothing can overlap.
    Works in a `tf.function` with unknown batch and time, under `tf.distribute`, in a SavedModel and under XLA.

    Args:
        inputs: float tensor `[batch, time, input_dim]`; its dtype is the compute dtype.
        kernel: `[input_dim, 4u]`.
        recurrent_kernel: `[u, 4u]`.
        bias: `[4u]`. The weights are cast to the dtype of `inputs`; their gradients come back in their own dtype.

    Returns:
        `[batch, time, u]`, h_t of every step, in the dtype of `inputs`.
    """
    dtype = inputs.dtype
    return _lstm_sequence(inputs, tf.cast(kernel, dtype), tf.cast(recurrent_kernel, dtype), tf.cast(bias, dtype))


def keras_lstm_sequence(lstm, inputs):
    """What calling a built `keras.layers.LSTM(return_sequences=True)` without a mask gives, via `lstm_sequence`.

    For the LSTMs of `build_tf1_lstm` (tanh/sigmoid, bias, no dropout): the layer keeps its weights (names,
    initializers, checkpoints); only the computation is replaced. `go_backwards` is not applied: reverse the inputs.

    Args:
        lstm: a built `keras.layers.LSTM`.
        inputs: float tensor `[batch, time, input_dim]`.

    Returns:
        `[batch, time, units]`.
    """
    cell = lstm.cell
    return lstm_sequence(inputs, cell.kernel, cell.recurrent_kernel, cell.bias)


def keras_stacked_lstm_sequences(first, second, inputs):
    """`stacked_lstm_sequences` with the weights of two built `keras.layers.LSTM`s (as `keras_lstm_sequence`)."""
    return stacked_lstm_sequences(
        inputs, *[(lstm.cell.kernel, lstm.cell.recurrent_kernel, lstm.cell.bias) for lstm in (first, second)]
    )


def resolve_lstm_implementation(name, compute_dtype):
    """`"keras"` or `"sequence"`: what the implementation `name` (one of `LSTM_IMPLEMENTATIONS`) means here.

    `auto` is `keras` where Keras would run the layer through cuDNN, i.e. a GPU is visible (Keras' own test:
    `tf.config.list_logical_devices("GPU")`) and `compute_dtype` is float32 or float16; otherwise `sequence`.
    bfloat16 stays on `sequence`: whether cuDNN runs a bfloat16 LSTM depends on the GPU and the cuDNN version, so
    it has to be asked for explicitly. `auto` cannot see XLA, which has no cuDNN kernel: a `jit_compile`d step needs
    `sequence`.

    Args:
        name: one of `LSTM_IMPLEMENTATIONS`.
        compute_dtype: the LSTM's compute dtype (a string or a `tf.DType`).

    Returns:
        `"keras"` or `"sequence"`; the other names pass through.
    """
    if name not in LSTM_IMPLEMENTATIONS:
        raise ValueError(f"lstm_implementation must be one of {LSTM_IMPLEMENTATIONS}, got {name!r}.")
    if name != "auto":
        return name
    cudnn_dtype = tf.as_dtype(compute_dtype).name in ("float32", "float16")
    return "keras" if cudnn_dtype and tf.config.list_logical_devices("GPU") else "sequence"


def run_lstm(lstm, inputs, implementation):
    """`keras_lstm_sequence(lstm, inputs)`, computed by `implementation` (one of `LSTM_IMPLEMENTATIONS`).

    `keras` calls the layer itself without a mask (on a GPU, in float32/float16 and outside XLA, Keras' TensorFlow
    backend runs cuDNN; elsewhere its generic step loop); `sequence` is `keras_lstm_sequence`; `auto` is resolved
    with the layer's compute dtype. For the LSTMs of `build_tf1_lstm` the two agree up to float rounding: same gates
    in the same order, zero initial state, every step returned. As in `keras_lstm_sequence`, `go_backwards` is not
    applied: reverse the inputs. Keras would apply a Keras mask attached to `inputs` (`_keras_mask`); the layers of
    this package attach none.

    Args:
        lstm: a built `keras.layers.LSTM(return_sequences=True)`.
        inputs: float tensor `[batch, time, input_dim]`.
        implementation: `"auto"`, `"keras"` or `"sequence"`.

    Returns:
        `[batch, time, units]`.
    """
    if resolve_lstm_implementation(implementation, lstm.compute_dtype) == "sequence":
        return keras_lstm_sequence(lstm, inputs)
    if lstm.go_backwards:
        # The layer reverses its input and returns the steps in the order it ran them; reversing the input first
        # makes that the forward LSTM of `inputs`, in order.
        inputs = tf.reverse(inputs, axis=[1])
    return lstm(inputs)


def _dim(tensor, axis):
    """The static size of `tensor`'s `axis` where known (it keeps static shapes), else the dynamic one."""
    return tensor.shape[axis] if tensor.shape[axis] is not None else tf.shape(tensor)[axis]


@tf.custom_gradient
def _lstm_sequence(inputs, kernel, recurrent_kernel, bias):
    batch, units = _dim(inputs, 0), _dim(recurrent_kernel, 0)
    # Feature-major steps: z_tᵀ = kernelᵀ · x_tᵀ + recurrent_kernelᵀ · h_{t-1}ᵀ + b, with h_tᵀ `[u, batch]`. A product
    # of a `[4u, ·]` matrix by a `[·, batch]` block runs 1.4-1.7× faster on CPU than the batch-major
    # `[batch, ·] · [·, 4u]` (benchmarks/README.md, "LSTM step layout"), and the gates split along contiguous rows.
    x_fm = tf.transpose(inputs, [1, 2, 0])  # [time, input_dim, batch]
    kernel_fm, recurrent_kernel_fm = tf.transpose(kernel), tf.transpose(recurrent_kernel)
    bias_fm = bias[:, None]
    zeros = tf.zeros([units, batch], inputs.dtype)

    def forward_step(t, h, c, hs, cs, zs):
        z = tf.matmul(kernel_fm, x_fm[t]) + bias_fm + tf.matmul(recurrent_kernel_fm, h)
        h, c = _cell(z, c)
        return t + 1, h, c, hs.write(t, h), cs.write(t, c), zs.write(t, z)

    steps = _dim(x_fm, 0)
    _, _, _, hs, cs, zs = tf.while_loop(
        lambda t, *_: t < steps,
        forward_step,
        (
            0,
            zeros,
            zeros,
            _steps_array(x_fm, zeros.shape),
            _steps_array(x_fm, zeros.shape),
            _steps_array(x_fm, [kernel_fm.shape[0], x_fm.shape[2]]),
        ),
        maximum_iterations=steps,
    )
    # [time, u, batch], [time, u, batch], [time, 4u, batch]; without a gradient, Grappler prunes the last two.
    hs, cs, zs = hs.stack(), cs.stack(), zs.stack()
    name_scope = tf.get_current_name_scope()

    def grad(d_outputs):
        # TensorFlow builds custom gradients outside the caller's name scope; re-entering it lets profiles attribute
        # the backward pass to the calling layer.
        with tf.name_scope(f"{name_scope}/" if name_scope else ""):
            return _lstm_sequence_backward(d_outputs, inputs, x_fm, kernel, recurrent_kernel, hs, cs, zs)

    return tf.transpose(hs, [2, 0, 1]), grad


def _cell(z, c):
    """One LSTM step from the feature-major pre-activations `z` `[4u, batch]` (gates i, f, c, o) and c_{t-1}:
    `(h_t, c_t)`."""
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=0)
    c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
    return tf.sigmoid(z_o) * tf.tanh(c), c


def _gate_derivatives(zs, cs):
    """What backpropagation through time needs of every step at once, from the forward's `zs` `[time, 4u, batch]`
    and `cs` `[time, u, batch]`: `(f_t, dh_to_dc_t, dz_scale_t)` with dc_t += dh_t · dh_to_dc_t and
    dz_t = [dc_t, dc_t, dc_t, dh_t] · dz_scale_t per gate block."""
    z_i, z_f, z_c, z_o = tf.split(zs, 4, axis=1)
    i, f, g, o = tf.sigmoid(z_i), tf.sigmoid(z_f), tf.tanh(z_c), tf.sigmoid(z_o)
    c_prev = tf.concat([tf.zeros_like(cs[:1]), cs[:-1]], axis=0)
    tanh_c = tf.tanh(cs)
    dh_to_dc = o * (1.0 - tanh_c * tanh_c)
    dz_scale = tf.concat([g * i * (1.0 - i), c_prev * f * (1.0 - f), i * (1.0 - g * g), tanh_c * o * (1.0 - o)], 1)
    return f, dh_to_dc, dz_scale


def _cell_backward(dh, dc, dh_to_dc, dz_scale):
    """dz_t `[4u, batch]` and dc_t of one step from dh_t (all paths) and the dc_t coming from step t + 1."""
    dc = dc + dh * dh_to_dc
    return tf.concat([dc, dc, dc, dh], axis=0) * dz_scale, dc


def _rows(feature_major):
    """`[time, n, batch]` as time-major rows `[time · batch, n]`."""
    shape = tf.shape(feature_major)
    return tf.reshape(tf.transpose(feature_major, [0, 2, 1]), [shape[0] * shape[2], shape[1]])


def _shifted(states):
    """The states of the previous step, `[time, n, batch]`, zero before the first."""
    return tf.concat([tf.zeros_like(states[:1]), states[:-1]], axis=0)


def _steps_array(x, element_shape):
    """An empty `TensorArray` of one `element_shape` element per step of the time-major `x`."""
    return tf.TensorArray(x.dtype, size=_dim(x, 0), element_shape=tf.TensorShape(element_shape))


def _lstm_sequence_backward(d_outputs, inputs, x_fm, kernel, recurrent_kernel, hs, cs, zs):
    """Backpropagation through time: the gradients of `_lstm_sequence`'s inputs, given those of its outputs.

    Feature-major like the forward: per step, `dz_tᵀ` `[4u, batch]` and the products `recurrent_kernel · dz_tᵀ`,
    `kernel · dz_tᵀ`.

    Args:
        d_outputs: `[batch, time, u]`.
        inputs: `[batch, time, input_dim]`, and `x_fm`, the same as `[time, input_dim, batch]`.
        kernel, recurrent_kernel: `[input_dim, 4u]`, `[u, 4u]`.
        hs, cs, zs: the forward's h_t, c_t `[time, u, batch]` and pre-activation gates z_t `[time, 4u, batch]`.

    Returns:
        `(d_inputs [batch, time, input_dim], d_kernel, d_recurrent_kernel, d_bias [4u])`.
    """
    steps, batch = _dim(x_fm, 0), _dim(x_fm, 2)
    # Everything that does not depend on the recurrent gradient is computed for all steps at once, so the backward
    # loop is two matmuls and a few elementwise products per step.
    f, dh_to_dc, dz_scale = _gate_derivatives(zs, cs)
    dh_outputs = tf.transpose(d_outputs, [1, 2, 0])

    def backward_step(t, dh_next, dc_next, dzs, dxs):
        dz, dc = _cell_backward(dh_outputs[t] + dh_next, dc_next, dh_to_dc[t], dz_scale[t])
        dx = tf.matmul(kernel, dz)
        return t - 1, tf.matmul(recurrent_kernel, dz), dc * f[t], dzs.write(t, dz), dxs.write(t, dx)

    zeros = tf.zeros_like(hs[0])
    _, _, _, dzs, dxs = tf.while_loop(
        lambda t, *_: t >= 0,
        backward_step,
        (steps - 1, zeros, zeros, _steps_array(x_fm, zs.shape[1:]), _steps_array(x_fm, x_fm.shape[1:])),
        maximum_iterations=steps,
    )
    x_rows = tf.reshape(tf.transpose(inputs, [1, 0, 2]), [steps * batch, _dim(x_fm, 1)])
    d_kernel, d_recurrent_kernel, d_bias = _weight_gradients(x_rows, _rows(_shifted(hs)), _rows(dzs.stack()))
    return tf.transpose(dxs.stack(), [2, 0, 1]), d_kernel, d_recurrent_kernel, d_bias


def _weight_gradients(input_rows, previous_h_rows, dz_rows):
    """`(d_kernel, d_recurrent_kernel, d_bias)`: each one matmul over the `time · batch` rows."""
    d_kernel = tf.matmul(input_rows, dz_rows, transpose_a=True)
    d_recurrent_kernel = tf.matmul(previous_h_rows, dz_rows, transpose_a=True)
    # A row of ones times dz sums over the rows several times faster than `reduce_sum(axis=0)` on CPU.
    d_bias = tf.matmul(tf.ones([1, tf.shape(dz_rows)[0]], dz_rows.dtype), dz_rows)[0]
    return d_kernel, d_recurrent_kernel, d_bias


def stacked_lstm_sequences(inputs, first, second):
    """`(h1, h2)` with `h1 = lstm_sequence(inputs, *first)` and `h2 = lstm_sequence(h1, *second)`, in one loop.

    The second LSTM runs one step behind the first (a wavefront): step t of the first and step t − 1 of the second
    depend only on the previous iteration, so the two recurrences run side by side on two cores instead of one
    after the other, forward and backward. The first LSTM's input products are one matmul before the loop, its
    input gradient one after it. Same math as the two calls; the gradient is written out as in `lstm_sequence`.

    Args:
        inputs: float tensor `[batch, time, input_dim]`; its dtype is the compute dtype.
        first: `(kernel [input_dim, 4u], recurrent_kernel [u, 4u], bias [4u])` of the first LSTM.
        second: `(kernel [u, 4u], recurrent_kernel [u, 4u], bias [4u])` of the second, which reads h1.

    Returns:
        `(h1, h2)`, each `[batch, time, u]` in the dtype of `inputs`.
    """
    dtype = inputs.dtype
    return _stacked_lstm_sequences(inputs, *[tf.cast(w, dtype) for w in (*first, *second)])


@tf.custom_gradient
def _stacked_lstm_sequences(inputs, kernel_1, recurrent_kernel_1, bias_1, kernel_2, recurrent_kernel_2, bias_2):
    batch, steps, input_dim = _dim(inputs, 0), _dim(inputs, 1), _dim(inputs, 2)
    units = _dim(recurrent_kernel_1, 0)
    x_rows = tf.reshape(tf.transpose(inputs, [1, 0, 2]), [steps * batch, input_dim])
    # Feature-major, as `_lstm_sequence`: the first LSTM's x_t · kernel + b of every step, [time, 4u, batch].
    xk = tf.transpose(tf.reshape(tf.matmul(x_rows, kernel_1) + bias_1, [steps, batch, 4 * units]), [0, 2, 1])
    recurrent_1_fm, kernel_2_fm, recurrent_2_fm = (
        tf.transpose(w) for w in (recurrent_kernel_1, kernel_2, recurrent_kernel_2)
    )
    bias_2_fm = bias_2[:, None]
    zeros = tf.zeros([units, batch], inputs.dtype)

    def second_step(h1, h2, c2):
        z2 = tf.matmul(kernel_2_fm, h1) + bias_2_fm + tf.matmul(recurrent_2_fm, h2)
        return z2, *_cell(z2, c2)

    def step(t, h1, c1, h2, c2, arrays):
        # The first LSTM's step t and the second's step t − 1 (whose input is h1_{t-1}, the carried h1).
        z1 = xk[t] + tf.matmul(recurrent_1_fm, h1)
        z2, h2, c2 = second_step(h1, h2, c2)
        h1, c1 = _cell(z1, c1)
        written = [a.write(t, v) for a, v in zip(arrays[:3], (h1, c1, z1))]
        written += [a.write(t - 1, v) for a, v in zip(arrays[3:], (h2, c2, z2))]
        return t + 1, h1, c1, h2, c2, written

    h1, c1 = _cell(xk[0], zeros)  # the first LSTM's step 0, from the zero state
    state_array, gate_array = zeros.shape, [4 * units, zeros.shape[1]]
    arrays = [_steps_array(xk, shape) for shape in (state_array, state_array, gate_array) * 2]
    arrays[:3] = [a.write(0, v) for a, v in zip(arrays[:3], (h1, c1, xk[0]))]
    _, h1, _, h2, c2, arrays = tf.while_loop(
        lambda t, *_: t < steps,
        step,
        (1, h1, c1, zeros, zeros, arrays),
        maximum_iterations=steps - 1,
    )
    z2, h2, c2 = second_step(h1, h2, c2)  # the second LSTM's last step
    arrays[3:] = [a.write(steps - 1, v) for a, v in zip(arrays[3:], (h2, c2, z2))]
    h1s, c1s, z1s, h2s, c2s, z2s = (a.stack() for a in arrays)
    name_scope = tf.get_current_name_scope()

    def grad(d_h1, d_h2):
        with tf.name_scope(f"{name_scope}/" if name_scope else ""):
            return _stacked_backward(
                d_h1,
                d_h2,
                x_rows,
                (kernel_1, recurrent_kernel_1, kernel_2, recurrent_kernel_2),
                (h1s, c1s, z1s),
                (h2s, c2s, z2s),
                [batch, steps, input_dim],
            )

    return (tf.transpose(h1s, [2, 0, 1]), tf.transpose(h2s, [2, 0, 1])), grad


def _stacked_backward(d_h1, d_h2, x_rows, weights, first, second, input_shape):
    """Backpropagation through time of `_stacked_lstm_sequences`, the second LSTM one step ahead of the first.

    Args:
        d_h1, d_h2: the gradients of the two outputs, `[batch, time, u]`.
        x_rows: the inputs as time-major rows `[time · batch, input_dim]`.
        weights: `(kernel_1, recurrent_kernel_1, kernel_2, recurrent_kernel_2)`.
        first, second: each LSTM's forward `(hs, cs, zs)`, feature-major.
        input_shape: `[batch, time, input_dim]`.

    Returns:
        the gradients of the inputs and of the six weights, in the order of `_stacked_lstm_sequences`' arguments.
    """
    kernel_1, recurrent_kernel_1, kernel_2, recurrent_kernel_2 = weights
    (h1s, c1s, z1s), (h2s, c2s, z2s) = first, second
    batch, steps, input_dim = input_shape
    f1, dh_to_dc_1, dz_scale_1 = _gate_derivatives(z1s, c1s)
    f2, dh_to_dc_2, dz_scale_2 = _gate_derivatives(z2s, c2s)
    d_out_1, d_out_2 = tf.transpose(d_h1, [1, 2, 0]), tf.transpose(d_h2, [1, 2, 0])

    def second_step(t, dh2_next, dc2_next):
        dz2, dc2 = _cell_backward(d_out_2[t] + dh2_next, dc2_next, dh_to_dc_2[t], dz_scale_2[t])
        # dh2 for step t − 1, dc2 for step t − 1, and the gradient of this step's input h1_t.
        return dz2, tf.matmul(recurrent_kernel_2, dz2), dc2 * f2[t], tf.matmul(kernel_2, dz2)

    def first_step(t, dh1_next, dc1_next, dh1_from_second):
        dz1, dc1 = _cell_backward(d_out_1[t] + dh1_next + dh1_from_second, dc1_next, dh_to_dc_1[t], dz_scale_1[t])
        return dz1, tf.matmul(recurrent_kernel_1, dz1), dc1 * f1[t]

    def step(t, dh1, dc1, dh2, dc2, dh1_from_second, dz1s, dz2s):
        # The second LSTM's step t and the first's step t + 1 (which needs the second's step t + 1, done before).
        dz2, dh2, dc2, dh1_from_second_t = second_step(t, dh2, dc2)
        dz1, dh1, dc1 = first_step(t + 1, dh1, dc1, dh1_from_second)
        return t - 1, dh1, dc1, dh2, dc2, dh1_from_second_t, dz1s.write(t + 1, dz1), dz2s.write(t, dz2)

    zeros = tf.zeros_like(h1s[0])
    dz1s, dz2s = (_steps_array(z1s, z1s.shape[1:]) for _ in range(2))
    dz2, dh2, dc2, dh1_from_second = second_step(steps - 1, zeros, zeros)
    dz2s = dz2s.write(steps - 1, dz2)
    _, dh1, dc1, _, _, dh1_from_second, dz1s, dz2s = tf.while_loop(
        lambda t, *_: t >= 0,
        step,
        (steps - 2, zeros, zeros, dh2, dc2, dh1_from_second, dz1s, dz2s),
        maximum_iterations=steps - 1,
    )
    dz1, _, _ = first_step(0, dh1, dc1, dh1_from_second)
    dz1s = dz1s.write(0, dz1)
    dz1_rows, dz2_rows = _rows(dz1s.stack()), _rows(dz2s.stack())
    d_inputs = tf.transpose(
        tf.reshape(tf.matmul(dz1_rows, kernel_1, transpose_b=True), [steps, batch, input_dim]), [1, 0, 2]
    )
    d_first = _weight_gradients(x_rows, _rows(_shifted(h1s)), dz1_rows)
    d_second = _weight_gradients(_rows(h1s), _rows(_shifted(h2s)), dz2_rows)
    return (d_inputs, *d_first, *d_second)
