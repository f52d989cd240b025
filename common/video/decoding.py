"""Video frames decoded by ffmpeg, streamed: the frames the originals' ffmpeg command gives, one at a time.

The originals run `ffmpeg -i VIDEO [-filter:v fps=fps=24] DIR/VID-%6d.jpg` and read the JPEGs back with OpenCV.
`FFmpegFrames` runs the same ffmpeg decoding (the binary that the `imageio-ffmpeg` package ships) with its output
piped instead of written to files:

- `frame_format="jpeg"` (the original): ffmpeg's JPEG encoder with the options the image files get (the
  `image2pipe` muxer writes the same bytes as the `image2` files, checked in the tests); decoded with libjpeg's
  accurate integer DCT, which gives the pixels `cv2.imread` gives.
- `frame_format="rgb"`: the decoded frames converted to RGB by ffmpeg, without the lossy JPEG round trip.

The same ffmpeg options select the same frames: the `fps` filter resamples Charades-STA to 24 fps; without it,
ffmpeg's default constant-frame-rate output duplicates or drops frames of a variable-frame-rate video exactly as the
originals' image files got them.
"""

import re
import subprocess
import threading

import numpy as np

FRAME_FORMATS = ("jpeg", "rgb")
_SOI, _EOI, _SOS = b"\xff\xd8", b"\xff\xd9", 0xDA
_READ_SIZE = 1 << 20


class VideoDecodeError(RuntimeError):
    """ffmpeg could not decode a video; the message names the file and quotes ffmpeg."""


def ffmpeg_executable():
    """The ffmpeg binary of `imageio-ffmpeg` (or `IMAGEIO_FFMPEG_EXE`), with install advice when it is missing."""
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise RuntimeError(
            "decoding videos needs the imageio-ffmpeg package (it ships an ffmpeg binary); install it with: "
            "pip install 'nlvl-tf[video]'  (or: pip install imageio-ffmpeg)"
        ) from error
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_version():
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_version()


class _Pipe:
    """A growing buffer over ffmpeg's stdout."""

    def __init__(self, stream):
        self.stream = stream
        self.buffer = bytearray()

    def fill(self, size):
        """Read until the buffer holds `size` bytes; `False` at the end of the stream before that."""
        while len(self.buffer) < size:
            data = self.stream.read1(_READ_SIZE)
            if not data:
                return False
            self.buffer += data
        return True

    def take(self, size):
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


def _next_jpeg(pipe):
    """The next JPEG image of the stream (bytes), or `None` at its end. Marker segments are skipped by their length
    (a table may hold the bytes FF D9); in the entropy-coded data after SOS, FF is followed by 00 or a restart
    marker, so the first FF D9 there is the end of the image."""
    if not pipe.fill(2):
        if pipe.buffer:
            raise VideoDecodeError(f"ffmpeg's JPEG stream ends in {len(pipe.buffer)} stray bytes")
        return None
    if pipe.buffer[:2] != _SOI:
        raise VideoDecodeError(f"ffmpeg's JPEG stream is out of step (bytes {bytes(pipe.buffer[:2]).hex()})")
    position = 2
    while True:
        if not pipe.fill(position + 4):
            raise VideoDecodeError("ffmpeg's JPEG stream ends inside an image header")
        marker = pipe.buffer[position + 1]
        position += 2 + int.from_bytes(pipe.buffer[position + 2 : position + 4], "big")
        if marker == _SOS:
            break
    while True:
        end = pipe.buffer.find(_EOI, position)
        if end >= 0:
            return pipe.take(end + 2)
        position = max(position, len(pipe.buffer) - 1)
        if not pipe.fill(len(pipe.buffer) + 1):
            raise VideoDecodeError("ffmpeg's JPEG stream ends inside an image")


_PPM_HEADER = re.compile(rb"P6\s+(\d+)\s+(\d+)\s+255\s")


def _next_ppm(pipe):
    """The next binary PPM (`P6 width height 255`, then RGB bytes) as uint8 `[height, width, 3]`, or `None`."""
    if not pipe.fill(1):
        return None
    while (header := _PPM_HEADER.match(pipe.buffer)) is None:
        if len(pipe.buffer) >= 64 or not pipe.fill(len(pipe.buffer) + 1):
            raise VideoDecodeError(f"ffmpeg's PPM stream is out of step (header {bytes(pipe.buffer[:20])!r})")
    width, height = int(header.group(1)), int(header.group(2))
    if not pipe.fill(header.end() + width * height * 3):
        raise VideoDecodeError("ffmpeg's PPM stream ends inside a frame")
    pipe.take(header.end())
    return np.frombuffer(pipe.take(width * height * 3), np.uint8).reshape(height, width, 3)


def _output_frame_rate(log):
    """The frame rate of ffmpeg's output stream, from its log (`Output #0 ... Video: ..., 25 fps, ...`)."""
    output = log.split("Output #0", 1)
    if len(output) < 2:
        return None
    match = re.search(r"Video:.*?([\d.]+)(k?) fps", output[1])
    if match is None:
        return None
    return float(match.group(1)) * (1000 if match.group(2) else 1)


class FFmpegFrames:
    """The frames of one video as ffmpeg decodes them for the originals, streamed (iterate once).

    Args:
        path: the video file.
        fps: resample with ffmpeg's `fps` filter to this rate (`-filter:v fps=fps=FPS`), or `None` for the video's
            own rate.
        frame_format: `"jpeg"` (the original's JPEG round trip: yields JPEG bytes, see `decode_frame`) or
            `"rgb"` (yields uint8 `[height, width, 3]` RGB arrays).

    Attributes (final once iteration has ended):
        num_frames: frames yielded.
        frame_rate: the output's frame rate (`fps`, or the rate ffmpeg found), or `None` if ffmpeg did not say.

    Raises (while iterating):
        VideoDecodeError: ffmpeg failed or gave no frame; the message names the file and quotes ffmpeg.
    """

    def __init__(self, path, fps=None, frame_format="jpeg"):
        if frame_format not in FRAME_FORMATS:
            raise ValueError(f"frame_format must be one of {FRAME_FORMATS}; got {frame_format!r}")
        self.path = str(path)
        self.fps = fps
        self.frame_format = frame_format
        self.num_frames = 0
        self.frame_rate = None

    def command(self):
        command = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-i", self.path]
        if self.fps:
            command += ["-filter:v", f"fps=fps={self.fps:g}"]
        if self.frame_format == "jpeg":
            command += ["-f", "image2pipe", "-c:v", "mjpeg"]
        else:
            command += ["-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24"]
        return command + ["pipe:1"]

    def __iter__(self):
        process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        log = []
        reader = threading.Thread(target=lambda: log.append(process.stderr.read().decode("utf-8", "replace")))
        reader.start()
        next_frame = _next_jpeg if self.frame_format == "jpeg" else _next_ppm
        pipe = _Pipe(process.stdout)
        completed = False
        try:
            while (frame := next_frame(pipe)) is not None:
                self.num_frames += 1
                yield frame
            completed = True
        finally:
            if not completed:
                process.kill()
            process.stdout.close()
            returncode = process.wait()
            reader.join()
        text = log[0] if log else ""
        if returncode != 0 or self.num_frames == 0:
            lines = [line for line in text.strip().splitlines() if line.strip()]
            reason = "; ".join(lines[-3:]) if lines else f"ffmpeg exited with status {returncode}"
            what = "no frames" if returncode == 0 else f"ffmpeg failed (status {returncode})"
            raise VideoDecodeError(f"cannot decode {self.path}: {what}: {reason}")
        self.frame_rate = float(self.fps) if self.fps else _output_frame_rate(text)


def decode_frame(frame, frame_format):
    """One yielded frame as a uint8 RGB tensor `[height, width, 3]` (a JPEG is decoded as `cv2.imread` decodes it:
    libjpeg's accurate integer DCT)."""
    import tensorflow as tf

    if frame_format == "jpeg":
        return tf.io.decode_jpeg(frame, channels=3, dct_method="INTEGER_ACCURATE")
    return frame
