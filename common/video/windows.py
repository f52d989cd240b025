"""The originals' windows and chunks, streamed: which frames each I3D call sees, holding at most `window + 1` frames.

The original (`prepare/extract_*.py`) loads the whole video and runs
`for start in range(0, T, s): end = min(T − 1, start + s); if end − start < s: start = max(0, end − s)` over it,
calling I3D on frames `[start, end)`. So every window but the last holds `s` frames; the last one is shifted back
to end at frame `T − 2` (the last frame is never used), which repeats the previous window when `(T − 1) % s == 0`;
and a video of `T ≤ s` frames gives one window of `T − 1` frames. ActivityNet's and TACoS' scripts first cut videos
of at least 10,000 frames into chunks `[1 + 10000·k, ...)` (1-based) for `1 + 10000·k < T` (so a chunk holds at
least 2 frames), shift a last chunk shorter than `s` back to `s` frames (its one window then has `s − 1`), and
window each chunk as above.

`stream_windows` yields the same windows in the same order from an iterator of frames, emitting each as soon as
the frames that decide it have arrived (a window `[k·s, k·s + s)` is complete when frame `k·s + s` exists in its
chunk; the last window needs the end of the chunk).
"""

import collections


def stream_windows(frames, window, chunk_frames=None):
    """The original's windows over `frames`, in order.

    Args:
        frames: an iterable of frames (any objects; consumed once).
        window: frames per window (`s`).
        chunk_frames: chunk length (10,000 for ActivityNet and TACoS), or `None` for one chunk (Charades).

    Yields:
        lists of frames, one per window: `window` frames, or fewer for a video of at most `window` frames (`T − 1`
        frames, possibly 0) or a last chunk shifted back (`window − 1`).
    """
    recent = collections.deque(maxlen=window + 1)  # the current frame and the `window` before it
    chunk_start, count = 0, 0
    for index, frame in enumerate(frames):
        count = index + 1
        recent.append(frame)
        position = index - chunk_start
        if position >= window and position % window == 0:
            yield list(recent)[-window - 1 : -1]
        if chunk_frames is not None and position == chunk_frames - 1:
            # The chunk is complete; its last window ends before its last frame.
            yield list(recent)[-min(window, position) - 1 : -1]
            chunk_start += chunk_frames
    remaining = count - chunk_start
    if count == 0 or (chunk_start > 0 and remaining < 2):
        return  # no frames, or no further chunk (a chunk starts only where 2 frames are left)
    if chunk_start > 0 and remaining < window:
        # A last chunk shorter than a window becomes the last `window` frames: one window of `window − 1`.
        yield list(recent)[-window:-1]
        return
    yield list(recent)[-min(window, remaining - 1) - 1 : -1]
