"""One module per reproduced table or figure, each defining `TABLE` (`experiments.configs.base.Table`).

| id | source | rows |
|---|---|---|
| `lpnet_table1` ... `lpnet_table4` | LPNet Tables 1–4 | LPNet (and the VSLNet rows of Tables 1–2) |
| `vslnet_table2`, `_table3`, `_table4` | VSLNet Tables 2–4 | VSLBase, VSLNet, VSLNet-L |
| `vslnet_table6`, `_table7` | VSLNet Tables 6–7 | mIoU per video length |
| `vslnet_table8` | VSLNet Table 8 (and the derived Table 9) | VSLBase module ablation |
| `vslnet_table10` | VSLNet Table 10 | single vs multi-scale VSLNet-L |
| `vslnet_fig9`, `vslnet_fig13` | VSLNet Figs. 9 and 13 | n and α sweeps |

VSLNet Table 1 (dataset statistics) is `experiments.data_stats`; Table 5 (bucket statistics) has no model rows.
"""

from experiments.configs import (
    lpnet_table1,
    lpnet_table2,
    lpnet_table3,
    lpnet_table4,
    vslnet_fig9,
    vslnet_fig13,
    vslnet_table2,
    vslnet_table3,
    vslnet_table4,
    vslnet_table6,
    vslnet_table7,
    vslnet_table8,
    vslnet_table10,
)

TABLES = {
    module.TABLE.id: module.TABLE
    for module in (
        lpnet_table1,
        lpnet_table2,
        lpnet_table3,
        lpnet_table4,
        vslnet_table2,
        vslnet_table3,
        vslnet_table4,
        vslnet_table6,
        vslnet_table7,
        vslnet_table8,
        vslnet_table10,
        vslnet_fig9,
        vslnet_fig13,
    )
}


def get_table(table_id):
    if table_id not in TABLES:
        raise KeyError(f"unknown table {table_id!r}; the tables are {', '.join(TABLES)}")
    return TABLES[table_id]


def all_runs():
    """Every distinct run of every table, by name."""
    return {run.name: run for table in TABLES.values() for run in table.runs()}
