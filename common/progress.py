"""Progress of a long step (reading GloVe, processing data, checking features, training, evaluating, extracting):
a progress bar on an interactive terminal, plain lines on any other stream.

A log that is a file or a pipe (`> train.log 2>&1`, a job scheduler) gets one line every `every` units of work, with
the numbers the bar shows and no control characters. `keras.utils.Progbar` draws the bar, but it cannot make this
choice itself: it redraws in place (`\\r`, ANSI colours) wherever `"posix" in sys.modules`, i.e. on every Linux and
macOS, and writes to `sys.stdout` whatever the stream; here the choice is the stream's `isatty()`.

    progress = Progress(190, "epoch 1/8", unit="batch", units="batches", every=20)
    for step in range(1, 191):
        progress.update(step, {"loss": loss})
    progress.finish()

Written to a file, that gives `epoch 1/8: 20/190 batches, 3 s (131 ms/batch) - loss: 2.5198` at steps 20, 40, ...,
180 and 190.
"""

import contextlib
import math
import sys
import time

LINES_PER_STEP = 20


def format_value(value):
    """A number as `keras.utils.Progbar` prints it, so that the bar and the lines show the same digits."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_rate(seconds_per_unit, unit):
    if seconds_per_unit >= 1:
        return f"{seconds_per_unit:.1f} s/{unit}"
    if seconds_per_unit >= 1e-3:
        return f"{seconds_per_unit * 1e3:.0f} ms/{unit}"
    return f"{seconds_per_unit * 1e6:.0f} us/{unit}"


class Progress:
    """The progress of one step of `total` units of work, shown on `stream`.

    Args:
        total: units of work in the step (batches, videos, MiB).
        label: what is in progress (`"epoch 3/8"`, `"reading glove.840B.300d.txt"`).
        unit: the unit's name (`"batch"`, as the bar shows it: `131ms/batch`).
        units: its plural, for the lines (default: `unit + "s"`).
        every: units between two plain lines (default: about `LINES_PER_STEP` lines per step); the last unit, or
            where the step stops (`finish`), gets a line too. The bar redraws itself at most every 0.05 s instead.
        delay: show nothing until the step has run this many seconds (a step that ends sooner stays silent).
        stream: where to write (default `sys.stderr`, so that results on `sys.stdout` can be redirected alone).
        interactive: draw the bar (default: whether `stream` is a terminal).
        enabled: `False` shows nothing (the caller's verbosity is off).

    The values passed to `update` are averaged over the units since the step started, each weighted by the units
    its update covers (what `keras.utils.Progbar` does with its metrics); the bar and the lines show these averages.
    """

    def __init__(
        self,
        total,
        label,
        *,
        unit="step",
        units=None,
        every=None,
        delay=0.0,
        stream=None,
        interactive=None,
        enabled=True,
    ):
        self.total = total
        self.label = label
        self.unit = unit
        self.units = units or unit + "s"
        self.every = every or max(1, math.ceil(total / LINES_PER_STEP))
        self.delay = delay
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.enabled = enabled
        self._started = time.monotonic()
        self._first = None  # the units done at the first update: a resumed epoch starts part-way
        self._current = 0
        self._sums = {}
        self._next_line = None
        self._written = None  # the units of the last line
        self._bar = None
        self._mid_line = False  # the bar is drawn and its line not ended
        self._shown = False

    def averages(self):
        """name → the average of the values passed so far."""
        return {name: total / count for name, (total, count) in self._sums.items()}

    def update(self, current, values=None):
        """`current` units are done; `values` (name → number) are those of the units since the last update."""
        if self._first is None:
            self._first = current
            self._next_line = (current // self.every + 1) * self.every
        weight = max(current - self._current, 1)
        for name, value in (values or {}).items():
            total, count = self._sums.get(name, (0.0, 0))
            self._sums[name] = (total + float(value) * weight, count + weight)
        self._current = current
        if not self.enabled or time.monotonic() - self._started < self.delay:
            return
        if self.interactive:
            self._draw(finalize=current >= self.total)
        elif current >= min(self._next_line, self.total):
            self._write_line()

    def message(self, text):
        """A line of its own between updates (an evaluation's result); the bar continues below it."""
        if not self.enabled:
            return
        self.stream.write(("\n" if self._mid_line else "") + text + "\n")
        self.stream.flush()
        self._mid_line = False

    def finish(self):
        """End the step at the units done so far (also when it stops before `total`)."""
        if not self.enabled or self._first is None:
            return
        if not self._shown and time.monotonic() - self._started < self.delay:  # a short step stays silent
            return
        if self.interactive and self._mid_line:
            self._draw(finalize=True)
        elif not self.interactive and self._written != self._current:
            self._write_line()

    def _draw(self, finalize):
        import keras  # only a terminal needs it: processing the data imports no TensorFlow

        if self._bar is None:
            self.stream.write(self.label + "\n")
            self._bar = keras.utils.Progbar(self.total, unit_name=self.unit, stateful_metrics=())
        self._bar.stateful_metrics.update(self._sums)  # averaged here: the bar shows them as they are
        with contextlib.redirect_stdout(self.stream):
            self._bar.update(self._current, list(self.averages().items()), finalize=finalize)
        self._mid_line = not finalize
        self._shown = True

    def _write_line(self):
        done = self._current - self._first
        elapsed = time.monotonic() - self._started
        line = f"{self.label}: {self._current}/{self.total} {self.units}, {elapsed:.0f} s"
        if done > 0:
            line += f" ({_format_rate(elapsed / done, self.unit)})"
        line += "".join(f" - {name}: {format_value(value)}" for name, value in self.averages().items())
        self.stream.write(line + "\n")
        self.stream.flush()
        self._next_line = (self._current // self.every + 1) * self.every
        self._written = self._current
        self._shown = True
