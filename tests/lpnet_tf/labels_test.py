"""LPNet's soft boundary labels: the numpy rule (LPNet §3) and the in-graph batch built by `LPNetTask.build_labels`."""

import numpy as np

from common.data import features, pipeline
from lpnet_tf import labels
from lpnet_tf.config import LPNetConfig
from lpnet_tf.task import LPNetTask


class TestSoftBoundaryLabels:
    def test_values(self):
        eps = 1e-8
        nb = (1 - 2 * eps - 0.5) / 2
        np.testing.assert_array_equal(labels.soft_boundary_labels(0, 5), np.float32([0.5, nb, eps, eps, eps]))
        np.testing.assert_array_equal(labels.soft_boundary_labels(2, 5), np.float32([eps, nb, 0.5, nb, eps]))
        np.testing.assert_array_equal(labels.soft_boundary_labels(4, 5), np.float32([eps, eps, eps, nb, 0.5]))

    def test_sums_to_one_with_both_neighbours(self):
        row = labels.soft_boundary_labels(3, 40).astype(np.float64)
        assert abs(row.sum() - 1.0) < 1e-6


def test_build_labels_adds_the_soft_labels_of_every_row_over_the_padded_length(tmp_path):
    rng = np.random.default_rng(0)
    examples = []
    for i in range(7):
        num_clips = int(rng.integers(3, 20))
        np.save(tmp_path / f"v{i}.npy", rng.normal(size=(num_clips, 4)).astype(np.float32))
        s = int(rng.integers(0, num_clips))
        examples.append(
            {
                "qid": f"q{i}",
                "vid": f"v{i}",
                "duration": 10.0,
                "num_clips": num_clips,
                "v_len": num_clips,
                "word_ids": [2, 3],
                "char_ids": [[3], [4, 5]],
                "start_index": s,
                "end_index": int(rng.integers(s, num_clips)),
            }
        )
    store = features.open_feature_store(str(tmp_path))
    args = dict(batch_size=3, max_pos_len=32, feature_dim=4, training=False)
    task_batches = list(pipeline.make_dataset(examples, store, label_fn=LPNetTask(LPNetConfig()).build_labels, **args))
    for batch in task_batches:
        n = int(batch["video_mask"].shape[1])
        for row in range(int(batch["start_index"].shape[0])):
            for key, index in (("soft_start_labels", "start_index"), ("soft_end_labels", "end_index")):
                np.testing.assert_array_equal(
                    batch[key][row].numpy(), labels.soft_boundary_labels(int(batch[index][row]), n)
                )
    plain = list(pipeline.make_dataset(examples, store, **args))
    assert len(plain) == len(task_batches) == 3
    assert all("soft_start_labels" not in batch for batch in plain)  # only LPNet's batches carry them
