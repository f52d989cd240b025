"""The query tokenizer of `common.data.tokenization.tokenize` as TensorFlow ops, so a SavedModel takes raw text.

`tokenize(s)` is `nltk.word_tokenize(s.strip().lower())`: NLTK's English Punkt model splits the text into
sentences (with the parameters of `common.data.tokenization`), then `NLTKWordTokenizer` (Treebank rules) runs on
each sentence. `graph_tokenize` reproduces both stages with `tf.strings` / integer ops only (no `tf.py_function`),
so the graph serializes into a SavedModel:

1. **Normalize**: strip Python's `str.isspace` characters, lower-case with `tf.strings.lower` (patched where its
   Unicode tables differ from Python's).
2. **Punkt sentence breaks** (`nltk.tokenize.punkt.PunktSentenceTokenizer.span_tokenize`), on code points:
   - candidates: `.?!` followed by a "non-word" character or by whitespace (`period_context_re`);
   - the "previous word" of a candidate starts after the last ASCII whitespace; a candidate whose word runs into
     the next candidate's (no ASCII whitespace between) is dropped (`_match_potential_end_contexts`);
   - each kept candidate's context (previous word + candidate + following token) is split with Punkt's own word
     regex (a vectorized left-to-right scan) and annotated with the first and second pass (abbreviation list,
     initials, numbers, the orthographic heuristic), and it is a break when a sentence-break token is followed by
     another token (`text_contains_sentbreak`);
   - closing quotes/brackets after a break move to the previous sentence (`_realign_boundaries`).
3. **Treebank rules** on each sentence with `tf.strings.regex_replace` (RE2). RE2 has no look-around, so each rule
   that uses one is rewritten as an equivalent sequence of replacements (placeholders, repeated passes), and the
   character classes `\\w`, `\\s`, `\\d`, `\\b` and case folding are expanded to explicit Unicode ranges taken from
   the engines NLTK uses (the `regex` module for most rules, `re` for the contractions), because RE2's are ASCII.

The character tables are computed from the running Python / `regex` at graph-construction time (cached); the
exported graph then needs neither. Known limits: a query containing the private-use characters U+F8F0–U+F8F2 (used
as placeholders) is not supported. Agreement with `tokenize` is measured by `tests/common/export/saved_model_test.py`
on synthetic tricky sentences and on every query of the real annotation files.
"""

import functools
import itertools
import re
import string
import sys
import unicodedata

import regex
import tensorflow as tf
from nltk.tokenize import punkt

from common.data import tokenization

# Placeholders (private-use code points) used inside the graph.
_APOSTROPHE_MARK = "\uf8f0"  # "insert a space after this apostrophe" (STARTING_QUOTES, last rule)
_NUL_MARK = "\uf8f1"  # protects NUL from `tf.strings.lower`, which truncates at it
_PROTECT_MARK = "\uf8f2"  # "this contraction fails its trailing boundary" (CONTRACTIONS2/3)


# ==== Character tables =================================================================================


def _all_chars():
    return "".join(map(chr, itertools.chain(range(0xD800), range(0xE000, sys.maxunicode + 1))))


def _ranges(chars):
    points = sorted({ord(c) for c in chars})
    out = []
    for p in points:
        if out and out[-1][1] == p - 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return out


def _re2_class(chars, negate=False):
    """An RE2 character class `[...]` (or `[^...]`) holding exactly `chars`, written as `\\x{...}` ranges."""
    parts = [f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in _ranges(chars)]
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _re2_literal(text):
    return "".join(f"\\x{{{ord(c):X}}}" for c in text)


@functools.cache
def _tables():
    """Character sets of the engines NLTK uses, as RE2 fragments; computed once per process (about 1 s)."""
    chars = _all_chars()

    def of(engine, pattern):
        return frozenset(engine.findall(pattern, chars))

    rx_w = of(regex, r"\w")
    rx_d = of(regex, r"\d")
    rx_s = of(regex, r"\s")
    re_w = of(re, r"\w")
    re_s = of(re, r"\s")
    isspace = frozenset(c for c in chars if c.isspace())
    lower = frozenset(c for c in chars if c.islower())
    upper = frozenset(c for c in chars if c.isupper())

    cased = "".join(c for c in chars if c.lower() != c or c.upper() != c)  # only these can match `(?i)letter`

    def folded(engine, word):
        # `(?i)word` of `engine`, letter by letter (all our folded words are plain ASCII letters and quotes).
        return "".join(
            _re2_class(engine.findall("(?i)" + re.escape(c), cased)) if c.isalpha() else _re2_literal(c) for c in word
        )

    # Punkt's character sets, read from the installed NLTK (they changed across versions: curly quotes, 3.9).
    lang = punkt.PunktLanguageVars()
    punctuation_like = "".join(c for c in chars if unicodedata.category(c)[0] in "PS" or c < "\x80")
    t = {
        "sent_end": "".join(lang.sent_end_chars),
        "non_word": "".join(sorted(set(regex.findall(lang._re_non_word_chars, chars)))),
        "not_word_start": regex.sub(lang._re_word_start, "", chars),  # the class is negated: its few outsiders
        "closers": "".join(c for c in punctuation_like if lang.re_boundary_realignment.fullmatch(c)),
        "punkt_punctuation": "".join(punkt.PunktSentenceTokenizer.PUNCTUATION),
        "rx_w": _re2_class(rx_w),
        "rx_not_w": _re2_class(rx_w, negate=True),
        "rx_not_d": _re2_class(rx_d, negate=True),
        "rx_d": _re2_class(rx_d),
        "rx_s": _re2_class(rx_s),
        "rx_w_not_d": _re2_class(rx_w - rx_d),
        "re_not_w": _re2_class(re_w, negate=True),
        "re_w": _re2_class(re_w),
        "re_not_s": _re2_class(re_s, negate=True),
        "isspace": _re2_class(isspace),
        "lower": _re2_class(lower),
        "upper": _re2_class(upper),
        "rx_s_chars": "".join(sorted(rx_s)),
        "clitics": "|".join(folded(regex, w) for w in ("re", "ve", "ll", "m", "t", "s", "d", "n")),
        "contractions2": [
            (folded(re, a), folded(re, b))
            for a, b in (
                ("can", "not"),
                ("d", "'ye"),
                ("gim", "me"),
                ("gon", "na"),
                ("got", "ta"),
                ("lem", "me"),
                ("more", "'n"),
            )
        ],
        "wanna": (folded(re, "wan"), folded(re, "na")),
        "contractions3": [(folded(re, "'t"), folded(re, b)) for b in ("is", "was")],
        "abbreviations": "|".join(_re2_literal(a) for a in sorted(tokenization.ENGLISH_ABBREVIATIONS)),
        "starters": "|".join(_re2_literal(w) for w in sorted(tokenization.ENGLISH_LOWERCASE_SENTENCE_STARTERS)),
        "lower_fixes": _lower_fixes(cased),
    }
    return t


def _lower_fixes(cased):
    """`(char, python_lower)` pairs where `tf.strings.lower` (older Unicode tables) disagrees with `str.lower`
    (checked over the characters that `str.lower` changes; `tf.strings.lower` changes no other one)."""
    cased = [c for c in cased if c.lower() != c]
    with tf.init_scope():  # eager even when first called while tracing
        got = tf.strings.lower(tf.constant([c.encode("utf-8") for c in cased]), encoding="utf-8").numpy()
    return [(c, c.lower()) for c, g in zip(cased, got) if g.decode("utf-8", "replace") != c.lower()]


# ==== Stage 1: normalize ==============================================================================


def normalize(strings):
    """`s.strip().lower()` of Python, for a `tf.string` tensor."""
    t = _tables()
    strings = tf.strings.regex_replace(strings, f"^{t['isspace']}+|{t['isspace']}+$", "")
    strings = tf.strings.regex_replace(strings, "\\x00", _NUL_MARK)
    strings = tf.strings.lower(strings, encoding="utf-8")
    for char, lowered in t["lower_fixes"]:
        strings = tf.strings.regex_replace(strings, _re2_literal(char), lowered.replace("\\", "\\\\"))
    return tf.strings.regex_replace(strings, _NUL_MARK, "\x00")


# ==== Stage 2: Punkt sentence breaks ==================================================================


def _is_any(codepoints, chars):
    values = tf.constant([ord(c) for c in chars], tf.int32)
    return tf.reduce_any(tf.equal(tf.expand_dims(codepoints, -1), values), axis=-1)


def _first_at_or_after(flags):
    """For a 1-D bool tensor whose last element is True: index of the first True at or after each position."""
    positions = tf.cast(tf.where(flags)[:, 0], tf.int32)
    before = tf.cumsum(tf.cast(flags, tf.int32), exclusive=True)
    return tf.gather(positions, before)


def _last_at_or_before(flags):
    """For a 1-D bool tensor: index of the last True at or before each position, -1 if none."""
    positions = tf.concat([[-1], tf.cast(tf.where(flags)[:, 0], tf.int32)], 0)
    return tf.gather(positions, tf.cumsum(tf.cast(flags, tf.int32)))


def _run_length(flags):
    """Dense `[K, L]` bool → number of consecutive Trues starting at each position (runs end at each row end)."""
    k = tf.shape(flags)[0]
    padded = tf.concat([flags, tf.zeros([k, 1], tf.bool)], axis=1)
    flat = tf.reshape(padded, [-1])
    index = tf.range(tf.size(flat))
    runs = _first_at_or_after(tf.logical_not(flat)) - index
    return tf.reshape(runs, tf.shape(padded))[:, :-1]


def _run_length_stride2(flags):
    """Like `_run_length` but counting Trues at positions i, i+2, i+4, ..."""
    length = tf.shape(flags)[1]
    even = _run_length(flags[:, 0::2])
    odd = _run_length(flags[:, 1::2])
    # Interleave back: position 2j is even[j], position 2j+1 is odd[j].
    odd = tf.pad(odd, [[0, 0], [0, tf.shape(even)[1] - tf.shape(odd)[1]]])
    return tf.reshape(tf.stack([even, odd], axis=2), [tf.shape(flags)[0], -1])[:, :length]


def _punkt_word_tokens(contexts):
    """Punkt's word tokenizer (`PunktLanguageVars.word_tokenize`, per line) on ragged code points `[K, (L)]`.

    Returns:
        `(token_strings [T], token_context [T] int32)`, tokens in order.
    """
    dense = contexts.to_tensor(default_value=-1)
    k = tf.shape(dense)[0]
    dense = tf.concat([dense, -tf.ones([k, 2], tf.int32)], axis=1)  # two end columns for the look-aheads
    valid = dense >= 0
    space = _is_any(dense, _tables()["rx_s_chars"])
    space_same_line = space & tf.not_equal(dense, ord("\n"))
    non_word = _is_any(dense, _tables()["non_word"])
    word_start = valid & ~space & ~_is_any(dense, _tables()["not_word_start"])
    dash, dot, comma = tf.equal(dense, ord("-")), tf.equal(dense, ord(".")), tf.equal(dense, ord(","))

    def shift(x, n, fill):
        return tf.concat([x[:, n:], tf.fill([k, n], fill)], axis=1)

    # _re_multi_char_punct = -{2,} | \.{2,} | (?:\.\s){2,}\.   (greedy, tried in that order)
    dash_run, dot_run = _run_length(dash), _run_length(dot)
    pairs = _run_length_stride2(dot & shift(space_same_line, 1, False))
    after_pairs = tf.gather(dense, tf.range(tf.shape(dense)[1])[None, :] + 2 * pairs, batch_dims=1)
    spaced = tf.where(
        pairs >= 2, tf.where(tf.equal(after_pairs, ord(".")), 2 * pairs + 1, tf.where(pairs >= 3, 2 * pairs - 1, 0)), 0
    )
    multi = tf.where(dash_run >= 2, dash_run, tf.where(dot_run >= 2, dot_run, spaced))
    multi_start = multi > 0
    ends_next = ~shift(valid, 1, False) | shift(space | non_word | multi_start, 1, False)
    word_end = ~valid | space | non_word | multi_start | (comma & ends_next)

    def step(state, column):
        mode, remaining, _, _ = state
        col_word_end, col_skip, col_multi, col_word_start = column
        inside_fixed = tf.equal(mode, 2) & (remaining > 0)
        continue_word = tf.equal(mode, 1) & ~col_word_end
        fresh = ~inside_fixed & ~continue_word & ~col_skip
        start_multi = fresh & (col_multi > 0)
        start_word = fresh & ~start_multi & col_word_start
        start_single = fresh & ~start_multi & ~start_word
        new_mode = tf.where(inside_fixed | start_multi | start_single, 2, tf.where(continue_word | start_word, 1, 0))
        new_remaining = tf.where(inside_fixed, remaining - 1, tf.where(start_multi, col_multi - 1, 0))
        return new_mode, new_remaining, fresh, inside_fixed | continue_word | fresh

    zeros = tf.zeros([k], tf.int32)
    columns = tuple(tf.transpose(x) for x in (word_end, ~valid | space, multi, word_start))
    _, _, starts, inside = tf.scan(
        step, columns, initializer=(zeros, zeros, tf.zeros([k], tf.bool), tf.zeros([k], tf.bool))
    )
    starts, inside = tf.transpose(starts), tf.transpose(inside)
    token_ids = tf.cumsum(tf.reshape(tf.cast(starts, tf.int32), [-1])) - 1
    inside_flat = tf.reshape(inside, [-1])
    num_tokens = tf.reduce_sum(tf.cast(starts, tf.int32))
    chars = tf.RaggedTensor.from_value_rowids(
        tf.boolean_mask(tf.reshape(dense, [-1]), inside_flat), tf.boolean_mask(token_ids, inside_flat), nrows=num_tokens
    )
    token_strings = tf.strings.unicode_encode(chars, "UTF-8")
    row_of = tf.reshape(tf.tile(tf.range(k)[:, None], [1, tf.shape(dense)[1]]), [-1])
    token_context = tf.boolean_mask(row_of, tf.reshape(starts, [-1]))
    return token_strings, token_context


def _contains_sentbreak(contexts):
    """`PunktSentenceTokenizer.text_contains_sentbreak` with the English parameters, for ragged code points."""
    t = _tables()
    tokens, context = _punkt_word_tokens(contexts)
    num = tf.shape(tokens)[0]

    def full(pattern):
        return tf.strings.regex_full_match(tokens, pattern)

    sent_end_char = full(_re2_class(t["sent_end"]))
    period_final = full("(?s).*\\.")
    ends_two = full("(?s).*\\.\\.")
    ellipsis = full("\\.\\.+")
    stem = tf.strings.regex_replace(tokens, "\\.$", "")  # tok[:-1] for period-final tokens
    abbreviation = tf.strings.regex_full_match(stem, f"(?:{t['abbreviations']})") | tf.strings.regex_full_match(
        tf.strings.regex_replace(stem, "^.*-", ""), f"(?:{t['abbreviations']})"
    )
    # First pass.
    first_break = sent_end_char | (period_final & ~ends_two & ~abbreviation)
    first_abbr = ~sent_end_char & ~ellipsis & period_final & ~ends_two & abbreviation
    first_ellipsis = ~sent_end_char & ellipsis
    # Types: numbers become "##number##"; type_no_period drops one final period of longer types.
    numeric = full(f"-?[.,]?{t['rx_d']}(?:{t['rx_d']}|[,.\\-])*\\.?")
    long_enough = tf.strings.length(tokens, unit="UTF8_CHAR") > 1
    type_no_period = tf.where(numeric, "##number##", tf.where(long_enough & period_final, stem, tokens))
    type_plain = tf.where(numeric, "##number##", tokens)
    type_no_sentperiod = tf.where(first_break, type_no_period, type_plain)
    starter = tf.strings.regex_full_match(type_no_sentperiod, f"(?:{t['starters']})")
    initial = full(f"{t['rx_w_not_d']}\\.")
    first_lower = full(f"(?s){t['lower']}.*")
    first_upper = full(f"(?s){t['upper']}.*")
    punctuation = full(_re2_class(t["punkt_punctuation"]))
    # The orthographic heuristic of the next token (the English model knows only the 4 lower-case starters,
    # seen lower-case at a sentence start).
    ortho_true = ~punctuation & first_upper & starter
    ortho_false = punctuation | (first_lower & ~starter)
    ortho_unknown = ~ortho_true & ~ortho_false

    def next_of(x):
        return tf.concat([x[1:], tf.zeros([1], x.dtype)], axis=0)

    has_next = tf.equal(next_of(context), context) & (tf.range(num) < num - 1)
    # Second pass, for period-final tokens that have a successor.
    is_initial_or_number = initial | tf.equal(type_no_period, "##number##")
    becomes_break = (first_abbr | first_ellipsis) & ~initial & next_of(ortho_true)
    stays_abbr = is_initial_or_number & (
        next_of(ortho_false) | (next_of(ortho_unknown) & initial & next_of(first_upper) & ~next_of(starter))
    )
    second = tf.where(becomes_break, True, tf.where(stays_abbr, False, first_break))
    sentbreak = tf.where(period_final & has_next, second, first_break)
    counted = tf.cast(sentbreak & has_next, tf.int32)
    return tf.math.unsorted_segment_sum(counted, context, tf.shape(contexts.row_splits)[0] - 1) > 0


def split_sentences(texts):
    """Punkt sentences of normalized texts.

    Args:
        texts: `tf.string` `[N]`, already stripped and lower-cased.

    Returns:
        `tf.RaggedTensor` `[N, (S)]` of sentence strings (as `PunktSentenceTokenizer.tokenize`, except that a
        sentence made empty by the realignment is kept as `""`, which tokenizes to nothing).
    """
    t = _tables()
    cps = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
    flat = cps.flat_values
    size = tf.size(flat)
    rows = tf.cast(cps.value_rowids(), tf.int32)
    limit = tf.gather(tf.cast(cps.row_limits(), tf.int32), rows)
    row_start = tf.gather(tf.cast(cps.row_starts(), tf.int32), rows)
    index = tf.range(size)
    next_cp = tf.where(index + 1 < limit, tf.concat([flat[1:], [-1]], 0), -1)
    space = _is_any(flat, t["rx_s_chars"])
    ascii_space = _is_any(flat, string.whitespace)
    closer = _is_any(flat, t["closers"])
    dash = tf.equal(flat, ord("-"))
    # A sentinel position `size` closes every "first at or after" search.

    def with_end(x):
        return tf.concat([x, [True]], 0)

    first_non_space = _first_at_or_after(with_end(~space))
    first_space = _first_at_or_after(with_end(space))
    first_non_closer = _first_at_or_after(with_end(~closer))
    last_ascii_space = _last_at_or_before(ascii_space)

    candidate = _is_any(flat, t["sent_end"]) & (_is_any(next_cp, t["non_word"]) | _is_any(next_cp, t["rx_s_chars"]))
    positions = tf.cast(tf.where(candidate)[:, 0], tf.int32)
    cand_row = tf.gather(rows, positions)
    cand_limit = tf.gather(limit, positions)
    word_start = tf.maximum(tf.gather(last_ascii_space, positions) + 1, tf.gather(row_start, positions))
    # A candidate is examined unless the next one's previous word reaches back over it.
    next_same_row = tf.concat([tf.equal(cand_row[1:], cand_row[:-1]), [False]], 0)
    next_word_start = tf.concat([word_start[1:], [0]], 0)
    examined = ~next_same_row | (positions <= next_word_start)
    after_non_word = _is_any(tf.gather(next_cp, positions), t["non_word"])
    next_token_start = tf.where(after_non_word, positions + 1, tf.gather(first_non_space, positions + 1))
    next_token_end = tf.minimum(tf.gather(first_space, next_token_start), cand_limit)
    context_end = tf.where(after_non_word, positions + 2, next_token_end)
    ex_positions = tf.boolean_mask(positions, examined)
    ranges = tf.ragged.range(tf.boolean_mask(word_start, examined), tf.boolean_mask(context_end, examined))
    contexts = tf.gather(flat, ranges)
    is_break = _contains_sentbreak(contexts)
    break_pos = tf.boolean_mask(ex_positions, is_break)
    break_row = tf.gather(rows, break_pos)
    sentence_start = tf.boolean_mask(tf.boolean_mask(next_token_start, examined), is_break)
    # Realignment: closing quotes/brackets followed by whitespace, "--" or the end go to the previous sentence.
    break_limit = tf.gather(limit, break_pos)
    closer_end = tf.minimum(tf.gather(first_non_closer, sentence_start), break_limit)
    dash_pair = dash & tf.equal(next_cp, ord("-"))
    then_space = (closer_end < break_limit) & tf.gather(with_end(space), closer_end)
    then_dashes = (closer_end < break_limit) & tf.gather(with_end(dash_pair), closer_end)
    realign = (closer_end > sentence_start) & (tf.equal(closer_end, break_limit) | then_space | then_dashes)
    after_realign = tf.where(then_space, tf.gather(first_non_space, closer_end), closer_end)
    cut_a = tf.where(realign, closer_end, break_pos + 1)
    cut_b = tf.where(realign, after_realign, sentence_start)
    # Characters in a cut are dropped; every other character belongs to sentence `row + #cuts before it`.
    cuts_before = tf.searchsorted(cut_b, index, side="right")
    last_cut = tf.searchsorted(cut_a, index, side="right") - 1
    in_cut = (last_cut >= 0) & (index < tf.gather(tf.concat([cut_b, [0]], 0), tf.maximum(last_cut, 0)))
    sentence_of = rows + cuts_before
    keep = ~in_cut
    num_texts = tf.shape(texts)[0]
    breaks_per_row = tf.math.bincount(break_row, minlength=num_texts, maxlength=num_texts, dtype=tf.int32)
    num_sentences = num_texts + tf.size(break_pos)
    chars = tf.RaggedTensor.from_value_rowids(
        tf.boolean_mask(flat, keep), tf.boolean_mask(sentence_of, keep), nrows=num_sentences
    )
    sentences = tf.strings.unicode_encode(chars, "UTF-8")
    return tf.RaggedTensor.from_row_lengths(sentences, tf.cast(breaks_per_row + 1, tf.int64))


# ==== Stage 3: Treebank rules (NLTKWordTokenizer.tokenize) ============================================


def _sub(strings, pattern, rewrite):
    return tf.strings.regex_replace(strings, pattern, rewrite)


def treebank_tokenize(sentences):
    """`NLTKWordTokenizer().tokenize` of each sentence: `tf.string` `[S]` → `RaggedTensor` `[S, (T)]`."""
    t = _tables()
    s, not_w, not_d = t["rx_s"], t["rx_not_w"], t["rx_not_d"]
    text = sentences
    # STARTING_QUOTES
    text = _sub(text, "([\\x{AB}\\x{201C}\\x{2018}\\x{201E}]|`+)", " \\1 ")
    text = _sub(text, '^"', "``")
    text = _sub(text, "(``)", " \\1 ")
    text = _sub(text, "([ (\\[{<])(\"|'{2})", "\\1 `` ")
    # (?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w) → "' ": mark every apostrophe that starts a word, unmark
    # the clitics, then insert the spaces.
    text = _sub(text, f"(^|{not_w})'({t['rx_w']}+)", f"\\1'{_APOSTROPHE_MARK}\\2")
    text = _sub(text, f"'{_APOSTROPHE_MARK}({t['clitics']})({not_w}|$)", "'\\1\\2")
    text = _sub(text, _APOSTROPHE_MARK, " ")
    # PUNCTUATION
    closers = "\\]\\)}>\"'\\x{BB}\\x{201D}\\x{2019}"
    text = _sub(text, f"([^.])(\\.)([{closers} ]*){s}*$", "\\1 \\2 \\3 ")
    text = _sub(text, f"([:,])({not_d})", " \\1 \\2")
    text = _sub(text, "([:,])$", " \\1 ")
    text = _sub(text, "\\.{2,}", " \\0 ")
    text = _sub(text, "[;@#$%&]", " \\0 ")
    text = _sub(text, "[\\x{2012}-\\x{2015}]", " \\0 ")
    text = _sub(text, f"([^.])(\\.)([\\]\\)}}>\"']*){s}*$", "\\1 \\2\\3 ")
    text = _sub(text, "[?!]", " \\0 ")
    text = _sub(text, "([^'])' ", "\\1 ' ")
    text = _sub(text, "[*]", " \\0 ")
    # PARENS_BRACKETS, DOUBLE_DASHES, padding
    text = _sub(text, "[\\]\\[(){}<>]", " \\0 ")
    text = _sub(text, "--", " -- ")
    text = tf.strings.join([" ", text, " "])
    # ENDING_QUOTES
    text = _sub(text, "([\\x{BB}\\x{201D}\\x{2019}])", " \\1 ")
    text = _sub(text, "''", " '' ")
    text = _sub(text, '"', " '' ")
    text = _sub(text, f"{s}+", " ")
    # Literal alternatives: RE2 would merge `'[sS]|'[mM]|...` into case-folded classes that also match "ſ".
    text = _sub(text, "([^' ])('s|'S|'m|'M|'d|'D|') ", "\\1 \\2 ")
    text = _sub(text, "([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", "\\1 \\2 ")
    # CONTRACTIONS2 / 3 (stdlib `re`, case-insensitive). RE2 cannot look ahead, so occurrences that fail the
    # trailing `\b` / `(?=\s)` are first protected by a placeholder inside the word, then the others are split.
    re_not_w, re_w, mark = t["re_not_w"], t["re_w"], _PROTECT_MARK
    for first, second in t["contractions2"]:
        text = _sub(text, f"(^|{re_not_w})({first})({second})({re_w})", f"\\1\\2{mark}\\3\\4")
        text = _sub(text, f"(^|{re_not_w})({first})({second})", "\\1 \\2 \\3 ")
        text = _sub(text, mark, "")
    first, second = t["wanna"]
    for _ in range(2):  # the protecting match consumes its right neighbour, which may start the next occurrence
        text = _sub(text, f"(^|{re_not_w})({first})({second})({t['re_not_s']}|$)", f"\\1\\2{mark}\\3\\4")
    text = _sub(text, f"(^|{re_not_w})({first})({second})", "\\1 \\2 \\3 ")
    text = _sub(text, mark, "")
    for first, second in t["contractions3"]:
        text = _sub(text, f" ({first})({second})({re_w})", f" \\1{mark}\\2\\3")
        text = _sub(text, f" ({first})({second})", " \\1 \\2 ")
        text = _sub(text, mark, "")
    # str.split()
    text = _sub(text, f"{t['isspace']}+", " ")
    return tf.strings.split(text)


def graph_tokenize(strings):
    """`common.data.tokenization.tokenize` for a batch of raw sentences, in TensorFlow ops.

    Args:
        strings: `tf.string` tensor `[N]` (raw queries, as written in the annotation files).

    Returns:
        `tf.RaggedTensor` `[N, (T)]` of `tf.string` tokens.

    Example:
    >>> graph_tokenize(tf.constant(["Person opens the door. Then he sits down."]))[0].numpy().tolist()
    [b'person', b'opens', b'the', b'door', b'.', b'then', b'he', b'sits', b'down', b'.']
    """
    strings = tf.convert_to_tensor(strings, tf.string)
    sentences = split_sentences(normalize(strings))
    tokens = treebank_tokenize(sentences.flat_values)
    return tf.RaggedTensor.from_row_splits(tokens, sentences.row_splits).merge_dims(1, 2)
