"""I3D's inflated Inception module ("Mixed" block): four branches concatenated on channels."""

import keras

from common.layers.initializers import clone_initializer
from common.video.unit3d import Unit3D

#: Our sublayer names in branch order (DeepMind's scopes are in `common.video.i3d_checkpoint`).
BRANCH_LAYERS = ("branch_0", "branch_1a", "branch_1b", "branch_2a", "branch_2b", "branch_3b")


@keras.saving.register_keras_serializable(package="nlvl")
class InceptionModule(keras.layers.Layer):
    """The `Mixed_*` block of DeepMind `kinetics-i3d/i3d.py` (the PyTorch port's `InceptionModule`).

    Branches: 0: 1×1×1 conv; 1: 1×1×1 → 3×3×3 conv; 2: 1×1×1 → 3×3×3 conv; 3: 3×3×3 max pool (stride 1, TF "SAME")
    → 1×1×1 conv; every conv is a `Unit3D`. The outputs are concatenated on channels in that order.

    The max pool pads as TensorFlow's "SAME" does (padded positions never win). The PyTorch port pads with zeros
    instead; both agree because the pooled input always follows a ReLU (it is a block's or a pool's output, all
    non-negative) and every SAME window holds at least one real value, whose maximum is ≥ 0.

    Args:
        filters: 6 ints: branch 0; branch 1's 1×1×1 and 3×3×3; branch 2's 1×1×1 and 3×3×3; branch 3's 1×1×1.
        kernel_initializer: initializer of every convolution. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `[batch, time, height, width, channels]`.
        training: bool, passed to the batch norms.

    Returns:
        float tensor `[batch, time, height, width, filters[0] + filters[2] + filters[4] + filters[5]]`.

    Example:
    >>> tuple(InceptionModule((2, 3, 4, 1, 2, 2))(np.zeros((1, 2, 3, 3, 5))).shape)
    (1, 2, 3, 3, 10)
    """

    def __init__(self, filters, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(int(f) for f in filters)
        if len(self.filters) != 6:
            raise ValueError(f"InceptionModule takes 6 filter counts, got {list(self.filters)}")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        kernels = ((1, 1, 1), (1, 1, 1), (3, 3, 3), (1, 1, 1), (3, 3, 3), (1, 1, 1))
        for name, count, kernel in zip(BRANCH_LAYERS, self.filters, kernels):
            unit = Unit3D(
                count,
                kernel,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                dtype=self.dtype_policy,
                name=name,
            )
            setattr(self, name, unit)
        self.branch_3a = keras.layers.MaxPooling3D(
            pool_size=(3, 3, 3), strides=(1, 1, 1), padding="same", dtype=self.dtype_policy, name="branch_3a"
        )

    def build(self, inputs_shape):
        self.branch_0.build(inputs_shape)
        self.branch_1a.build(inputs_shape)
        self.branch_1b.build(self.branch_1a.compute_output_shape(inputs_shape))
        self.branch_2a.build(inputs_shape)
        self.branch_2b.build(self.branch_2a.compute_output_shape(inputs_shape))
        self.branch_3b.build(inputs_shape)

    def call(self, inputs, training=False):
        branches = [
            self.branch_0(inputs, training=training),
            self.branch_1b(self.branch_1a(inputs, training=training), training=training),
            self.branch_2b(self.branch_2a(inputs, training=training), training=training),
            self.branch_3b(self.branch_3a(inputs), training=training),
        ]
        return keras.ops.concatenate(branches, axis=-1)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.filters[0] + self.filters[2] + self.filters[4] + self.filters[5],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"filters": self.filters, "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
        )
        return config
