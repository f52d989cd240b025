"""VSLNet's TF1 import: the explicit table (original variable → our weight) and the hyper-parameters the
checkpoint's shapes determine (STYLE §5; fidelity VSLNet §3; fixture `shared/fixtures/vslnet_tf1`).

The original is `model/VSLNet.py` + `model/layers.py` of 26hzhang/VSLNet (commit 3793c62). Its scopes map onto
our layers as follows (the per-variable rows come from `common.checkpoint_conversion.tf1_reader`, whose module
docstring lists the layout conversion of every layer kind):

- the trunk (`word_embeddings`, `char_embeddings`, `video_conv1d`, `query_conv1d`, the shared `feature_encoder`,
  `video_query_attention`) → the layers of the same names under `backbone/` (`tf1_import.backbone_entries`);
- `context_query_concat` (VSLNet only) → `context_query_concat` (`QueryPooling`): `weight`, `dense`;
- `highlighting_layer` (VSLNet only) → `highlighting_layer` (`QueryGuidedHighlighting`): `dense` → `score`;
- `conditioned_predictor` → `predictor` (`ConditionedSpanPredictor`): the `start_rnn`/`end_rnn` LSTM cells (or the
  transformer predictor's `feature_encoder`, `s_layer_norm`, `e_layer_norm`) and `{start,end}_{hidden,dense}`.

Not imported, and listed as ignored: `global_step` and the optimizer slots `<var>/adam_m`, `<var>/adam_v` of the
repo's AdamWeightDecayOptimizer (our optimizer starts fresh when training resumes from an imported run).
"""

from common.checkpoint_conversion import tf1_import, tf1_reader
from common.checkpoint_conversion.tf1_reader import TF1ImportError
from vslnet_tf.config import VSLNetConfig
from vslnet_tf.task import VSLNetTask

#: Checkpoint variables that are not model weights: step counter and optimizer slots of table variables.
IGNORE = tf1_reader.optimizer_state(slot_suffixes=("adam_m", "adam_v"), names=("global_step",))
#: The transformer predictor's encoder has the original's hard-coded 4 conv layers (`ConditionedSpanPredictor`).
PREDICTOR_CONV_LAYERS = 4

# Variables whose presence determines the config (see `infer_config`).
_RNN_PREDICTOR = "conditioned_predictor/start_rnn/rnn/lstm_cell/kernel"
_TRANSFORMER_PREDICTOR = "conditioned_predictor/feature_encoder/positional_embedding/position_embeddings"
_HIGHLIGHTING = "highlighting_layer/dense/kernel"


def weight_table(config):
    """The explicit table of a `VSLNet` built with `config`: a list of `tf1_reader.Entry`, in the original's order."""
    if config.encoder != "cmf" or config.interaction != "cqa":
        raise TF1ImportError(
            f"the original VSLNet has no encoder={config.encoder!r} / interaction="
            f"{config.interaction!r} variant (paper ablations only), so there is no TF1 table"
        )
    rows = tf1_import.backbone_entries(config.num_conv_layers)
    if config.model == "vslnet":
        rows += tf1_reader.query_pooling_entries("context_query_concat", "context_query_concat")
        rows += tf1_reader.highlighting_entries("highlighting_layer", "highlighting_layer")
    rows += tf1_reader.span_predictor_entries(
        "conditioned_predictor", "predictor", config.predictor, PREDICTOR_CONV_LAYERS
    )
    return rows


def infer_config(checkpoint, overrides=None):
    """The `VSLNetConfig` and data sizes the checkpoint's shapes determine.

    The trunk's settings and the data sizes come from `tf1_import.infer_backbone`; here the `predictor` (LSTM cells
    or a predictor encoder) and `model` (`vslnet` when `highlighting_layer` exists). `encoder`/`interaction` are
    `cmf`/`cqa`, the only ones the original has. Everything else (notably `num_heads`, which no shape shows, and
    the training settings) keeps the `VSLNetConfig` defaults, which are the original's, unless overridden.

    Args:
        checkpoint: a `tf1_reader.TF1Checkpoint`.
        overrides: optional dict of `VSLNetConfig` fields. A field the shapes determine may only be given its
            inferred value.

    Returns:
        `(config, data)`: the validated `VSLNetConfig` and a dict with `num_words`, `num_chars`, `feature_dim`,
        `word_dim`, `max_pos_len`.
    """
    inferred, data = tf1_import.infer_backbone(checkpoint, "VSLNet")
    if _RNN_PREDICTOR in checkpoint:
        predictor = "rnn"
    elif _TRANSFORMER_PREDICTOR in checkpoint:
        predictor = "transformer"
    else:
        raise TF1ImportError(
            f"{checkpoint.path} has neither {_RNN_PREDICTOR} nor {_TRANSFORMER_PREDICTOR}: "
            "cannot tell the span predictor"
        )
    inferred.update(
        model="vslnet" if _HIGHLIGHTING in checkpoint else "vslbase",
        predictor=predictor,
        encoder="cmf",
        interaction="cqa",
    )
    return tf1_import.resolve_config(VSLNetConfig, inferred, overrides), data


IMPORTER = tf1_import.TF1Importer(
    infer_config=infer_config,
    weight_table=weight_table,
    task_class=VSLNetTask,
    ignore=IGNORE,
    describe=lambda config: f"VSLNet ({config.model}, {config.predictor} predictor)",
)
#: `TF1Importer.import_checkpoint` for VSLNet.
import_checkpoint = IMPORTER.import_checkpoint
#: `TF1Importer.build_model`: the model as the trainer builds it.
build_model = IMPORTER.build_model
