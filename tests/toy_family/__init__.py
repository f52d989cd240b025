"""A toy model family that lives outside the package, to show that adding a family touches nothing in `common/`.

`ToyModel` scores every clip's start and end with one dense layer on the video features (the query is ignored);
its task trains the span cross-entropy with Adam and decodes with the shared span decoding. Importing this package
registers the family `toy` (model `toy`).
"""

import dataclasses

import keras
from keras import ops

from common import losses, registry
from common.data import pipeline
from common.export.saved_model import ServingFunctions
from common.layers.masking import mask_logits
from common.layers.span_decoding import span_decode
from common.training import distribute
from common.training.task import Task


@dataclasses.dataclass
class ToyConfig:
    model: str = "toy"
    max_pos_len: int = 64
    hidden_dim: int = 8
    init_lr: float = 1e-2
    extend: float = 0.1

    def validate(self):
        return self


class ToyModel(keras.Model):
    """`[batch, time, feature_dim]` video features → start and end logits `[batch, time]` (query ignored)."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.hidden = keras.layers.Dense(config.hidden_dim, activation="relu", name="hidden")
        self.boundaries = keras.layers.Dense(2, name="boundaries")

    def call(self, inputs, training=False):
        logits = self.boundaries(self.hidden(inputs["video_features"]))
        mask = inputs["video_mask"]
        return {"start_logits": mask_logits(logits[..., 0], mask), "end_logits": mask_logits(logits[..., 1], mask)}


class ToyTask(Task):
    def build_model(self, data_info):
        model = ToyModel(self.config, name="toy")
        model(pipeline.dummy_inputs(data_info["feature_dim"]))
        return model

    def build_optimizer(self, total_steps):
        return keras.optimizers.Adam(self.config.init_lr)

    def compute_losses(self, model, batch, training):
        outputs = model(batch, training=training)
        real = pipeline.real_rows(batch)
        span = losses.span_cross_entropy(
            outputs["start_logits"], outputs["end_logits"], batch["start_index"], batch["end_index"]
        )
        return {"total": distribute.global_share(span, ops.sum(real))}

    def predict_step(self, model, batch):
        outputs = model(batch, training=False)
        start_index, end_index, score = span_decode(
            ops.softmax(outputs["start_logits"], axis=-1), ops.softmax(outputs["end_logits"], axis=-1)
        )
        return {"start_index": start_index, "end_index": end_index, "score": score}


FAMILY = registry.register(
    registry.Family(
        name="toy",
        models=("toy",),
        config_class=ToyConfig,
        task_class=ToyTask,
        serving_functions=ServingFunctions,
        initial_config=lambda quirks, dataset: ToyConfig(),
        synthetic_defaults={"tiny": {"epochs": 1}},
    )
)
