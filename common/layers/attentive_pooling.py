"""Self-attentive pooling of a sequence into one vector: the query vector h_Q of VSLNet and LPNet, the proposal
scorer's query vector and the Nil Prediction Module's clip vector."""

import keras
from keras import ops

from common.layers.initializers import clone_initializer
from common.layers.masking import mask_logits


@keras.saving.register_keras_serializable(package="nlvl")
class AttentivePooling(keras.layers.Layer):
    """h = Σ_j α_j·x_j with α = softmax over j of mask_logits(x_j·w, mask) (`docs/fidelity.md`, VSLNet §3.7).

    The scores are computed in float32 and the weights `w` `[d, 1]` have no bias (a bias is a no-op under the
    softmax). TF1: the `weight [d, 1]` of `context_query_concat` (VSLNet, LPNet) and of LPNet's
    `context_query_position_concat`.

    Args:
        hidden_dim: int, width `d`.
        kernel_initializer: initializer of `w`, cloned when the weight is built (so a parent may pass its own).
            Defaults to `"glorot_uniform"` (limit √(6/(d+1))).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        sequence: float tensor `[B, m, d]`.
        mask: bool tensor `[B, m]`; padded positions get weight 0 (an all-padding row gets uniform weights).
        return_weights: also return α `[B, m]` (float32).

    Returns:
        float tensor `[B, d]` (and α with `return_weights=True`).

    Example:
    >>> pooled = AttentivePooling(4)(np.ones((2, 3, 4)), np.array([[1, 1, 0], [1, 0, 0]], bool))
    >>> tuple(pooled.shape)
    (2, 4)
    """

    def __init__(self, hidden_dim, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, sequence_shape=None, mask_shape=None):
        self.pooling_kernel = self.add_weight(
            name="pooling_kernel", shape=(self.hidden_dim, 1), initializer=clone_initializer(self.kernel_initializer)
        )

    def call(self, sequence, mask, return_weights=False):
        logits = ops.squeeze(ops.matmul(sequence, ops.cast(self.pooling_kernel, sequence.dtype)), -1)
        weights = ops.softmax(mask_logits(logits, mask), axis=1)
        pooled = ops.squeeze(ops.matmul(ops.expand_dims(ops.cast(weights, sequence.dtype), 1), sequence), 1)
        if return_weights:
            return pooled, weights
        return pooled

    def compute_output_shape(self, sequence_shape, mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {"hidden_dim": self.hidden_dim, "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
        )
        return config
