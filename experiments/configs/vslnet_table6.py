"""VSLNet Table 6: mIoU per video length on TACoS, VSLNet vs VSLNet-L (the runs of Table 3)."""

from common.evaluation import metrics
from experiments.configs import base
from experiments.configs.vslnet_table3 import DATASET_TITLES, FEATURE_NOTE, tacos_rows

TABLE = base.Table(
    id="vslnet_table6",
    title="mIoU per video length, TACoS_org and TACoS_tan, n = 300 and 600",
    paper="vslnet",
    source="Table 6",
    kind="by_length",
    buckets="table6",
    rows=tuple(
        base.Row(
            f"{name}_{bucket.label}",
            f"{DATASET_TITLES[dataset]}: {label}",
            run,
            base.paper_ref(
                "vslnet", "table6", dataset=DATASET_TITLES[dataset], model=model, n=n, video_length=bucket.label
            ),
            strategy=strategy,
            bucket=bucket.label,
            group=f"{DATASET_TITLES[dataset]}, n={n}",
        )
        for dataset in ("tacos_org", "tacos_tan")
        for n in (300, 600)
        for name, label, run, strategy, model in tacos_rows(dataset, n)
        for bucket in metrics.LENGTH_BUCKETS["table6"]
    ),
    notes=FEATURE_NOTE,
)
