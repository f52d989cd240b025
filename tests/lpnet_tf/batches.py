"""Small hand-made LPNet batches (the keys of `common.data.pipeline`) and a tiny config for the LPNet tests."""

import numpy as np

from common.data import labels
from lpnet_tf import labels as lpnet_labels
from lpnet_tf.config import LPNetConfig

TINY = {
    "hidden_dim": 16,
    "num_heads": 2,
    "proposal_heads": 2,
    "char_dim": 8,
    "word_dim": 6,
    "max_pos_len": 32,
    "num_proposals": 7,
    "roi_length": 4,
    "dynamic_dim": 8,
    "scoring_hidden_dim": 16,
}
FEATURE_DIM = 5
NUM_WORDS = 12  # PAD, UNK and 10 "GloVe" rows
NUM_CHARS = 12


def tiny_config(**changes):
    return LPNetConfig(**dict(TINY, **changes))


def data_info():
    rng = np.random.RandomState(0)
    return {
        "feature_dim": FEATURE_DIM,
        "word_vectors": rng.normal(size=(NUM_WORDS - 2, 6)).astype("float32"),
        "num_chars": NUM_CHARS,
        "max_pos_len": 32,
    }


def make_batch(lengths=(9, 6, 4), spans=((1, 5), (0, 3), (2, 3)), pad=0, seed=0):
    """A batch padded to `max(lengths) + pad` clips; padded clips hold zeros (as the pipeline pads)."""
    rng = np.random.RandomState(seed)
    lengths = np.asarray(lengths, "int32")
    width = int(lengths.max()) + pad
    mask = np.arange(width)[None] < lengths[:, None]
    start = np.array([s for s, _ in spans], "int32")
    end = np.array([e for _, e in spans], "int32")
    word_ids = np.array([[2, 1, 3, 0], [4, 5, 6, 7], [1, 2, 0, 0]], "int32")[: len(lengths)]
    return {
        "video_features": np.pad(
            rng.normal(size=(len(lengths), width - pad, FEATURE_DIM)), [[0, 0], [0, pad], [0, 0]]
        ).astype("float32")
        * mask[..., None],
        "video_mask": mask,
        "video_length": lengths,
        "word_ids": word_ids,
        "query_mask": word_ids != 0,
        "char_ids": (rng.randint(1, NUM_CHARS, size=(len(lengths), 4, 3)) * (word_ids != 0)[..., None]).astype("int32"),
        "start_index": start,
        "end_index": end,
        "highlight_labels": np.stack([labels.highlight_labels(s, e, n, width) for s, e, n in zip(start, end, lengths)]),
        "soft_start_labels": np.stack([lpnet_labels.soft_boundary_labels(s, width) for s in start]),
        "soft_end_labels": np.stack([lpnet_labels.soft_boundary_labels(e, width) for e in end]),
        "duration": lengths.astype("float32"),
        "example_index": np.arange(len(lengths), dtype="int32"),
    }
