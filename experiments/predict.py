"""Localize one query in one video with a trained run (or an exported SavedModel).

    python -m experiments.predict --run_dir=runs/x --features=VIDEO.npy --duration=30.5 \
        --query="A person opens the door." [--plot=moment.png] [--json]
    python -m experiments.predict --saved_model=exported/x --features=VIDEO.npy --duration=30.5 --query="..."

`--features` is the video's `[num_clips, Dv]` feature array (`.npy`), `--duration` its length in seconds. Or give the
video itself (needs `pip install 'nlvl-tf[video]'` and an I3D checkpoint, see `experiments.extract_features`):

    python -m experiments.predict --run_dir=runs/x --video=VIDEO.mp4 --query="..." \
        --i3d_checkpoint=rgb_imagenet/model.ckpt [--preset=charades] [--plot=moment.png]

`--video` extracts the I3D features as the original scripts did for the dataset the run was trained on (the preset
follows the run's `config.json`: charades, activitynet, tacos_* → tacos; `--preset` overrides it and is required for
a run of the synthetic benchmark or a SavedModel), takes the duration from the decoded frames (`--duration`
overrides it), and then predicts as with `--features`. The
prediction runs the graph of the SavedModel's `serving_details` signature (`common.export.saved_model`): features
resampled to at most `max_pos_len` clips, the query tokenized in-graph exactly as training tokenized it, the span
decoded by the original's rule and converted to seconds with `N` = the resampled length. It prints the moment and its
score (P_span), or one JSON object with `--json`. `--plot` draws the start / end probabilities and the highlighting
scores over time with the predicted moment shaded (the paper's Fig. 15); it needs the optional matplotlib
(`pip install matplotlib`, or `pip install nlvl-tf[plot]`).
"""

import json
import os
import sys

import numpy as np
from absl import app, flags

from common.data.records import MAX_DURATION_SECONDS
from common.data.tokenization import tokenize
from common.video import presets
from experiments import flag_help

PLOT_INSTALL_HINT = "pip install matplotlib  (or: pip install 'nlvl-tf[plot]')"


def define_flags(flag_values=flags.FLAGS):
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    define = {"flag_values": flag_values}
    flags.DEFINE_string("run_dir", None, "Run directory of the model (or give --saved_model).", **define)
    flags.DEFINE_string(
        "saved_model", None, "Exported SavedModel folder (experiments.export) instead of --run_dir.", **define
    )
    flags.DEFINE_string(
        "checkpoint", None, "With --run_dir: checkpoint to use instead of the run's selected one.", **define
    )
    flags.DEFINE_string("features", None, "The video's features: .npy array [num_clips, feature_dim].", **define)
    flags.DEFINE_string(
        "video", None, "A video file instead of --features: its I3D features are extracted first.", **define
    )
    flags.DEFINE_enum(
        "preset",
        None,
        sorted(presets.PRESETS),
        "With --video: the original extraction to reproduce; default: the one of the run's dataset.",
        **define,
    )
    flags.DEFINE_string(
        "i3d_checkpoint",
        None,
        "With --video: RGB I3D checkpoint in DeepMind's layout (see extract_features).",
        **define,
    )
    flags.DEFINE_enum(
        "frame_format",
        "jpeg",
        ["jpeg", "rgb"],
        "With --video: jpeg (the originals' JPEG round trip) or rgb (without it).",
        **define,
    )
    flags.DEFINE_float(
        "duration", None, "The video's duration in seconds (with --video: default, the decoded frames' span).", **define
    )
    flags.DEFINE_string("query", None, "The sentence to localize.", **define)
    flags.DEFINE_string(
        "plot", None, "Write a figure of the probabilities over time to this file (.png, .pdf).", **define
    )
    flags.DEFINE_string("ground_truth", None, "Optional 'START,END' seconds shaded in the plot.", **define)
    flags.DEFINE_bool("json", False, "Print one JSON object instead of text.", **define)
    flags.DEFINE_enum(
        "strategy",
        "pm",
        ["pm", "u"],
        "VSLNet-L only: Pm (most confident scale) or U (union of the two most overlapping scale candidates).",
        **define,
    )


#: The headings of `--help` (`experiments.flag_help`).
HELP_GROUPS = (
    ("model", ("run_dir", "saved_model", "checkpoint", "strategy")),
    ("video and query", ("features", "video", "preset", "i3d_checkpoint", "frame_format", "duration", "query")),
    ("output", ("json", "plot", "ground_truth")),
)


# ==== Inputs =============================================================================================


def load_features(path):
    try:
        features = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read features from {path}: {error}") from error
    return features


def check_inputs(features, duration, query, feature_dim):
    """Clear errors for inputs the model cannot take.

    Raises:
        ValueError: features not `[num_clips, feature_dim]`, empty, or with NaN/Inf; duration not a positive finite
            number; query empty or without tokens.
    """
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D array [num_clips, {feature_dim}]; got shape {features.shape}")
    if features.shape[1] != feature_dim:
        raise ValueError(
            f"features have dimension {features.shape[1]} but the model expects feature_dim="
            f"{feature_dim} (an array of shape [num_clips, {feature_dim}]); got shape {features.shape}"
        )
    if features.shape[0] == 0:
        raise ValueError("features have no clips (shape[0] == 0)")
    if not np.issubdtype(features.dtype, np.number):
        raise ValueError(f"features must be numeric; got dtype {features.dtype}")
    bad = int(np.size(features) - np.count_nonzero(np.isfinite(features)))
    if bad:
        raise ValueError(f"features contain {bad} NaN or infinite values")
    if duration is None or not np.isfinite(duration) or duration <= 0 or duration > MAX_DURATION_SECONDS:
        raise ValueError(
            f"duration must be a positive number of seconds, at most {MAX_DURATION_SECONDS:g}; got {duration}"
        )
    if query is None or not query.strip():
        raise ValueError("the query is empty")
    if not tokenize(query):
        raise ValueError(f"the query {query!r} has no tokens")
    return features.astype(np.float32, copy=False)


def video_preset(preset, run_dir):
    """The extraction preset for `--video`: `preset` if given, else the one of the run's dataset.

    Raises:
        app.UsageError: no `preset` and the run has none (synthetic benchmark, SavedModel, imported checkpoint).
    """
    if preset:
        return preset
    if run_dir is None:
        raise app.UsageError("--video with --saved_model needs --preset (a SavedModel does not record its dataset)")
    with open(os.path.join(run_dir, "config.json")) as f:
        name, why = presets.preset_for_run(json.load(f))
    if name is None:
        raise app.UsageError(f"--video needs --preset={{{','.join(sorted(presets.PRESETS))}}}: {why}")
    return name


def extract_video(path, preset_name, checkpoint, frame_format="jpeg"):
    """`(features [rows, 1024], duration in seconds, description)` of the video at `path`, extracted with the preset."""
    from common.video import i3d_checkpoint
    from common.video.extraction import FeatureExtractor

    preset = presets.get_preset(preset_name)
    model = i3d_checkpoint.load_i3d(checkpoint, image_size=preset.crop_size)
    result = FeatureExtractor(model, preset, frame_format=frame_format).extract(path)
    rate = f"{result.frame_rate:g} fps" if result.frame_rate else "unknown rate"
    description = (
        f"video: {path}: {result.num_frames} frames at {rate} → {len(result.features)} I3D feature rows "
        f"(preset {preset.name}, {preset.script})"
    )
    return result.features, result.duration, description


# ==== Prediction =========================================================================================


class Predictor:
    """The `serving_details` function of a run (built in memory) or of an exported SavedModel, loaded lazily.

    Attributes:
        feature_dim: the model's `Dv` (known before anything is built, so bad inputs fail fast).
        model_name: `vslnet`, `vslbase` or `None` when unknown.
        description: where the model comes from.
    """

    def __init__(self, run_dir=None, saved_model_dir=None, checkpoint=None, strategy="pm"):
        if (run_dir is None) == (saved_model_dir is None):
            raise ValueError("give exactly one of --run_dir and --saved_model")
        self.strategy = strategy
        self._serve = None
        self._run = None
        self._saved_model_dir = saved_model_dir
        if run_dir is not None:
            from common.training import run_loader

            self._run = run_loader.load_run(run_dir, checkpoint=checkpoint, require_vocab=True)
            self.feature_dim = self._run.feature_dim
            self.model_name = self._run.config.model
            self.description = f"{run_dir} ({self._run.checkpoint})"
        else:
            info_path = os.path.join(saved_model_dir, "nlvl_export.json")
            if os.path.exists(info_path):
                with open(info_path) as f:
                    info = json.load(f)
                self.feature_dim, self.model_name = info["feature_dim"], info.get("model")
            else:  # a SavedModel written by other means: read the signature
                spec = self._signature().structured_input_signature[1]["video_features"]
                self.feature_dim, self.model_name = int(spec.shape[-1]), None
            self.description = saved_model_dir

    def _signature(self, name="serving_default"):
        import tensorflow as tf

        if not hasattr(self, "_loaded"):
            self._loaded = tf.saved_model.load(self._saved_model_dir)
        # SavedModels exported before `serving_details` had one serving signature, with every output (and
        # VSLNet-L's `strategy` input).
        return self._loaded.signatures.get(name, self._loaded.signatures["serving_default"])

    def serving_fn(self):
        """`fn(video_features, query, duration) -> dict of tensors`: the graph of the `serving_details` signature
        (VSLNet-L: `serving_with_strategy` with this predictor's strategy)."""
        import tensorflow as tf

        if self._serve is None:
            strategy = {"strategy": tf.constant(self.strategy)} if self.model_name == "vslnet_l" else {}
            if self._run is not None:
                from common.export import saved_model

                functions = saved_model.serving_functions(
                    self._run.model,
                    self._run.vocab,
                    max_pos_len=self._run.max_pos_len,
                    feature_dim=self._run.feature_dim,
                )
                serve = functions.serve_with_strategy if strategy else functions.serve_details
            else:
                serve = self._signature("serving_with_strategy" if strategy else "serving_details")
            self._serve = lambda video_features, query, duration: serve(
                video_features=video_features, query=query, duration=duration, **strategy
            )
        return self._serve

    def predict(self, features, query, duration):
        """The moment of `query` in the video: a dict of numpy values and Python scalars (see `to_json`)."""
        import tensorflow as tf

        outputs = self.serving_fn()(
            tf.constant(features, tf.float32), tf.constant(query, tf.string), tf.constant(duration, tf.float32)
        )
        result = {name: value.numpy() for name, value in outputs.items()}
        if "start_probs" in result and result["start_probs"].ndim == 2:
            # VSLNet-L gives the curves of every scale; show those of the most confident scale (Pm's).
            scale = int(np.argmax(result["scale_span_prob"]))
            for name in ("start_probs", "end_probs", "highlight_probs"):
                result[name] = result[name][scale]
        result["tokens"] = [t.decode("utf-8") for t in result["tokens"]]
        result["duration"] = float(duration)
        result["query"] = query
        result["num_clips"] = int(features.shape[0])
        return result


def to_json(result):
    """JSON-ready dict: times, score, indices, resampled length, tokens and the three probability curves (LPNet,
    which ranks proposals, has no curves: its JSON has the top-k proposals instead)."""
    if "start_probs" not in result:
        return {
            "query": result["query"],
            "tokens": result["tokens"],
            "start_time": float(result["start_time"]),
            "end_time": float(result["end_time"]),
            "score": float(result["score"]),
            "start_index": int(result["start_index"]),
            "end_index": int(result["end_index"]),
            "duration": result["duration"],
            "num_clips": result["num_clips"],
            "topk": [
                [float(s), float(e), float(p)]
                for s, e, p in zip(result["topk_start_time"], result["topk_end_time"], result["topk_scores"])
            ],
        }
    return {
        "query": result["query"],
        "tokens": result["tokens"],
        "start_time": float(result["start_time"]),
        "end_time": float(result["end_time"]),
        "score": float(result["score"]),
        "start_index": int(result["start_index"]),
        "end_index": int(result["end_index"]),
        "duration": result["duration"],
        "num_clips": result["num_clips"],
        "num_units": len(result["start_probs"]),
        "start_probs": [float(x) for x in result["start_probs"]],
        "end_probs": [float(x) for x in result["end_probs"]],
        "highlight_probs": [float(x) for x in result["highlight_probs"]],
    }


def format_result(result):
    units = f" of {len(result['start_probs'])}" if "start_probs" in result else ""
    return (
        f"query: {result['query']}\n"
        f"moment: {float(result['start_time']):.2f} s - {float(result['end_time']):.2f} s "
        f"(of {result['duration']:.2f} s; clips {int(result['start_index'])}-{int(result['end_index'])}"
        f"{units}), score {float(result['score']):.4f}"
    )


# ==== Plot ===============================================================================================


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise RuntimeError(
            f"--plot needs matplotlib, an optional dependency; install it with: {PLOT_INSTALL_HINT}"
        ) from error
    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def plot_prediction(result, path, ground_truth=None, show_highlight=True):
    """Start / end probabilities and highlighting scores over time (seconds), predicted moment shaded and marked.

    Args:
        result: `Predictor.predict` output.
        path: image file to write.
        ground_truth: optional `(start, end)` seconds, shaded too.
        show_highlight: draw the highlighting panel (VSLNet; VSLBase has none).
    """
    pyplot = _pyplot()
    units = len(result["start_probs"])
    duration = result["duration"]
    centers = (np.arange(units) + 0.5) * duration / units  # clip i covers [i·T/N, (i+1)·T/N)
    start, end = float(result["start_time"]), float(result["end_time"])
    panels = 2 if show_highlight else 1
    figure, axes = pyplot.subplots(panels, 1, sharex=True, figsize=(10.5, 2.6 * panels + 0.6), squeeze=False)
    axes = axes[:, 0]
    axes[0].plot(centers, result["start_probs"], color="tab:blue", marker=".", label="start probability")
    axes[0].plot(centers, result["end_probs"], color="tab:red", marker=".", label="end probability")
    axes[0].set_ylabel("probability")
    if show_highlight:
        axes[1].plot(centers, result["highlight_probs"], color="tab:green", marker=".", label="highlighting score")
        axes[1].set_ylim(-0.02, 1.02)
        axes[1].set_ylabel("highlighting")
    for axis in axes:
        if ground_truth is not None:
            axis.axvspan(ground_truth[0], ground_truth[1], color="tab:gray", alpha=0.25, label="ground truth")
        axis.axvspan(start, end, color="tab:orange", alpha=0.25, label="prediction")
        axis.axvline(start, color="tab:orange", linestyle="--")
        axis.axvline(end, color="tab:orange", linestyle="--")
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        axis.set_xlim(0, duration)
    axes[0].annotate(
        f"{start:.1f} s", (start, 1.0), xycoords=("data", "axes fraction"), ha="right", va="top", fontsize="small"
    )
    axes[0].annotate(
        f"{end:.1f} s", (end, 1.0), xycoords=("data", "axes fraction"), ha="left", va="top", fontsize="small"
    )
    axes[-1].set_xlabel("time (s)")
    axes[0].set_title(
        f"{result['query']}\npredicted {start:.2f}-{end:.2f} s, score {float(result['score']):.3f}", fontsize="medium"
    )
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
    return path


# ==== Entry point ========================================================================================


def _parse_ground_truth(text):
    if not text:
        return None
    try:
        start, end = (float(x) for x in text.split(","))
    except ValueError as error:
        raise ValueError(f"--ground_truth must be 'START,END' in seconds; got {text!r}") from error
    return start, end


def run(flag_values):
    """Predict as the flags say: prints the moment (or JSON) and returns the result dict."""
    video = flag_values.video
    if (flag_values.features is None) == (video is None):
        raise app.UsageError("give exactly one of --features and --video")
    for name in ("query", "i3d_checkpoint") if video else ("duration", "query"):
        if flag_values[name].value is None:
            raise app.UsageError(f"--{name} is required")
    if flag_values.plot:
        _pyplot()  # fail before any work when matplotlib is missing
    ground_truth = _parse_ground_truth(flag_values.ground_truth)
    preset = video_preset(flag_values.preset, flag_values.run_dir) if video else None
    predictor = Predictor(
        run_dir=flag_values.run_dir,
        saved_model_dir=flag_values.saved_model,
        checkpoint=flag_values.checkpoint,
        strategy=flag_values.strategy,
    )
    duration = flag_values.duration
    if video:
        from common.video.i3d import FEATURE_DIM

        if predictor.feature_dim != FEATURE_DIM:
            raise ValueError(
                f"the model takes features of width {predictor.feature_dim}, but I3D's are {FEATURE_DIM} wide: "
                "--video needs a run trained on I3D features"
            )
        raw_features, video_duration, description = extract_video(
            video, preset, flag_values.i3d_checkpoint, flag_values.frame_format
        )
        print(description, file=sys.stderr)
        if duration is None and video_duration is None:
            raise ValueError(f"ffmpeg did not report the frame rate of {video}: give its --duration in seconds")
        duration = duration if duration is not None else video_duration
    else:
        raw_features = load_features(flag_values.features)
    features = check_inputs(raw_features, duration, flag_values.query, predictor.feature_dim)
    result = predictor.predict(features, flag_values.query, duration)
    if flag_values.plot and "start_probs" not in result:
        raise app.UsageError(
            "--plot draws boundary probabilities, which LPNet's proposal ranking does not have; "
            "plot its proposals with experiments.plot_proposals"
        )
    if flag_values.plot:
        plot_prediction(
            result,
            flag_values.plot,
            ground_truth=ground_truth,
            show_highlight=predictor.model_name != "vslbase" and bool(np.any(result["highlight_probs"])),
        )
    if flag_values.json:
        print(json.dumps(to_json(result)))
    else:
        print(format_result(result))
        if flag_values.plot:
            print(f"plot: {flag_values.plot}")
    return result


def main(argv):
    del argv  # unused
    try:
        run(flags.FLAGS)
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    flag_help.run(main, HELP_GROUPS)
