"""LPNet Table 2: ActivityNet Captions with C3D features (LPNet and the VSLNet row it compares with)."""

from experiments.configs import base, runs

TABLE = base.Table(
    id="lpnet_table2",
    title="ActivityNet Captions, C3D features",
    paper="lpnet",
    source="Table 2",
    kind="overall",
    rows=(
        base.Row(
            "lpnet",
            "LPNet",
            runs.lpnet("activitynet", "activitynet_c3d", notes=runs.ANET_VAL2_NOTE),
            base.paper_ref("lpnet", "table2", method="LPNet"),
        ),
        base.Row(
            "vslnet",
            "VSLNet",
            runs.vslnet("vslnet", "activitynet", "activitynet_c3d", 128),
            base.paper_ref("lpnet", "table2", method="VSLNet"),
            notes="the LPNet paper does not say how it obtained VSLNet's row; we run VSLNet's own ActivityNet "
            "script (n = 128, char_dim 100, test = val_1) on the C3D features",
        ),
    ),
)
