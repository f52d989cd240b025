import keras
import numpy as np
import pytest
from absl.testing import parameterized
from keras import ops

from common.data.pipeline import dummy_inputs
from lpnet_tf.config import apply_quirks
from lpnet_tf.model import LPNet
from lpnet_tf.task import LPNetTask
from tests.lpnet_tf.batches import FEATURE_DIM, data_info, make_batch, tiny_config
from tests.test_case import TestCase


def build(config):
    return LPNetTask(config).build_model(data_info())


class LPNetModelTest(TestCase):
    def test_outputs_with_seven_proposals(self):
        model = build(tiny_config())
        outputs = model(make_batch())
        shapes = {k: tuple(v.shape) for k, v in outputs.items()}
        self.assertEqual(
            shapes,
            {
                "highlight_logits": (3, 9),
                "start_logits": (3, 9),
                "end_logits": (3, 9),
                "scores": (3, 7),
                "proposal_boxes": (7, 2),
                "proposal_start": (3, 7),
                "proposal_end": (3, 7),
                "video_length": (3,),
            },
        )
        scores = ops.convert_to_numpy(outputs["scores"])
        self.assertTrue(np.all((scores > 0) & (scores < 1)))
        boxes = model.proposal_box.numpy()
        self.assertAllClose(
            ops.convert_to_numpy(outputs["proposal_end"]), (boxes[:, 0] + boxes[:, 1]) * [[9], [6], [4]]
        )

    def test_variables_of_the_original(self):
        model = build(tiny_config())
        names = [v.path for v in model.trainable_variables]
        # 107 as the TF1 graph: it has the dead position Dense (2 variables) we do not build, and one LSTM kernel
        # where Keras has kernel + recurrent_kernel (2 more here).
        self.assertLen(names, 107)
        self.assertEqual(
            [n for n in names if n.split("/")[-1].startswith("proposal_box")], ["lpnet/proposals/proposal_box"]
        )
        self.assertFalse(any("position" in n and "dynamic_head" in n for n in names))

    @pytest.mark.slow  # ≈ 11 s: builds every ablation
    def test_ablation_switches_build_and_run(self):
        for changes, absent in (
            ({"use_bal": False}, {"start_logits", "end_logits"}),
            ({"use_bal": False, "use_highlight": False}, {"start_logits", "end_logits", "highlight_logits"}),
            ({"use_proposal_mhsa": False}, set()),
            ({"bal_predictor": "bilstm"}, set()),
        ):
            model = build(tiny_config(**changes))
            outputs = model(make_batch())
            self.assertEqual(absent & set(outputs), set(), msg=str(changes))
            self.assertEqual(tuple(outputs["scores"].shape), (3, 7))
        self.assertFalse(hasattr(build(tiny_config(use_bal=False, use_highlight=False)), "query_pooling"))

    def test_fixed_quirks_are_padding_invariant(self):
        model = build(apply_quirks(tiny_config(), "fixed"))

        def call(pad):
            outputs = model(make_batch(pad=pad))
            return [outputs["scores"], ops.convert_to_numpy(outputs["start_logits"])[:, :4]]

        self.assert_padding_invariant(call, atol=1e-5)

    def test_original_quirks_depend_on_padding(self):
        # Spec D4: unmasked convolutions and crop boxes scaled by the padded width.
        model = build(tiny_config())
        scores = [ops.convert_to_numpy(model(make_batch(pad=pad))["scores"]) for pad in (0, 3)]
        self.assertGreater(np.abs(scores[0] - scores[1]).max(), 1e-4)

    def test_gather_roi_align_gives_the_same_scores(self):
        batch = make_batch()
        scores = []
        for implementation in ("crop_and_resize", "gather"):
            keras.utils.set_random_seed(3)
            model = build(tiny_config(roi_align_implementation=implementation))
            scores.append(ops.convert_to_numpy(model(batch)["scores"]))
        self.assertAllClose(scores[1], scores[0], atol=1e-6)

    @parameterized.parameters("conditioned", "bilstm")
    def test_lstm_implementations_give_the_same_outputs_and_gradients(self, bal_predictor):
        models = []
        for implementation in ("sequence", "keras"):
            model = build(tiny_config(bal_predictor=bal_predictor, lstm_implementation=implementation))
            lstm_layer = model.predictor.encoder if bal_predictor == "bilstm" else model.predictor
            self.assertEqual(lstm_layer.lstm_implementation, implementation)
            models.append(model)
        models[1].set_weights(models[0].get_weights())
        batch = make_batch()
        inputs = {key: batch[key] for key in ("video_features", "video_mask", "word_ids", "char_ids")}
        self.assert_same_outputs_and_gradients(
            *[(lambda x, model=model: model(x), model.trainable_variables) for model in models], inputs
        )

    def test_dropout_only_in_training(self):
        model = build(tiny_config())
        batch = make_batch()
        self.assert_dropout_only_in_training(model, lambda m, training: m(batch, training=training)["scores"])

    def test_dummy_inputs_build_every_weight(self):
        # A weight created lazily on a path that the dummy batch does not take would appear at the second call.
        model = LPNet(tiny_config(), num_words=12, num_chars=12, feature_dim=FEATURE_DIM)
        model(dummy_inputs(FEATURE_DIM))
        built = [w.path for w in model.weights]
        model(dummy_inputs(FEATURE_DIM, batch=3, clips=11, words=6, chars=5), training=True)
        self.assertGreater(len(built), 50)
        self.assertEqual([w.path for w in model.weights], built)
