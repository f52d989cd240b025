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
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=0)
        c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
        h = tf.sigmoid(z_o) * tf.tanh(c)
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
    steps, batch, input_dim = _dim(x_fm, 0), _dim(x_fm, 2), _dim(x_fm, 1)
    units = _dim(recurrent_kernel, 0)
    # Everything that does not depend on the recurrent gradient is computed for all steps at once, so the backward
    # loop is two matmuls and a few elementwise products per step.
    z_i, z_f, z_c, z_o = tf.split(zs, 4, axis=1)
    i, f, g, o = tf.sigmoid(z_i), tf.sigmoid(z_f), tf.tanh(z_c), tf.sigmoid(z_o)
    c_prev = tf.concat([tf.zeros_like(cs[:1]), cs[:-1]], axis=0)
    tanh_c = tf.tanh(cs)
    dh_to_dc = o * (1.0 - tanh_c * tanh_c)
    # dz_t = [dc_t, dc_t, dc_t, dh_t] * dz_scale_t, per gate block.
    dz_scale = tf.concat([g * i * (1.0 - i), c_prev * f * (1.0 - f), i * (1.0 - g * g), tanh_c * o * (1.0 - o)], 1)
    dh_outputs = tf.transpose(d_outputs, [1, 2, 0])

    def backward_step(t, dh_next, dc_next, dzs, dxs):
        dh = dh_outputs[t] + dh_next
        dc = dc_next + dh * dh_to_dc[t]
        dz = tf.concat([dc, dc, dc, dh], axis=0) * dz_scale[t]
        dx = tf.matmul(kernel, dz)
        return t - 1, tf.matmul(recurrent_kernel, dz), dc * f[t], dzs.write(t, dz), dxs.write(t, dx)

    zeros = tf.zeros_like(hs[0])
    _, _, _, dzs, dxs = tf.while_loop(
        lambda t, *_: t >= 0,
        backward_step,
        (steps - 1, zeros, zeros, _steps_array(x_fm, zs.shape[1:]), _steps_array(x_fm, x_fm.shape[1:])),
        maximum_iterations=steps,
    )
    # The weight gradients sum over every (step, batch) row: one matmul each over the time-major rows.
    dz_rows = tf.reshape(tf.transpose(dzs.stack(), [0, 2, 1]), [steps * batch, 4 * units])
    x_rows = tf.reshape(tf.transpose(inputs, [1, 0, 2]), [steps * batch, input_dim])
    h_prev = tf.concat([tf.zeros_like(hs[:1]), hs[:-1]], axis=0)
    h_prev_rows = tf.reshape(tf.transpose(h_prev, [0, 2, 1]), [steps * batch, units])
    d_kernel = tf.matmul(x_rows, dz_rows, transpose_a=True)
    d_recurrent_kernel = tf.matmul(h_prev_rows, dz_rows, transpose_a=True)
    # A row of ones times dz sums over the rows several times faster than `reduce_sum(axis=0)` on CPU.
    d_bias = tf.matmul(tf.ones([1, steps * batch], x_fm.dtype), dz_rows)[0]
    return tf.transpose(dxs.stack(), [2, 0, 1]), d_kernel, d_recurrent_kernel, d_bias
