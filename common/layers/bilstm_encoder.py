"""BiLSTM feature encoder: the "BiLSTM" alternative of VSLNet's Table 8 ablation (paper-derived, no code)."""

import keras
import tensorflow as tf
from keras import ops

from common.layers.dropout import Dropout
from common.layers.lstm_sequence import LSTM_IMPLEMENTATIONS, resolve_lstm_implementation, run_lstm
from common.layers.span_predictor import build_tf1_lstm


@keras.saving.register_keras_serializable(package="nlvl")
class BiLSTMEncoder(keras.layers.Layer):
    """One bidirectional LSTM layer replacing `FeatureEncoder` (VSLNet paper, Table 8 "BiLSTM" rows).

    **Paper-derived design** (the released code has no such encoder): Table 8 compares the feature encoder
    ("CMF": conv + multi-head attention + feed-forward) with a BiLSTM, both shared between video and query in
    VSLBase. Our choices, made to be a drop-in replacement of `FeatureEncoder`:

    - one BiLSTM layer with `hidden_dim // 2` units per direction, outputs concatenated (forward first), so the
      output width is `hidden_dim`;
    - the backward direction starts at each sequence's last valid position: each sequence is reversed within its
      length, so padding on the right never reaches valid outputs (what the Keras LSTMs give when called with the
      mask, the backward one with `go_backwards`); outputs past the length are zero;
    - LSTMs use the TF1 `LSTMCell` initialization of the rnn predictor (`build_tf1_lstm`); the two Keras LSTM layers
      hold the weights, and `lstm_implementation` chooses who computes them (`run_lstm`: the layers themselves,
      i.e. cuDNN on a GPU, or `lstm_sequence`, with a cheaper gradient on CPU); the within-length reversal is the
      same for both;
    - dropout (`dropout`) on the output, like the residual dropout of the conv/attention encoder;
    - no position embedding (the recurrence is order-aware).
    Like `FeatureEncoder`, call the **same instance** for video and query.

    Parameters at d = 128, input 128: 2·(128 + 64 + 1)·256 = 98,816.

    Args:
        hidden_dim: int, output width `d`; must be even.
        dropout: float, dropout rate on the output. Defaults to 0.
        lstm_implementation: `"auto"`, `"keras"` or `"sequence"`, how the LSTMs are computed
            (`common.layers.lstm_sequence.resolve_lstm_implementation`; `auto` is resolved when the layer is built).
            Defaults to `"auto"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(B, L, d_in)`.
        padding_mask: optional bool tensor `(B, L)`, `True` on valid positions (right padding). `None` = all valid.
        training: bool, dropout is active only when `True`.

    Returns:
        float tensor `(B, L, hidden_dim)`, zero past each length.

    Example:
    >>> tuple(BiLSTMEncoder(8)(np.zeros((2, 5, 8)), np.ones((2, 5), bool)).shape)
    (2, 5, 8)
    """

    def __init__(self, hidden_dim, dropout=0.0, lstm_implementation="auto", **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % 2 != 0:
            raise ValueError(f"hidden_dim must be even (two directions of hidden_dim // 2), got {hidden_dim}.")
        if lstm_implementation not in LSTM_IMPLEMENTATIONS:
            raise ValueError(f"lstm_implementation must be one of {LSTM_IMPLEMENTATIONS}, got {lstm_implementation!r}.")
        self.hidden_dim = int(hidden_dim)
        self.dropout = float(dropout)
        self.lstm_implementation = lstm_implementation
        self.supports_masking = True
        self.dropout_layer = Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, inputs_shape, padding_mask_shape=None):
        input_dim = inputs_shape[-1]
        units = self.hidden_dim // 2
        self.forward_rnn = build_tf1_lstm(units, input_dim, dtype=self.dtype_policy, name="forward_rnn")
        self.backward_rnn = build_tf1_lstm(
            units, input_dim, go_backwards=True, dtype=self.dtype_policy, name="backward_rnn"
        )
        self.forward_rnn.build(tuple(inputs_shape))
        self.backward_rnn.build(tuple(inputs_shape))
        self._resolved_lstm_implementation = resolve_lstm_implementation(self.lstm_implementation, self.compute_dtype)

    def call(self, inputs, padding_mask=None, training=None):
        if padding_mask is None:
            padding_mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        padding_mask = ops.cast(padding_mask, "bool")
        lengths = ops.sum(ops.cast(padding_mask, "int32"), axis=1)

        def reverse_valid_steps(sequences):
            return tf.reverse_sequence(sequences, lengths, seq_axis=1, batch_axis=0)

        implementation = self._resolved_lstm_implementation
        forward = run_lstm(self.forward_rnn, inputs, implementation)
        backward = reverse_valid_steps(run_lstm(self.backward_rnn, reverse_valid_steps(inputs), implementation))
        outputs = ops.concatenate([forward, backward], axis=-1)
        outputs = outputs * ops.expand_dims(ops.cast(padding_mask, outputs.dtype), -1)
        return self.dropout_layer(outputs, training=training)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return tuple(inputs_shape[:-1]) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"hidden_dim": self.hidden_dim, "dropout": self.dropout, "lstm_implementation": self.lstm_implementation}
        )
        return config
