"""Word and character vocabularies and the frozen GloVe table, built exactly as the originals build them.

Rules (`shared/specs/vslnet.md` §2.3, `shared/specs/lpnet.md` §2.2):
- words are counted over **all** splits (train, val, test, in that order); they are sorted by descending count,
  ties in first-seen order (`collections.Counter.most_common`); a word is kept only if GloVe has it;
- ids: 0 = `<PAD>`, 1 = `<UNK>`, then the kept words; the vector table has one row per kept word (row `i` is id
  `i + 2`); unknown tokens map to 1;
- characters of every token of every split with count >= 5, by descending count; 0 = PAD, 1 = UNK;
- GloVe lines are split on single spaces after stripping; a line with a field count other than 301 is skipped
  (this also drops multi-token keys); a repeated key keeps its last vector.
"""

import collections
import json
import os
import sys
import time

import numpy as np

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


def read_glove(path, wanted=None, dim=300, progress=True):
    """Stream a GloVe text file, keeping only the `wanted` words (all words when `None`).

    Args:
        path: GloVe text file (`word v1 ... v{dim}` per line). 5.6 GB for 840B: it is never loaded whole.
        wanted: optional set of words to keep.
        dim: vector size; lines with a field count other than `dim + 1` are skipped, as in the originals.
        progress: print a progress line to stderr about every 2% of the file (files over 64 MiB only).

    Returns:
        dict word → float32 vector `[dim]`.
    """
    vectors = {}
    total = os.path.getsize(path)
    done = 0
    next_report = 0.0
    started = time.time()
    progress = progress and total > 64 * 2**20
    with open(path, "rb") as f:
        for raw in f:
            done += len(raw)
            fields = raw.decode("utf-8").strip().split(" ")
            if len(fields) == dim + 1 and (wanted is None or fields[0] in wanted):
                vectors[fields[0]] = np.asarray(fields[1:], dtype=np.float32)
            if progress and done >= next_report:
                elapsed = time.time() - started
                sys.stderr.write(f"\rreading {os.path.basename(path)}: {100.0 * done / total:5.1f}% "
                                 f"({done / 2**20:.0f}/{total / 2**20:.0f} MiB, {elapsed:.0f} s)")
                next_report = done + total / 50
    if progress:
        sys.stderr.write("\n")
    return vectors


def build_vocabulary(token_lists, glove_path, dim=300, progress=True):
    """Build the vocabularies and the frozen embedding table from tokenized sentences.

    Args:
        token_lists: iterable of token lists over all splits, in the order train, val, test (the order decides
            ties between equally frequent words).
        glove_path: GloVe text file.
        dim: word vector size.

    Returns:
        `(Vocabulary, vectors)` with `vectors` float32 `[num_words - 2, dim]`.
    """
    word_counter = collections.Counter()
    char_counter = collections.Counter()
    for tokens in token_lists:
        for token in tokens:
            word_counter[token] += 1
            for char in token:
                char_counter[char] += 1
    glove = read_glove(glove_path, wanted=set(word_counter), dim=dim, progress=progress)
    words = [PAD, UNK]
    rows = []
    for word, _ in word_counter.most_common():
        if word in glove:
            words.append(word)
            rows.append(glove[word])
    chars = [PAD, UNK] + [c for c, count in char_counter.most_common() if count >= MIN_CHAR_COUNT]
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)
    return Vocabulary(words, chars), vectors
