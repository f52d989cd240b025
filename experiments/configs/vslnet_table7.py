"""VSLNet Table 7: mIoU per video length on ActivityNet Captions, n = 300 (the runs of Table 4)."""

from common.evaluation import metrics
from experiments.configs import base
from experiments.configs.vslnet_table4 import VSLNET_ANET_300, VSLNET_L_ANET

_MODELS = (
    ("vslnet", "VSLNet", VSLNET_ANET_300, None),
    ("vslnet_l_pm", "VSLNet-L-Pm", VSLNET_L_ANET, "pm"),
    ("vslnet_l_u", "VSLNet-L-U", VSLNET_L_ANET, "u"),
)

TABLE = base.Table(
    id="vslnet_table7",
    title="mIoU per video length, ActivityNet Captions, n = 300",
    paper="vslnet",
    source="Table 7",
    kind="by_length",
    buckets="table7",
    rows=tuple(
        base.Row(
            f"{name}_{bucket.label}",
            label,
            run,
            base.paper_ref("vslnet", "table7", model=label, video_length=bucket.label),
            strategy=strategy,
            bucket=bucket.label,
            group="ActivityNet Captions, n=300",
        )
        for name, label, run, strategy in _MODELS
        for bucket in metrics.LENGTH_BUCKETS["table7"]
    ),
)
