"""The scenario table: paired fold-by-fold differences to scratch and to the simple alternative."""

from nnssl.benchmark.report import write_csv
from nnssl.benchmark.summary import scenario_table


def test_scenario_table_pairs_folds_and_counts_wins(tmp_path):
    rows = []
    for fold, (scratch, alt, new) in enumerate([(0.60, 0.80, 0.70), (0.50, 0.70, 0.75), (0.40, 0.90, 0.45)]):
        for init, d in (("scratch", scratch), ("pool_direct_1", alt), ("new", new)):
            rows.append({"init": init, "fraction": 1.0, "fold": fold, "n_train": 1, "label": "mean", "dice": d})
    rows.append({"init": "new", "fraction": 1.0, "fold": 3, "n_train": 1, "label": "mean", "dice": 0.9})  # unpaired
    (tmp_path / "rep").mkdir()
    write_csv(rows, str(tmp_path / "rep" / "results.csv"))
    spec = tmp_path / "s.toml"
    spec.write_text('[scenario.a]\ntitle = "A"\nalternative = "pool_direct_1"\ninits = ["scratch", "pool_direct_1", '
                    '"new"]\nreports = { 1 = "rep", 2 = "missing" }\n')
    table = scenario_table(str(spec), str(tmp_path))
    line = next(t for t in table.splitlines() if "`new`" in t)
    # vs scratch: +0.10, +0.25, +0.05 -> +0.133 (3/3); vs the alternative: -0.10, +0.05, -0.45 -> -0.167 (1/3)
    assert "| 0.700 (4) | +0.133 ± 0.104 (3/3) | -0.167 ± 0.257 (1/3) |" in line
    assert "**pool_direct_1**" in table and "(not run yet: missing)" in table
