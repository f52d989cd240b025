"""The TF1 import every family shares: the trunk's table and shapes, the config from shapes and overrides, the
word-vector check, and the import itself (`TF1Importer`). A family adds its own rows and shapes
(`vslnet_tf/tf1_checkpoint.py`, `lpnet_tf/tf1_checkpoint.py`).
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from common.checkpoint_conversion import tf1_reader
from common.checkpoint_conversion.tf1_reader import TF1ImportError

# Variables of the trunk whose shapes determine its settings (the same scopes in both originals).
VIDEO_PROJECTION = "video_conv1d/kernel"
UNK = "word_embeddings/unk"
WORD_TABLE = "word_embeddings/word_table"
CHAR_TABLE = "char_embeddings/char_table"
POSITIONS = "feature_encoder/positional_embedding/position_embeddings"
DEPTHWISE = "feature_encoder/conv_block/depthwise_conv_layers_{}/depthwise_filter"


def backbone_entries(num_conv_layers, conv_layer_norm_name="layer_norm_{}", ours="backbone"):
    """The rows of `VideoQueryBackbone` (`common.layers.backbone`): embeddings, projections, the shared feature
    encoder (its conv-block LayerNorms are `layer_norm_{i}` in VSLNet, `layer_norm_conv_{i}` in LPNet) and CQA."""
    return [
        *tf1_reader.word_embedding_entries("word_embeddings", f"{ours}/word_embeddings"),
        *tf1_reader.char_embedding_entries("char_embeddings", f"{ours}/char_embeddings", num_convs=4),
        *tf1_reader.conv1d_entries("video_conv1d", f"{ours}/video_conv1d"),
        *tf1_reader.conv1d_entries("query_conv1d", f"{ours}/query_conv1d"),
        *tf1_reader.feature_encoder_entries(
            "feature_encoder", f"{ours}/feature_encoder", num_conv_layers, conv_layer_norm_name=conv_layer_norm_name
        ),
        *tf1_reader.context_query_attention_entries("video_query_attention", f"{ours}/video_query_attention"),
    ]


def shape_reader(checkpoint, family):
    """`shape(name)` of `checkpoint`, failing with a message that names the expected `family`."""

    def shape(name):
        if name not in checkpoint:
            raise TF1ImportError(f"{checkpoint.path} has no {name}: is it a checkpoint of the original {family}?")
        return checkpoint.shape(name)

    return shape


def infer_backbone(checkpoint, family):
    """`(settings, data)`: the trunk's settings and the data sizes that the checkpoint's shapes determine.

    From the shapes: `hidden_dim` and Dv (`video_conv1d/kernel [1, Dv, d]`), `word_dim` and the word vocabulary
    (`word_table` rows + PAD + UNK), `char_dim` and `num_chars` (`char_table` rows + PAD), `max_pos_len` (position
    table rows), the conv block's `kernel_size` and layer count. `num_heads` shows in no shape.
    """
    shape = shape_reader(checkpoint, family)
    _, feature_dim, hidden_dim = shape(VIDEO_PROJECTION)
    word_dim = shape(UNK)[1]
    char_rows, char_dim = shape(CHAR_TABLE)
    max_pos_len = shape(POSITIONS)[0]
    num_conv_layers = 0
    while DEPTHWISE.format(num_conv_layers) in checkpoint:
        num_conv_layers += 1
    settings = {
        "hidden_dim": hidden_dim,
        "word_dim": word_dim,
        "char_dim": char_dim,
        "max_pos_len": max_pos_len,
        "kernel_size": shape(DEPTHWISE.format(0))[0],
        "num_conv_layers": num_conv_layers,
    }
    data = {
        "num_words": shape(WORD_TABLE)[0] + 2,
        "num_chars": char_rows + 1,
        "feature_dim": feature_dim,
        "word_dim": word_dim,
        "max_pos_len": max_pos_len,
    }
    return settings, data


def resolve_config(config_class, inferred, overrides=None):
    """`config_class(**inferred, **overrides).validate()`, where an override may not contradict a shape.

    Raises:
        ValueError: an override names no field of `config_class`.
        TF1ImportError: an override contradicts an inferred value.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(config_class)})
    if unknown:
        raise ValueError(f"unknown {config_class.__name__} fields: {unknown}")
    conflicts = [
        f"{k}={overrides[k]!r} (the checkpoint has {inferred[k]!r})"
        for k in sorted(overrides)
        if k in inferred and overrides[k] != inferred[k]
    ]
    if conflicts:
        raise TF1ImportError("these settings contradict the checkpoint's shapes: " + "; ".join(conflicts))
    return config_class(**{**inferred, **overrides}).validate()


def check_word_vectors(word_vectors, table_vectors):
    """Fails unless `word_vectors` equal the checkpoint's frozen table (otherwise the word ids would mean other
    words). `word_vectors=None` passes."""
    if word_vectors is None:
        return
    word_vectors = np.asarray(word_vectors)
    if word_vectors.shape != table_vectors.shape:
        raise TF1ImportError(
            f"the word vectors have shape {list(word_vectors.shape)} but the checkpoint's "
            f"{WORD_TABLE} has {list(table_vectors.shape)}"
        )
    differing = int(np.sum(np.any(word_vectors.astype(np.float32) != table_vectors, axis=1)))
    if differing:
        raise TF1ImportError(
            f"the word vectors differ from the checkpoint's {WORD_TABLE} in {differing} rows: "
            "they do not belong to the vocabulary this checkpoint was trained with"
        )


@dataclasses.dataclass(frozen=True)
class TF1Importer:
    """How one family imports an original checkpoint.

    Attributes:
        infer_config: `(checkpoint, overrides) -> (config, data)`.
        weight_table: `config -> [tf1_reader.Entry]`.
        task_class: the family's `Task`; the model is built as the trainer builds it (`build_model`), so that
            checkpoints agree.
        ignore: the `load_tf1_weights` rule for variables that are not model weights.
        describe: `config -> str`, what the model is, for messages.
    """

    infer_config: Callable
    weight_table: Callable
    task_class: type
    ignore: Callable
    describe: Callable

    def build_model(self, config, data, word_vectors):
        """A built model of `config` holding `word_vectors`, with the data sizes `data` (`infer_config`'s)."""
        return self.task_class(config).build_model(
            {
                "word_vectors": np.asarray(word_vectors, np.float32),
                "num_chars": data["num_chars"],
                "feature_dim": data["feature_dim"],
                "max_pos_len": data["max_pos_len"],
            }
        )

    def import_checkpoint(self, path, overrides=None, word_vectors=None):
        """Build the family's model from an original TF1 checkpoint and assign every variable through its table.

        Args:
            path: checkpoint prefix (`.../model.ckpt`) or its folder.
            overrides: optional config fields (see the family's `infer_config`).
            word_vectors: optional frozen word vectors the vocabulary was built with; they must equal the
                checkpoint's `word_embeddings/word_table`.

        Returns:
            a `tf1_reader.ImportedModel`.

        Raises:
            TF1ImportError: listing every missing, unexpected, wrong-shape or uncovered variable, or the settings
                that contradict the checkpoint.
        """
        checkpoint = tf1_reader.TF1Checkpoint(path)
        config, data = self.infer_config(checkpoint, overrides)
        table_vectors = checkpoint.get(WORD_TABLE)
        check_word_vectors(word_vectors, table_vectors)
        model = self.build_model(config, data, table_vectors)
        report = tf1_reader.load_tf1_weights(
            checkpoint,
            self.weight_table(config),
            tf1_reader.keras_weights(model),
            ignore=self.ignore,
            what=self.describe(config),
        )
        global_step = int(checkpoint.get("global_step")) if "global_step" in checkpoint else None
        return tf1_reader.ImportedModel(
            model=model, config=config, data=data, word_vectors=table_vectors, report=report, global_step=global_step
        )
