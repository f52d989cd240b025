import io
import re

import pytest

from common import progress as progress_lib

# Anything a terminal would interpret: C0 controls other than the line feed, DEL and C1 (ANSI escapes start with ESC).
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _run(progress, steps, message_at=None):
    expected = {}
    for step in range(1, steps + 1):
        progress.update(step, {"span": float(step), "l2": 5e-4})
        expected[step] = (step + 1) / 2  # the mean of 1..step
        if step == message_at:
            progress.message(f"step {step}: test r1_iou07=12.34")
    progress.finish()
    return expected


def test_a_non_terminal_stream_gets_one_plain_line_every_n_steps():
    stream = io.StringIO()
    expected = _run(
        progress_lib.Progress(47, "epoch 2/8", unit="batch", units="batches", every=10, stream=stream), 47, 25
    )
    text = stream.getvalue()
    assert not CONTROL.search(text)
    lines = text.splitlines()
    assert lines[2] == "step 25: test r1_iou07=12.34"
    del lines[2]
    assert [re.match(r"epoch 2/8: (\d+)/47 batches, \d+ s", line).group(1) for line in lines] == [
        "10",
        "20",
        "30",
        "40",
        "47",  # the last step gets a line of its own
    ]
    for line in lines:
        step = int(line.split("/")[1].split(": ")[1])
        assert f" - span: {expected[step]:.4f} - l2: 5.0000e-04" in line, line


def test_a_resumed_step_starts_its_lines_where_it_resumes():
    stream = io.StringIO()
    progress = progress_lib.Progress(30, "epoch 1/2", every=10, stream=stream)
    progress.update(13)
    for step in range(14, 31):
        progress.update(step, {"loss": 1.0})
    progress.finish()
    assert [line.split(",")[0] for line in stream.getvalue().splitlines()] == [
        "epoch 1/2: 20/30 steps",
        "epoch 1/2: 30/30 steps",
    ]


def test_a_terminal_gets_the_keras_bar_with_the_same_averages():
    pytest.importorskip("keras")
    stream = Terminal()
    progress = progress_lib.Progress(47, "epoch 2/8", unit="batch", every=10, stream=stream)
    expected = _run(progress, 47, 25)
    text = stream.getvalue()
    assert text.startswith("epoch 2/8\n") and "\r" in text and "\x1b[" in text  # the bar redraws in place
    assert "\nstep 25: test r1_iou07=12.34\n" in text  # below the bar, not over it
    assert text.endswith("\n") and f"span: {expected[47]:.4f} - l2: 5.0000e-04" in text.splitlines()[-1]
    assert progress.averages() == {"span": expected[47], "l2": pytest.approx(5e-4)}


def test_a_step_shorter_than_its_delay_and_a_disabled_one_show_nothing():
    stream = io.StringIO()
    _run(progress_lib.Progress(100, "checking the features", delay=60.0, stream=stream), 100)
    _run(progress_lib.Progress(100, "epoch 1/1", stream=stream, enabled=False), 100, 50)
    assert stream.getvalue() == ""


def test_values_are_printed_as_the_keras_bar_prints_them():
    assert progress_lib.format_value(2.51984) == "2.5198"
    assert progress_lib.format_value(5.1008e-4) == "5.1008e-04"


def test_a_step_that_stops_early_ends_with_a_line_of_where_it_stopped():
    stream = io.StringIO()
    progress = progress_lib.Progress(18, "epoch 1/30", unit="batch", units="batches", every=20, stream=stream)
    _run(progress, 2)
    assert [line.split(",")[0] for line in stream.getvalue().splitlines()] == ["epoch 1/30: 2/18 batches"]
    progress_lib.Progress(18, "never started", stream=stream).finish()
    assert len(stream.getvalue().splitlines()) == 1
