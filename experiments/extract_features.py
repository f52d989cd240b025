"""Extract I3D features from a folder of videos, as the original VSLNet `prepare/extract_*.py` scripts do.

    pip install 'nlvl-tf[video]'
    python -m experiments.extract_features --preset=charades --videos=VIDEOS --out=FEATURES \
        --i3d_checkpoint=kinetics-i3d/data/checkpoints/rgb_imagenet/model.ckpt [--batch_size=8] [--frame_format=jpeg]

`--preset` is the dataset's original script (`common.video.presets`): `charades` (ffmpeg resampling to 24 fps,
windows of 24 frames, frames resized only if their shorter side is below 226), `activitynet` and `tacos` (native
frame rate, windows of 16, the shorter side resized to 224, chunks of 10,000 frames). Every video file of
`--videos` (`.mp4`, `.avi`, `.mkv`, `.webm`, ...; not recursive) gets `OUT/{vid}.npy` (`[rows, 1024]` float32,
`vid` = file name without extension), and `OUT/feature_shapes.json` lists the rows per video: the layout
`experiments.train --feature_dir=OUT` reads.

`--i3d_checkpoint` is DeepMind's RGB I3D checkpoint (`rgb_imagenet/model.ckpt` of deepmind/kinetics-i3d), or
`rgb_charades.pt` converted by `experiments.convert_i3d_torch` (the originals' fine-tuned Charades features). The
I3D runs on the accelerator when TensorFlow sees one, `--batch_size` windows at a time.

A run can be interrupted and started again: videos whose features exist are skipped, and no half-written `.npy`
remains. A video that cannot be decoded is reported (naming it) and the others carry on; the failures are listed at
the end and the exit status is 1. `OUT/extraction.json` records the settings; another preset, frame format or
checkpoint is refused for the same `--out`.
"""

import os
import sys

from absl import app, flags

from common.video import decoding, feature_folder, i3d_checkpoint
from common.video.extraction import FeatureExtractor
from common.video.presets import PRESETS, get_preset
from common.video.progress import ExtractionProgress
from experiments import flag_help


def define_flags(flag_values=flags.FLAGS):
    """This entry point's flags (defined under `__main__` only, so importing defines none)."""
    define = {"flag_values": flag_values}
    flags.DEFINE_enum(
        "preset",
        None,
        sorted(PRESETS),
        "The original script to reproduce: charades (24 fps, windows of 24), activitynet or tacos (native rate, "
        "windows of 16, chunks of 10,000 frames).",
        **define,
    )
    flags.DEFINE_string("videos", None, "Folder of video files (not recursive).", **define)
    flags.DEFINE_string("out", None, "Feature folder to write ({vid}.npy and feature_shapes.json).", **define)
    flags.DEFINE_string(
        "i3d_checkpoint",
        None,
        "RGB I3D checkpoint in DeepMind's layout: kinetics-i3d's rgb_imagenet/model.ckpt, or rgb_charades.pt "
        "converted by experiments.convert_i3d_torch.",
        **define,
    )
    flags.DEFINE_integer(
        "batch_size", 8, "Windows per I3D call (on the accelerator if there is one).", lower_bound=1, **define
    )
    flags.DEFINE_enum(
        "frame_format",
        "jpeg",
        list(decoding.FRAME_FORMATS),
        "jpeg: frames go through ffmpeg's JPEG encoding as the originals' image files did (their features); rgb: "
        "ffmpeg's RGB frames without that lossy round trip.",
        **define,
    )
    flags.DEFINE_bool("verbose", True, "Show the progress bar.", **define)


def extraction_record(preset, frame_format, checkpoint):
    """What `OUT/extraction.json` records (see `common.video.feature_folder.RECORD_KEYS`)."""
    return {
        "preset": preset.name,
        "frame_format": frame_format,
        "i3d_checkpoint": os.path.abspath(checkpoint),
        "i3d_checkpoint_sha256": i3d_checkpoint.checkpoint_digest(checkpoint),
        "fps": preset.fps,
        "window": preset.window,
        "chunk_frames": preset.chunk_frames,
        "ffmpeg": decoding.ffmpeg_version(),
    }


def run(flag_values):
    """Extract as the flags say; returns `(extracted, failed)` (see `feature_folder.extract_folder`)."""
    for name in ("preset", "videos", "out", "i3d_checkpoint"):
        if flag_values[name].value is None:
            raise app.UsageError(f"--{name} is required")
    preset = get_preset(flag_values.preset)
    decoding.ffmpeg_executable()  # fail before loading anything when the decoder is missing
    videos = feature_folder.list_videos(flag_values.videos)
    if not videos:
        raise FileNotFoundError(
            f"{flag_values.videos} holds no video file ({', '.join(feature_folder.VIDEO_EXTENSIONS)})"
        )
    record = extraction_record(preset, flag_values.frame_format, flag_values.i3d_checkpoint)

    def make_extractor():
        model = i3d_checkpoint.load_i3d(flag_values.i3d_checkpoint, image_size=preset.crop_size)
        return FeatureExtractor(model, preset, batch_size=flag_values.batch_size, frame_format=flag_values.frame_format)

    return feature_folder.extract_folder(
        make_extractor,
        videos,
        flag_values.out,
        record,
        lambda todo, skipped: ExtractionProgress(todo, skipped, verbose=flag_values.verbose),
    )


def main(argv):
    del argv  # unused
    try:
        _, failed = run(flags.FLAGS)
    except (ValueError, RuntimeError, OSError) as error:  # TF1ImportError, ExtractionFolderError: ValueError
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    flag_help.run(main)
