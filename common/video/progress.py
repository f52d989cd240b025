"""What a folder extraction prints: the one place for it (a Keras `Progbar` over the videos, with ETA, as the
trainer's; lines for skips, failures and the summary)."""

import sys
import time

import keras


class ExtractionProgress:
    """Progress of extracting `num_videos` videos.

    Args:
        num_videos: videos to extract in this run.
        num_skipped: videos skipped because their features exist.
        verbose: 0 prints nothing but failures and the summary.
    """

    def __init__(self, num_videos, num_skipped, verbose=1):
        self.verbose = verbose
        self.started = time.time()
        self.frames = 0
        self._video_frames = 0
        self._done = 0
        if num_skipped and verbose:
            print(f"{num_skipped} video(s) already have features: skipped")
        self._bar = keras.utils.Progbar(
            num_videos, verbose=1 if verbose else 0, unit_name="video", stateful_metrics=["frames/s"]
        )

    def _frames_per_second(self):
        return (self.frames + self._video_frames) / max(time.time() - self.started, 1e-9)

    def frames_decoded(self, count):
        """`count` frames of the current video are through I3D."""
        self._video_frames = count
        self._bar.update(self._done, values=[("frames/s", self._frames_per_second())])

    def video_done(self, num_frames):
        self.frames += num_frames
        self._video_frames = 0
        self._done += 1
        self._bar.update(self._done, values=[("frames/s", self._frames_per_second())])

    def video_failed(self, vid, message):
        self._video_frames = 0
        self._done += 1
        print(f"\nerror: video {vid}: {message}", file=sys.stderr, flush=True)
        self._bar.update(self._done)

    def summary(self, extracted, failed, out_dir):
        """The closing lines: counts, speed, and every failure again."""
        seconds = time.time() - self.started
        speed = f", {self.frames / seconds:.1f} frames/s" if seconds > 0 and self.frames else ""
        print(f"extracted {len(extracted)} video(s) into {out_dir} in {seconds:.0f} s{speed}")
        if failed:
            print(f"{len(failed)} video(s) failed:", file=sys.stderr)
            for vid, message in failed.items():
                print(f"  {vid}: {message}", file=sys.stderr)
