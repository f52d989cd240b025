"""VSLNet-L's Nil Prediction Module: does a clip hold (part of) the moment? (fidelity VSLNet §5.2, paper Eq. 11–14)."""

import keras
from keras import ops

from common.layers.attentive_pooling import AttentivePooling
from common.layers.feature_encoder import FeatureEncoder
from common.layers.initializers import clone_initializer

NPM_FFNS = ("linear", "mlp")


@keras.saving.register_keras_serializable(package="nlvl")
class NilPredictionModule(keras.layers.Layer):
    """Ĉ_k = Enc_NPM(C^q_k); h_k = Σ_i softmax_i(Conv1D(d → 1)(Ĉ_k))·ĉ_k,i; nil logit z_k = FFN(h_k).

    S_k = sigmoid(z_k) is the probability that clip k is *not* nil (it overlaps the moment); `normalize_nil_scores`
    turns it into the re-weighting S̄_k.

    - Enc_NPM ([OPEN-4]): with `own_encoder`, a `FeatureEncoder` with its own weights and the shared encoder's
      architecture (fidelity VSLNet §3.5); without, Ĉ = C^q (the ReLER port pools the cross-modal features directly).
    - Self-attentive pooling (`AttentivePooling`): the paper's kernel-1 Conv1D(d → 1) without bias (a bias is a
      no-op under the softmax), masked softmax over the clip's valid positions (an all-padding clip gets uniform
      weights; its score is discarded by `normalize_nil_scores`).
    - FFN ([OPEN-5]): `linear` = Dense(d → 1, bias); `mlp` = Dense(d → d, ReLU), Dense(d → 1).

    Args:
        hidden_dim: d.
        own_encoder: bool. Defaults to `True`.
        ffn: `linear` or `mlp`. Defaults to `"linear"`.
        num_heads, max_pos_len, kernel_size, num_conv_layers, dropout, masked_conv: of the own encoder
            (as `FeatureEncoder`).
        kernel_initializer: Dense kernels. Defaults to `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        clip_features: float tensor `[B·K, l, d]`, C^q of every clip.
        clip_mask: bool tensor `[B·K, l]`.
        position_offsets: optional int `[B·K]`, as `FeatureEncoder`.
        training: dropout on/off.

    Returns:
        `(encoded, nil_logits)`: Ĉ `[B·K, l, d]` and z `[B·K]` (float32).

    Example:
    >>> npm = NilPredictionModule(8, num_heads=2, max_pos_len=16)
    >>> encoded, logits = npm(np.zeros((6, 4, 8)), np.ones((6, 4), bool))
    >>> tuple(encoded.shape), tuple(logits.shape)
    ((6, 4, 8), (6,))
    """

    def __init__(
        self,
        hidden_dim,
        own_encoder=True,
        ffn="linear",
        num_heads=8,
        max_pos_len=128,
        kernel_size=7,
        num_conv_layers=4,
        dropout=0.0,
        masked_conv=False,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if ffn not in NPM_FFNS:
            raise ValueError(f"ffn={ffn!r}; expected one of {NPM_FFNS}")
        self.hidden_dim = int(hidden_dim)
        self.own_encoder = bool(own_encoder)
        self.ffn = ffn
        self.num_heads = int(num_heads)
        self.max_pos_len = int(max_pos_len)
        self.kernel_size = int(kernel_size)
        self.num_conv_layers = int(num_conv_layers)
        self.dropout = float(dropout)
        self.masked_conv = bool(masked_conv)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        def dense(units, name, use_bias=True, activation=None):
            return keras.layers.Dense(
                units,
                use_bias=use_bias,
                activation=activation,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                dtype=self.dtype_policy,
                name=name,
            )

        if self.own_encoder:
            self.encoder = FeatureEncoder(
                self.hidden_dim,
                num_heads=self.num_heads,
                max_pos_len=self.max_pos_len,
                kernel_size=self.kernel_size,
                num_conv_layers=self.num_conv_layers,
                dropout=self.dropout,
                masked_conv=self.masked_conv,
                dtype=self.dtype_policy,
                name="npm_encoder",
            )
        self.pooling = AttentivePooling(
            self.hidden_dim,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="pooling",
        )
        if self.ffn == "mlp":
            self.ffn_hidden = dense(self.hidden_dim, "ffn_hidden", activation="relu")
        self.ffn_output = dense(1, "ffn_output")

    def build(self, clip_features_shape, clip_mask_shape=None):
        shape = tuple(clip_features_shape[:-1]) + (self.hidden_dim,)
        if self.own_encoder:
            self.encoder.build(shape)
        self.pooling.build(shape)
        pooled = (clip_features_shape[0], self.hidden_dim)
        if self.ffn == "mlp":
            self.ffn_hidden.build(pooled)
        self.ffn_output.build(pooled)

    def call(self, clip_features, clip_mask, position_offsets=None, training=None):
        encoded = clip_features
        if self.own_encoder:
            encoded = self.encoder(clip_features, clip_mask, training=training, position_offsets=position_offsets)
        pooled = self.pooling(encoded, clip_mask)  # h_k [B·K, d]
        if self.ffn == "mlp":
            pooled = self.ffn_hidden(pooled)
        return encoded, ops.cast(ops.squeeze(self.ffn_output(pooled), -1), "float32")

    def compute_output_spec(self, clip_features, clip_mask, position_offsets=None, training=None):
        batch = clip_features.shape[0]
        return (
            keras.KerasTensor(clip_features.shape[:-1] + (self.hidden_dim,), dtype=self.compute_dtype),
            keras.KerasTensor((batch,), dtype="float32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "own_encoder": self.own_encoder,
                "ffn": self.ffn,
                "num_heads": self.num_heads,
                "max_pos_len": self.max_pos_len,
                "kernel_size": self.kernel_size,
                "num_conv_layers": self.num_conv_layers,
                "dropout": self.dropout,
                "masked_conv": self.masked_conv,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config


def normalize_nil_scores(nil_logits, clip_valid, exclude_empty=True, gradient_through_max=True):
    """S̄ = S / max_k S_k per sample (paper Eq. 14), with S = sigmoid(z) (fidelity VSLNet §5.2 steps 7–8).

    Args:
        nil_logits: float `[B, K]`, z.
        clip_valid: bool `[B, K]`, clips with at least one valid position.
        exclude_empty: [OPEN-7] all-padding clips get S̄ = 0 and do not enter the max (True). False: every
            clip is scored and normalized alike.
        gradient_through_max: [OPEN-8] differentiate through the max (True) or stop its gradient.

    Returns:
        float32 `[B, K]`, S̄ ∈ [0, 1], 1 at each sample's best (valid) clip.
    """
    scores = ops.sigmoid(ops.cast(nil_logits, "float32"))
    if exclude_empty:
        scores = ops.where(clip_valid, scores, ops.zeros_like(scores))
    maximum = ops.max(scores, axis=-1, keepdims=True)
    if not gradient_through_max:
        maximum = ops.stop_gradient(maximum)
    # The floor only matters when every sigmoid underflows to 0 (logits below −88): S̄ is then 0, not NaN.
    return scores / ops.maximum(maximum, 1e-30)
