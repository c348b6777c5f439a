"""Runs from an earlier report, reused as rows of a new one (``nnssl_benchmark --import-report``).

A new init is usually compared with baselines that already finished in an earlier call (another
machine, a deleted runs folder). Those rows are only comparable when they were trained on the same
target, configuration and schedule and, fold by fold, on exactly the same labelled cases; anything
else raises, so a paired difference never mixes two splits.
"""

import os

from nnssl.benchmark.curves import read_curves
from nnssl.benchmark.report import read_csv
from nnssl.io import load_json


def _key(fold: int, fraction: float) -> tuple[int, float]:
    return int(fold), round(float(fraction), 6)


def parse_import(spec: str) -> tuple[str, tuple[str, ...] | None]:
    """``DIR`` (every init of that report) or ``DIR:INIT[,INIT...]`` (only those inits) -> (DIR, inits or None)."""
    folder, sep, names = spec.rpartition(":")
    if not sep or not names or "/" in names:
        return spec, None
    return folder, tuple(n for n in names.split(",") if n)


def run_key(row: dict) -> tuple[str, int, float]:
    """(init, fold, fraction) of a result or not-run row: one fine-tuning run."""
    return (row["init"], *_key(row["fold"], row["fraction"]))


def import_report(report_dir: str, entries: list[dict], target: str, configuration: str, schedule,
                  own_rows: list[dict], inits: tuple[str, ...] | None = None) -> tuple[list[dict], list[dict], dict]:
    """Result rows and curve rows of an earlier report that fall inside this grid, and a record of the import.

    Args:
        report_dir: an earlier ``nnssl_benchmark --out`` folder (benchmark.json, results.csv,
            label_fraction_splits.json; curves.csv where it exists).
        entries: this call's label-fraction entries (``fold``, ``fraction``, ``train``).
        target, configuration, schedule: this call's; the earlier report must match them.
        own_rows: the result rows this call already has (its own runs and earlier imports). A run of the
            report that is among them with the same Dice is the same run imported twice (one report imported
            the other) and is left out; with another Dice it is a second run of that init and fold, which
            raises. Other runs of an init this call trains (folds finished on another machine) are imported.

    Returns:
        (rows, curves, record): rows of (fold, fraction) pairs in this grid only; record names the folder,
        its command and the imported inits, for benchmark.json.

    Raises:
        ValueError: a missing file, another target/configuration/schedule, a second run of one this call has, or
            a fold whose labelled cases differ from this call's.
    """
    files = {n: os.path.join(report_dir, n) for n in ("benchmark.json", "results.csv", "label_fraction_splits.json")}
    meta = _check_same_grid(report_dir, files, entries, target, configuration, schedule)
    our_train = {_key(e["fold"], e["fraction"]) for e in entries}

    def inside(r):
        return _key(r["fold"], r["fraction"]) in our_train and (inits is None or r["init"] in inits)

    own = {run_key(r): r["dice"] for r in own_rows if r["label"] == "mean"}
    rows = [r for r in read_csv(files["results.csv"]) if inside(r)]
    means = {run_key(r): r["dice"] for r in rows if r["label"] == "mean"}
    clash = sorted(f"{k[0]} fold {k[1]}" for k, d in means.items() if k in own and abs(own[k] - d) > 1e-9)
    if clash:
        raise ValueError(f"--import-report {report_dir}: holds {', '.join(clash)}, which this call has too; "
                         "leave it out of this call (e.g. --scratch with no names) or rename the new init")
    rows = [r for r in rows if run_key(r) not in own]
    curves_csv = os.path.join(report_dir, "curves.csv")
    curves = ([r for r in read_curves(curves_csv) if inside(r) and run_key(r) not in own]
              if os.path.isfile(curves_csv) else [])
    record = {"report": os.path.abspath(report_dir), "command": meta.get("command"),
              "inits": sorted({r["init"] for r in rows}),
              "runs": sorted(f"{r['init']} fold {r['fold']} {r['fraction']:g} %" for r in rows if r["label"] == "mean")}
    return rows, curves, record


def _check_same_grid(report_dir: str, files: dict, entries: list[dict], target: str, configuration: str,
                     schedule) -> dict:
    """The earlier report's benchmark.json, refused (ValueError) unless it has every file and the same target,
    configuration, schedule and labelled cases per fold as this call."""
    files = {n: os.path.join(report_dir, n) for n in ("benchmark.json", "results.csv", "label_fraction_splits.json")}
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        raise ValueError(f"--import-report {report_dir}: missing {', '.join(missing)} (not an nnssl_benchmark --out "
                         "folder?)")
    meta = load_json(files["benchmark.json"])
    theirs = {"target": meta.get("target"), "configuration": meta.get("configuration"),
              "schedule": list(meta["schedule"]) if meta.get("schedule") else None}
    ours = {"target": target, "configuration": configuration, "schedule": list(schedule) if schedule else None}
    for k in ours:
        if theirs[k] != ours[k]:
            raise ValueError(f"--import-report {report_dir}: its {k} is {theirs[k]}, this call's is {ours[k]}; "
                             f"import only a report of the same target, configuration and schedule")
    our_train = {_key(e["fold"], e["fraction"]): sorted(e["train"]) for e in entries}
    their_train = {_key(e["fold"], e["fraction"]): sorted(e["train"])
                   for e in load_json(files["label_fraction_splits.json"])}
    for key in sorted(set(our_train) & set(their_train)):
        if our_train[key] != their_train[key]:
            raise ValueError(f"--import-report {report_dir}: fold {key[0]} at {key[1]:g} % trained on "
                             f"{their_train[key]}, this call's split has {our_train[key]}; the --seed or the "
                             "target's cases differ, so the runs are not paired")
    return meta
