"""Word and character vocabularies and the frozen GloVe table, built exactly as the originals build them.

Rules (fidelity VSLNet §2.3, fidelity LPNet §2.2):
- words are counted over **all** splits (train, val, test, in that order); they are sorted by descending count,
  ties in first-seen order (`collections.Counter.most_common`); a word is kept only if GloVe has it;
- ids: 0 = `<PAD>`, 1 = `<UNK>`, then the kept words; the vector table has one row per kept word (row `i` is id
  `i + 2`); unknown tokens map to 1;
- characters of every token of every split with count >= 5, by descending count; 0 = PAD, 1 = UNK;
- GloVe lines are split on single spaces after stripping; a line with a field count other than 301 is skipped
  (this also drops multi-token keys); a repeated key keeps its last vector. Here only keys with spaces are
  skipped silently (counted): any other line of another width is an error naming the file and line, or with
  `malformed="skip"` a counted skip (`read_glove`).
"""

import collections
import dataclasses
import json
import os

import numpy as np

from common.data import text_files
from common.progress import Progress

PAD = "<PAD>"
UNK = "<UNK>"
PAD_ID = 0
UNK_ID = 1
MIN_CHAR_COUNT = 5


class Vocabulary:
    """Word and char id tables.

    Args:
        words: the word list in id order, starting with `<PAD>`, `<UNK>`.
        chars: the char list in id order, starting with `<PAD>`, `<UNK>`.
    """

    def __init__(self, words, chars):
        if words[:2] != [PAD, UNK] or chars[:2] != [PAD, UNK]:
            raise ValueError("a vocabulary starts with <PAD>, <UNK>")
        self.words = list(words)
        self.chars = list(chars)
        self._word_index = {w: i for i, w in enumerate(self.words)}
        self._char_index = {c: i for i, c in enumerate(self.chars)}

    @property
    def num_words(self):
        return len(self.words)

    @property
    def num_chars(self):
        """`n_chars` of the original: the char table size including PAD and UNK."""
        return len(self.chars)

    def word_ids(self, tokens):
        return [self._word_index.get(t, UNK_ID) for t in tokens]

    def char_ids(self, tokens):
        return [[self._char_index.get(c, UNK_ID) for c in t] for t in tokens]

    def save(self, folder):
        with open(os.path.join(folder, "vocab.json"), "w") as f:
            json.dump({"words": self.words, "chars": self.chars}, f, ensure_ascii=False)

    @classmethod
    def load(cls, folder):
        with open(os.path.join(folder, "vocab.json")) as f:
            data = json.load(f)
        return cls(data["words"], data["chars"])

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.words == other.words and self.chars == other.chars


class GloveError(ValueError):
    """A GloVe file that cannot give the vectors asked for; the message names the file and the line."""


GLOVE_MALFORMED_POLICIES = ("error", "skip")


@dataclasses.dataclass
class GloveReport:
    """What `read_glove` skipped.

    Attributes:
        lines: lines read.
        spaced_keys: lines whose key holds spaces (`word1 word2 v1 ... v300`; glove.840B has some); skipped, as
            the originals do.
        malformed: lines with another number of values, skipped with `malformed="skip"` (else an error).
        first_malformed: `path:line` of the first malformed line skipped.
    """

    lines: int = 0
    spaced_keys: int = 0
    malformed: int = 0
    first_malformed: str = ""


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _values(fields, where, word):
    try:
        return np.asarray(fields, dtype=np.float32)
    except ValueError:
        bad = next(i for i, v in enumerate(fields) if not _is_number(v))
        raise GloveError(f"{where}: value {bad + 1} of {word!r} is {fields[bad]!r}, not a number") from None


def read_glove(path, wanted=None, dim=300, progress=True, malformed="error"):
    """Stream a GloVe text file, keeping only the `wanted` words (all words when `None`).

    Each stripped line is split on single spaces, as the originals do. A line of `dim + 1` fields is a word and
    its vector (the values of a kept word must be numbers). A longer line whose extra leading fields are not
    numbers is a key with spaces (glove.840B has such lines): skipped, as the originals skip every line of
    another length, and counted. Any other line (too few values, too many numbers) is malformed: an error naming
    `path:line` (the first line's error gives the width the file has, as a 100-d file or a word2vec header
    shows), or, with `malformed="skip"`, skipped and counted, which is what the originals do silently.

    Args:
        path: GloVe text file (`word v1 ... v{dim}` per line). 5.6 GB for 840B: it is never loaded whole.
        wanted: optional set of words to keep.
        dim: vector size.
        progress: show the progress of reading (`common.progress`; files over 64 MiB only).
        malformed: `"error"` or `"skip"`.

    Returns:
        `(vectors, report)`: dict word → float32 vector `[dim]`, and a `GloveReport`.

    Raises:
        GloveError: a malformed line (`malformed="error"`) or a kept word with a non-numeric value.
        text_files.EncodingError: the file is not UTF-8.
    """
    if malformed not in GLOVE_MALFORMED_POLICIES:
        raise ValueError(f"malformed must be one of {GLOVE_MALFORMED_POLICIES}, got {malformed!r}")
    vectors = {}
    report = GloveReport()
    total = os.path.getsize(path)
    done = 0
    next_mib = 1
    reading = Progress(
        -(-total // 2**20),
        f"reading {os.path.basename(path)}",
        unit="MiB",
        units="MiB",
        enabled=progress and total > 64 * 2**20,
    )
    for line_number, line, num_bytes in text_files.iter_lines(path):
        done += num_bytes
        if done >= next_mib * 2**20:  # one update per MiB: glove.840B has 2.2 million lines
            next_mib = done // 2**20 + 1
            reading.update(done // 2**20)
        report.lines += 1
        fields = line.strip().split(" ")
        if len(fields) == dim + 1:
            if wanted is None or fields[0] in wanted:
                vectors[fields[0]] = _values(fields[1:], f"{path}:{line_number}", fields[0])
        elif len(fields) > dim + 1 and not any(_is_number(f) for f in fields[1 : len(fields) - dim]):
            report.spaced_keys += 1
        elif fields != [""]:
            where = f"{path}:{line_number}"
            if malformed == "error":
                raise GloveError(
                    f"{where}: {len(fields) - 1} values after the word {fields[0][:40]!r}; expected {dim} (GloVe "
                    f"{dim}d)"
                    + (
                        f": is this a {dim}d GloVe file?"
                        if line_number == 1
                        else "; glove_malformed='skip' (--glove_malformed=skip) skips such lines, as the originals do"
                    )
                )
            report.malformed += 1
            report.first_malformed = report.first_malformed or where
    reading.update(-(-total // 2**20))
    reading.finish()
    return vectors, report


def build_vocabulary(token_lists, glove_path, dim=300, progress=True, malformed="error"):
    """Build the vocabularies and the frozen embedding table from tokenized sentences.

    Args:
        token_lists: iterable of token lists over all splits, in the order train, val, test (the order decides
            ties between equally frequent words).
        glove_path: GloVe text file.
        dim: word vector size.
        malformed: what a malformed GloVe line gets (`read_glove`).

    Returns:
        `(Vocabulary, vectors, report)` with `vectors` float32 `[num_words - 2, dim]` and `report` a dict: the
        `GloveReport` fields and the coverage (`query_words`, `words_in_glove`, `tokens`, `tokens_in_glove`).

    Raises:
        GloveError: as `read_glove`, or GloVe has none of the words (a model without words would train).
    """
    word_counter = collections.Counter()
    char_counter = collections.Counter()
    for tokens in token_lists:
        for token in tokens:
            word_counter[token] += 1
            for char in token:
                char_counter[char] += 1
    glove, glove_report = read_glove(
        glove_path, wanted=set(word_counter), dim=dim, progress=progress, malformed=malformed
    )
    words = [PAD, UNK]
    rows = []
    for word, _ in word_counter.most_common():
        if word in glove:
            words.append(word)
            rows.append(glove[word])
    if word_counter and not rows:
        raise GloveError(
            f"{glove_path} has none of the {len(word_counter)} words of the queries (e.g. "
            f"{word_counter.most_common(1)[0][0]!r}): is it an English GloVe file of {dim}d vectors?"
        )
    chars = [PAD, UNK] + [c for c, count in char_counter.most_common() if count >= MIN_CHAR_COUNT]
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)
    report = dataclasses.asdict(glove_report)
    report.update(
        query_words=len(word_counter),
        words_in_glove=len(rows),
        tokens=sum(word_counter.values()),
        tokens_in_glove=sum(word_counter[w] for w in words[2:]),
    )
    return Vocabulary(words, chars), vectors, report
