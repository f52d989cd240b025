"""Scaled dot-product attention with dropout on the probabilities and a hand-written gradient."""

import tensorflow as tf

from common.layers.dropout import keep_mask


def dot_product_attention(query, key, value, key_bias=None, dropout_rate=0.0, seed=None, return_probabilities=False):
    """dropout(softmax(query · keyᵀ + key_bias)) · value, as the originals' `multihead_attention` computes it.

    The scores and the softmax are float32 (the original adds the −1e30 key mask in float32); dropout zeroes
    probabilities with `keep_mask` and scales by 1 / (1 − rate). The products with the `[B, H, Lq, Lk]`
    probabilities are the expensive part of attention on CPU, where every elementwise op reads and writes the whole
    tensor, so the gradient is written out with as few passes as possible: the 1 / (1 − rate) scale is applied to
    the `[B, H, Lq, dh]` output instead of the probabilities, and the softmax gradient's row sum
    Σ_k dP·P is taken as Σ_j dO·O over the `dh` outputs (the FlashAttention identity), not over the keys.

    Args:
        query: `[B, H, Lq, dh]`, already scaled (the original divides the query by √dh).
        key, value: `[B, H, Lk, dh]`.
        key_bias: optional float32 tensor broadcastable to `[B, H, Lq, Lk]` added to the scores (the key mask as
            0 / −1e30); it gets no gradient.
        dropout_rate: Python float in [0, 1), the dropout of the probabilities (0: none).
        seed: int tensor `[2]`, the seed of the dropout mask (needed when `dropout_rate > 0`).
        return_probabilities: also return the probabilities (before dropout).

    Returns:
        `[B, H, Lq, dh]` in the dtype of `value`; with `return_probabilities`, also the float32 probabilities
        `[B, H, Lq, Lk]`.
    """
    dtype = value.dtype
    scale = 1.0 / (1.0 - dropout_rate)

    @tf.custom_gradient
    def attend(query, key, value):
        scores = tf.cast(tf.matmul(query, key, transpose_b=True), tf.float32)
        if key_bias is not None:
            scores += key_bias
        probs = tf.nn.softmax(scores, axis=-1)
        keep = keep_mask(tf.shape(probs), dropout_rate, seed) if dropout_rate > 0.0 else None
        kept = tf.cast(probs if keep is None else tf.where(keep, probs, 0.0), dtype)
        unscaled = tf.matmul(kept, value)
        outputs = unscaled * tf.cast(scale, dtype) if keep is not None else unscaled

        def grad(d_outputs, d_probs=None):
            d_unscaled = d_outputs * tf.cast(scale, dtype) if keep is not None else d_outputs
            d_value = tf.matmul(kept, d_unscaled, transpose_a=True)
            d_kept = tf.cast(tf.matmul(d_unscaled, value, transpose_b=True), tf.float32)
            d_scores_probs = d_kept if keep is None else tf.where(keep, d_kept, 0.0)
            # Σ_k (dL/dP)·P over the keys, taken over the dh outputs: Σ_j dO·O.
            row_sum = tf.reduce_sum(
                tf.cast(d_unscaled, tf.float32) * tf.cast(unscaled, tf.float32), axis=-1, keepdims=True
            )
            if d_probs is not None:
                d_scores_probs += d_probs
                row_sum += tf.reduce_sum(d_probs * probs, axis=-1, keepdims=True)
            d_scores = tf.cast((d_scores_probs - row_sum) * probs, dtype)
            return tf.matmul(d_scores, key), tf.matmul(d_scores, query, transpose_a=True), d_value

        if return_probabilities:
            return (outputs, probs), grad
        return outputs, grad

    return attend(query, key, value)
