"""What a folder extraction prints: the one place for it (`common.progress.Progress` over the videos, with ETA on a
terminal and plain lines in a log; lines for skips, failures and the summary)."""

import sys
import time

from common.progress import Progress


class ExtractionProgress:
    """Progress of extracting `num_videos` videos.

    Args:
        num_videos: videos to extract in this run.
        num_skipped: videos skipped because their features exist.
        verbose: 0 prints nothing but failures and the summary.
        stream: where the progress goes (default `sys.stderr`; a terminal gets a bar, anything else plain lines).
    """

    def __init__(self, num_videos, num_skipped, verbose=1, stream=None):
        self.started = time.time()
        self.frames = 0
        self._done = 0
        self._video_started = time.time()
        self._progress = Progress(
            num_videos, "extracting I3D features", unit="video", enabled=bool(verbose), stream=stream
        )
        if num_skipped:
            self._progress.message(f"{num_skipped} video(s) already have features: skipped")

    def frames_decoded(self, count):
        """`count` frames of the current video are through I3D (the bar redraws; no plain line)."""
        del count
        self._progress.update(self._done)

    def video_done(self, num_frames):
        seconds = max(time.time() - self._video_started, 1e-9)
        self.frames += num_frames
        self._done += 1
        self._progress.update(self._done, {"frames/s": num_frames / seconds})
        self._video_started = time.time()

    def video_failed(self, vid, message):
        self._done += 1
        text = f"error: video {vid}: {message}"
        if self._progress.enabled:
            self._progress.message(text)  # ends a bar's line first
        else:
            print(text, file=sys.stderr, flush=True)
        self._progress.update(self._done)
        self._video_started = time.time()

    def summary(self, extracted, failed, out_dir):
        """The closing lines: counts, speed, and every failure again."""
        self._progress.finish()
        seconds = time.time() - self.started
        speed = f", {self.frames / seconds:.1f} frames/s" if seconds > 0 and self.frames else ""
        print(f"extracted {len(extracted)} video(s) into {out_dir} in {seconds:.0f} s{speed}")
        if failed:
            print(f"{len(failed)} video(s) failed:", file=sys.stderr)
            for vid, message in failed.items():
                print(f"  {vid}: {message}", file=sys.stderr)
