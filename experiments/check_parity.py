"""Check that an imported TF1 checkpoint computes the original's function, on a parity fixture.

    python -m experiments.check_parity --fixture=shared/fixtures/vslnet_tf1 [--out=RUN_DIR] [--atol=1e-4]

A fixture folder (`shared/fixtures/<family>_tf1/README.md`) holds the original's `model.ckpt` and, in
`fixture.npz` (a padded batch) and `fixture_single_{i}.npz` (each sample alone), the inputs and every output of the
original graph at drop_rate 0. This script imports the checkpoint with `experiments.import_tf1` into a run directory
(a temporary one unless `--out` is given), restores the model from that run directory as evaluation would, feeds
the stored inputs in the original's conventions (batch padding as stored, the video mask from
`video_seq_length`, the query mask from `word_ids != 0`, inference mode) and prints the largest absolute
difference of every stored array:

- outputs: `start_logits`, `end_logits`, `highlight_logits` (valid clips; padded clips must hold exactly
  float32(−1e30)), `start_prob`, `end_prob`, `highlight_scores`, and `start_index`, `end_index` (must be equal);
- losses (within `--loss_rtol` relative): `localization_loss`, `highlight_loss`, `l2_loss`, `loss`, `total_loss`.
  The fixture's L2 is the original's TF2 branch (Keras `l2`: 3e-7·Σw², README "L2 term"), so ours is computed
  with `l2_penalty(..., semantics="keras")`; the `task.*` rows check the training loss path
  (`VSLNetTask.compute_losses`, whose L2 has the TF1 `/2` semantics, spec §7.3) against the same numbers;
- intermediates (`char_features` … `end_rnn_output`), computed by calling the restored model's own sublayers in
  the order of `VSLNet.call`; the script checks that this path gives the model's logits bit for bit.

It prints one line per output (the largest difference in the batch file and over the single-sample files;
`--details` prints every file) and exits with status 1 when any difference is above the tolerance (`--atol` 1e-4
on arrays, indices equal, losses within 1e-4 relative), 2 when the import itself fails. `--in_memory` checks the
imported model without the run-directory round trip.
"""

import dataclasses
import os
import sys
import tempfile

import numpy as np
from absl import app, flags
from keras import ops

from common import losses
from common.checkpoint_conversion import tf1_reader
from common.layers.masking import sequence_mask
from common.layers.span_decoding import span_decode
from experiments import import_tf1
from vslnet_tf.task import VSLNetTask

FIXTURE_FILES = ("fixture.npz",) + tuple(f"fixture_single_{i}.npz" for i in range(4))
INPUT_KEYS = ("video_inputs", "video_seq_length", "word_ids", "char_ids", "highlight_labels", "y1", "y2")
MASKED_LOGITS = ("start_logits", "end_logits", "highlight_logits")
INDICES = ("start_index", "end_index")
LOSSES = ("localization_loss", "highlight_loss", "l2_loss", "loss", "total_loss")
#: Our extra rows (the task's loss and decoding path) and the fixture key each is compared with.
TASK_ROWS = {
    "task.span": "localization_loss",
    "task.highlight": "highlight_loss",
    "task.l2 x 2 (tf1 → keras)": "l2_loss",
    "task.total + task.l2": "total_loss",
    "task.start_index": "start_index",
    "task.end_index": "end_index",
    "task.highlight_probs": "highlight_scores",
}
INTERMEDIATES = ("char_features", "query_embedding", "video_projection", "query_projection", "video_encoded",
                 "query_encoded", "vq_trilinear_score", "vq_attention_output", "query_pooled", "cq_concat_output",
                 "predictor_input", "start_rnn_output", "end_rnn_output")
#: Rows of the summary: outputs, losses, the task's path, then the intermediates in forward order.
SUMMARY_ORDER = (("start_logits", "end_logits", "highlight_logits", "start_prob", "end_prob", "highlight_scores")
                 + INDICES + LOSSES + tuple(TASK_ROWS) + INTERMEDIATES)
#: float32(−1e30), the original's padded logits; anything below −1e29 is padding.
PADDED_LOGIT = np.float32(-1e30)


@dataclasses.dataclass
class Row:
    """One comparison: `name` (ours) against the fixture's `reference` key."""

    fixture: str
    name: str
    reference: str
    kind: str
    max_abs: float
    tolerance: str
    ok: bool
    note: str = ""


def model_inputs(fixture):
    """The model's input dict from a fixture's stored (padded) inputs."""
    video = fixture["video_inputs"]
    return {
        "video_features": ops.convert_to_tensor(video),
        "video_mask": sequence_mask(fixture["video_seq_length"], video.shape[1]),
        "word_ids": ops.convert_to_tensor(fixture["word_ids"].astype(np.int32)),
        "char_ids": ops.convert_to_tensor(fixture["char_ids"].astype(np.int32)),
    }


def vslnet_intermediates(model, inputs):
    """The fixture's intermediates from the model's sublayers, in the order of `VSLNet.call` (inference mode)."""
    video_mask = inputs["video_mask"]
    query_mask = ops.not_equal(inputs["word_ids"], 0)
    out = {}
    out["char_features"] = chars = model.char_embedding(inputs["char_ids"], training=False)
    words = model.word_embedding(inputs["word_ids"], training=False)
    out["query_embedding"] = query = ops.concatenate([words, chars], axis=-1)
    out["query_projection"] = query = model.query_projection(query)
    out["video_projection"] = video = model.video_projection(inputs["video_features"])
    out["video_encoded"] = video = model.encoder(video, video_mask, training=False)
    out["query_encoded"] = query = model.encoder(query, query_mask, training=False)
    features, out["vq_trilinear_score"] = model.interaction(video, query, video_mask, query_mask, training=False,
                                                            return_similarity=True)
    out["vq_attention_output"] = features
    out["cq_concat_output"], out["query_pooled"] = model.query_pooling(features, query, query_mask,
                                                                       return_pooled=True)
    highlight_logits, out["predictor_input"] = model.highlighting(out["cq_concat_output"], video_mask)
    start, end, out["start_rnn_output"], out["end_rnn_output"] = model.predictor(
        out["predictor_input"], video_mask, training=False, return_features=True)
    return out, {"start_logits": start, "end_logits": end, "highlight_logits": highlight_logits}


class _ComputedOutputs:
    """Stands for `model` in a task's `compute_losses`/`predict_step`: returns the outputs of the forward pass already
    computed on the same inputs (inference mode) and forwards every other attribute (`l2_variables`, ...)."""

    def __init__(self, model, outputs):
        self._model = model
        self._outputs = outputs

    def __call__(self, inputs, training=None):
        if training:
            raise ValueError("the parity check runs in inference mode")
        return self._outputs

    def __getattr__(self, name):
        return getattr(self._model, name)


def run_vslnet(model, config, fixture):
    """Our value of every fixture output, loss and intermediate, plus the task rows (`TASK_ROWS`).

    Returns:
        `(ours, consistency)`: dict name → numpy array, and the largest difference between the sublayer path and
        `model(inputs)` (0 unless `vslnet_intermediates` no longer follows `VSLNet.call`).
    """
    if config.model != "vslnet" or config.predictor != "rnn":
        raise ValueError("the VSLNet fixture is a vslnet model with the rnn predictor")
    inputs = model_inputs(fixture)
    outputs = model(inputs, training=False)
    intermediates, sublayer_logits = vslnet_intermediates(model, inputs)
    consistency = max(float(np.max(np.abs(ops.convert_to_numpy(outputs[k]) - ops.convert_to_numpy(v))))
                      for k, v in sublayer_logits.items())
    ours = dict(intermediates)
    start, end, highlight = outputs["start_logits"], outputs["end_logits"], outputs["highlight_logits"]
    ours.update(start_logits=start, end_logits=end, highlight_logits=highlight)
    ours["start_prob"] = ops.softmax(start, axis=-1)
    ours["end_prob"] = ops.softmax(end, axis=-1)
    ours["highlight_scores"] = ops.sigmoid(highlight)
    start_label = np.argmax(fixture["y1"], axis=1)
    end_label = np.argmax(fixture["y2"], axis=1)
    ours["localization_loss"] = losses.span_cross_entropy(start, end, start_label, end_label)
    ours["highlight_loss"] = losses.highlight_loss(highlight, fixture["highlight_labels"], inputs["video_mask"])
    ours["l2_loss"] = losses.l2_penalty(model.l2_variables(), config.l2_scale, semantics="keras")
    ours["loss"] = ours["localization_loss"] + ours["l2_loss"]
    ours["total_loss"] = ours["loss"] + config.highlight_lambda * ours["highlight_loss"]

    task = VSLNetTask(config)
    batch = dict(inputs, start_index=start_label, end_index=end_label, highlight_labels=fixture["highlight_labels"])
    computed = _ComputedOutputs(model, outputs)  # the task's own loss/decoding code, without a second forward pass
    task_losses = task.compute_losses(computed, batch, training=False)
    ours["task.span"] = task_losses["span"]
    ours["task.highlight"] = task_losses["highlight"]
    ours["task.l2 x 2 (tf1 → keras)"] = 2.0 * task_losses["l2"]
    ours["task.total + task.l2"] = task_losses["total"] + task_losses["l2"]
    predictions = task.predict_step(computed, inputs)
    ours["task.start_index"] = predictions["start_index"]
    ours["task.end_index"] = predictions["end_index"]
    ours["task.highlight_probs"] = predictions["highlight_probs"]
    ours["start_index"], ours["end_index"], _ = span_decode(ours["start_prob"], ours["end_prob"])
    return {k: np.asarray(ops.convert_to_numpy(v)) for k, v in ours.items()}, consistency


def compare(fixture_name, name, ours, reference, reference_key, atol, loss_rtol):
    """A `Row` comparing one of our arrays with the fixture's."""
    ours = np.asarray(ours)
    reference = np.asarray(reference)
    if ours.shape != reference.shape:
        return Row(fixture_name, name, reference_key, "shape", float("inf"), "same shape", False,
                   f"ours {list(ours.shape)} vs {list(reference.shape)}")
    if reference_key in INDICES:
        diff = float(np.max(np.abs(ours.astype(np.int64) - reference.astype(np.int64)))) if ours.size else 0.0
        return Row(fixture_name, name, reference_key, "index", diff, "equal", diff == 0,
                   "" if diff == 0 else f"ours {ours.tolist()} vs {reference.tolist()}")
    diff64 = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
    if reference_key in LOSSES:
        diff = float(diff64)
        rel = diff / max(abs(float(reference)), 1e-30)
        return Row(fixture_name, name, reference_key, "loss", diff, f"rel {loss_rtol:g}", rel <= loss_rtol,
                   f"rel {rel:.2e}; ours {float(ours):.7g}, original {float(reference):.7g}")
    if reference_key in MASKED_LOGITS:
        valid = reference > -1e29
        padded_ok = bool(np.all(ours[~valid] == PADDED_LOGIT))
        diff = float(np.max(diff64[valid])) if valid.any() else 0.0
        note = f"{int((~valid).sum())} padded" + ("" if padded_ok else ", padded values differ from float32(-1e30)")
        return Row(fixture_name, name, reference_key, "masked logits", diff, f"abs {atol:g}",
                   padded_ok and diff <= atol, note)
    diff = float(np.max(diff64)) if diff64.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    return Row(fixture_name, name, reference_key, "array", diff, f"abs {atol:g}", diff <= atol,
               f"|original| ≤ {scale:.3g}")


def import_fixture_model(fixture_dir, run_dir=None, in_memory=False):
    """The fixture's checkpoint as our model: imported into `run_dir` (temporary if `None`) and restored from there
    as evaluation would, or, with `in_memory`, the imported model itself (skips the run-directory round trip).

    Returns:
        `(model, config)`.
    """
    checkpoint = tf1_reader.TF1Checkpoint(fixture_dir)
    family = "lpnet" if any(name.startswith("dynamic_head/") for name in checkpoint.names()) else "vslnet"
    if family != "vslnet":
        raise import_tf1.NotSupportedError(f"the fixture in {fixture_dir} is an {family} checkpoint; the parity check "
                                           "supports vslnet only so far")
    word_vectors = os.path.join(fixture_dir, "word_vectors.npy")
    word_vectors = word_vectors if os.path.exists(word_vectors) else None
    if in_memory:
        imported = import_tf1.importer_for(family).import_checkpoint(
            checkpoint.path, word_vectors=None if word_vectors is None else np.load(word_vectors))
        return imported.model, imported.config
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = run_dir or os.path.join(scratch, "run")
        import_tf1.import_to_run_dir(family, checkpoint.path, run_dir, word_vectors=word_vectors, overwrite=True)
        model, config, _ = import_tf1.load_run(run_dir)
    return model, config


def check_fixture_dir(fixture_dir, run_dir=None, in_memory=False, atol=1e-4, loss_rtol=1e-4, files=FIXTURE_FILES):
    """Compare our model with every fixture file (see `import_fixture_model` for `run_dir` and `in_memory`).

    Returns:
        list of `Row`.
    """
    model, config = import_fixture_model(fixture_dir, run_dir=run_dir, in_memory=in_memory)
    rows = []
    for name in files:
        fixture = dict(np.load(os.path.join(fixture_dir, name)))
        ours, consistency = run_vslnet(model, config, fixture)
        if consistency != 0.0:
            rows.append(Row(name, "sublayer path == model(inputs)", "-", "self-check", consistency, "equal", False,
                            "vslnet_intermediates no longer follows VSLNet.call"))
        for key, reference in fixture.items():
            if key not in INPUT_KEYS:
                if key not in ours:
                    rows.append(Row(name, key, key, "missing", float("inf"), "-", False, "not computed by us"))
                    continue
                rows.append(compare(name, key, ours[key], reference, key, atol, loss_rtol))
        for ours_key, reference_key in TASK_ROWS.items():
            rows.append(compare(name, ours_key, ours[ours_key], fixture[reference_key], reference_key, atol,
                                loss_rtol))
    return rows


def format_rows(rows):
    """Every row, grouped by fixture file."""
    lines = []
    current = None
    for row in rows:
        if row.fixture != current:
            current = row.fixture
            lines.append(f"\n== {current}")
            lines.append(f"{'output':28} {'kind':14} {'max abs diff':>12}  {'tolerance':10} ok   note")
        lines.append(f"{row.name:28} {row.kind:14} {row.max_abs:12.2e}  {row.tolerance:10} "
                     f"{'yes' if row.ok else 'NO ':3}  {row.note}")
    return "\n".join(lines)


def format_summary(rows):
    """One line per output: the largest difference in the batch file and over the single-sample files."""
    order, batch, single, ok, tolerance, kind = [], {}, {}, {}, {}, {}
    for row in rows:
        if row.name not in ok:
            order.append(row.name)
            ok[row.name] = True
        target = batch if row.fixture == FIXTURE_FILES[0] else single
        target[row.name] = max(target.get(row.name, 0.0), row.max_abs)
        ok[row.name] = ok[row.name] and row.ok
        tolerance[row.name], kind[row.name] = row.tolerance, row.kind

    def cell(values, name):
        return f"{values[name]:12.2e}" if name in values else f"{'-':>12}"

    rank = {name: i for i, name in enumerate(SUMMARY_ORDER)}
    order.sort(key=lambda name: rank.get(name, len(rank)))
    lines = [f"{'output':28} {'kind':14} {'batch':>12} {'singles':>12}  {'tolerance':10} ok"]
    for name in order:
        lines.append(f"{name:28} {kind[name]:14} {cell(batch, name)} {cell(single, name)}  {tolerance[name]:10} "
                     f"{'yes' if ok[name] else 'NO'}")
    failed = [row for row in rows if not row.ok]
    lines.append(f"{len(rows) - len(failed)}/{len(rows)} comparisons within tolerance"
                 + ("" if not failed else "; FAILED: " + ", ".join(f"{r.fixture}:{r.name}" for r in failed)))
    return "\n".join(lines)


def define_flags():
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    flags.DEFINE_string("fixture", None, "Fixture folder (model.ckpt, fixture*.npz, word_vectors.npy).",
                        required=True)
    flags.DEFINE_string("out", None, "Keep the imported run directory here (default: a temporary one).")
    flags.DEFINE_bool("in_memory", False, "Check the imported model directly, without the run-directory round trip.")
    flags.DEFINE_bool("details", False, "Also print every comparison of every fixture file.")
    flags.DEFINE_float("atol", 1e-4, "Absolute tolerance on arrays (logits, probabilities, intermediates).")
    flags.DEFINE_float("loss_rtol", 1e-4, "Relative tolerance on losses.")


def main(argv):
    del argv  # unused
    fv = flags.FLAGS
    try:
        rows = check_fixture_dir(fv.fixture, run_dir=fv.out, in_memory=fv.in_memory, atol=fv.atol,
                                 loss_rtol=fv.loss_rtol)
    except import_tf1.CheckpointTrackingError as error:
        print(f"error: {error}\n(--in_memory checks the imported model without the run directory)", file=sys.stderr)
        sys.exit(2)
    except (import_tf1.NotSupportedError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    if fv.details:
        print(format_rows(rows) + "\n")
    print(format_summary(rows))
    if not all(row.ok for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
