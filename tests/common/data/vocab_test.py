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
    v, vectors, report = vocab.build_vocabulary(tokens, glove, dim=3, progress=False, malformed="skip")
    # Malformed: "bad", "short 1 2" ("two words 1 2" reads as a word and 3 values).
    assert (report["malformed"], report["spaced_keys"]) == (2, 0)
    coverage = (report["query_words"], report["words_in_glove"], report["tokens"], report["tokens_in_glove"])
    assert coverage == (5, 4, 8, 7)
    # counts: person 2, the 2, door 2, opens 1, zzz 1 -> ties keep first-seen order; zzz is not in GloVe.
    assert v.words == ["<PAD>", "<UNK>", "person", "the", "door", "opens"]
    # A repeated GloVe key keeps its last vector.
    np.testing.assert_array_equal(vectors, np.float32([[1] * 3, [5] * 3, [2] * 3, [3] * 3]))
    assert v.word_ids(["the", "zzz", "door"]) == [3, 1, 4]


def test_keys_with_spaces_are_skipped_as_the_originals_do(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("a 1 2 3\nc d 1 2 3\n. . . 4 5 6\n\n")
    vectors, report = vocab.read_glove(str(path), dim=3, progress=False)
    assert set(vectors) == {"a"} and report.spaced_keys == 2 and report.lines == 4


@pytest.mark.parametrize(
    "line, message",
    [
        ("b 1 2", r"g.txt:2: 2 values after the word 'b'; expected 3"),
        ("b 1 2 3 4", r"g.txt:2: 4 values after the word 'b'; expected 3"),  # a number is no key with a space
    ],
)
def test_a_line_of_another_width_names_file_and_line_or_is_a_counted_skip(tmp_path, line, message):
    path = tmp_path / "g.txt"
    path.write_text(f"a 1 2 3\n{line}\nc 4 5 6\n")
    with pytest.raises(vocab.GloveError, match=message):
        vocab.read_glove(str(path), dim=3, progress=False)
    vectors, report = vocab.read_glove(str(path), dim=3, progress=False, malformed="skip")
    assert set(vectors) == {"a", "c"} and (report.malformed, report.first_malformed) == (1, f"{path}:2")


def test_a_file_of_another_width_fails_on_its_first_line(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("the 1 2\na 1 2\n")
    with pytest.raises(vocab.GloveError, match=r"g.txt:1: 2 values after the word 'the'; expected 3 .*3d GloVe file"):
        vocab.read_glove(str(path), dim=3, progress=False)


def test_a_non_numeric_value_of_a_kept_word_names_file_line_and_value(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("a 1 2 3\nperson 1 abc 3\n")
    with pytest.raises(vocab.GloveError, match=r"g.txt:2: value 2 of 'person' is 'abc', not a number"):
        vocab.read_glove(str(path), wanted={"person"}, dim=3, progress=False)


def test_no_word_in_glove_is_an_error(tmp_path):
    glove = _glove(tmp_path / "g.txt", [("zebra", 1.0)])
    with pytest.raises(vocab.GloveError, match="none of the 2 words of the queries"):
        vocab.build_vocabulary([["a", "person"]], glove, dim=3, progress=False)


def test_chars_with_count_at_least_five(tmp_path):
    glove = _glove(tmp_path / "g.txt", [("aaaab", 1.0)])
    v, _, _ = vocab.build_vocabulary([["aaaab"], ["bbbb"], ["c"]], glove, dim=3, progress=False)
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
