"""The paper's boundary-aware predictor: a BiLSTM and two feed-forward heads (paper Eq. 8–9; not in the code)."""

import keras
from keras import ops

from common.layers.bilstm_encoder import BiLSTMEncoder
from common.layers.initializers import clone_initializer
from common.layers.masking import mask_logits


@keras.saving.register_keras_serializable(package="nlvl")
class BiLSTMBoundaryPredictor(keras.layers.Layer):
    """Start/end logits from one BiLSTM over the clips and two FFNs (`bal_predictor="bilstm"`, fidelity LPNet §12).

    **Paper-derived design.** The paper describes the boundary-aware predictor as a BiLSTM followed by two
    feed-forward networks, one per boundary; the released code uses the conditioned predictor (two stacked
    unidirectional LSTMs, `common.layers.span_predictor.ConditionedSpanPredictor`) instead, and its BiLSTM helper is
    unused. Our reading, a drop-in replacement of the conditioned predictor:

    - h = `BiLSTMEncoder`(H) (`hidden_dim // 2` units per direction, concatenated, zero past each length);
    - start_logits = mask_logits(Dense(d → 1)(ReLU(Dense(d → d)(h))), video_mask); end likewise with own weights.

    Args:
        hidden_dim: int, d (even).
        kernel_initializer: Dense kernels. Defaults to `"glorot_uniform"`.
        lstm_implementation: `"auto"`, `"keras"` or `"sequence"`, how the BiLSTM is computed (`BiLSTMEncoder`).
            Defaults to `"auto"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        features: float tensor `(B, n, d)`.
        video_mask: bool tensor `(B, n)`.
        training: bool.

    Returns:
        `(start_logits, end_logits)`, float32 `(B, n)` each, padded clips at `float32(-1e30)`.

    Example:
    >>> start, end = BiLSTMBoundaryPredictor(8)(np.zeros((2, 5, 8)), np.ones((2, 5), bool))
    >>> tuple(start.shape)
    (2, 5)
    """

    def __init__(self, hidden_dim, kernel_initializer="glorot_uniform", lstm_implementation="auto", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.lstm_implementation = lstm_implementation
        self.encoder = BiLSTMEncoder(
            self.hidden_dim, lstm_implementation=self.lstm_implementation, dtype=self.dtype_policy, name="bilstm"
        )

        def dense(units, activation, name):
            return keras.layers.Dense(
                units,
                activation=activation,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                dtype=self.dtype_policy,
                name=name,
            )

        self.start_hidden = dense(self.hidden_dim, "relu", "start_hidden")
        self.end_hidden = dense(self.hidden_dim, "relu", "end_hidden")
        self.start_dense = dense(1, None, "start_dense")
        self.end_dense = dense(1, None, "end_dense")

    def build(self, features_shape, video_mask_shape=None):
        shape = tuple(features_shape[:-1])
        self.encoder.build(tuple(features_shape))
        self.start_hidden.build(shape + (self.hidden_dim,))
        self.end_hidden.build(shape + (self.hidden_dim,))
        self.start_dense.build(shape + (self.hidden_dim,))
        self.end_dense.build(shape + (self.hidden_dim,))

    def call(self, features, video_mask, training=None):
        hidden = self.encoder(features, video_mask, training=training)
        start_logits = mask_logits(ops.squeeze(self.start_dense(self.start_hidden(hidden)), -1), video_mask)
        end_logits = mask_logits(ops.squeeze(self.end_dense(self.end_hidden(hidden)), -1), video_mask)
        return start_logits, end_logits

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "lstm_implementation": self.lstm_implementation,
            }
        )
        return config
