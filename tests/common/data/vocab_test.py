import numpy as np
import pytest

from common.data import vocab


def _glove(path, rows, dim=3):
    lines = []
    for word, value in rows:
        lines.append(" ".join([word] + [str(value)] * dim) if value is not None else word)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_frequency_order_ties_first_seen_and_glove_filter(tmp_path):
    glove = _glove(
        tmp_path / "g.txt",
        [("person", 1.0), ("door", 2.0), ("opens", 3.0), ("the", 4.0), ("the", 5.0), ("bad", None)],
    )
    (tmp_path / "g.txt").write_text((tmp_path / "g.txt").read_text() + "two words 1 2\nshort 1 2\n")
    tokens = [["person", "opens", "the", "door"], ["the", "person", "zzz"], ["door"]]
    v, vectors = vocab.build_vocabulary(tokens, glove, dim=3, progress=False)
    # counts: person 2, the 2, door 2, opens 1, zzz 1 -> ties keep first-seen order; zzz is not in GloVe.
    assert v.words == ["<PAD>", "<UNK>", "person", "the", "door", "opens"]
    # A repeated GloVe key keeps its last vector.
    np.testing.assert_array_equal(vectors, np.float32([[1] * 3, [5] * 3, [2] * 3, [3] * 3]))
    assert v.word_ids(["the", "zzz", "door"]) == [3, 1, 4]


def test_malformed_glove_lines_are_skipped(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("a 1 2 3\nb 1 2\nc d 1 2 3\n\n")
    assert set(vocab.read_glove(str(path), dim=3, progress=False)) == {"a"}


def test_chars_with_count_at_least_five(tmp_path):
    glove = _glove(tmp_path / "g.txt", [("aaaab", 1.0)])
    v, _ = vocab.build_vocabulary([["aaaab"], ["bbbb"], ["c"]], glove, dim=3, progress=False)
    # a: 4, b: 5, c: 1 -> only b is kept.
    assert v.chars == ["<PAD>", "<UNK>", "b"]
    assert v.num_chars == 3
    assert v.char_ids(["ab", "c"]) == [[1, 2], [1]]


def test_save_load_round_trip(tmp_path):
    v = vocab.Vocabulary(["<PAD>", "<UNK>", "x", "é"], ["<PAD>", "<UNK>", "x"])
    v.save(str(tmp_path))
    assert vocab.Vocabulary.load(str(tmp_path)) == v


def test_must_start_with_pad_unk():
    with pytest.raises(ValueError):
        vocab.Vocabulary(["x"], ["<PAD>", "<UNK>"])


def test_progress_is_reported_for_large_files(tmp_path, capsys, monkeypatch):
    path = _glove(tmp_path / "g.txt", [("a", 1.0)])
    vocab.read_glove(path, dim=3, progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(vocab.os.path, "getsize", lambda _: 2**30)
    vocab.read_glove(path, dim=3, progress=True)
    assert "reading g.txt" in capsys.readouterr().err
