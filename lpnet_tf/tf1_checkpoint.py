"""LPNet's TF1 import: the explicit table (original variable → our weight) and the hyper-parameters the checkpoint's
shapes determine (STYLE §5; fidelity LPNet §4–§8; fixture `shared/fixtures/lpnet_tf1`).

The original is `models/LPNet.py` + `models/layers.py` of xiaoneil/LPNet (commit 306e232). Its scopes map onto our
layers as follows (the per-variable rows of the shared layers come from `common.checkpoint_conversion.tf1_reader`,
whose module docstring lists the layout conversion of every layer kind):

- the trunk (`word_embeddings`, `char_embeddings`, `video_conv1d`, `query_conv1d`, `feature_encoder` with
  conv-block LayerNorms named `layer_norm_conv_{i}`, `video_query_attention`) → the layers of the same names under
  `backbone/` (`tf1_import.backbone_entries`);
- `context_query_concat`, `highlighting_layer`, `conditioned_predictor` → our layers of the same names (as in
  VSLNet);
- `proposal_box` → `proposals/proposal_box` (`LearnableProposals`);
- `dynamic_head/pro_features`, `multihead_attention_pro/*`, `layer_norm3..7`, `dynamic_layer`, `out_layer` →
  `dynamic_head/*` (`DynamicHead`; `tf.layers.dense` kernels keep their layout);
- `dynamic_head/context_query_position_concat/{weight,dense}` → `proposal_scorer/{pooling/pooling_kernel,projection}`,
  `dynamic_head/dense_1`, `layer_norm8`, `dense_2` → `proposal_scorer/{score_hidden,layer_norm8,score_output}`
  (`ProposalScorer`).

Not imported, and listed as ignored: `global_step`, the shared Adam's `beta1_power`/`beta2_power` and slots
(`<var>/Adam`, `<var>/Adam_1`, or `AdamOptimizer`/`AdamOptimizer_1` under the original's optimizer name), and the
dead proposal position embedding `dynamic_head/dense/{kernel,bias}` (fidelity LPNet §8.5: computed, never used; not
built). Only the code's model has a table: highlighting, the conditioned boundary predictor and the proposal MHSA on.
"""

from common.checkpoint_conversion import tf1_import, tf1_reader
from common.checkpoint_conversion.tf1_reader import Entry, TF1ImportError
from lpnet_tf.config import LPNetConfig
from lpnet_tf.task import LPNetTask

#: The dead Dense(2 → 32) position embedding of the proposal boxes (fidelity LPNet §8.5), which we do not build.
DEAD_VARIABLES = ("dynamic_head/dense/kernel", "dynamic_head/dense/bias")
_OPTIMIZER_STATE = tf1_reader.optimizer_state(
    slot_suffixes=("Adam", "Adam_1", "AdamOptimizer", "AdamOptimizer_1"),
    names=("global_step", "beta1_power", "beta2_power"),
)

# Variables whose shapes determine the config (see `infer_config`).
_BOXES = "proposal_box"
_BOTTLENECK = "dynamic_head/layer_norm4/layer_norm_scale"
_OUT_LAYER = "dynamic_head/out_layer/kernel"
_SCORE_HIDDEN = "dynamic_head/dense_1/kernel"


def IGNORE(name, table_names):
    """Checkpoint variables that are not model weights: optimizer state and the dead position embedding."""
    if name in DEAD_VARIABLES:
        return "dead proposal position embedding (fidelity LPNet §8.5), not built"
    return _OPTIMIZER_STATE(name, table_names)


def _dense_entries(tf1, ours):
    """A `tf.layers.dense` (kernel `[in, out]`, bias `[out]`: the Keras layout)."""
    return [Entry(f"{tf1}/kernel", f"{ours}/kernel"), Entry(f"{tf1}/bias", f"{ours}/bias")]


def weight_table(config):
    """The explicit table of an `LPNet` built with `config`: a list of `tf1_reader.Entry`."""
    if not (
        config.use_highlight and config.use_bal and config.use_proposal_mhsa and config.bal_predictor == "conditioned"
    ):
        raise TF1ImportError(
            "only the code's LPNet (use_highlight, use_bal, use_proposal_mhsa, the conditioned "
            "predictor) exists in TF1; the ablations have no table"
        )
    rows = [
        *tf1_import.backbone_entries(config.num_conv_layers, conv_layer_norm_name="layer_norm_conv_{}"),
        *tf1_reader.query_pooling_entries("context_query_concat", "context_query_concat"),
        *tf1_reader.highlighting_entries("highlighting_layer", "highlighting_layer"),
        *tf1_reader.span_predictor_entries("conditioned_predictor", "conditioned_predictor", "rnn"),
        Entry("proposal_box", "proposals/proposal_box"),
        Entry("dynamic_head/pro_features", "dynamic_head/pro_features"),
        *tf1_reader.attention_block_entries(
            "dynamic_head/multihead_attention_pro", "dynamic_head/multihead_attention_pro"
        ),
    ]
    for i in (3, 4, 5, 6, 7):
        rows += tf1_reader.layer_norm_entries(f"dynamic_head/layer_norm{i}", f"dynamic_head/layer_norm{i}")
    rows += _dense_entries("dynamic_head/dynamic_layer", "dynamic_head/dynamic_layer")
    rows += _dense_entries("dynamic_head/out_layer", "dynamic_head/out_layer")
    rows += tf1_reader.query_pooling_entries("dynamic_head/context_query_position_concat", "proposal_scorer")
    rows += _dense_entries("dynamic_head/dense_1", "proposal_scorer/score_hidden")
    rows += tf1_reader.layer_norm_entries("dynamic_head/layer_norm8", "proposal_scorer/layer_norm8")
    rows += _dense_entries("dynamic_head/dense_2", "proposal_scorer/score_output")
    return rows


def infer_config(checkpoint, overrides=None):
    """The `LPNetConfig` and data sizes the checkpoint's shapes determine.

    The trunk's settings and the data sizes come from `tf1_import.infer_backbone`; here `num_proposals`
    (`proposal_box` rows), `dynamic_dim` (`layer_norm4`), `roi_length` (`out_layer` rows / d) and
    `scoring_hidden_dim` (`dense_1`). `num_heads` and `proposal_heads` (no shape shows them), the training settings
    and the quirks keep the `LPNetConfig` defaults, which are the original's, unless overridden.

    Returns:
        `(config, data)`: the validated `LPNetConfig` and a dict with `num_words`, `num_chars`, `feature_dim`,
        `word_dim`, `max_pos_len`.
    """
    inferred, data = tf1_import.infer_backbone(checkpoint, "LPNet")
    shape = tf1_import.shape_reader(checkpoint, "LPNet")
    inferred.update(
        {
            "num_proposals": shape(_BOXES)[0],
            "dynamic_dim": shape(_BOTTLENECK)[0],
            "roi_length": shape(_OUT_LAYER)[0] // inferred["hidden_dim"],
            "scoring_hidden_dim": shape(_SCORE_HIDDEN)[1],
            "use_highlight": True,
            "use_bal": True,
            "use_proposal_mhsa": True,
            "bal_predictor": "conditioned",
        }
    )
    return tf1_import.resolve_config(LPNetConfig, inferred, overrides), data


IMPORTER = tf1_import.TF1Importer(
    infer_config=infer_config,
    weight_table=weight_table,
    task_class=LPNetTask,
    ignore=IGNORE,
    describe=lambda config: "LPNet",
)
#: `TF1Importer.import_checkpoint` for LPNet.
import_checkpoint = IMPORTER.import_checkpoint
#: `TF1Importer.build_model`: the model as the trainer builds it.
build_model = IMPORTER.build_model
