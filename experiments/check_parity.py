"""Check that an imported TF1 checkpoint computes the original's function, on a parity fixture.

    python -m experiments.check_parity --fixture=FIXTURE_DIR [--model=auto] [--num_heads=N] \
        [--params_override=JSON] [--out=RUN_DIR] [--atol=1e-4]

A fixture folder (`shared/fixtures/{vslnet,lpnet}_tf1/README.md`, `tests/fixtures/vslnet_tf1_transformer/README.md`)
holds the original's `model.ckpt` and, in `fixture.npz` (a padded batch) and `fixture_single_*.npz` (each sample
alone), the inputs and every output of the original graph at drop_rate 0. The model family is the registered one
(`common.registry`) whose parity hooks (`Family.parity`, e.g. `vslnet_tf.parity`, `lpnet_tf.parity`) recognize the
checkpoint's variables; `--model` must agree with it. This script imports the checkpoint with
`experiments.import_tf1` into a run directory (a temporary one unless `--out` is given), with the family's import
overrides plus `--num_heads` and `--params_override` (config fields no checkpoint shape shows), restores the model
from that run directory as evaluation would, lets the family's hooks compute our value of every stored key from the
stored inputs (inference mode; the hooks say which outputs, losses, extra rows and intermediates) and prints the
largest absolute difference of every stored array.

The comparison rules, by the family's `kinds` of the reference key (up to its first `__`): `index` (equal),
`loss` (within `--loss_rtol` relative), `masked logits` (valid clips within `--atol`; padded clips must hold
exactly float32(−1e30)), anything else an array within `--atol`. A nonzero difference between the hooks'
intermediates path and `model(inputs)` fails the check too.

It prints one line per output (the largest difference in the batch file and over the single-sample files;
`--details` prints every file) and exits with status 1 when any comparison fails, 2 when the import itself fails.
`--in_memory` checks the imported model without the run-directory round trip.
"""

import dataclasses
import glob
import json
import os
import sys
import tempfile

import numpy as np
from absl import flags

from common import registry
from common.checkpoint_conversion import tf1_reader
from common.training import run_loader
from experiments import flag_help, import_tf1

BATCH_FILE = "fixture.npz"
INPUT_KEYS = ("video_inputs", "video_seq_length", "word_ids", "char_ids", "highlight_labels", "y1", "y2")
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


def fixture_files(fixture_dir):
    """The fixture's files: the padded batch, then every single-sample file (`fixture_single_*.npz`) by index."""
    singles = glob.glob(os.path.join(fixture_dir, "fixture_single_*.npz"))
    singles.sort(key=lambda path: int(os.path.basename(path)[len("fixture_single_") : -len(".npz")]))
    return (BATCH_FILE,) + tuple(os.path.basename(path) for path in singles)


def compare(fixture_name, name, ours, reference, reference_key, atol, loss_rtol, kind="array"):
    """A `Row` comparing one of our arrays with the fixture's by the rule `kind` (`index`, `loss`,
    `masked logits` or `array`)."""
    ours = np.asarray(ours)
    reference = np.asarray(reference)
    if ours.shape != reference.shape:
        return Row(
            fixture_name,
            name,
            reference_key,
            "shape",
            float("inf"),
            "same shape",
            False,
            f"ours {list(ours.shape)} vs {list(reference.shape)}",
        )
    if kind == "index":
        diff = float(np.max(np.abs(ours.astype(np.int64) - reference.astype(np.int64)))) if ours.size else 0.0
        return Row(
            fixture_name,
            name,
            reference_key,
            "index",
            diff,
            "equal",
            diff == 0,
            "" if diff == 0 else f"ours {ours.tolist()} vs {reference.tolist()}",
        )
    diff64 = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
    if kind == "loss":
        diff = float(diff64)
        rel = diff / max(abs(float(reference)), 1e-30)
        return Row(
            fixture_name,
            name,
            reference_key,
            "loss",
            diff,
            f"rel {loss_rtol:g}",
            rel <= loss_rtol,
            f"rel {rel:.2e}; ours {float(ours):.7g}, original {float(reference):.7g}",
        )
    if kind == "masked logits":
        valid = reference > -1e29
        padded_ok = bool(np.all(ours[~valid] == PADDED_LOGIT))
        diff = float(np.max(diff64[valid])) if valid.any() else 0.0
        note = f"{int((~valid).sum())} padded" + ("" if padded_ok else ", padded values differ from float32(-1e30)")
        return Row(
            fixture_name, name, reference_key, "masked logits", diff, f"abs {atol:g}", padded_ok and diff <= atol, note
        )
    diff = float(np.max(diff64)) if diff64.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    return Row(
        fixture_name, name, reference_key, "array", diff, f"abs {atol:g}", diff <= atol, f"|original| ≤ {scale:.3g}"
    )


def parity_families():
    """The registered families with parity hooks, by name."""
    return {name: family for name, family in registry.families().items() if family.parity is not None}


def fixture_family(fixture_dir, model="auto"):
    """The family of a fixture's checkpoint: the one whose hooks' `detect` recognizes its variables. `model`
    (`auto` or a family name) must agree.

    Raises:
        ValueError: `model` names another family than the checkpoint's, or is unknown; no family (or more than one)
            recognizes the checkpoint.
    """
    families = parity_families()
    if model not in ("auto", *families):
        raise ValueError(f"--model={model!r}; expected one of {('auto', *sorted(families))}")
    names = tf1_reader.TF1Checkpoint(fixture_dir).names()
    detected = [name for name, family in families.items() if family.parity.detect(names)]
    if len(detected) != 1:
        raise ValueError(
            f"the checkpoint in {fixture_dir} is recognized by {len(detected)} families with parity "
            f"hooks ({sorted(detected)}); expected one"
        )
    if model != "auto" and model != detected[0]:
        raise ValueError(f"--model={model}, but the checkpoint in {fixture_dir} is of the {detected[0]} family")
    return detected[0]


def import_fixture_model(fixture_dir, run_dir=None, in_memory=False, model="auto", overrides=None):
    """The fixture's checkpoint as our model: imported into `run_dir` (temporary if `None`) and restored from there
    as evaluation would, or, with `in_memory`, the imported model itself (skips the run-directory round trip).
    `model` is the family (`auto`: `fixture_family`); `overrides` are config fields the checkpoint's shapes do not
    show (e.g. `num_heads`), on top of the family's hooks' `import_overrides`.

    Returns:
        `(model, config)`.
    """
    family = fixture_family(fixture_dir, model)
    checkpoint = tf1_reader.TF1Checkpoint(fixture_dir)
    overrides = {**registry.get(family).parity.import_overrides, **(overrides or {})} or None
    word_vectors = os.path.join(fixture_dir, "word_vectors.npy")
    word_vectors = word_vectors if os.path.exists(word_vectors) else None
    if in_memory:
        imported = import_tf1.family_for(family).tf1_importer.import_checkpoint(
            checkpoint.path, overrides=overrides, word_vectors=None if word_vectors is None else np.load(word_vectors)
        )
        return imported.model, imported.config
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = run_dir or os.path.join(scratch, "run")
        import_tf1.import_to_run_dir(
            family, checkpoint.path, run_dir, word_vectors=word_vectors, overrides=overrides, overwrite=True
        )
        loaded = run_loader.load_run(run_dir)
    return loaded.model, loaded.config


def check_fixture_dir(
    fixture_dir, run_dir=None, in_memory=False, atol=1e-4, loss_rtol=1e-4, files=None, model="auto", overrides=None
):
    """Compare our model with the fixture files `files` (default: every one, `fixture_files`); see
    `import_fixture_model` for `run_dir`, `in_memory`, `model` and `overrides`.

    Returns:
        list of `Row`.
    """
    family = fixture_family(fixture_dir, model)
    hooks = registry.get(family).parity
    keras_model, config = import_fixture_model(
        fixture_dir, run_dir=run_dir, in_memory=in_memory, model=family, overrides=overrides
    )
    rows = []

    def row(name, ours_key, ours, reference, reference_key):
        kind = hooks.kinds.get(reference_key.split("__")[0], "array")
        return compare(name, ours_key, ours, reference, reference_key, atol, loss_rtol, kind)

    for name in files or fixture_files(fixture_dir):
        fixture = dict(np.load(os.path.join(fixture_dir, name)))
        ours, consistency = hooks.run(keras_model, config, fixture)
        if consistency != 0.0:
            rows.append(
                Row(
                    name,
                    "intermediates path == model(inputs)",
                    "-",
                    "self-check",
                    consistency,
                    "equal",
                    False,
                    f"the {family} parity hooks no longer follow the model's call",
                )
            )
        for key, reference in fixture.items():
            if key not in INPUT_KEYS:
                if key not in ours:
                    rows.append(Row(name, key, key, "missing", float("inf"), "-", False, "not computed by us"))
                    continue
                rows.append(row(name, key, ours[key], reference, key))
        references = hooks.references(fixture)
        for ours_key, reference_key in hooks.extra_rows.items():
            rows.append(row(name, ours_key, ours[ours_key], references[reference_key], reference_key))
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
        lines.append(
            f"{row.name:28} {row.kind:14} {row.max_abs:12.2e}  {row.tolerance:10} "
            f"{'yes' if row.ok else 'NO ':3}  {row.note}"
        )
    return "\n".join(lines)


def format_summary(rows, order=()):
    """One line per output: the largest difference in the batch file and over the single-sample files, in the
    family's `order` (its hooks' `summary_order`; other rows last, in their order)."""
    names, batch, single, ok, tolerance, kind = [], {}, {}, {}, {}, {}
    for row in rows:
        if row.name not in ok:
            names.append(row.name)
            ok[row.name] = True
        target = batch if row.fixture == BATCH_FILE else single
        target[row.name] = max(target.get(row.name, 0.0), row.max_abs)
        ok[row.name] = ok[row.name] and row.ok
        tolerance[row.name], kind[row.name] = row.tolerance, row.kind

    def cell(values, name):
        return f"{values[name]:12.2e}" if name in values else f"{'-':>12}"

    rank = {name: i for i, name in enumerate(order)}
    names.sort(key=lambda name: rank.get(name, len(rank)))
    lines = [f"{'output':28} {'kind':14} {'batch':>12} {'singles':>12}  {'tolerance':10} ok"]
    for name in names:
        lines.append(
            f"{name:28} {kind[name]:14} {cell(batch, name)} {cell(single, name)}  {tolerance[name]:10} "
            f"{'yes' if ok[name] else 'NO'}"
        )
    failed = [row for row in rows if not row.ok]
    lines.append(
        f"{len(rows) - len(failed)}/{len(rows)} comparisons within tolerance"
        + ("" if not failed else "; FAILED: " + ", ".join(f"{r.fixture}:{r.name}" for r in failed))
    )
    return "\n".join(lines)


def define_flags():
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    flags.DEFINE_string("fixture", None, "Fixture folder (model.ckpt, fixture*.npz, word_vectors.npy).", required=True)
    flags.DEFINE_enum(
        "model",
        "auto",
        ["auto", *sorted(parity_families())],
        "Model family of the fixture (auto: the family whose parity hooks recognize the checkpoint's variables).",
    )
    flags.DEFINE_string("out", None, "Keep the imported run directory here (default: a temporary one).")
    flags.DEFINE_bool("in_memory", False, "Check the imported model directly, without the run-directory round trip.")
    flags.DEFINE_integer("num_heads", None, "Attention heads of the imported model (no checkpoint shape shows them).")
    flags.DEFINE_string("params_override", None, "JSON dict of further config fields of the import.")
    flags.DEFINE_bool("details", False, "Also print every comparison of every fixture file.")
    flags.DEFINE_float("atol", 1e-4, "Absolute tolerance on arrays (logits, probabilities, intermediates).")
    flags.DEFINE_float("loss_rtol", 1e-4, "Relative tolerance on losses.")


#: The headings of `--help` (`experiments.flag_help`).
HELP_GROUPS = (
    ("fixture", ("fixture", "model", "num_heads", "params_override")),
    ("comparison", ("atol", "loss_rtol", "in_memory", "out", "details")),
)


def main(argv):
    del argv  # unused
    fv = flags.FLAGS
    overrides = json.loads(fv.params_override) if fv.params_override else {}
    if fv.num_heads is not None:
        overrides["num_heads"] = fv.num_heads
    try:
        family = fixture_family(fv.fixture, fv.model)
        rows = check_fixture_dir(
            fv.fixture,
            run_dir=fv.out,
            in_memory=fv.in_memory,
            atol=fv.atol,
            loss_rtol=fv.loss_rtol,
            model=family,
            overrides=overrides,
        )
    except import_tf1.CheckpointTrackingError as error:
        print(f"error: {error}\n(--in_memory checks the imported model without the run directory)", file=sys.stderr)
        sys.exit(2)
    except (import_tf1.NotSupportedError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    if fv.details:
        print(format_rows(rows) + "\n")
    print(format_summary(rows, registry.get(family).parity.summary_order))
    if not all(row.ok for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    flag_help.run(main, HELP_GROUPS)
