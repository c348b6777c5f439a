"""Low-label benchmark: split logic, report writer, and a tiny end-to-end run."""

import itertools
import os

import pytest

from nnssl.benchmark.report import markdown_table, plot_dice_vs_fraction, read_csv, summarise, write_csv
from nnssl.benchmark.splits import label_fraction_splits, register_splits
from nnssl.io import load_json

SPLITS = [{"train": [f"c{i:02d}" for i in range(40) if i % 5 != f],
           "val": [f"c{i:02d}" for i in range(40) if i % 5 == f]} for f in range(5)]


def test_fractions_are_nested_seeded_and_keep_validation():
    entries = label_fraction_splits(SPLITS, [0, 1], [5, 15, 50, 100], seed=3)
    again = label_fraction_splits(SPLITS, [0, 1], [100, 50, 15, 5], seed=3)
    assert entries == again  # deterministic and order-independent
    for fold in (0, 1):
        mine = [e for e in entries if e["fold"] == fold]
        sizes = [len(e["train"]) for e in mine]
        assert sizes == [2, 5, 16, 32]  # ceil(p * 32)
        for small, big in itertools.pairwise(mine):
            assert set(small["train"]) < set(big["train"])
        assert all(e["val"] == SPLITS[fold]["val"] for e in mine)
        assert all(set(e["train"]).isdisjoint(e["val"]) for e in mine)
        assert set(mine[-1]["train"]) == set(SPLITS[fold]["train"])
    other = label_fraction_splits(SPLITS, [0], [15], seed=4)
    assert other[0]["train"] != entries[1]["train"]
    with pytest.raises(ValueError, match="percentages"):
        label_fraction_splits(SPLITS, [0], [0])
    with pytest.raises(ValueError, match="folds"):
        label_fraction_splits(SPLITS, [7], [5])


def test_register_appends_after_the_five_folds_and_reuses(tmp_path):
    import json

    (tmp_path / "splits_final.json").write_text(json.dumps(SPLITS))
    entries = label_fraction_splits(SPLITS, [0], [5, 100])
    ids = register_splits(str(tmp_path), "unused", entries)
    assert ids == [5, 6]
    saved = load_json(str(tmp_path / "splits_final.json"))
    assert saved[:5] == SPLITS and sorted(saved[5]["train"]) == sorted(entries[0]["train"])
    assert register_splits(str(tmp_path), "unused", entries) == [5, 6]
    assert len(load_json(str(tmp_path / "splits_final.json"))) == 7


def synthetic_rows():
    rows = []
    for init, gain in (("scratch", 0.0), ("mixcl", 0.05)):
        for fraction in (5, 15, 100):
            for fold in (0, 1):
                dice = 0.5 + fraction / 400 + gain + 0.01 * fold
                rows.append({"init": init, "fraction": float(fraction), "fold": fold, "n_train": fraction,
                             "label": "mean", "dice": dice})
    return rows


def test_report_table_and_plot(tmp_path):
    rows = synthetic_rows()
    write_csv(rows, str(tmp_path / "r.csv"))
    assert read_csv(str(tmp_path / "r.csv")) == rows
    s = summarise(rows)
    assert s["mixcl"][5.0][0] == pytest.approx(0.5 + 5 / 400 + 0.05 + 0.005)
    assert s["scratch"][100.0][1] == pytest.approx(0.005)
    table = markdown_table(rows, ["mean"])
    data_rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| init")]
    assert data_rows[0].startswith("| scratch |")  # scratch first
    assert "(Δ +0.050)" in table and sum(row.count("±") for row in data_rows) == 6
    plot_dice_vs_fraction(rows, str(tmp_path / "p.png"))
    assert os.path.getsize(tmp_path / "p.png") > 5000


@pytest.mark.slow
def test_benchmark_command_end_to_end(pool_env, tmp_path):
    from nnssl.cli import benchmark, pretrain

    assert pretrain.main(["-d", "101", "102", "103", "-m", "regression", "-t", "200", "--device", "cpu",
                          "--epochs", "1", "--iterations", "1", "--val-iterations", "1", "--run-name", "reg_tiny"]) == 0
    out = tmp_path / "bench"
    argv = ["-t", "200", "-c", "3d_fullres", "--init", "reg_tiny", "--fractions", "50", "100", "--folds", "0",
            "--schedule", "1", "2", "1", "--device", "cpu", "--out", str(out)]
    assert benchmark.main(argv) == 0
    rows = read_csv(str(out / "results.csv"))
    expected = {(i, f) for i in ("scratch", "reg_tiny") for f in (50.0, 100.0)}
    assert {(r["init"], r["fraction"]) for r in rows} == expected
    assert {r["label"] for r in rows} == {"mean", "1", "2"}
    assert all(0 <= r["dice"] <= 1 or r["dice"] != r["dice"] for r in rows)
    for f in ("table.md", "dice_vs_fraction.png", "benchmark.json", "label_fraction_splits.json"):
        assert (out / f).is_file(), f
    splits = load_json(str(out / "label_fraction_splits.json"))
    assert splits[0]["val"] == splits[1]["val"] and set(splits[0]["train"]) <= set(splits[1]["train"])
    logs = (out / "runs" / "reg_tiny" / f"fold_{splits[0]['nnunet_fold']}.log").read_text()
    assert "nnssl: loaded" in logs and "nnssl: schedule 1 epochs x 2 iterations" in logs
    # resumes: a second call trains nothing and reproduces the table
    table = (out / "table.md").read_text()
    assert benchmark.main(argv) == 0
    assert (out / "table.md").read_text() == table
