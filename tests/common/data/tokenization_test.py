"""Tests for `common.data.tokenization`: known NLTK outputs, and the real `word_tokenize` when its data exists."""

import random

import nltk
import pytest
from nltk.tokenize import punkt

from common.data import tokenization
from common.data.tokenization import tokenize

# Outputs of `nltk.word_tokenize(s.strip().lower(), language="english")` (NLTK 3.10, English punkt_tab).
KNOWN_CASES = [
    ("A person's holding a cup.", ["a", "person", "'s", "holding", "a", "cup", "."]),
    ("He can't stop!", ["he", "ca", "n't", "stop", "!"]),
    ('He says "hello" to her.', ["he", "says", "``", "hello", "''", "to", "her", "."]),
    ("  Person opens the door\n", ["person", "opens", "the", "door"]),
    ("A man, a woman, and a dog run.", ["a", "man", ",", "a", "woman", ",", "and", "a", "dog", "run", "."]),
    (
        "A well-known chef cuts a half-eaten apple.",
        ["a", "well-known", "chef", "cuts", "a", "half-eaten", "apple", "."],
    ),
    ("the man (in red) jumps.", ["the", "man", "(", "in", "red", ")", "jumps", "."]),
    ("He waits... then leaves.", ["he", "waits", "...", "then", "leaves", "."]),
    ("The man jumps at 6'2\" and lands.", ["the", "man", "jumps", "at", "6'2", "''", "and", "lands", "."]),
    # Punkt breaks after "door.", so NLTKWordTokenizer detaches that period too.
    (
        "Person opens the door. Then he sits down.",
        ["person", "opens", "the", "door", ".", "then", "he", "sits", "down", "."],
    ),
    ("Who is it? it's me!", ["who", "is", "it", "?", "it", "'s", "me", "!"]),
    ('He says "hi." She nods.', ["he", "says", "``", "hi", ".", "''", "she", "nods", "."]),
    # Abbreviations of the English model: no break, the period stays in the token.
    ("Mr. Smith walks in.", ["mr.", "smith", "walks", "in", "."]),
    ("It's ok. he leaves.", ["it", "'s", "ok.", "he", "leaves", "."]),
    (
        "They're at st. louis at 5 p.m. on wed.",
        ["they", "'re", "at", "st.", "louis", "at", "5", "p.m.", "on", "wed", "."],
    ),
    ("The u.s. team wins.", ["the", "u.s.", "team", "wins", "."]),
    # After a number or an initial the period is kept, except before the model's lower-case sentence starters.
    ("The dog runs 2. then it sits.", ["the", "dog", "runs", "2.", "then", "it", "sits", "."]),
    ("He walks 2. administrators watch.", ["he", "walks", "2", ".", "administrators", "watch", "."]),
    ("J. smith sits. a. he.", ["j.", "smith", "sits", ".", "a.", "he", "."]),
    # No space after the period: not a sentence boundary for Punkt.
    (
        "a woman talks to the camera.the woman dances.",
        ["a", "woman", "talks", "to", "the", "camera.the", "woman", "dances", "."],
    ),
]


def _reference_available():
    try:
        nltk.word_tokenize("Reference check.")
    except LookupError:
        return False
    return True


requires_reference = pytest.mark.skipif(
    not _reference_available(), reason="NLTK's English punkt_tab model is not installed (nltk.download('punkt_tab'))"
)


@pytest.mark.parametrize("sentence, expected", KNOWN_CASES)
def test_known_outputs(sentence, expected):
    assert tokenize(sentence) == expected


def test_empty_and_blank():
    assert tokenize("") == []
    assert tokenize(" \n") == []


def test_deterministic():
    sentences = [sentence for sentence, _ in KNOWN_CASES]
    first = [tokenize(sentence) for sentence in sentences]
    second = [tokenize(sentence) for sentence in reversed(sentences)][::-1]
    assert first == second


def test_needs_no_nltk_data(monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [])
    assert tokenize("Person opens the door. Then he sits.") == [
        "person", "opens", "the", "door", ".", "then", "he", "sits", ".",
    ]  # fmt: skip


def _random_sentences(count, seed):
    """Sentences mixing what drives Punkt's decisions: abbreviations, initials, numbers, punctuation, quotes."""
    pieces = [
        "a", "the", "man", "he", "it", "then", "sits.", "j.", "b.", "2.", "3.5.", "10", "1st.", "$5.", "mr.",
        "st.", "ok.", "p.m.", "u.s.", "e.g.", "etc.", "x-ok.", "administrators", "b-week", "edelman", "who", ".",
        "..", "...", "?", "!", ",", ";", ":", '"', "'", "(", ")", "[", "]", "-", "--", "``", "''", "person's",
        "don't",
    ]  # fmt: skip
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        words = [rng.choice(pieces) for _ in range(rng.randint(1, 12))]
        text = "".join(word + rng.choice([" ", " ", "  ", "", "\n"]) for word in words)
        sentences.append(text.upper() if rng.random() < 0.3 else text)
    return sentences


@requires_reference
def test_matches_word_tokenize_on_a_random_sample():
    for sentence in _random_sentences(3000, seed=0):
        assert tokenize(sentence) == nltk.word_tokenize(sentence.strip().lower(), language="english"), sentence


@requires_reference
def test_parameters_match_the_english_model():
    params = punkt.load_punkt_params(nltk.data.find("tokenizers/punkt_tab/english/"))
    assert params.abbrev_types == tokenization.ENGLISH_ABBREVIATIONS
    starters = {
        word for word, flag in params.ortho_context.items() if flag & punkt._ORTHO_BEG_LC and not flag & punkt._ORTHO_UC
    }
    assert starters == tokenization.ENGLISH_LOWERCASE_SENTENCE_STARTERS
