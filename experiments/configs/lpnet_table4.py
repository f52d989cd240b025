"""LPNet Table 4: ablation of the proposal self-attention (MHSA) and the boundary-aware loss (BAL), Charades-STA."""

from experiments.configs import base, runs


def _row(mhsa, bal):
    words = ("w/" if mhsa else "w/o") + " MHSA, " + ("w/" if bal else "w/o") + " BAL"
    run = runs.LPNET_CHARADES_I3D if mhsa and bal else runs.lpnet("charades", "charades_i3d", mhsa=mhsa, bal=bal)
    return base.Row(
        ("mhsa" if mhsa else "nomhsa") + "_" + ("bal" if bal else "nobal"),
        f"LPNet {words}",
        run,
        base.paper_ref("lpnet", "table4", mhsa=mhsa, bal=bal),
    )


TABLE = base.Table(
    id="lpnet_table4",
    title="MHSA / BAL ablation, Charades-STA (I3D)",
    paper="lpnet",
    source="Table 4",
    kind="overall",
    rows=tuple(_row(mhsa, bal) for mhsa, bal in ((False, False), (True, False), (False, True), (True, True))),
    notes="'w/o BAL' removes the boundary predictor with its KL loss and the code's highlighting branch",
)
