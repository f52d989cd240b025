"""Conditioned span predictor: start/end features (two stacked LSTMs, or a shared encoder) and two MLP heads."""

import math

import keras
from keras import ops

from common.layers.feature_encoder import FeatureEncoder
from common.layers.initializers import clone_initializer
from common.layers.layer_normalization import LayerNormalization
from common.layers.lstm_sequence import (
    LSTM_IMPLEMENTATIONS,
    keras_stacked_lstm_sequences,
    resolve_lstm_implementation,
    run_lstm,
)
from common.layers.masking import mask_logits

PREDICTORS = ("rnn", "transformer")
HEADS = ("mlp", "linear")


def tf1_lstm_initializer(input_dim, units):
    """Uniform(±√(6/(in + u + 4u))): TF1 `LSTMCell`'s joint Glorot kernel `[in + u, 4u]` (fidelity VSLNet §7.14).

    Use it for **both** the Keras `kernel` `[in, 4u]` and `recurrent_kernel` `[u, 4u]`, which are the two row
    blocks of the TF1 joint matrix.
    """
    limit = math.sqrt(6.0 / (input_dim + units + 4 * units))
    return keras.initializers.RandomUniform(minval=-limit, maxval=limit)


def build_tf1_lstm(units, input_dim, go_backwards=False, dtype=None, name=None):
    """A Keras `LSTM(return_sequences=True)` initialized like TF1 `LSTMCell` (no peepholes, no projection).

    Kernels: uniform(±√(6/(in + 5u))); bias zeros with `unit_forget_bias=True`, i.e. the forget block starts at 1,
    which equals TF1's constant `forget_bias=1.0` added inside the cell (the bias is neither decayed nor
    L2-regularized, so training is identical).

    TF1 → Keras weight mapping (TF1 gate order i, j, f, o; Keras i, f, c(=j), o): with
    `W = lstm_cell/kernel [in + u, 4u]`, `b = lstm_cell/bias [4u]` and `reorder(x) = concat(x_i, x_f, x_j, x_o)`
    along the last axis: `kernel = reorder(W[:in])`, `recurrent_kernel = reorder(W[in:])`,
    `bias = reorder(b) + [0, 1, 0, 0]` (add 1 on the forget block).
    """
    initializer = tf1_lstm_initializer(input_dim, units)
    return keras.layers.LSTM(
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer=initializer,
        recurrent_initializer=clone_initializer(initializer),
        bias_initializer="zeros",
        unit_forget_bias=True,
        return_sequences=True,
        go_backwards=go_backwards,
        dtype=dtype,
        name=name,
    )


@keras.saving.register_keras_serializable(package="nlvl")
class ConditionedSpanPredictor(keras.layers.Layer):
    """Start/end boundary logits conditioned on each other (fidelity VSLNet §3.9; fidelity LPNet §7, `rnn` only).

    TF1: `conditioned_predictor` (scope `conditioned_predictor/`).

    - `predictor="rnn"` (default): h^s = LSTM_s(F), h^e = LSTM_e(h^s); unidirectional, `hidden_dim` units each,
      TF1 `LSTMCell` initialization (see `build_tf1_lstm`). Outputs past each length are zero, like
      `dynamic_rnn(sequence_length=...)`; the LSTMs are causal and padding is on the right, so valid outputs do not
      depend on padding. `lstm_implementation` chooses how the two `keras.layers.LSTM` layers are computed
      (`run_lstm`): by the layers themselves (cuDNN on a GPU) or by `lstm_sequence`, whose hand-written gradient is
      much cheaper on CPU (with `sequence` both LSTMs run in one loop, `stacked_lstm_sequences`); the layers hold
      the weights either way.
    - `predictor="transformer"`: start = Enc_p(F), end = Enc_p(start) with **one** `FeatureEncoder` (own position
      table, own weights) called twice; then start = LN_s(start), end = LN_e(end) (end is computed from the
      un-normalized start).
    - Heads (`head="mlp"`, the code): g = ReLU(Dense(d + D_F → d, bias)([h; F])),
      logits = mask_logits(Dense(d → 1, bias)(g), video_mask), per boundary.
    - Heads (`head="linear"`, the paper's Eq. 4, fidelity VSLNet §6 #7): logits = mask_logits(W[h; F] + b, video_mask)
      with one Dense(d + D_F → 1, bias) per boundary (`start_dense`, `end_dense`); no `*_hidden` layers.
    - The input width D_F may differ from d for the rnn predictor (the LSTM_s kernel is [D_F, 4d] and the heads
      read d + D_F channels), e.g. the paper's 2d-wide highlighted features (fidelity VSLNet §6 #5). The transformer
      predictor needs D_F = d (its encoder adds residuals).

    Weights (TF1 name under `conditioned_predictor/` → ours): `start_rnn/rnn/lstm_cell/{kernel,bias}` →
    `start_rnn/...` (see `build_tf1_lstm` for the split/reorder), same for `end_rnn`; `feature_encoder/*` →
    `feature_encoder/*`; `s_layer_norm`, `e_layer_norm` → `start_layer_norm`, `end_layer_norm`;
    `{start,end}_hidden/kernel [1, 2d, d]` → `{start,end}_hidden/kernel [2d, d]`;
    `{start,end}_dense/kernel [1, d, 1]` → `{start,end}_dense/kernel [d, 1]`; biases drop their leading 1s.
    Parameters at d = 128 (D_F = d): LSTMs 2·131,584 = 263,168; heads 65,792 + 258 (`mlp`) or 2·257 = 514
    (`linear`); transformer: encoder 153,600 (at 128 positions) + 2 LayerNorms 512.

    Args:
        hidden_dim: int, width `d` (also the LSTM units).
        predictor: `"rnn"` or `"transformer"`. Defaults to `"rnn"`.
        head: `"mlp"` (the code's Dense + ReLU + Dense) or `"linear"` (the paper's single linear layer). Defaults
            to `"mlp"`.
        num_heads: int, heads of the transformer encoder. Defaults to 8.
        max_pos_len: int, position-table rows of the transformer encoder. Defaults to 128.
        dropout: float, dropout of the transformer encoder (the rnn predictor has no dropout, as the original).
            Defaults to 0.
        layer_norm_epsilon: float. Defaults to 1e-6.
        kernel_initializer: initializer of the Dense kernels and the transformer encoder. Defaults to
            `"glorot_uniform"`.
        lstm_implementation: `"auto"`, `"keras"` or `"sequence"`, how the rnn predictor's LSTMs are computed
            (`common.layers.lstm_sequence.resolve_lstm_implementation`; `auto` is resolved when the layer is built).
            Defaults to `"auto"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        features: float tensor `(B, n, d)`, F (X̃ for VSLNet, V^q for VSLBase).
        video_mask: bool tensor `(B, n)`, `True` on valid clips (right padding).
        training: bool, dropout is active only when `True`.
        return_features: bool; also return the start/end features before the heads (the LSTM outputs, or the
            LayerNorm'd encoder outputs), each `(B, n, d)`.

    Returns:
        `(start_logits, end_logits)`, float32 `(B, n)` each, padded clips at `float32(-1e30)`; with
        `return_features=True`, `(start_logits, end_logits, start_features, end_features)`.

    Example:
    >>> predictor = ConditionedSpanPredictor(8)
    >>> start, end = predictor(np.zeros((2, 5, 8)), np.ones((2, 5), bool))
    >>> tuple(start.shape)
    (2, 5)
    """

    def __init__(
        self,
        hidden_dim,
        predictor="rnn",
        head="mlp",
        num_heads=8,
        max_pos_len=128,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        lstm_implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {PREDICTORS}, got {predictor!r}.")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}.")
        if lstm_implementation not in LSTM_IMPLEMENTATIONS:
            raise ValueError(f"lstm_implementation must be one of {LSTM_IMPLEMENTATIONS}, got {lstm_implementation!r}.")
        self.hidden_dim = int(hidden_dim)
        self.predictor = predictor
        self.head = head
        self.num_heads = int(num_heads)
        self.max_pos_len = int(max_pos_len)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.lstm_implementation = lstm_implementation

        if self.predictor == "transformer":
            self.encoder = FeatureEncoder(
                self.hidden_dim,
                num_heads=self.num_heads,
                max_pos_len=self.max_pos_len,
                dropout=self.dropout,
                layer_norm_epsilon=self.layer_norm_epsilon,
                kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                dtype=self.dtype_policy,
                name="feature_encoder",
            )
            self.start_layer_norm = LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="start_layer_norm"
            )
            self.end_layer_norm = LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="end_layer_norm"
            )

        def dense(units, activation, name):
            return keras.layers.Dense(
                units,
                activation=activation,
                use_bias=True,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer="zeros",
                dtype=self.dtype_policy,
                name=name,
            )

        if self.head == "mlp":
            self.start_hidden = dense(self.hidden_dim, "relu", "start_hidden")
            self.end_hidden = dense(self.hidden_dim, "relu", "end_hidden")
        self.start_dense = dense(1, None, "start_dense")
        self.end_dense = dense(1, None, "end_dense")

    def build(self, features_shape, video_mask_shape=None):
        input_dim = features_shape[-1]
        if input_dim is None:
            raise ValueError("ConditionedSpanPredictor needs a known feature dimension.")
        batch_time = tuple(features_shape[:-1])
        d = self.hidden_dim
        if self.predictor == "rnn":
            # The initializer depends on the input width, so the LSTMs are created here.
            self.start_rnn = build_tf1_lstm(d, input_dim, dtype=self.dtype_policy, name="start_rnn")
            self.end_rnn = build_tf1_lstm(d, d, dtype=self.dtype_policy, name="end_rnn")
            self.start_rnn.build(batch_time + (input_dim,))
            self.end_rnn.build(batch_time + (d,))
            self._resolved_lstm_implementation = resolve_lstm_implementation(
                self.lstm_implementation, self.compute_dtype
            )
        else:
            if input_dim != d:
                raise ValueError(f"The transformer predictor expects {d} input channels, got {input_dim}.")
            self.encoder.build(batch_time + (d,))
            self.start_layer_norm.build(batch_time + (d,))
            self.end_layer_norm.build(batch_time + (d,))
        if self.head == "mlp":
            self.start_hidden.build(batch_time + (d + input_dim,))
            self.end_hidden.build(batch_time + (d + input_dim,))
            self.start_dense.build(batch_time + (d,))
            self.end_dense.build(batch_time + (d,))
        else:
            self.start_dense.build(batch_time + (d + input_dim,))
            self.end_dense.build(batch_time + (d + input_dim,))

    def call(self, features, video_mask, training=None, return_features=False):
        if self.predictor == "rnn":
            keep = ops.expand_dims(ops.cast(video_mask, self.compute_dtype), -1)
            if self._resolved_lstm_implementation == "sequence":
                # Both LSTMs in one wavefront loop. LSTM_e reads the unmasked h^s: the LSTMs are causal and padding
                # is on the right, so only padded outputs differ, and those are zeroed.
                start_features, end_features = keras_stacked_lstm_sequences(self.start_rnn, self.end_rnn, features)
                start_features, end_features = start_features * keep, end_features * keep
            else:
                start_features = run_lstm(self.start_rnn, features, self._resolved_lstm_implementation) * keep
                end_features = run_lstm(self.end_rnn, start_features, self._resolved_lstm_implementation) * keep
        else:
            start_features = self.encoder(features, padding_mask=video_mask, training=training)
            end_features = self.encoder(start_features, padding_mask=video_mask, training=training)
            start_features = self.start_layer_norm(start_features)
            end_features = self.end_layer_norm(end_features)
        start_hidden = ops.concatenate([start_features, features], axis=-1)
        end_hidden = ops.concatenate([end_features, features], axis=-1)
        if self.head == "mlp":
            start_hidden = self.start_hidden(start_hidden)
            end_hidden = self.end_hidden(end_hidden)
        start_logits = mask_logits(ops.squeeze(self.start_dense(start_hidden), -1), video_mask)
        end_logits = mask_logits(ops.squeeze(self.end_dense(end_hidden), -1), video_mask)
        if return_features:
            return start_logits, end_logits, start_features, end_features
        return start_logits, end_logits

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "predictor": self.predictor,
                "head": self.head,
                "num_heads": self.num_heads,
                "max_pos_len": self.max_pos_len,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "lstm_implementation": self.lstm_implementation,
            }
        )
        return config
