"""VSLNet Table 2: Charades-STA, I3D features without and with fine-tuning on Charades (n = 128)."""

from experiments.configs import base, runs

_SETTINGS = {
    "i3d": ("3d_convnet_without_finetuning", "not fine-tuned"),
    "i3d_finetuned": ("3d_convnet_finetuned_on_charades", "fine-tuned on Charades"),
}
_RUNS = {
    ("VSLBase", "i3d"): runs.VSLBASE_CHARADES_I3D,
    ("VSLNet", "i3d"): runs.VSLNET_CHARADES_I3D,
    ("VSLBase", "i3d_finetuned"): runs.VSLBASE_CHARADES_I3D_FT,
    ("VSLNet", "i3d_finetuned"): runs.VSLNET_CHARADES_I3D_FT,
}

TABLE = base.Table(
    id="vslnet_table2",
    title="Charades-STA (n = 128), I3D not fine-tuned / fine-tuned on Charades",
    paper="vslnet",
    source="Table 2",
    kind="overall",
    rows=tuple(
        base.Row(
            f"{model.lower()}_{features}",
            f"{model} (I3D {_SETTINGS[features][1]})",
            run,
            base.paper_ref("vslnet", "table2", model=model, setting=_SETTINGS[features][0]),
        )
        for (model, features), run in _RUNS.items()
    ),
)
