"""VSLNet Table 4: ActivityNet Captions (test = val_1); * rows use n = 128 as the ACL paper, the others n = 300."""

from experiments.configs import base, runs

VSLNET_L_ANET = runs.vslnet("vslnet_l", "activitynet", "activitynet_i3d", 300)
VSLNET_ANET_300 = runs.vslnet("vslnet", "activitynet", "activitynet_i3d", 300)

TABLE = base.Table(
    id="vslnet_table4",
    title="ActivityNet Captions (test = val_1)",
    paper="vslnet",
    source="Table 4",
    kind="overall",
    rows=(
        base.Row(
            "vslbase_n128",
            "VSLBase* (n=128)",
            runs.vslnet("vslbase", "activitynet", "activitynet_i3d", 128),
            base.paper_ref("vslnet", "table4", model="VSLBase*"),
        ),
        base.Row(
            "vslnet_n128",
            "VSLNet* (n=128)",
            runs.vslnet("vslnet", "activitynet", "activitynet_i3d", 128),
            base.paper_ref("vslnet", "table4", model="VSLNet*"),
        ),
        base.Row("vslnet_n300", "VSLNet (n=300)", VSLNET_ANET_300, base.paper_ref("vslnet", "table4", model="VSLNet")),
        base.Row(
            "vslnet_l_pm_n300",
            "VSLNet-L-Pm (n=300)",
            VSLNET_L_ANET,
            base.paper_ref("vslnet", "table4", model="VSLNet-L-Pm"),
            strategy="pm",
        ),
        base.Row(
            "vslnet_l_u_n300",
            "VSLNet-L-U (n=300)",
            VSLNET_L_ANET,
            base.paper_ref("vslnet", "table4", model="VSLNet-L-U"),
            strategy="u",
        ),
    ),
)
