"""What checking every video's features before training costs (`common.data.features.validate_videos`).

    python benchmarks/feature_validation.py [--videos=6672] [--clips=30] [--dim=1024] [--dir=DIR]

Writes `--videos` files `{vid}.npy` of `[clips, dim]` float32 (the size of Charades-STA's I3D folder: 6,672 videos)
into `--dir` (default: a temporary folder, removed afterwards), then times, each twice: the store fingerprint that
decides whether the processed data is current (`store_fingerprint`, run on every start) and the validation that
reads every array (`validate_videos`, run when the processed data is built). The files were just written, so they
are in the page cache: the numbers are those of a warm cache (a cold one adds the disk's read time of the folder).
"""

import os
import shutil
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common.data import features  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_integer("videos", 6672, "Number of feature files.", lower_bound=1)
    flags.DEFINE_integer("clips", 30, "Clips per video.", lower_bound=1)
    flags.DEFINE_integer("dim", 1024, "Feature width.", lower_bound=1)
    flags.DEFINE_string("dir", None, "Folder to write the files into (default: a temporary folder).")


def write_folder(folder, videos, clips, dim):
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    vids = [f"v{i:05d}" for i in range(videos)]
    for vid in vids:
        np.save(os.path.join(folder, f"{vid}.npy"), rng.standard_normal((clips, dim), dtype=np.float32))
    return vids


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main(argv):
    del argv
    root = FLAGS.dir or tempfile.mkdtemp(prefix="feature-validation-")
    try:
        vids = write_folder(root, FLAGS.videos, FLAGS.clips, FLAGS.dim)
        size = sum(os.path.getsize(os.path.join(root, f"{v}.npy")) for v in vids)
        print(f"{FLAGS.videos} files of [{FLAGS.clips}, {FLAGS.dim}] float32, {size / 2**20:.0f} MiB in {root}")
        store = features.open_feature_store(root)
        for attempt in (1, 2):
            fingerprint_s, _ = timed(lambda: features.store_fingerprint(root))
            validate_s, (num_clips, width) = timed(lambda: features.validate_videos(store, vids))
            assert len(num_clips) == FLAGS.videos and width == FLAGS.dim
            print(
                f"run {attempt}: store_fingerprint {fingerprint_s * 1e3:.0f} ms, validate_videos {validate_s:.2f} s "
                f"({size / 2**20 / validate_s:.0f} MiB/s)"
            )
    finally:
        if not FLAGS.dir:
            shutil.rmtree(root)


if __name__ == "__main__":
    define_flags()
    app.run(main)
