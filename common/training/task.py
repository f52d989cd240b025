"""`Task`: a single-replica view of one model family's training and evaluation (Model Garden's `base_task`).

The one training loop (`common.training.trainer`) knows nothing about a model family; a task tells it
- how to build the model and the optimizer,
- the losses of a batch (`compute_losses`, a dict whose `"total"` entry is optimized unless routed),
- how gradients are routed (`gradient_groups`): a list of `(loss_name, variables)` pairs whose gradients are
  applied together in one optimizer step. VSLNet has one group; LPNet routes its IoU loss to the proposal boxes
  only and the matching loss to every other variable;
- how a batch is decoded into predictions (`predict_step`).
"""

import abc


class Task(abc.ABC):
    """Base class of `VSLNetTask` and `LPNetTask`.

    Args:
        config: the model family's config dataclass.
    """

    def __init__(self, config):
        self.config = config

    @abc.abstractmethod
    def build_model(self, data_info):
        """Build the Keras model. `data_info` holds `feature_dim`, `word_vectors`, `num_chars`, `max_pos_len`."""

    @abc.abstractmethod
    def build_optimizer(self, total_steps):
        """The optimizer, with its learning-rate schedule over `total_steps` updates."""

    def build_labels(self, batch):
        """The training batch with the labels this task needs beyond the base batch (`common.data.pipeline`:
        spans, highlight labels, masks), computed in the graph. Defaults to the base batch."""
        return batch

    @abc.abstractmethod
    def compute_losses(self, model, batch, training):
        """Losses of one replica's batch as a dict of scalars; each is this replica's share of the global loss."""

    @abc.abstractmethod
    def predict_step(self, model, batch):
        """Per-sample predictions `{"start_index": [B], "end_index": [B], "score": [B], ...}` (int32/float32)."""

    @property
    def prediction_strategies(self):
        """Names of the answers `predict_step` gives: the main one first (keys `start_index` / `end_index`), then
        alternatives under `{name}_start_index` / `{name}_end_index`. `(None,)`: one unnamed answer."""
        return (None,)

    def gradient_groups(self, model):
        """`[(loss_name, variables)]`: which loss updates which variables, all in one optimizer step."""
        return [("total", model.trainable_variables)]

    def prepare_optimizer(self, optimizer, model):  # noqa: B027 (a hook: most tasks declare nothing)
        """Declare variable roles to the optimizer before it is built (decay exclusions, routed variables)."""
