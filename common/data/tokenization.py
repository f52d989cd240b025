"""Query tokenization identical to the originals' NLTK `word_tokenize`, without any NLTK data.

Both originals tokenize a query with `nltk.word_tokenize(sentence.strip().lower(), language="english")`
(fidelity VSLNet §2.2, fidelity LPNet §2.2). `word_tokenize` first splits the text into
sentences with the pretrained English Punkt model (`punkt_tab`, a download) and then runs the data-free
`NLTKWordTokenizer` on each sentence. The split matters because `NLTKWordTokenizer` detaches a period only at the
end of its input: `"a man sits. he eats."` gives `[..., "sits", ".", ...]` when Punkt breaks after "sits." and
`[..., "sits.", ...]` when it does not.

We run NLTK's own Punkt algorithm (`PunktSentenceTokenizer`) with a parameter set that, on lower-cased text,
makes exactly the decisions of the English model. Lower-casing switches off every rule of the model that needs
an upper-case first letter (the sentence-starter list, the capitalized-word half of the orthographic heuristic,
the "J. Bach" initial rule), so what remains is:

- the abbreviation list: a period after an abbreviation ("mr.", "st.", "ok.", "a.m.") is never a break in
  lower-cased text, since only an upper-case next word can turn it back into one;
- after an initial ("j.") or a number ("2.") the period stays a break only when the next word is
  lower-case and the model has seen it lower-case at a sentence start but never upper-case. In the English
  model that holds for 4 words; for every other word the period is kept in the token;
- the collocation list only removes breaks that the previous rule already removes, so it is not needed.

`benchmarks/tokenizer_agreement.py` checks the result against the real `word_tokenize` on every query of the
Charades-STA, ActivityNet Captions and TACoS files.
"""

import functools

from nltk.tokenize import NLTKWordTokenizer, punkt

# `abbrev_types.txt` of NLTK's pretrained English Punkt model (`punkt_tab/english`), unchanged.
ENGLISH_ABBREVIATIONS = frozenset(
    (
        ". . ", "a.a", "a.c", "a.d", "a.g", "a.h", "a.m", "a.m.e", "a.s", "a.t", "adm", "ala", "ariz", "aug",
        "ave", "b.f", "b.v", "bros", "c", "c.i.t", "c.o.m.b", "c.v", "calif", "chg", "cie", "co", "col", "colo",
        "conn", "corp", "cos", "ct", "d", "d.c", "d.h", "d.w", "dec", "dr", "e", "e.f", "e.h", "e.l", "e.m", "f",
        "f.g", "f.j", "feb", "fla", "fri", "ft", "g", "g.d", "g.f", "g.k", "ga", "gen", "h", "h.c", "h.f", "h.m",
        "i.m.s", "ill", "inc", "j.b", "j.c", "j.j", "j.k", "j.p", "j.r", "jan", "jr", "k", "kan", "ky", "l",
        "l.a", "l.f", "l.p", "lt", "ltd", "m", "m.b.a", "m.d.c", "m.j", "maj", "messrs", "mg", "mich", "minn",
        "mr", "mrs", "ms", "n", "n.c", "n.d", "n.h", "n.j", "n.m", "n.v", "n.y", "nev", "nov", "oct", "ok", "okla",
        "ore", "p", "p.a.m", "p.m", "pa", "ph.d", "prof", "r", "r.a", "r.h", "r.i", "r.j", "r.k", "r.t", "rep",
        "reps", "s", "s.a", "s.a.y", "s.c", "s.g", "s.p.a", "s.s", "sen", "sep", "sept", "sr", "st", "sw", "t",
        "t.j", "tenn", "tues", "u.k", "u.n", "u.s", "u.s.a", "u.s.s.r", "v", "va", "vs", "vt", "w", "w.c", "w.r",
        "w.va", "w.w", "wash", "wed", "wis", "yr",
    )
)  # fmt: skip

# The words of the English model's `ortho_context.tab` seen lower-case at a sentence start and never
# upper-case: the only words before which a period after an initial or a number stays a sentence break.
ENGLISH_LOWERCASE_SENTENCE_STARTERS = frozenset(("administrators", "b-week", "r-revised", "z-holiday"))


@functools.cache
def _sentence_splitter():
    params = punkt.PunktParameters()
    params.abbrev_types = set(ENGLISH_ABBREVIATIONS)
    for word in ENGLISH_LOWERCASE_SENTENCE_STARTERS:
        # Only the "seen lower-case at a sentence start" bit is read for lower-case words; see module docstring.
        params.add_ortho_context(word, punkt._ORTHO_BEG_LC)
    return punkt.PunktSentenceTokenizer(params)


@functools.cache
def _word_tokenizer():
    return NLTKWordTokenizer()


def tokenize(sentence):
    """Splits a query into lower-cased tokens exactly as the originals do.

    Equals `nltk.word_tokenize(sentence.strip().lower(), language="english")` but needs no NLTK data, and is
    deterministic (no randomness, no state carried between calls).

    Args:
        sentence: the query as written in the annotation file, e.g. `"A person's holding a cup."`.

    Returns:
        list of str tokens, e.g. `["a", "person", "'s", "holding", "a", "cup", "."]`.

    Example:
    >>> tokenize("Person opens the door. Then he sits down.")
    ['person', 'opens', 'the', 'door', '.', 'then', 'he', 'sits', 'down', '.']
    """
    text = sentence.strip().lower()
    word_tokenizer = _word_tokenizer()
    return [
        token for sub_sentence in _sentence_splitter().tokenize(text) for token in word_tokenizer.tokenize(sub_sentence)
    ]
