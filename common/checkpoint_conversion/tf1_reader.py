"""Read a TF1 name-based checkpoint into Keras weights through an explicit table (STYLE §5, "TF1 import").

The original VSLNet and LPNet code saves `tf.compat.v1.train.Saver` checkpoints: flat variable names such as
`feature_encoder/conv_block/depthwise_conv_layers_0/depthwise_filter`. They are read with
`tf.train.load_checkpoint` only, with no TF1 graph code.

A **table** is a list of `Entry(tf1_name, keras_paths, kind)`:
- `tf1_name` is the original variable;
- `keras_paths` are our weights, by path relative to the model (`"feature_encoder/conv_block/layer_norm_0/gamma"`,
  i.e. Keras' `variable.path` without the model's own name), so assignment is by layer name as in keras-hub's
  `tools/checkpoint_conversion/`;
- `kind` is the `Conversion` of that layer kind (layout change, gate reorder, constant offsets).

`load_tf1_weights` refuses, before assigning anything, when a table variable is missing from the checkpoint, when
the checkpoint holds a variable that is neither in the table nor declared ignorable (optimizer slots of table
variables, `global_step`), when a shape or dtype is wrong, or when one of our weights is not covered by the
table; the message lists every such name.

Conversions of the layer kinds (TF1 layout → ours):

| kind | TF1 variable | our weight(s) |
|---|---|---|
| `IDENTITY` | any | the same array (LayerNorm scale/offset, tables, char-CNN filters `[1, k, c, f]`, ...) |
| `CONV1D_KERNEL` | width-1 `conv1d` kernel `[1, in, out]` | `Dense` kernel `[in, out]` |
| `CONV1D_BIAS` | `conv1d` bias `[1, 1, out]` | `Dense` bias `[out]` |
| `DEPTHWISE_FILTER` | `separable_conv2d` depthwise filter `[k, 1, d, 1]` | `DepthwiseConv1D` kernel `[k, d, 1]` |
| `POINTWISE_FILTER` | `separable_conv2d` pointwise filter `[1, 1, d, d']` | `Dense` kernel `[d, d']` |
| `LSTM_KERNEL` | `LSTMCell` kernel `[in + u, 4u]`: rows `[x; h]`, gates i, j, f, o | `kernel [in, 4u]`, |
| | | `recurrent_kernel [u, 4u]`, gates i, f, c (= j), o |
| `LSTM_BIAS` | `LSTMCell` bias `[4u]`; the cell adds `forget_bias` 1.0 | `bias [4u]`, reordered, forget block + 1.0 |

The second half of the module holds the tables of the layers both models share (`common/layers`), parameterized
by the TF1 scope, so that each model's `tf1_checkpoint.py` composes its explicit table from them.
"""

import dataclasses
import glob
import os

import numpy as np
import tensorflow as tf

#: Key of the object graph in TF2 object-based checkpoints (`tf.train.Checkpoint`); TF1 `Saver` files lack it.
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class TF1ImportError(ValueError):
    """The checkpoint and the table (or our model) disagree; the message lists every disagreement."""


# === Reader ===


def resolve_checkpoint_path(path):
    """The checkpoint prefix for `path`: a prefix (`.../model.ckpt`), or a folder holding one checkpoint.

    A folder is resolved with its `checkpoint` state file when it has one, else by its single `*.index` file.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        indexes = sorted(glob.glob(os.path.join(path, "*.index")))
        if len(indexes) == 1:
            return indexes[0][: -len(".index")]
        raise FileNotFoundError(
            f"{path} is a folder with {len(indexes)} checkpoint index files and no `checkpoint` state file; "
            "pass the checkpoint prefix (e.g. FOLDER/model.ckpt)"
        )
    if path.endswith(".index"):
        path = path[: -len(".index")]
    if not os.path.exists(path + ".index"):
        raise FileNotFoundError(f"no TF1 checkpoint at {path} ({path}.index does not exist)")
    return path


class TF1Checkpoint:
    """A TF1 name-based checkpoint opened with `tf.train.load_checkpoint`.

    Args:
        path: checkpoint prefix, or a folder holding one checkpoint (see `resolve_checkpoint_path`).

    Attributes:
        path: the resolved prefix.
        shapes: dict name → shape tuple, every variable of the file.
        dtypes: dict name → dtype name (`"float32"`, `"int64"`).
    """

    def __init__(self, path):
        self.path = resolve_checkpoint_path(path)
        self._reader = tf.train.load_checkpoint(self.path)
        shapes = self._reader.get_variable_to_shape_map()
        if OBJECT_GRAPH_KEY in shapes:
            raise TF1ImportError(
                f"{self.path} is an object-based checkpoint written by `tf.train.Checkpoint` (a run of ours?), not "
                "a TF1 name-based one; restore it with `tf.train.Checkpoint(model=...)` instead"
            )
        self.shapes = {name: tuple(int(d) for d in shape) for name, shape in shapes.items()}
        dtypes = self._reader.get_variable_to_dtype_map()
        self.dtypes = {name: tf.as_dtype(dtype).name for name, dtype in dtypes.items()}

    def __contains__(self, name):
        return name in self.shapes

    def names(self):
        return sorted(self.shapes)

    def shape(self, name):
        return self.shapes[name]

    def get(self, name):
        """The value of `name` as a numpy array."""
        return np.asarray(self._reader.get_tensor(name))


def write_tf1_checkpoint(prefix, arrays):
    """Write `{name: array}` as a name-based checkpoint at `prefix` (what a TF1 `Saver` writes, minus the graph).

    Uses `tf.raw_ops.SaveV2`, so the names are exactly the given ones. For tests and round trips.
    """
    names = sorted(arrays)
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    tf.raw_ops.SaveV2(
        prefix=os.fspath(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(np.asarray(arrays[name])) for name in names],
    )
    return os.fspath(prefix)


# === Conversions (one per layer kind) ===


class Conversion:
    """How one TF1 variable becomes one or more of our weights, and back.

    Subclasses define `tf1_shape(keras_shapes)` (the TF1 shape the table expects, from our weights' shapes),
    `to_keras(value, keras_shapes)` (a list with one array per target weight) and `to_tf1(keras_values)` (the
    inverse, for writing checkpoints in the original layout).
    """

    name = "conversion"
    num_targets = 1

    def tf1_shape(self, keras_shapes):
        raise NotImplementedError

    def to_keras(self, value, keras_shapes):
        raise NotImplementedError

    def to_tf1(self, keras_values):
        raise NotImplementedError

    def __repr__(self):
        return self.name


class Reshape(Conversion):
    """A pure layout change: the TF1 array holds the same values with extra unit axes."""

    def __init__(self, name, tf1_shape_fn):
        self.name = name
        self._tf1_shape_fn = tf1_shape_fn

    def tf1_shape(self, keras_shapes):
        return tuple(self._tf1_shape_fn(tuple(keras_shapes[0])))

    def to_keras(self, value, keras_shapes):
        return [np.reshape(value, keras_shapes[0])]

    def to_tf1(self, keras_values):
        value = np.asarray(keras_values[0])
        return np.reshape(value, self.tf1_shape([value.shape]))


def _swap_gate_blocks_1_2(x):
    """TF1 gate order (i, j, f, o) ↔ Keras (i, f, c, o), with c = j: swap the 2nd and 3rd blocks of the last axis.

    The swap is its own inverse.
    """
    i, second, third, o = np.split(np.asarray(x), 4, axis=-1)
    return np.concatenate([i, third, second, o], axis=-1)


class LSTMKernel(Conversion):
    """`LSTMCell/kernel [in + u, 4u]` (rows: input then hidden; gates i, j, f, o) → Keras `kernel [in, 4u]` and
    `recurrent_kernel [u, 4u]` (gates i, f, c, o)."""

    name = "lstm_kernel"
    num_targets = 2

    def tf1_shape(self, keras_shapes):
        kernel, recurrent = keras_shapes
        return (kernel[0] + recurrent[0], kernel[1])

    def to_keras(self, value, keras_shapes):
        input_dim = keras_shapes[0][0]
        value = _swap_gate_blocks_1_2(value)
        return [value[:input_dim], value[input_dim:]]

    def to_tf1(self, keras_values):
        kernel, recurrent = (np.asarray(v) for v in keras_values)
        return _swap_gate_blocks_1_2(np.concatenate([kernel, recurrent], axis=0))


class LSTMBias(Conversion):
    """`LSTMCell/bias [4u]` (gates i, j, f, o) → Keras `bias [4u]` (i, f, c, o) with `forget_bias` added to the forget
    block: TF1 adds the constant `forget_bias` (1.0) inside the cell and does not store it, while Keras'
    `unit_forget_bias=True` stores the 1.0 in the bias (only at initialization; afterwards it is a plain bias)."""

    name = "lstm_bias"

    def __init__(self, forget_bias=1.0):
        self.forget_bias = float(forget_bias)

    def tf1_shape(self, keras_shapes):
        return tuple(keras_shapes[0])

    def to_keras(self, value, keras_shapes):
        bias = _swap_gate_blocks_1_2(value).astype(np.float32, copy=True)
        units = bias.shape[-1] // 4
        bias[units : 2 * units] += np.float32(self.forget_bias)
        return [bias]

    def to_tf1(self, keras_values):
        bias = np.array(keras_values[0], dtype=np.float32, copy=True)
        units = bias.shape[-1] // 4
        bias[units : 2 * units] -= np.float32(self.forget_bias)
        return _swap_gate_blocks_1_2(bias)


IDENTITY = Reshape("identity", lambda shape: shape)
CONV1D_KERNEL = Reshape("conv1d_kernel", lambda shape: (1,) + shape)  # [in, out] ← [1, in, out]
CONV1D_BIAS = Reshape("conv1d_bias", lambda shape: (1, 1) + shape)  # [out] ← [1, 1, out]
DEPTHWISE_FILTER = Reshape("depthwise_filter", lambda shape: (shape[0], 1, shape[1], shape[2]))  # [k,d,1] ← [k,1,d,1]
POINTWISE_FILTER = Reshape("pointwise_filter", lambda shape: (1, 1) + shape)  # [d, d'] ← [1, 1, d, d']
LSTM_KERNEL = LSTMKernel()
LSTM_BIAS = LSTMBias(forget_bias=1.0)


# === Table and matching ===


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row of a table: TF1 variable `tf1_name` → our weight(s) `keras_paths`, converted by `kind`."""

    tf1_name: str
    keras_paths: tuple
    kind: Conversion = IDENTITY

    def __post_init__(self):
        if isinstance(self.keras_paths, str):
            object.__setattr__(self, "keras_paths", (self.keras_paths,))
        if len(self.keras_paths) != self.kind.num_targets:
            raise ValueError(
                f"{self.tf1_name}: {self.kind} fills {self.kind.num_targets} weight(s), got {list(self.keras_paths)}"
            )


def keras_weights(model):
    """Our weights by path relative to `model` (Keras' `variable.path` without the leading `"{model.name}/"`)."""
    prefix = model.name + "/"
    weights = {}
    for variable in model.weights:
        path = variable.path[len(prefix) :] if variable.path.startswith(prefix) else variable.path
        if path in weights:
            raise ValueError(f"two weights of {model.name} share the path {path!r}")
        weights[path] = variable
    return weights


def optimizer_state(
    slot_suffixes=("adam_m", "adam_v", "Adam", "Adam_1", "AdamOptimizer", "AdamOptimizer_1"),
    names=("global_step", "beta1_power", "beta2_power"),
):
    """An `ignore` rule for `load_tf1_weights`: optimizer state is not imported.

    Ignored: the variables in `names` and the slots `<var>/<suffix>` **of a table variable** `<var>` (the
    original VSLNet's AdamWeightDecayOptimizer writes `adam_m`/`adam_v`; TF1 `AdamOptimizer` writes `Adam`,
    `Adam_1` (`AdamOptimizer`, `AdamOptimizer_1` under LPNet's optimizer name) and the β powers). A slot of a
    variable the table does not know stays unexpected.
    """

    def rule(name, table_names):
        if name in names:
            return "optimizer/step state"
        base, _, suffix = name.rpartition("/")
        if suffix in slot_suffixes and base in table_names:
            return f"optimizer slot of {base}"
        return None

    return rule


@dataclasses.dataclass
class ImportReport:
    """What `load_tf1_weights` did: `assigned` TF1 name → our paths, `ignored` TF1 name → reason."""

    checkpoint: str
    assigned: dict
    ignored: dict

    def summary(self):
        return (
            f"{len(self.assigned)} TF1 variables assigned to "
            f"{sum(len(p) for p in self.assigned.values())} weights; {len(self.ignored)} ignored "
            f"(optimizer state)"
        )


def _shape_text(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check_table(table):
    """Raise `ValueError` if a TF1 name or one of our paths appears twice (a programming error of the table)."""
    seen_tf1, seen_keras = set(), {}
    for entry in table:
        if entry.tf1_name in seen_tf1:
            raise ValueError(f"the table lists {entry.tf1_name} twice")
        seen_tf1.add(entry.tf1_name)
        for path in entry.keras_paths:
            if path in seen_keras:
                raise ValueError(f"the table assigns {path} from both {seen_keras[path]} and {entry.tf1_name}")
            seen_keras[path] = entry.tf1_name


def match_table(checkpoint, table, weights, ignore=None, what="model"):
    """Check `table` against the checkpoint and our weights; raise `TF1ImportError` listing every problem.

    Args:
        checkpoint: a `TF1Checkpoint`.
        table: list of `Entry`.
        weights: dict path → variable (`keras_weights(model)`).
        ignore: optional `ignore(name, table_names) -> reason or None` for checkpoint variables outside the table
            (e.g. `optimizer_state()`).
        what: the model's name for messages.

    Returns:
        dict of ignored TF1 name → reason.
    """
    check_table(table)
    table_names = {entry.tf1_name for entry in table}
    missing, wrong_shape, wrong_dtype, unknown_paths = [], [], [], []
    for entry in table:
        absent = [p for p in entry.keras_paths if p not in weights]
        if absent:
            unknown_paths.append(f"{entry.tf1_name} → {', '.join(absent)}")
            continue
        expected = entry.kind.tf1_shape([tuple(weights[p].shape) for p in entry.keras_paths])
        if entry.tf1_name not in checkpoint:
            missing.append(f"{entry.tf1_name} {_shape_text(expected)}")
            continue
        found = checkpoint.shape(entry.tf1_name)
        if tuple(found) != tuple(expected):
            wrong_shape.append(
                f"{entry.tf1_name}: checkpoint {_shape_text(found)}, expected {_shape_text(expected)} "
                f"(for our {', '.join(entry.keras_paths)})"
            )
        dtype = checkpoint.dtypes[entry.tf1_name]
        ours = {tf.as_dtype(weights[p].dtype).name for p in entry.keras_paths}
        if ours != {dtype}:
            wrong_dtype.append(f"{entry.tf1_name}: checkpoint {dtype}, ours {', '.join(sorted(ours))}")
    ignored, unexpected = {}, []
    for name in checkpoint.names():
        if name in table_names:
            continue
        reason = ignore(name, table_names) if ignore is not None else None
        if reason is None:
            unexpected.append(f"{name} {_shape_text(checkpoint.shape(name))}")
        else:
            ignored[name] = reason
    covered = {p for entry in table for p in entry.keras_paths}
    uncovered = [f"{p} {_shape_text(tuple(v.shape))}" for p, v in sorted(weights.items()) if p not in covered]
    problems = [
        ("missing from the checkpoint", missing),
        ("unexpected in the checkpoint (neither in the table nor optimizer state)", unexpected),
        ("wrong shape", wrong_shape),
        ("wrong dtype", wrong_dtype),
        (
            f"table rows naming weights our {what} does not have (a config that does not fit the checkpoint?)",
            unknown_paths,
        ),
        (f"weights of our {what} that no table row fills", uncovered),
    ]
    if any(items for _, items in problems):
        lines = [f"the TF1 checkpoint {checkpoint.path} does not match the {what} table:"]
        for title, items in problems:
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines.extend(f"    {item}" for item in items)
        raise TF1ImportError("\n".join(lines))
    return ignored


def load_tf1_weights(checkpoint, table, weights, ignore=None, what="model"):
    """Assign every table variable of `checkpoint` to our weights, after `match_table` found no problem.

    Nothing is assigned when the check fails (the `TF1ImportError` lists every problem).

    Args:
        checkpoint: a `TF1Checkpoint` or a checkpoint path.
        table, weights, ignore, what: as `match_table`.

    Returns:
        an `ImportReport`.
    """
    if not isinstance(checkpoint, TF1Checkpoint):
        checkpoint = TF1Checkpoint(checkpoint)
    ignored = match_table(checkpoint, table, weights, ignore=ignore, what=what)
    converted = []
    for entry in table:
        targets = [weights[p] for p in entry.keras_paths]
        values = entry.kind.to_keras(checkpoint.get(entry.tf1_name), [tuple(t.shape) for t in targets])
        converted.extend(zip(targets, values))
    for variable, value in converted:
        variable.assign(np.asarray(value, dtype=tf.as_dtype(variable.dtype).as_numpy_dtype))
    assigned = {entry.tf1_name: entry.keras_paths for entry in table}
    return ImportReport(checkpoint=checkpoint.path, assigned=assigned, ignored=ignored)


def export_tf1_arrays(table, weights):
    """The inverse of `load_tf1_weights`: `{tf1_name: array}` in the original layout from our weights."""
    check_table(table)
    return {
        entry.tf1_name: entry.kind.to_tf1([np.asarray(weights[p].numpy()) for p in entry.keras_paths])
        for entry in table
    }


def format_table(table):
    """The table as text, one `tf1_name  kind  our path(s)` line per row."""
    width = max((len(entry.tf1_name) for entry in table), default=0)
    return "\n".join(
        f"{entry.tf1_name:<{width}}  {entry.kind.name:<16}  {', '.join(entry.keras_paths)}" for entry in table
    )


# === Tables of the shared layers (common/layers) ===
# Each function returns the rows of one of our layers under the TF1 scope `tf1` and our layer path `ours` (either may
# be "" for the root).


def _join(scope, name):
    return f"{scope}/{name}" if scope else name


def conv1d_entries(tf1, ours, use_bias=True):
    """The original `conv1d` (width 1, `[1, in, out]` kernel, `[1, 1, out]` bias) → `keras.layers.Dense`."""
    rows = [Entry(_join(tf1, "kernel"), _join(ours, "kernel"), CONV1D_KERNEL)]
    if use_bias:
        rows.append(Entry(_join(tf1, "bias"), _join(ours, "bias"), CONV1D_BIAS))
    return rows


def layer_norm_entries(tf1, ours):
    """The original `layer_norm` (`layer_norm_scale`, `layer_norm_bias`) → `keras.layers.LayerNormalization`."""
    return [
        Entry(_join(tf1, "layer_norm_scale"), _join(ours, "gamma")),
        Entry(_join(tf1, "layer_norm_bias"), _join(ours, "beta")),
    ]


def word_embedding_entries(tf1, ours):
    """`word_embedding_lookup` → `WordEmbedding`: the UNK row and the frozen table (the PAD row is a constant)."""
    return [
        Entry(_join(tf1, "unk"), _join(ours, "unk")),
        Entry(_join(tf1, "word_table"), _join(ours, "word_table")),
    ]


def char_embedding_entries(tf1, ours, num_convs=4):
    """`char_embedding_lookup` → `CharEmbedding`: `char_table` (ids 1.., PAD is a constant) and the char-CNN."""
    rows = [Entry(_join(tf1, "char_table"), _join(ours, "char_table"))]
    for i in range(num_convs):
        rows.append(Entry(_join(tf1, f"filter_{i}"), _join(ours, f"conv_{i}/kernel")))  # [1, k, c, f], same layout
        rows.append(Entry(_join(tf1, f"bias_{i}"), _join(ours, f"conv_{i}/bias")))
    return rows


def conv_block_entries(tf1, ours, num_layers=4, layer_norm_name="layer_norm_{}"):
    """`conv_block` → `ConvBlock`. The bias of `depthwise_conv_layers_i` is added after the pointwise conv, so it is
    the bias of our `pointwise_conv_i`. `layer_norm_name` is the original's per-layer LayerNorm scope (VSLNet
    `layer_norm_{i}`; LPNet's fixture shows `layer_norm_conv_{i}`)."""
    rows = []
    for i in range(num_layers):
        rows += layer_norm_entries(_join(tf1, layer_norm_name.format(i)), _join(ours, f"layer_norm_{i}"))
        conv = _join(tf1, f"depthwise_conv_layers_{i}")
        rows += [
            Entry(f"{conv}/depthwise_filter", _join(ours, f"depthwise_conv_{i}/kernel"), DEPTHWISE_FILTER),
            Entry(f"{conv}/pointwise_filter", _join(ours, f"pointwise_conv_{i}/kernel"), POINTWISE_FILTER),
            Entry(f"{conv}/bias", _join(ours, f"pointwise_conv_{i}/bias")),
        ]
    return rows


def attention_block_entries(tf1, ours):
    """`multihead_attention_block` → `MultiHeadAttentionBlock` (Q/K/V `conv1d`s, two LayerNorms, the FFN `dense`)."""
    rows = layer_norm_entries(_join(tf1, "layer_norm_1"), _join(ours, "layer_norm_1"))
    for projection in ("query", "key", "value"):
        rows += conv1d_entries(_join(tf1, f"multihead_attention/{projection}"), _join(ours, projection))
    rows += layer_norm_entries(_join(tf1, "layer_norm_2"), _join(ours, "layer_norm_2"))
    rows += conv1d_entries(_join(tf1, "dense"), _join(ours, "ffn"))
    return rows


def feature_encoder_entries(tf1, ours, num_conv_layers=4, conv_layer_norm_name="layer_norm_{}"):
    """`feature_encoder` → `FeatureEncoder`: position table, conv block, attention block."""
    return [
        Entry(
            _join(tf1, "positional_embedding/position_embeddings"),
            _join(ours, "positional_embedding/position_embeddings"),
        ),
        *conv_block_entries(_join(tf1, "conv_block"), _join(ours, "conv_block"), num_conv_layers, conv_layer_norm_name),
        *attention_block_entries(_join(tf1, "multihead_attention_block"), _join(ours, "multihead_attention_block")),
    ]


def context_query_attention_entries(tf1, ours):
    """`video_query_attention` → `ContextQueryAttention`: the trilinear weights and the bias-free projection."""
    return [
        Entry(_join(tf1, "efficient_trilinear/linear_kernel4arg0"), _join(ours, "video_kernel")),
        Entry(_join(tf1, "efficient_trilinear/linear_kernel4arg1"), _join(ours, "query_kernel")),
        Entry(_join(tf1, "efficient_trilinear/linear_kernel4mul"), _join(ours, "mul_kernel")),
        *conv1d_entries(_join(tf1, "dense"), _join(ours, "projection"), use_bias=False),
    ]


def query_pooling_entries(tf1, ours):
    """`context_query_concat` → `QueryPooling`: the pooling vector `weight` and the `dense` projection."""
    return [
        Entry(_join(tf1, "weight"), _join(ours, "pooling/pooling_kernel")),
        *conv1d_entries(_join(tf1, "dense"), _join(ours, "projection")),
    ]


def highlighting_entries(tf1, ours):
    """`highlight_layer` (scope `highlighting_layer`) → `QueryGuidedHighlighting`: the scoring `dense`."""
    return conv1d_entries(_join(tf1, "dense"), _join(ours, "score"))


def lstm_entries(tf1_cell, ours_cell, forget_bias=1.0):
    """A TF1 `LSTMCell` scope (`.../rnn/lstm_cell`) → a Keras `LSTM`'s cell (`.../lstm_cell`)."""
    bias = LSTM_BIAS if forget_bias == 1.0 else LSTMBias(forget_bias)
    return [
        Entry(
            _join(tf1_cell, "kernel"), (_join(ours_cell, "kernel"), _join(ours_cell, "recurrent_kernel")), LSTM_KERNEL
        ),
        Entry(_join(tf1_cell, "bias"), _join(ours_cell, "bias"), bias),
    ]


def span_predictor_entries(tf1, ours, predictor="rnn", num_conv_layers=4):
    """`conditioned_predictor` → `ConditionedSpanPredictor`, `rnn` (two LSTMs) or `transformer` (one shared encoder
    and the `s_layer_norm`/`e_layer_norm`), plus the two heads."""
    if predictor == "rnn":
        rows = [
            *lstm_entries(_join(tf1, "start_rnn/rnn/lstm_cell"), _join(ours, "start_rnn/lstm_cell")),
            *lstm_entries(_join(tf1, "end_rnn/rnn/lstm_cell"), _join(ours, "end_rnn/lstm_cell")),
        ]
    elif predictor == "transformer":
        rows = [
            *feature_encoder_entries(_join(tf1, "feature_encoder"), _join(ours, "feature_encoder"), num_conv_layers),
            *layer_norm_entries(_join(tf1, "s_layer_norm"), _join(ours, "start_layer_norm")),
            *layer_norm_entries(_join(tf1, "e_layer_norm"), _join(ours, "end_layer_norm")),
        ]
    else:
        raise ValueError(f"unknown predictor {predictor!r}")
    for head in ("start_hidden", "end_hidden", "start_dense", "end_dense"):
        rows += conv1d_entries(_join(tf1, head), _join(ours, head))
    return rows


@dataclasses.dataclass
class ImportedModel:
    """The result of `import_checkpoint`.

    Attributes:
        model: the built model holding the original's weights.
        config: its config dataclass.
        data: the data sizes (`infer_config`).
        word_vectors: the frozen word table of the checkpoint `[num_words - 2, word_dim]`.
        report: the `ImportReport`.
        global_step: the original's `global_step`, or `None`.
    """

    model: object
    config: object
    data: dict
    word_vectors: np.ndarray
    report: ImportReport
    global_step: object = None
