"""Reusing an earlier report's runs: only rows of the same grid, never across different splits or schedules."""

import pytest

from nnssl.benchmark.curves import read_curves, write_curves
from nnssl.benchmark.imported import import_report, run_key
from nnssl.benchmark.report import paired_differences, write_csv
from nnssl.benchmark.splits import label_fraction_splits
from nnssl.io import atomic_save_json

SPLITS = [{"train": [f"c{i:02d}" for i in range(40) if i % 5 != f],
           "val": [f"c{i:02d}" for i in range(40) if i % 5 == f]} for f in range(5)]
META = {"target": "Dataset602_Hippocampus", "configuration": "2d", "schedule": [30, 50, 5],
        "command": "nnssl_benchmark x"}


def earlier_report(path, entries, init="scratch", meta=META):
    """An --out folder as nnssl_benchmark writes it: one 'mean' row and two epochs per entry."""
    path.mkdir()
    atomic_save_json(meta, str(path / "benchmark.json"))
    atomic_save_json(entries, str(path / "label_fraction_splits.json"))
    rows = [{"init": init, "fraction": e["fraction"], "fold": e["fold"], "n_train": len(e["train"]), "label": "mean",
             "dice": 0.5 + 0.01 * e["fold"]} for e in entries]
    write_csv(rows, str(path / "results.csv"))
    write_curves([{"init": init, "fraction": e["fraction"], "fold": e["fold"], "epoch": k, "pseudo_dice": 0.1 * k,
                   "ema_pseudo_dice": 0.0, "train_loss": 1.0, "val_loss": 1.0} for e in entries for k in (0, 1)],
                 str(path / "curves.csv"))
    return rows


def test_rows_inside_the_grid_are_imported_and_pair_with_new_runs(tmp_path):
    old = label_fraction_splits(SPLITS, [0, 1, 2], [], seed=0, cases=[1, 2])
    written = earlier_report(tmp_path / "old", old)
    grid = label_fraction_splits(SPLITS, [0, 1], [], seed=0, cases=[1])  # a subset of the old grid
    rows, curves, record = import_report(str(tmp_path / "old"), grid, META["target"], "2d", (30, 50, 5), [])
    keys = {(e["fold"], e["fraction"]) for e in grid}
    assert rows == [r for r in written if (r["fold"], r["fraction"]) in keys] and len(rows) == 2
    assert {(r["fold"], r["fraction"]) for r in curves} == keys and len(curves) == 4
    assert record["inits"] == ["scratch"] and record["command"] == META["command"]
    new = [{**r, "init": "mixcl", "dice": r["dice"] + 0.02} for r in rows]
    assert paired_differences(rows + new, "mixcl", grid[0]["fraction"]) == pytest.approx([0.02, 0.02])


def test_curves_round_trip(tmp_path):
    rows = [{"init": "a", "fraction": 1.25, "fold": 3, "epoch": 7, "pseudo_dice": 0.5, "ema_pseudo_dice": 0.25,
             "train_loss": -0.5, "val_loss": -0.25}]
    write_curves(rows, str(tmp_path / "c.csv"))
    assert read_curves(str(tmp_path / "c.csv")) == rows


@pytest.mark.parametrize(("field", "value"), [("schedule", [12, 50, 5]), ("configuration", "3d_fullres"),
                                          ("target", "Dataset603_ACDC")])
def test_another_target_configuration_or_schedule_is_refused(tmp_path, field, value):
    grid = label_fraction_splits(SPLITS, [0], [], seed=0, cases=[1])
    earlier_report(tmp_path / "old", grid, meta={**META, field: value})
    with pytest.raises(ValueError, match=f"its {field} is"):
        import_report(str(tmp_path / "old"), grid, META["target"], "2d", (30, 50, 5), [])


def test_other_labelled_cases_are_refused(tmp_path):
    earlier_report(tmp_path / "old", label_fraction_splits(SPLITS, [0], [], seed=1, cases=[1]))
    grid = label_fraction_splits(SPLITS, [0], [], seed=0, cases=[1])
    assert grid[0]["train"] != label_fraction_splits(SPLITS, [0], [], seed=1, cases=[1])[0]["train"]
    with pytest.raises(ValueError, match="not paired"):
        import_report(str(tmp_path / "old"), grid, META["target"], "2d", (30, 50, 5), [])


def test_a_run_in_both_or_a_missing_file_is_refused(tmp_path):
    grid = label_fraction_splits(SPLITS, [0], [], seed=0, cases=[1])
    earlier_report(tmp_path / "old", grid)
    own = [{"init": i, "fraction": grid[0]["fraction"], "fold": 0, "label": "mean", "dice": 0.9}
           for i in ("scratch", "mixcl")]
    with pytest.raises(ValueError, match="scratch fold 0, which this call has too"):
        import_report(str(tmp_path / "old"), grid, META["target"], "2d", (30, 50, 5), own)
    (tmp_path / "old" / "results.csv").unlink()
    with pytest.raises(ValueError, match=r"missing .*results\.csv"):
        import_report(str(tmp_path / "old"), grid, META["target"], "2d", (30, 50, 5), [])


def test_folds_an_init_has_not_run_here_are_filled_from_the_report(tmp_path):
    """Resuming on another machine: folds 0-1 of scratch finished earlier, this call ran fold 2 only."""
    grid = label_fraction_splits(SPLITS, [0, 1, 2], [], seed=0, cases=[1])
    written = earlier_report(tmp_path / "old", grid[:2])
    own = [{"init": "scratch", "fraction": grid[2]["fraction"], "fold": 2, "label": "mean", "dice": 0.9}]
    rows, curves, record = import_report(str(tmp_path / "old"), grid, META["target"], "2d", (30, 50, 5), own)
    assert rows == written and {run_key(r) for r in rows}.isdisjoint(map(run_key, own))
    assert {r["fold"] for r in curves} == {0, 1}
    assert record["runs"] == [f"scratch fold {f} {grid[0]['fraction']:g} %" for f in (0, 1)]
    # a report that imported the first one holds the same runs: imported a second time they count once
    again, again_curves, _ = import_report(str(tmp_path / "old"), grid, META["target"], "2d", (30, 50, 5), own + rows)
    assert again == [] and again_curves == []


def test_only_the_named_inits_of_a_report_are_imported(tmp_path):
    """``DIR:scratch`` takes a report's scratch rows as the baseline without its other inits."""
    from nnssl.benchmark.imported import parse_import

    grid = label_fraction_splits(SPLITS, [0, 1], [], seed=0, cases=[1])
    earlier_report(tmp_path / "old", grid)
    both = earlier_report(tmp_path / "old2", grid, init="other")
    write_csv(both + [{**r, "init": "scratch"} for r in both], str(tmp_path / "old2" / "results.csv"))
    assert parse_import(f"{tmp_path}/old2:scratch") == (f"{tmp_path}/old2", ("scratch",))
    assert parse_import(f"{tmp_path}/old2") == (f"{tmp_path}/old2", None)
    rows, _, record = import_report(str(tmp_path / "old2"), grid, META["target"], "2d", (30, 50, 5), [],
                                    inits=("scratch",))
    assert {r["init"] for r in rows} == {"scratch"} and len(rows) == 2 and record["inits"] == ["scratch"]
    everything, _, _ = import_report(str(tmp_path / "old2"), grid, META["target"], "2d", (30, 50, 5), [])
    assert {r["init"] for r in everything} == {"scratch", "other"}
