"""A folder of videos → a folder of features in the layout the training readers take (`common.data.features`):
`{vid}.npy` (`[rows, 1024]` float32) per video and `feature_shapes.json` (`vid → rows`), as the original scripts
write them; resumable and robust to bad videos.

- **Resumable**: a video whose `{vid}.npy` exists is skipped (as in the originals). Each array is written to
  `{vid}.npy.partial` and renamed when complete, so a `.npy` is never half-written; a `.partial` left by a killed
  run is removed at the next start. `feature_shapes.json` is rewritten from every `.npy` of the folder at the end
  (the originals' lists only the videos of the last run).
- **One settings per folder**: `extraction.json` records the preset, the frame format and the checkpoint's digest;
  extracting into the folder with other settings is refused, as is a folder of features of unknown origin.
- **Bad videos**: an error is reported naming the video and the file, the other videos carry on, and the failures
  are listed at the end.
"""

import json
import os

import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".gif")
PARTIAL_SUFFIX = ".npy.partial"
RECORD_FILE = "extraction.json"
SHAPES_FILE = "feature_shapes.json"
#: Settings that must agree for features to share a folder.
RECORD_KEYS = ("preset", "frame_format", "i3d_checkpoint_sha256")


class ExtractionFolderError(ValueError):
    """The output folder holds features extracted otherwise, or the videos cannot be named."""


def list_videos(folder, extensions=VIDEO_EXTENSIONS):
    """`[(vid, path)]` of the video files in `folder` (not recursive), sorted by id; `vid` is the file name without
    its extension (`v_abc.mp4` → `v_abc`, as the originals name features).

    Raises:
        FileNotFoundError: no such folder.
        ExtractionFolderError: two files share an id (`a.mp4`, `a.avi`).
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"video folder {folder} does not exist")
    videos = {}
    for name in sorted(os.listdir(folder)):
        vid, extension = os.path.splitext(name)
        if extension.lower() in extensions and os.path.isfile(os.path.join(folder, name)):
            if vid in videos:
                raise ExtractionFolderError(f"two videos of {folder} have the id {vid!r}: {videos[vid]}, {name}")
            videos[vid] = name
    return [(vid, os.path.join(folder, name)) for vid, name in sorted(videos.items())]


def _write_json(path, value):
    partial = path + ".partial"
    with open(partial, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
    os.replace(partial, path)


def check_record(out_dir, record):
    """Write `record` to `OUT/extraction.json`, or check it against the one there.

    Raises:
        ExtractionFolderError: the folder's record differs in a `RECORD_KEYS` setting, or the folder holds `.npy`
            features without a record.
    """
    path = os.path.join(out_dir, RECORD_FILE)
    if os.path.exists(path):
        with open(path) as f:
            existing = json.load(f)
        differences = [
            f"{key}: {existing.get(key)!r} there, {record.get(key)!r} now"
            for key in RECORD_KEYS
            if existing.get(key) != record.get(key)
        ]
        if differences:
            raise ExtractionFolderError(
                f"{out_dir} holds features extracted with other settings ({'; '.join(differences)}); "
                "extract into another --out, or with the same settings to resume"
            )
        return
    if any(name.endswith(".npy") for name in os.listdir(out_dir)):
        raise ExtractionFolderError(
            f"{out_dir} holds .npy features but no {RECORD_FILE}, so how they were extracted is unknown; "
            "extract into another --out"
        )
    _write_json(path, record)


def write_features(out_dir, vid, features):
    """`OUT/{vid}.npy`, written whole or not at all."""
    path = os.path.join(out_dir, f"{vid}.npy")
    partial = os.path.join(out_dir, vid + PARTIAL_SUFFIX)
    try:
        with open(partial, "wb") as f:
            np.save(f, np.asarray(features, np.float32))
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return path


def write_feature_shapes(out_dir):
    """`OUT/feature_shapes.json` (`vid → rows`) from the headers of every `.npy` of the folder."""
    shapes = {}
    for name in sorted(os.listdir(out_dir)):
        if name.endswith(".npy"):
            shapes[name[: -len(".npy")]] = int(np.load(os.path.join(out_dir, name), mmap_mode="r").shape[0])
    _write_json(os.path.join(out_dir, SHAPES_FILE), shapes)
    return shapes


def extract_folder(make_extractor, videos, out_dir, record, progress_factory):
    """Extract `videos` into `out_dir` (see the module docstring).

    Args:
        make_extractor: `() -> common.video.extraction.FeatureExtractor`, called only when a video is left to
            extract (loading I3D takes seconds).
        videos: `[(vid, path)]` (`list_videos`).
        out_dir: the feature folder (created if needed).
        record: the settings to record or check (`RECORD_KEYS`, and anything else worth keeping).
        progress_factory: `(num_to_extract, num_skipped) -> ExtractionProgress`.

    Returns:
        `(extracted, failed)`: the ids extracted by this run, and `{vid: message}` of the videos that failed.
    """
    os.makedirs(out_dir, exist_ok=True)
    check_record(out_dir, record)
    for name in os.listdir(out_dir):
        if name.endswith(PARTIAL_SUFFIX):  # left by a run that was killed while writing
            os.remove(os.path.join(out_dir, name))
    todo = [(vid, path) for vid, path in videos if not os.path.exists(os.path.join(out_dir, f"{vid}.npy"))]
    progress = progress_factory(len(todo), len(videos) - len(todo))
    extractor = make_extractor() if todo else None
    extracted, failed = [], {}
    try:
        for vid, path in todo:
            if "." in vid:  # the feature readers take a file's id up to its first "."
                message = f"{path}: the id {vid!r} holds a '.', which the feature readers would cut; rename the file"
                failed[vid] = message
                progress.video_failed(vid, message)
                continue
            try:
                result = extractor.extract(path, on_frames=progress.frames_decoded)
            except Exception as error:  # one bad video must not stop the others; all are listed at the end
                failed[vid] = str(error) if path in str(error) else f"{path}: {error}"
                progress.video_failed(vid, failed[vid])
                continue
            write_features(out_dir, vid, result.features)
            extracted.append(vid)
            progress.video_done(result.num_frames)
    finally:
        write_feature_shapes(out_dir)
    progress.summary(extracted, failed, out_dir)
    return extracted, failed
