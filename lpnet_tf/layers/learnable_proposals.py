"""Learnable moment proposals: K (center, half-length) pairs, the RoIAlign crop boxes and index-unit endpoints."""

import keras
from keras import ops

#: The variable name of the proposal boxes (the original's `proposal_box`, the only variable with that prefix).
BOX_VARIABLE_NAME = "proposal_box"


@keras.saving.register_keras_serializable(package="nlvl")
class ProposalBoxInitializer(keras.initializers.Initializer):
    """Column 0 (center c) ~ U[0, 1), column 1 (half-length h) ~ U[0, max_half_length) (fidelity LPNet §8.1, §14).

    Args:
        max_half_length: upper bound of the initial h. Defaults to 0.25 (initial lengths below 0.5).
        seed: optional int seed.
    """

    def __init__(self, max_half_length=0.25, seed=None):
        self.max_half_length = float(max_half_length)
        self.seed = seed
        # Keras' own uniform initializer handles the seed (and `keras.utils.set_random_seed`).
        self._uniform = keras.initializers.RandomUniform(minval=0.0, maxval=1.0, seed=seed)

    def __call__(self, shape, dtype=None):
        if len(shape) != 2 or shape[-1] != 2:
            raise ValueError(f"proposal boxes have shape (K, 2), got {shape}")
        values = self._uniform(shape, dtype=dtype)
        return values * ops.convert_to_tensor([1.0, self.max_half_length], dtype=values.dtype)

    def get_config(self):
        return {"max_half_length": self.max_half_length, "seed": self.seed}


@keras.saving.register_keras_serializable(package="nlvl")
class NonNegativeHalfLength(keras.constraints.Constraint):
    """Projects the half-length column onto h ≥ 0 after each update (`clamp_half_length`, fidelity LPNet D13)."""

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        return ops.stack([w[:, 0], ops.maximum(w[:, 1], ops.zeros_like(w[:, 1]))], axis=1)


@keras.saving.register_keras_serializable(package="nlvl")
class LearnableProposals(keras.layers.Layer):
    """The K learnable proposals of LPNet (fidelity LPNet §8.1; TF1: `models/layers.py::generate_proposal_boxes`).

    One variable `proposal_box` `(K, 2)`: column 0 the normalized center c, column 1 the normalized half-length
    h (not the length: the paper says length, the code uses half-length). The same K boxes serve every sample.

    - `crop_boxes(boxes)`: (y1, x1, y2, x2) = ReLU(0, c − h, 1, c + h) for `tf.image.crop_and_resize`, normalized
      image coordinates (no clipping at 1; x1 > x2 is allowed and samples in reverse order).
    - `index_bounds(boxes, lengths)`: s_bk = (c_k − h_k)·L_b, e_bk = (c_k + h_k)·L_b, floats in clip units,
      not rounded (the original's unused floor/ceil integer versions are not computed).

    The original's position embedding of the boxes (Dense(2 → 32, ReLU)) is never used, so it is not built.

    Args:
        num_proposals: K. Defaults to 100.
        initial_max_half_length: h starts uniform in [0, this). Defaults to 0.25.
        clamp_half_length: keep h ≥ 0 with a constraint applied after each optimizer update (fidelity LPNet D13).
            Defaults to `False` (original).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        lengths: int tensor `(B,)`, the valid clips L_b of each sample.

    Returns:
        `(boxes, start, end)`: the variable's value, float32 `(K, 2)`, and `index_bounds(boxes, lengths)`,
        float32 `(B, K)` each.

    Example:
    >>> boxes, start, end = LearnableProposals(7)(np.array([10, 4]))
    >>> tuple(boxes.shape), tuple(start.shape)
    ((7, 2), (2, 7))
    """

    def __init__(self, num_proposals=100, initial_max_half_length=0.25, clamp_half_length=False, **kwargs):
        super().__init__(**kwargs)
        self.num_proposals = int(num_proposals)
        self.initial_max_half_length = float(initial_max_half_length)
        self.clamp_half_length = bool(clamp_half_length)

    def build(self, lengths_shape=None):
        self.proposal_box = self.add_weight(
            name=BOX_VARIABLE_NAME,
            shape=(self.num_proposals, 2),
            initializer=ProposalBoxInitializer(self.initial_max_half_length),
            constraint=NonNegativeHalfLength() if self.clamp_half_length else None,
            dtype="float32",
            trainable=True,
        )

    def call(self, lengths):
        boxes = ops.convert_to_tensor(self.proposal_box)
        start, end = self.index_bounds(boxes, lengths)
        return boxes, start, end

    def compute_output_spec(self, lengths):
        bounds = keras.KerasTensor((lengths.shape[0], self.num_proposals), dtype="float32")
        return keras.KerasTensor((self.num_proposals, 2), dtype="float32"), bounds, bounds

    @staticmethod
    def crop_boxes(boxes):
        """`(K, 4)` float32 (y1, x1, y2, x2) = ReLU(0, c − h, 1, c + h)."""
        boxes = ops.cast(boxes, "float32")
        center, half = boxes[:, 0], boxes[:, 1]
        zeros, ones = ops.zeros_like(center), ops.ones_like(center)
        return ops.relu(ops.stack([zeros, center - half, ones, center + half], axis=1))

    @staticmethod
    def index_bounds(boxes, lengths):
        """`(start, end)`, float32 `(B, K)` each: (c − h)·L_b and (c + h)·L_b with `lengths` `(B,)`."""
        boxes = ops.cast(boxes, "float32")
        lengths = ops.expand_dims(ops.cast(lengths, "float32"), -1)  # (B, 1)
        center, half = boxes[None, :, 0], boxes[None, :, 1]
        return (center - half) * lengths, (center + half) * lengths

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_proposals": self.num_proposals,
                "initial_max_half_length": self.initial_max_half_length,
                "clamp_half_length": self.clamp_half_length,
            }
        )
        return config
