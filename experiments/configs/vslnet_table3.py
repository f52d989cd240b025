"""VSLNet Table 3: TACoS_org and TACoS_tan with n = 300 and 600; VSLNet-L's -Pm and -U rows share one training."""

from experiments.configs import base, runs

DATASET_TITLES = {"tacos_org": "TACoS_org", "tacos_tan": "TACoS_tan"}
FEATURE_NOTE = "I3D pre-trained on Kinetics, the TPAMI paper's features for every dataset (fidelity VSLNet §6 #20)"


def tacos_rows(dataset, n):
    """VSLNet, VSLNet-L-Pm and VSLNet-L-U on `dataset` with n clips: `(name, label, run, strategy, paper model)`."""
    multi = runs.vslnet("vslnet_l", dataset, "tacos_i3d", n)
    return (
        (f"{dataset}_vslnet_n{n}", f"VSLNet (n={n})", runs.vslnet("vslnet", dataset, "tacos_i3d", n), None, "VSLNet"),
        (f"{dataset}_vslnet_l_pm_n{n}", f"VSLNet-L-Pm (n={n})", multi, "pm", "VSLNet-L-Pm"),
        (f"{dataset}_vslnet_l_u_n{n}", f"VSLNet-L-U (n={n})", multi, "u", "VSLNet-L-U"),
    )


TABLE = base.Table(
    id="vslnet_table3",
    title="TACoS_org and TACoS_tan, n = 300 (S) and 600 (L)",
    paper="vslnet",
    source="Table 3",
    kind="overall",
    rows=tuple(
        base.Row(
            name,
            f"{DATASET_TITLES[dataset]}: {label}",
            run,
            base.paper_ref("vslnet", "table3", dataset=DATASET_TITLES[dataset], model=model, n=n),
            strategy=strategy,
        )
        for dataset in ("tacos_org", "tacos_tan")
        for n in (300, 600)
        for name, label, run, strategy, model in tacos_rows(dataset, n)
    ),
    notes=FEATURE_NOTE,
)
