"""VSLNet Table 10: VSLNet-L with one clip length l vs the multi-scale model, TACoS, n = 600."""

from experiments.configs import base, runs
from experiments.configs.vslnet_table3 import DATASET_TITLES, FEATURE_NOTE, tacos_rows


def _rows(dataset):
    title = DATASET_TITLES[dataset]
    vslnet_row, pm_row, u_row = tacos_rows(dataset, 600)
    rows = [
        base.Row(
            vslnet_row[0],
            f"{title}: VSLNet",
            vslnet_row[2],
            base.paper_ref("vslnet", "table10", dataset=title, model="VSLNet"),
        )
    ]
    for length in runs.VSLNET_SCALES[600]:
        rows.append(
            base.Row(
                f"{dataset}_vslnet_l_l{length}",
                f"{title}: VSLNet-L, l={length} (K={600 // length})",
                runs.vslnet("vslnet_l", dataset, "tacos_i3d", 600, scales=(length,)),
                base.paper_ref("vslnet", "table10", dataset=title, model="VSLNet-L", scale_l=length),
            )
        )
    for name, label, run, strategy, model in (pm_row, u_row):
        rows.append(
            base.Row(
                name,
                f"{title}: {label.split(' ')[0]}, l={{100,120,150,200}}",
                run,
                base.paper_ref("vslnet", "table10", dataset=title, model=model),
                strategy=strategy,
            )
        )
    return rows


TABLE = base.Table(
    id="vslnet_table10",
    title="Single vs multi-scale VSLNet-L, TACoS, n = 600",
    paper="vslnet",
    source="Table 10",
    kind="overall",
    rows=tuple(_rows("tacos_org") + _rows("tacos_tan")),
    notes=FEATURE_NOTE + "; the VSLNet and multi-scale rows are Table 3's n = 600 runs",
)
