"""What each original extraction script does (VSLNet `prepare/extract_{charades,activitynet,tacos}.py`), as data.

| preset | frames | window | resize before the 224 × 224 centre crop | chunks |
|---|---|---|---|---|
| `charades` | ffmpeg `fps=fps=24` | 24 | only if the shorter side < 226: by `1 + (226 − short) / short` | none |
| `activitynet` | native rate | 16 | always: by `1 + (224 − short) / short` | 10,000 frames |
| `tacos` | native rate (29.4 fps) | 16 | as ActivityNet | 10,000 frames |

The originals used `rgb_charades.pt` (fine-tuned) or `rgb_imagenet.pt` for Charades-STA, `rgb_imagenet.pt` for the
others.

A run directory's `config.json` records the dataset it was trained on; `preset_for_run` derives the preset from it.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ExtractionPreset:
    """One original extraction script.

    Attributes:
        name: `charades`, `activitynet` or `tacos`.
        script: the original script, for messages and docs.
        fps: frame rate that ffmpeg's `fps` filter resamples to, or `None` for the video's own rate.
        window: frames per I3D window (the scripts' `--strides`).
        short_side: the shorter side the resize aims at (226 or 224).
        resize_only_smaller: resize only frames whose shorter side is below `short_side` (Charades).
        chunk_frames: videos of at least this many frames are windowed in chunks of it (`None`: never).
        crop_size: the centre crop.
    """

    name: str
    script: str
    fps: float | None
    window: int
    short_side: int
    resize_only_smaller: bool
    chunk_frames: int | None
    crop_size: int = 224

    def resize_scale(self, height, width):
        """The factor the original passes to `cv2.resize(fx=, fy=)` for a `height × width` frame, or `None` when it
        does not resize. Computed in float64 as the scripts compute it (`1 + (226. − short) / short`)."""
        short = min(int(height), int(width))
        if self.resize_only_smaller and short >= self.short_side:
            return None
        return 1 + (float(self.short_side) - short) / short


PRESETS = {
    "charades": ExtractionPreset(
        name="charades",
        script="prepare/extract_charades.py",
        fps=24,
        window=24,
        short_side=226,
        resize_only_smaller=True,
        chunk_frames=None,
    ),
    "activitynet": ExtractionPreset(
        name="activitynet",
        script="prepare/extract_activitynet.py",
        fps=None,
        window=16,
        short_side=224,
        resize_only_smaller=False,
        chunk_frames=10000,
    ),
    "tacos": ExtractionPreset(
        name="tacos",
        script="prepare/extract_tacos.py",
        fps=None,
        window=16,
        short_side=224,
        resize_only_smaller=False,
        chunk_frames=10000,
    ),
}

#: The `--dataset` of a training run → the preset its features were extracted with.
DATASET_PRESETS = {"charades": "charades", "activitynet": "activitynet", "tacos_tan": "tacos", "tacos_org": "tacos"}

#: The flags that choose real data in `experiments.train`; a run without them trained on the synthetic benchmark.
_DATA_FLAGS = ("data_dir", "feature_dir", "glove")


def get_preset(name):
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown extraction preset {name!r}; choose one of {sorted(PRESETS)}") from None


def preset_for_run(run_config):
    """`(preset name or None, why)`: the preset of the dataset a run's `config.json` says it was trained on.

    `None` when the run has no natural preset: it trained on the synthetic benchmark (no `--data_dir`,
    `--feature_dir`, `--glove`), on `jsonl` data of unknown origin, or records no dataset (an imported TF1
    checkpoint); `why` then says which, for the message asking for `--preset`.
    """
    flag_values = run_config.get("flags") or {}
    if flag_values and not any(flag_values.get(name) for name in _DATA_FLAGS):
        return None, "the run was trained on the synthetic benchmark, whose features come from no video"
    dataset = (run_config.get("data") or {}).get("dataset")
    if dataset is None:
        return None, "the run's config.json records no dataset (an imported checkpoint?)"
    if dataset not in DATASET_PRESETS:
        return None, f"the run was trained on --dataset={dataset}, which is none of the original datasets"
    return DATASET_PRESETS[dataset], f"the run was trained on --dataset={dataset}"
