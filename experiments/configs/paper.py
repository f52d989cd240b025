"""The published numbers, packaged as data: `experiments/paper_tables/{lpnet,vslnet}.json`.

They are verbatim copies of the result tables transcribed from the LPNet (EMNLP 2021) and VSLNet (TPAMI 2021)
papers, every method's rows included; each file's `note`/`caption` fields record transcription choices.
"""

import functools
import json
import os

PAPERS = ("lpnet", "vslnet")
PAPER_TITLES = {"lpnet": "LPNet (Xiao et al., EMNLP 2021)", "vslnet": "VSLNet / VSLNet-L (Zhang et al., TPAMI 2021)"}
_FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "paper_tables")


@functools.cache
def tables(paper):
    """`{table key: {"caption", "rows", ...}}` of `paper`."""
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; expected one of {PAPERS}")
    with open(os.path.join(_FOLDER, f"{paper}.json")) as f:
        return json.load(f)


def matching_rows(ref):
    """The published rows whose fields equal every value of `ref.match`."""
    rows = tables(ref.paper)[ref.table]["rows"]
    return [row for row in rows if all(row.get(key) == value for key, value in ref.match)]


def find_row(ref):
    """The one published row `ref` names; `LookupError` when none or several match."""
    found = matching_rows(ref)
    if len(found) != 1:
        raise LookupError(f"{ref.paper} {ref.table} {ref.match_dict} matches {len(found)} published rows, not 1")
    return found[0]


def caption(paper, table):
    return tables(paper)[table]["caption"]
