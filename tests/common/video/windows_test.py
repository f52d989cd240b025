"""`stream_windows` against the original scripts' loops, transcribed literally (on frame indices)."""

import weakref

import pytest

from common.video.windows import stream_windows


def original_windows(num_frames, strides):
    """`extract_features(image_tensor, model, strides)` of `prepare/extract_*.py`: the `[start, end)` it slices."""
    windows = []
    t = num_frames
    for start in range(0, t, strides):
        end = min(t - 1, start + strides)
        if end - start < strides:
            start = max(0, end - strides)
        windows.append((start, end))
    return windows


def original_chunked_windows(num_frames, strides, chunk=10000):
    """`prepare/extract_activitynet.py`'s main loop (frames are 1-based files there): whole video below `chunk`
    frames, else chunks, each windowed by `original_windows`. Returns 0-based frame ranges."""
    if num_frames < chunk:
        return original_windows(num_frames, strides)
    windows = []
    for start_idx in range(1, num_frames, chunk):
        end_idx = min(start_idx + chunk, num_frames + 1)
        cur_num_frames = end_idx - start_idx
        if cur_num_frames < strides:
            cur_num_frames = strides
            start_idx = end_idx - cur_num_frames
        offset = start_idx - 1
        windows += [(offset + s, offset + e) for s, e in original_windows(cur_num_frames, strides)]
    return windows


def streamed(num_frames, window, chunk_frames=None):
    return [(w[0], w[-1] + 1) if w else (0, 0) for w in stream_windows(iter(range(num_frames)), window, chunk_frames)]


@pytest.mark.parametrize("window", [1, 2, 3, 4, 16, 24])
def test_equals_the_original_loop(window):
    for num_frames in range(0, 4 * window + 8):
        assert streamed(num_frames, window) == original_windows(num_frames, window), num_frames


@pytest.mark.parametrize("window, chunk", [(4, 10), (4, 12), (3, 7), (16, 50), (5, 5)])
def test_equals_the_original_chunks(window, chunk):
    for num_frames in range(0, 5 * chunk + 3):
        expected = original_chunked_windows(num_frames, window, chunk)
        assert streamed(num_frames, window, chunk) == expected, num_frames


def test_windows_are_consecutive_frames_and_the_rule_in_examples():
    # 79 frames (the sample clip at 25 fps) in windows of 16: 4 full windows, then [62, 78); frame 78 unused.
    assert streamed(79, 16) == [(0, 16), (16, 32), (32, 48), (48, 64), (62, 78)]
    # (T − 1) % s == 0 repeats the last full window, as the original does.
    assert streamed(25, 24) == [(0, 24), (0, 24)]
    # A last chunk of fewer than `window` frames is shifted back: 10,005 frames → [9989, 10004).
    assert streamed(10005, 16, 10000)[-1] == (9989, 10004)
    # 10,001 frames: the last frame alone is no chunk.
    assert streamed(10001, 16, 10000)[-1] == (9983, 9999)
    for window in stream_windows(iter(range(100)), 16, 30):
        assert window == list(range(window[0], window[0] + len(window)))


def test_holds_at_most_window_plus_one_frames():
    class Frame:
        pass

    refs = []

    def frames():
        for _ in range(200):
            frame = Frame()
            refs.append(weakref.ref(frame))
            yield frame

    alive = []
    for window in stream_windows(frames(), 8, 50):
        del window  # frames hold no reference cycles: reference counting frees each as soon as nothing holds it
        alive.append(sum(ref() is not None for ref in refs))
    assert len(refs) == 200 and max(alive) == 8 + 1
