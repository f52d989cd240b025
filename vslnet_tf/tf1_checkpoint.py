"""VSLNet's TF1 import: the explicit table (original variable → our weight) and the hyper-parameters the
checkpoint's shapes determine (STYLE §5; spec `shared/specs/vslnet.md` §3; fixture `shared/fixtures/vslnet_tf1`).

The original is `model/VSLNet.py` + `model/layers.py` of 26hzhang/VSLNet (commit 3793c62). Its scopes map onto
our layers as follows (the per-variable rows come from `common.checkpoint_conversion.tf1_reader`, whose module
docstring lists the layout conversion of every layer kind):

- `word_embeddings` → `word_embeddings` (`WordEmbedding`): `unk`, `word_table`;
- `char_embeddings` → `char_embeddings` (`CharEmbedding`): `char_table`; `filter_i`, `bias_i` → `conv_i/*`;
- `video_conv1d`, `query_conv1d` → the `Dense` layers of the same names (`[1, in, d]` kernel, `[1, 1, d]` bias);
- `feature_encoder` (shared by video and query) → `feature_encoder` (one `FeatureEncoder` called twice): position
  table, 4 conv layers, attention block;
- `video_query_attention` → `video_query_attention` (`ContextQueryAttention`): the trilinear
  `linear_kernel4{arg0,arg1,mul}` and the bias-free `dense`;
- `context_query_concat` (VSLNet only) → `context_query_concat` (`QueryPooling`): `weight`, `dense`;
- `highlighting_layer` (VSLNet only) → `highlighting_layer` (`QueryGuidedHighlighting`): `dense` → `score`;
- `conditioned_predictor` → `predictor` (`ConditionedSpanPredictor`): the `start_rnn`/`end_rnn` LSTM cells (or the
  transformer predictor's `feature_encoder`, `s_layer_norm`, `e_layer_norm`) and `{start,end}_{hidden,dense}`.

Not imported, and listed as ignored: `global_step` and the optimizer slots `<var>/adam_m`, `<var>/adam_v` of the
repo's AdamWeightDecayOptimizer (our optimizer starts fresh when training resumes from an imported run).
"""

import dataclasses

import numpy as np

from common.checkpoint_conversion import tf1_reader
from common.checkpoint_conversion.tf1_reader import TF1ImportError
from vslnet_tf.config import VSLNetConfig
from vslnet_tf.task import VSLNetTask

MODEL_FAMILY = "vslnet"
CONFIG_CLASS = VSLNetConfig
#: Checkpoint variables that are not model weights: step counter and optimizer slots of table variables.
IGNORE = tf1_reader.optimizer_state(slot_suffixes=("adam_m", "adam_v"), names=("global_step",))
#: The transformer predictor's encoder has the original's hard-coded 4 conv layers (`ConditionedSpanPredictor`).
PREDICTOR_CONV_LAYERS = 4

# Variables whose shapes determine the config (see `infer_config`).
_VIDEO_PROJECTION = "video_conv1d/kernel"
_UNK = "word_embeddings/unk"
_WORD_TABLE = "word_embeddings/word_table"
_CHAR_TABLE = "char_embeddings/char_table"
_POSITIONS = "feature_encoder/positional_embedding/position_embeddings"
_DEPTHWISE = "feature_encoder/conv_block/depthwise_conv_layers_{}/depthwise_filter"
_RNN_PREDICTOR = "conditioned_predictor/start_rnn/rnn/lstm_cell/kernel"
_TRANSFORMER_PREDICTOR = "conditioned_predictor/feature_encoder/positional_embedding/position_embeddings"
_HIGHLIGHTING = "highlighting_layer/dense/kernel"


def weight_table(config):
    """The explicit table of a `VSLNet` built with `config`: a list of `tf1_reader.Entry`, in the original's order."""
    if config.encoder != "cmf" or config.interaction != "cqa":
        raise TF1ImportError(f"the original VSLNet has no encoder={config.encoder!r} / interaction="
                             f"{config.interaction!r} variant (paper ablations only), so there is no TF1 table")
    rows = [
        *tf1_reader.word_embedding_entries("word_embeddings", "word_embeddings"),
        *tf1_reader.char_embedding_entries("char_embeddings", "char_embeddings", num_convs=4),
        *tf1_reader.conv1d_entries("video_conv1d", "video_conv1d"),
        *tf1_reader.conv1d_entries("query_conv1d", "query_conv1d"),
        *tf1_reader.feature_encoder_entries("feature_encoder", "feature_encoder", config.num_conv_layers),
        *tf1_reader.context_query_attention_entries("video_query_attention", "video_query_attention"),
    ]
    if config.model == "vslnet":
        rows += tf1_reader.query_pooling_entries("context_query_concat", "context_query_concat")
        rows += tf1_reader.highlighting_entries("highlighting_layer", "highlighting_layer")
    rows += tf1_reader.span_predictor_entries("conditioned_predictor", "predictor", config.predictor,
                                              PREDICTOR_CONV_LAYERS)
    return rows


def infer_config(checkpoint, overrides=None):
    """The `VSLNetConfig` and data sizes the checkpoint's shapes determine.

    From the shapes: `hidden_dim` and the feature size Dv (`video_conv1d/kernel [1, Dv, d]`), `word_dim` and the
    word vocabulary (`word_table` rows + PAD + UNK), `char_dim` and `num_chars` (`char_table` rows + PAD),
    `max_pos_len` (position table rows), the conv block's `kernel_size` and layer count, the `predictor` (LSTM cells
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

    def shape(name):
        if name not in checkpoint:
            raise TF1ImportError(f"{checkpoint.path} has no {name}: is it a checkpoint of the original VSLNet?")
        return checkpoint.shape(name)

    _, feature_dim, hidden_dim = shape(_VIDEO_PROJECTION)
    word_dim = shape(_UNK)[1]
    num_words = shape(_WORD_TABLE)[0] + 2
    char_rows, char_dim = shape(_CHAR_TABLE)
    max_pos_len = shape(_POSITIONS)[0]
    kernel_size = shape(_DEPTHWISE.format(0))[0]
    num_conv_layers = 0
    while _DEPTHWISE.format(num_conv_layers) in checkpoint:
        num_conv_layers += 1
    if _RNN_PREDICTOR in checkpoint:
        predictor = "rnn"
    elif _TRANSFORMER_PREDICTOR in checkpoint:
        predictor = "transformer"
    else:
        raise TF1ImportError(f"{checkpoint.path} has neither {_RNN_PREDICTOR} nor {_TRANSFORMER_PREDICTOR}: "
                             "cannot tell the span predictor")
    inferred = {
        "model": "vslnet" if _HIGHLIGHTING in checkpoint else "vslbase",
        "hidden_dim": hidden_dim,
        "word_dim": word_dim,
        "char_dim": char_dim,
        "max_pos_len": max_pos_len,
        "kernel_size": kernel_size,
        "num_conv_layers": num_conv_layers,
        "predictor": predictor,
        "encoder": "cmf",
        "interaction": "cqa",
    }
    overrides = dict(overrides or {})
    fields = {f.name for f in dataclasses.fields(VSLNetConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown VSLNetConfig fields: {unknown}")
    conflicts = [f"{k}={overrides[k]!r} (the checkpoint has {inferred[k]!r})"
                 for k in sorted(overrides) if k in inferred and overrides[k] != inferred[k]]
    if conflicts:
        raise TF1ImportError("these settings contradict the checkpoint's shapes: " + "; ".join(conflicts))
    config = VSLNetConfig(**{**inferred, **overrides}).validate()
    data = {"num_words": num_words, "num_chars": char_rows + 1, "feature_dim": feature_dim, "word_dim": word_dim,
            "max_pos_len": max_pos_len}
    return config, data


def build_model(config, data, word_vectors):
    """A built `VSLNet` holding `word_vectors`, built as the trainer builds it (`VSLNetTask.build_model`), so that
    checkpoints agree."""
    return VSLNetTask(config).build_model({
        "word_vectors": word_vectors,
        "num_chars": data["num_chars"],
        "feature_dim": data["feature_dim"],
        "max_pos_len": data["max_pos_len"],
    })


def import_checkpoint(path, overrides=None, word_vectors=None):
    """Build a `VSLNet` from an original TF1 checkpoint and assign every variable through `weight_table`.

    Args:
        path: checkpoint prefix (`.../model.ckpt`) or its folder.
        overrides: optional `VSLNetConfig` fields (see `infer_config`).
        word_vectors: optional float array of the frozen word vectors the vocabulary was built with; it must equal
            the checkpoint's `word_embeddings/word_table` (otherwise the word ids would mean other words).

    Returns:
        an `ImportedModel`.

    Raises:
        TF1ImportError: listing every missing, unexpected, wrong-shape or uncovered variable, or the settings that
            contradict the checkpoint.
    """
    checkpoint = tf1_reader.TF1Checkpoint(path)
    config, data = infer_config(checkpoint, overrides)
    table_vectors = checkpoint.get(_WORD_TABLE)
    if word_vectors is not None:
        word_vectors = np.asarray(word_vectors)
        if word_vectors.shape != table_vectors.shape:
            raise TF1ImportError(f"the word vectors have shape {list(word_vectors.shape)} but the checkpoint's "
                                 f"{_WORD_TABLE} has {list(table_vectors.shape)}")
        if not np.array_equal(word_vectors.astype(np.float32), table_vectors):
            differing = int(np.sum(np.any(word_vectors.astype(np.float32) != table_vectors, axis=1)))
            raise TF1ImportError(f"the word vectors differ from the checkpoint's {_WORD_TABLE} in {differing} rows: "
                                 "they do not belong to the vocabulary this checkpoint was trained with")
    model = build_model(config, data, table_vectors)
    report = tf1_reader.load_tf1_weights(checkpoint, weight_table(config), tf1_reader.keras_weights(model),
                                         ignore=IGNORE, what=f"VSLNet ({config.model}, {config.predictor} predictor)")
    global_step = int(checkpoint.get("global_step")) if "global_step" in checkpoint else None
    return tf1_reader.ImportedModel(model=model, config=config, data=data, word_vectors=table_vectors, report=report,
                         global_step=global_step)
