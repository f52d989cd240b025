"""Memory-bound chains of ops run slice by slice, so that their intermediates stay in the CPU's cache."""

import tensorflow as tf

#: Values per slice on CPU: about 4 MiB of float32 per intermediate, so that a few of them stay in the 32 MiB L3
#: cache of the 2-vCPU machine of `benchmarks/README.md` (section "Slices that fit the cache").
CPU_SLICE_VALUES = 1 << 20


def rows_per_slice(num_rows, values_per_row):
    """How many rows `map_slices` should give each slice: all of them on a GPU (which wants large ops), else rows
    worth about `CPU_SLICE_VALUES` values of the largest per-row intermediate (`values_per_row`), at least one.

    Args:
        num_rows: int32 tensor, rows of the inputs.
        values_per_row: int32 tensor or int, values of the largest intermediate per row.
    """
    if tf.config.list_logical_devices("GPU"):
        return num_rows
    return tf.maximum(1, CPU_SLICE_VALUES // tf.maximum(values_per_row, 1))


def map_slices(fn, sliced, shared, slice_rows):
    """`fn(*sliced, *shared, 0)` computed on consecutive row slices of `sliced`, outputs concatenated.

    On CPU, a chain of elementwise ops over a tensor larger than the cache reads and writes main memory at every
    op; over a slice that fits the cache it does not (the attention probabilities of ActivityNet-sized inputs,
    `[16, 8, 300, 300]`, take 2-2.5× less time in slices of a few MiB). The forward keeps only the outputs; the
    gradient recomputes each slice's forward under a tape and back-propagates it before the next slice, so only one
    slice's intermediates exist at a time. Two slices run at once (`parallel_iterations=2`, one per core).

    Args:
        fn: `(*slices, *shared, first_row) -> tensor` whose output rows are those of the slices; `first_row` (int32
            scalar) is the slice's first row, for what depends on the position (a dropout mask drawn for the whole
            tensor). It reads no variable (pass their values in `shared`) and computes the same output when called
            twice with the same arguments.
        sliced: tensors with the same number of rows (axis 0), cut into slices.
        shared: tensors given whole to every slice (weights); their gradients sum over the slices.
        slice_rows: int32 tensor or int, rows per slice (`rows_per_slice`); the last slice may be shorter.

    Returns:
        the outputs, in the dtype of `sliced[0]`, rows in order.
    """
    num_sliced = len(sliced)

    @tf.custom_gradient
    def run(*tensors):
        inputs, weights = tensors[:num_sliced], list(tensors[num_sliced:])
        num_rows = tf.shape(inputs[0])[0]
        num_slices = (num_rows + slice_rows - 1) // slice_rows

        def rows(i):
            start = i * slice_rows
            return start, [x[start : start + slice_rows] for x in inputs]

        def forward(i, outputs):
            start, slices = rows(i)
            return i + 1, outputs.write(i, fn(*slices, *weights, start))

        outputs = tf.TensorArray(inputs[0].dtype, size=num_slices, infer_shape=False)
        _, outputs = tf.while_loop(lambda i, _: i < num_slices, forward, (0, outputs), parallel_iterations=2)

        def grad(d_outputs):
            def backward(i, d_slices, d_weights):
                start, slices = rows(i)
                with tf.GradientTape() as tape:
                    tape.watch(slices + weights)
                    result = fn(*slices, *weights, start)
                grads = tape.gradient(
                    result,
                    slices + weights,
                    output_gradients=d_outputs[start : start + slice_rows],
                    unconnected_gradients=tf.UnconnectedGradients.ZERO,
                )
                d_slices = [array.write(i, g) for array, g in zip(d_slices, grads[:num_sliced])]
                d_weights = [total + g for total, g in zip(d_weights, grads[num_sliced:])]
                return i + 1, d_slices, d_weights

            d_slices = [tf.TensorArray(x.dtype, size=num_slices, infer_shape=False) for x in inputs]
            d_weights = [tf.zeros_like(w) for w in weights]
            _, d_slices, d_weights = tf.while_loop(
                lambda i, *_: i < num_slices, backward, (0, d_slices, d_weights), parallel_iterations=2
            )
            return [array.concat() for array in d_slices] + d_weights

        return outputs.concat(), grad

    # Variables are read here, outside: the gradient reaches them through the reads.
    return run(*sliced, *[tf.convert_to_tensor(w) for w in shared])
