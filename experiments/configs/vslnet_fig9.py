"""VSLNet Fig. 9: VSLNet's accuracy against the maximal number of clips n, on TACoS_tan and ActivityNet Captions.

The figure is not printed as numbers; its points at the n of Tables 3 and 4 are those tables' runs and carry their
published numbers, the others have none.
"""

from experiments.configs import base, runs

_PAPER = {
    ("tacos_tan", 300): base.paper_ref("vslnet", "table3", dataset="TACoS_tan", model="VSLNet", n=300),
    ("tacos_tan", 600): base.paper_ref("vslnet", "table3", dataset="TACoS_tan", model="VSLNet", n=600),
    ("activitynet", 128): base.paper_ref("vslnet", "table4", model="VSLNet*"),
    ("activitynet", 300): base.paper_ref("vslnet", "table4", model="VSLNet"),
}
_DATASETS = (("tacos_tan", "tacos_i3d", "TACoS_tan"), ("activitynet", "activitynet_i3d", "ActivityNet Captions"))

TABLE = base.Table(
    id="vslnet_fig9",
    title="VSLNet vs the maximal number of clips n",
    paper="vslnet",
    source="Fig. 9",
    kind="sweep",
    x_label="maximal number of clips n",
    rows=tuple(
        base.Row(
            f"{dataset}_n{n}",
            f"{title}: VSLNet (n={n})",
            runs.vslnet("vslnet", dataset, features, n),
            _PAPER.get((dataset, n)),
            x=n,
            group=title,
        )
        for dataset, features, title in _DATASETS
        for n in (128, 300, 600)
    ),
    notes="the paper draws this as a figure without printed numbers; the grid n = 128, 300, 600 is the n of the "
    "paper's tables",
)
