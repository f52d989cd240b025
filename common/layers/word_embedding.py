"""Word embedding with a constant PAD row, a trainable UNK row and frozen pre-trained (GloVe) rows."""

import keras
import numpy as np
from keras import ops

from common.layers.dropout import Dropout


@keras.saving.register_keras_serializable(package="nlvl")
class WordEmbedding(keras.layers.Layer):
    """Frozen GloVe lookup with a trainable UNK vector, then dropout (fidelity VSLNet §3.2, fidelity LPNet §4).

    TF1: `model/layers.py::word_embedding_lookup` (VSLNet) and `models/layers.py::word_embedding_lookup` (LPNet).
    The lookup table is `concat([zeros(1, word_dim) (PAD, id 0); unk (1, word_dim) (id 1); word_table])`, so word id
    `k >= 2` reads `word_table[k - 2]`.

    Weights (TF1 name → ours): `word_embeddings/unk [1, 300]` → `unk` (trainable, Glorot-uniform);
    `word_embeddings/word_table [V-2, 300]` → `word_table` (not trainable). The PAD row is a constant, not a weight.

    Args:
        vocabulary_size: int, the number of word ids including PAD (0) and UNK (1); the frozen table has
            `vocabulary_size - 2` rows.
        word_dim: int, the word vector size. Defaults to 300.
        dropout: float, dropout rate on the looked-up vectors (`drop_rate`). Defaults to 0.
        word_vectors: optional float array `(vocabulary_size - 2, word_dim)`, the pre-trained vectors assigned to
            `word_table` at build time. Not part of `get_config()` (it can be large): a layer rebuilt from its
            config gets a zero table, and the vectors come back with the weights (checkpoint / `set_weights`).
        unk_initializer: initializer of the UNK row. Defaults to `"glorot_uniform"` (TF1 `get_variable` default).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        word_ids: int tensor `(B, m)`; 0 = PAD, 1 = UNK.
        training: bool, dropout is active only when `True`.

    Returns:
        float tensor `(B, m, word_dim)`; PAD positions are zero vectors.

    Masking: none; the query mask is `word_ids != 0`, computed by the caller.

    Example:
    >>> layer = WordEmbedding(5, word_dim=4, word_vectors=np.ones((3, 4), "float32"))
    >>> tuple(layer(np.array([[2, 1, 0]])).shape)
    (1, 3, 4)
    """

    def __init__(
        self,
        vocabulary_size,
        word_dim=300,
        dropout=0.0,
        word_vectors=None,
        unk_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if vocabulary_size < 2:
            raise ValueError(f"vocabulary_size must count PAD and UNK (>= 2), got {vocabulary_size}.")
        self.vocabulary_size = int(vocabulary_size)
        self.word_dim = int(word_dim)
        self.dropout = float(dropout)
        if word_vectors is not None:
            word_vectors = np.asarray(word_vectors, dtype="float32")
            expected = (self.vocabulary_size - 2, self.word_dim)
            if word_vectors.shape != expected:
                raise ValueError(f"word_vectors must have shape {expected}, got {word_vectors.shape}.")
        self.word_vectors = word_vectors
        self.unk_initializer = keras.initializers.get(unk_initializer)
        self.dropout_layer = Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, word_ids_shape=None):
        self.unk = self.add_weight(
            name="unk", shape=(1, self.word_dim), initializer=self.unk_initializer, trainable=True
        )
        # The vectors are the initializer, not an `assign` after creation: a first call inside Keras' symbolic
        # (stateless) scope would discard the assignment and leave an all-zero table.
        vectors = self.word_vectors
        self.word_table = self.add_weight(
            name="word_table",
            shape=(self.vocabulary_size - 2, self.word_dim),
            initializer="zeros"
            if vectors is None
            else (lambda shape, dtype=None: ops.convert_to_tensor(vectors, dtype)),
            trainable=False,
        )

    def call(self, word_ids, training=None):
        pad = ops.zeros((1, self.word_dim), dtype=self.unk.dtype)
        table = ops.concatenate([pad, self.unk, ops.convert_to_tensor(self.word_table)], axis=0)
        embeddings = ops.take(table, ops.cast(word_ids, "int32"), axis=0)
        embeddings = ops.cast(embeddings, self.compute_dtype)
        return self.dropout_layer(embeddings, training=training)

    def compute_output_shape(self, word_ids_shape):
        return tuple(word_ids_shape) + (self.word_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "word_dim": self.word_dim,
                "dropout": self.dropout,
                "unk_initializer": keras.initializers.serialize(self.unk_initializer),
            }
        )
        return config
