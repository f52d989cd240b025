"""One video → its I3D features, as the original `prepare/` scripts compute them, streamed through `tf.data`.

    ffmpeg frames (`decoding.FFmpegFrames`)  →  tf.data: decode, OpenCV resize, centre crop (uint8, in parallel)
    →  the originals' windows and chunks (`windows.stream_windows`)  →  batches of windows  →  I3D on the
    accelerator (frames scaled to [−1, 1] there)  →  rows concatenated in window order: `[rows, 1024]` float32

At most a window and a few prefetched batches of frames are in memory, whatever the video's length.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from common.video import decoding, frame_preprocessing
from common.video.i3d import num_feature_rows
from common.video.windows import stream_windows


class VideoTooShortError(ValueError):
    """A video whose window is too short for I3D's features (fewer than 9 frames in it)."""


@dataclasses.dataclass
class VideoFeatures:
    """What `FeatureExtractor.extract` gives.

    Attributes:
        features: float32 `[rows, 1024]`.
        num_frames: frames decoded (after the preset's resampling).
        frame_rate: their rate, or `None` if ffmpeg did not report it.
        frame_size: `(height, width)` of the decoded frames.
    """

    features: np.ndarray
    num_frames: int
    frame_rate: float | None
    frame_size: tuple

    @property
    def duration(self):
        """Seconds the frames span, `num_frames / frame_rate` (`None` without a rate)."""
        return None if not self.frame_rate else self.num_frames / self.frame_rate


class FeatureExtractor:
    """Extracts I3D features from video files with one preset.

    Args:
        model: an `I3D` holding weights (or any Keras model mapping float32 `[B, T, 224, 224, 3]` frames in [−1, 1]
            to `[B, rows, dim]` features).
        preset: a `common.video.presets.ExtractionPreset`.
        batch_size: windows per call of the model.
        frame_format: `"jpeg"` (the originals' JPEG round trip, default) or `"rgb"` (see `decoding`).
    """

    def __init__(self, model, preset, batch_size=8, frame_format="jpeg"):
        if frame_format not in decoding.FRAME_FORMATS:
            raise ValueError(f"frame_format must be one of {decoding.FRAME_FORMATS}; got {frame_format!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        self.model = model
        self.preset = preset
        self.batch_size = int(batch_size)
        self.frame_format = frame_format
        crop = preset.crop_size

        def features(windows):
            return model(frame_preprocessing.to_unit_range(windows), training=False)

        self._features = tf.function(
            features, input_signature=[tf.TensorSpec([None, None, crop, crop, 3], tf.uint8)], autograph=False
        )

    def _frames(self, decoder, errors):
        """`(dataset, frame_size)`: the preprocessed uint8 `[crop, crop, 3]` frames of `decoder`, in order.

        The first frame is decoded here, so that the resize is built for the video's frame size. An error of the
        decoder ends the dataset and is appended to `errors` (`tf.data` would replace it by its own).
        """
        frames = iter(decoder)
        first = next(frames)
        height, width = (int(d) for d in decoding.decode_frame(first, self.frame_format).shape[:2])
        preprocess = frame_preprocessing.FramePreprocessor(self.preset, height, width)

        def all_frames():
            yield first
            try:
                yield from frames
            except Exception as error:  # re-raised by `extract`, in its thread
                errors.append(error)

        if self.frame_format == "jpeg":
            signature = tf.TensorSpec([], tf.string)
        else:
            signature = tf.TensorSpec([height, width, 3], tf.uint8)

        @tf.autograph.experimental.do_not_convert
        def decode_and_preprocess(frame):
            return preprocess(tf.ensure_shape(decoding.decode_frame(frame, self.frame_format), [height, width, 3]))

        dataset = tf.data.Dataset.from_generator(all_frames, output_signature=signature)
        dataset = dataset.map(decode_and_preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset.prefetch(self.preset.window), (height, width)

    def _window_batches(self, frames, errors):
        """Batches of windows (uint8 `[B, T, crop, crop, 3]`); a batch holds windows of one length. An error ends
        them and is appended to `errors`."""
        try:
            yield from self._batches(frames)
        except Exception as error:  # re-raised by `extract`, in its thread
            errors.append(error)

    def _batches(self, frames):
        batch = []
        for window in stream_windows(frames.as_numpy_iterator(), self.preset.window, self.preset.chunk_frames):
            if num_feature_rows(len(window)) == 0:
                raise VideoTooShortError(
                    f"a window of {len(window)} frames gives no I3D features (at least 9 are needed): the video "
                    f"has too few frames for the {self.preset.name} preset"
                )
            if batch and len(batch[-1]) != len(window):
                yield np.stack([np.stack(w) for w in batch])
                batch = []
            batch.append(window)
            if len(batch) == self.batch_size:
                yield np.stack([np.stack(w) for w in batch])
                batch = []
        if batch:
            yield np.stack([np.stack(w) for w in batch])

    def extract(self, path, on_frames=None):
        """The features of the video at `path`.

        Args:
            path: a video file ffmpeg can read.
            on_frames: optional `on_frames(num_frames_decoded)`, called after each batch of windows.

        Returns:
            a `VideoFeatures`.

        Raises:
            VideoDecodeError: ffmpeg could not decode it.
            VideoTooShortError: too few frames for a feature row.
            ValueError: its frames are too small for the crop.
        """
        decoder = decoding.FFmpegFrames(path, fps=self.preset.fps, frame_format=self.frame_format)
        errors = []
        frames, frame_size = self._frames(decoder, errors)
        crop = self.preset.crop_size
        batches = tf.data.Dataset.from_generator(
            lambda: self._window_batches(frames, errors),
            output_signature=tf.TensorSpec([None, None, crop, crop, 3], tf.uint8),
        ).prefetch(2)
        rows = []
        for batch in batches:
            features = self._features(batch)
            rows.append(tf.reshape(features, [-1, features.shape[-1]]).numpy())
            if on_frames is not None:
                on_frames(decoder.num_frames)
        if errors:
            raise errors[0]
        if not rows:
            raise VideoTooShortError(f"{path} has {decoder.num_frames} frame(s), too few for one window")
        return VideoFeatures(
            features=np.concatenate(rows).astype(np.float32, copy=False),
            num_frames=decoder.num_frames,
            frame_rate=decoder.frame_rate,
            frame_size=frame_size,
        )
