"""Character embedding + char-CNN (four VALID convolutions over the characters of each word, max-pooled)."""

import keras
from keras import ops

from common.layers.dropout import Dropout
from common.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="nlvl")
class CharEmbedding(keras.layers.Layer):
    """Char table lookup, dropout, then a char-CNN with max over the char axis (fidelity VSLNet §3.3, fidelity LPNet
    §4).

    TF1: `char_embedding_lookup` in `model/layers.py` (VSLNet) / `models/layers.py` (LPNet). For each
    `(k, f)` in `zip(kernel_sizes, filters)` a 2-D convolution over the (word, char) axes with kernel `[1, k]`,
    stride 1 and VALID padding, plus a bias, then ReLU and the max over the char axis. Padding chars take part in
    the max (no masking), exactly as in the original.

    Deviation-free fix (fidelity VSLNet §7.7, fidelity LPNet D15): when the longest word of the batch has fewer chars
    than the widest kernel, the char axis is padded with PAD ids up to `max(kernel_sizes)`. The original returns NaN in
    that case (empty max); otherwise nothing changes.

    Weights (TF1 name → ours): `char_table [n_chars-1, c]` → `char_table` (Glorot-uniform; the PAD row 0 is a
    constant zero row); `filter_i [1, k, c, f]` → `conv_i/kernel` (same layout, Glorot-uniform with
    fan_in = k·c, fan_out = k·f); `bias_i [f]` → `conv_i/bias` (zeros).

    Args:
        num_chars: int, the char vocabulary size including PAD (0) and UNK (1) (`char_size` in the original).
        char_dim: int, char vector size `c` (50; 100 for ActivityNet). Defaults to 50.
        kernel_sizes: widths of the char convolutions. Defaults to `(1, 2, 3, 4)`.
        filters: output channels of each convolution. Defaults to `(10, 20, 30, 40)` (100 in total).
        dropout: float, dropout rate on the looked-up char vectors. Defaults to 0.
        embeddings_initializer: initializer of the char table. Defaults to `"glorot_uniform"`.
        kernel_initializer: initializer of the conv kernels. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        char_ids: int tensor `(B, m, W)`; 0 = PAD.
        training: bool, dropout is active only when `True`.

    Returns:
        float tensor `(B, m, sum(filters))` = `(B, m, 100)`.

    Masking: none (padding chars are part of the max, as in the original).

    Example:
    >>> tuple(CharEmbedding(10, char_dim=8)(np.ones((2, 3, 5), "int32")).shape)
    (2, 3, 100)
    """

    def __init__(
        self,
        num_chars,
        char_dim=50,
        kernel_sizes=(1, 2, 3, 4),
        filters=(10, 20, 30, 40),
        dropout=0.0,
        embeddings_initializer="glorot_uniform",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(kernel_sizes) != len(filters):
            raise ValueError(f"kernel_sizes {kernel_sizes} and filters {filters} must have the same length.")
        self.num_chars = int(num_chars)
        self.char_dim = int(char_dim)
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.filters = tuple(int(f) for f in filters)
        self.dropout = float(dropout)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dropout_layer = Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")
        self.convs = [
            keras.layers.Conv2D(
                filters=f,
                kernel_size=(1, k),
                strides=1,
                padding="valid",
                data_format="channels_last",
                activation="relu",
                use_bias=True,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer="zeros",
                dtype=self.dtype_policy,
                name=f"conv_{i}",
            )
            for i, (k, f) in enumerate(zip(self.kernel_sizes, self.filters))
        ]
        # Layers held only in a list are skipped by `tf.train.Checkpoint` (keras-team/keras#19425): name each one.
        for i, conv in enumerate(self.convs):
            setattr(self, f"conv_{i}", conv)

    def build(self, char_ids_shape=None):
        self.char_table = self.add_weight(
            name="char_table",
            shape=(self.num_chars - 1, self.char_dim),
            initializer=self.embeddings_initializer,
            trainable=True,
        )
        width = None if char_ids_shape is None else char_ids_shape[-1]
        if width is not None:
            width = max(width, max(self.kernel_sizes))
        for conv in self.convs:
            conv.build((None, None, width, self.char_dim))

    def call(self, char_ids, training=None):
        char_ids = ops.cast(char_ids, "int32")
        # Pad the char axis to the widest kernel (fidelity VSLNet §7.7): a no-op unless every word is shorter.
        width = ops.shape(char_ids)[-1]
        pad = ops.maximum(max(self.kernel_sizes) - width, 0)
        char_ids = ops.pad(char_ids, [[0, 0], [0, 0], [0, pad]])
        pad_row = ops.zeros((1, self.char_dim), dtype=self.char_table.dtype)
        table = ops.concatenate([pad_row, self.char_table], axis=0)
        embeddings = ops.cast(ops.take(table, char_ids, axis=0), self.compute_dtype)  # (B, m, W, c)
        embeddings = self.dropout_layer(embeddings, training=training)
        outputs = [ops.max(conv(embeddings), axis=2) for conv in self.convs]  # each (B, m, f)
        return ops.concatenate(outputs, axis=-1)

    def compute_output_shape(self, char_ids_shape):
        return tuple(char_ids_shape[:2]) + (sum(self.filters),)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_chars": self.num_chars,
                "char_dim": self.char_dim,
                "kernel_sizes": list(self.kernel_sizes),
                "filters": list(self.filters),
                "dropout": self.dropout,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
