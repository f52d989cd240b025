"""The one record type every annotation reader produces, and the errors readers raise.

A `QueryRecord` is one (video, sentence, moment) triple. Times are seconds. `start`/`end` are clamped to
`[0, duration]` exactly as the original code does (`start = max(0, s)`, `end = min(e, duration)`); the raw
annotation times are kept beside them because the papers' dataset statistics (VSLNet Table 1) are computed on
the raw values.
"""

import dataclasses

# Durations above this (about 116 days) are taken for a unit mistake at serving time; they also overflow the
# float32 times of the decoding.
MAX_DURATION_SECONDS = 1e7


class AnnotationError(ValueError):
    """A malformed annotation. The message always names the file and the line (or the video id)."""


class MissingFeaturesError(KeyError):
    """A query refers to a video that has no features in the feature store."""

    def __str__(self):
        return str(self.args[0]) if self.args else super().__str__()


@dataclasses.dataclass(frozen=True)
class QueryRecord:
    """One natural-language query over one video.

    Attributes:
        qid: identifier unique within the dataset (e.g. `"train:17"`, or the user's `qid` for JSON lines).
        vid: video id, as used to look up the features (`.avi` suffixes already stripped).
        duration: video duration in seconds, > 0.
        start: moment start in seconds, clamped: `max(0, raw_start)`.
        end: moment end in seconds, clamped: `min(raw_end, duration)`.
        sentence: the query text as written in the annotation file (not lower-cased, not stripped).
        split: `"train"`, `"val"` or `"test"`.
        raw_start: start as written in the file (converted to seconds).
        raw_end: end as written in the file (converted to seconds).
        source: `"path:line"` (or `"path:video_id"` for JSON formats), for error messages.
    """

    qid: str
    vid: str
    duration: float
    start: float
    end: float
    sentence: str
    split: str
    raw_start: float
    raw_end: float
    source: str = ""

    @property
    def start_clamped(self):
        return self.start != self.raw_start

    @property
    def end_clamped(self):
        return self.end != self.raw_end
