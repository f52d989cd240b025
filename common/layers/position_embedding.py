"""Learned absolute position embedding added to a sequence (the original `add_positional_embedding`)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nlvl")
class PositionEmbedding(keras.layers.Layer):
    """Adds rows `0..L-1` of a learned `[max_pos_len, d]` table to the inputs (fidelity VSLNet §3.5.1, fidelity LPNet
    §5.1).

    TF1: `add_positional_embedding`; variable `positional_embedding/position_embeddings [max_pos_len, d]` →
    our weight `position_embeddings` (same layout, Glorot-uniform, no regularizer).

    Args:
        max_pos_len: int, the number of table rows; inputs longer than this raise (the original asserts).
        initializer: initializer of the table. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(B, L, d)` with `L <= max_pos_len`.
        offsets: optional int tensor `(B,)`: row `b` receives table rows `offsets[b] .. offsets[b] + L − 1`
            (VSLNet-L's clips at their place in the video, `clip_positions="global"`). `None`: rows `0..L−1`.

    Returns:
        float tensor `(B, L, d)`: `inputs + table[:L]` (or the offset rows).

    Masking: none; padded positions receive position vectors too (as in the original).

    Example:
    >>> tuple(PositionEmbedding(16)(np.zeros((2, 5, 8))).shape)
    (2, 5, 8)
    """

    def __init__(self, max_pos_len, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.max_pos_len = int(max_pos_len)
        self.initializer = keras.initializers.get(initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_pos_len, inputs_shape[-1]),
            initializer=self.initializer,
            trainable=True,
        )

    def call(self, inputs, offsets=None):
        length = inputs.shape[1]
        if isinstance(length, int) and length > self.max_pos_len:
            raise ValueError(f"Sequence length {length} exceeds max_pos_len={self.max_pos_len}.")
        length = ops.shape(inputs)[1]
        if offsets is not None:
            rows = ops.expand_dims(ops.cast(offsets, "int32"), 1) + ops.arange(length, dtype="int32")[None]
            return inputs + ops.cast(ops.take(self.position_embeddings, rows, axis=0), inputs.dtype)
        # A dynamic length above max_pos_len makes `slice` fail at run time, like the original's assert.
        positions = ops.slice(self.position_embeddings, [0, 0], [length, self.position_embeddings.shape[-1]])
        return inputs + ops.cast(positions, inputs.dtype)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_pos_len": self.max_pos_len, "initializer": keras.initializers.serialize(self.initializer)})
        return config
