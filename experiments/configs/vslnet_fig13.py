"""VSLNet Fig. 13: the highlight extension ratio α, VSLNet on Charades-STA (I3D not fine-tuned, n = 128).

The figure is not printed as numbers; α = 0.1 is the papers' setting, i.e. Table 2's VSLNet run and its numbers.
"""

from experiments.configs import base, runs

ALPHAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)

TABLE = base.Table(
    id="vslnet_fig13",
    title="VSLNet vs the highlight extension ratio α, Charades-STA",
    paper="vslnet",
    source="Fig. 13",
    kind="sweep",
    x_label="extension ratio α",
    rows=tuple(
        base.Row(
            f"alpha_{alpha:g}",
            f"VSLNet (α={alpha:g})",
            runs.vslnet("vslnet", "charades", "charades_i3d", 128, extend=alpha),
            base.paper_ref("vslnet", "table2", model="VSLNet", setting="3d_convnet_without_finetuning")
            if alpha == 0.1
            else None,
            x=alpha,
            group="Charades-STA",
        )
        for alpha in ALPHAS
    ),
    notes="the paper draws this as a figure without printed numbers (best α in [0.05, 0.2]); our grid is "
    f"α ∈ {{{', '.join(f'{a:g}' for a in ALPHAS)}}}",
)
