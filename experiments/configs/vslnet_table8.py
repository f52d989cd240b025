"""VSLNet Table 8: VSLBase with a BiLSTM or CMF encoder and CAT or CQA interaction, Charades-STA.

The CMF + CQA row is VSLBase of Table 2 with Charades-fine-tuned features, so the other rows use those features.
Table 9 (extra) is derived from these rows: the R@1 IoU=0.7 gains of CQA over CAT and of CMF over BiLSTM.
"""

from experiments.configs import base, runs

_MODULES = (("bilstm", "cat"), ("cmf", "cat"), ("bilstm", "cqa"), ("cmf", "cqa"))


def table9(records):
    """VSLNet Table 9 from this table's row records: R@1 IoU=0.7 per module pair and the gains, paper / ours."""

    def value(name, source):
        cell = records[name]["paper" if source == "paper" else "ours"]["r1_iou07"]
        return cell["mean"] if isinstance(cell, dict) else cell

    def cell(first, second=None):
        texts = []
        for source in ("paper", "ours"):
            a, b = value(first, source), value(second, source) if second else 0.0
            texts.append("—" if a is None or b is None else f"{(b - a) if second else a:.2f}")
        return " / ".join(texts)

    lines = [
        [title, cell(f"{encoder}_cat"), cell(f"{encoder}_cqa"), cell(f"{encoder}_cat", f"{encoder}_cqa")]
        for encoder, title in (("bilstm", "BiLSTM"), ("cmf", "CMF"))
    ]
    lines.append(["Δ (CMF − BiLSTM)", cell("bilstm_cat", "cmf_cat"), cell("bilstm_cqa", "cmf_cqa"), ""])
    return {
        "title": "Table 9 (derived): R@1 IoU=0.7 gains of the modules, paper / ours",
        "header": ["encoder", "CAT", "CQA", "Δ (CQA − CAT)"],
        "lines": lines,
    }


TABLE = base.Table(
    id="vslnet_table8",
    title="VSLBase encoder / interaction ablation, Charades-STA (I3D fine-tuned, n = 128)",
    paper="vslnet",
    source="Table 8",
    kind="overall",
    rows=tuple(
        base.Row(
            f"{encoder}_{interaction}",
            f"VSLBase, {encoder.upper() if encoder == 'cmf' else 'BiLSTM'} + {interaction.upper()}",
            runs.vslnet("vslbase", "charades", "charades_i3d_finetuned", 128, encoder=encoder, interaction=interaction),
            base.paper_ref(
                "vslnet", "table8", encoder="BiLSTM" if encoder == "bilstm" else "CMF", interaction=interaction.upper()
            ),
        )
        for encoder, interaction in _MODULES
    ),
    derive=table9,
)
