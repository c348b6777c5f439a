"""The one-screen answer of the benchmark: per pool scenario, each init against scratch and the simple alternative.

``benchmarks/scenarios.toml`` names, per scenario, the committed reports (one per label count), the inits to show
and the simple alternative a user would otherwise pick; :func:`scenario_table` reads the reports' ``results.csv``
and writes the table (paired differences fold by fold, as the reports do). ``scripts/scenario_table.py`` puts it
into ``benchmarks/README.md`` between the ``<!-- scenarios:begin -->`` / ``end`` markers.
"""

import os

import numpy as np

from nnssl.benchmark.report import read_csv, sample_std

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def _dice(rows: list[dict]) -> dict[tuple[str, int], float]:
    return {(r["init"], r["fold"]): r["dice"] for r in rows if r["label"] == "mean"}


def paired(dice: dict, init: str, baseline: str) -> tuple[list[float], list[int]]:
    """Fold-by-fold ``init`` minus ``baseline`` and the folds they share."""
    folds = sorted(f for (i, f) in dice if i == init and (baseline, f) in dice)
    return [dice[(init, f)] - dice[(baseline, f)] for f in folds], folds


def _cell(diffs: list[float]) -> str:
    if not diffs:
        return "-"
    won = sum(d > 0 for d in diffs)
    return f"{np.mean(diffs):+.3f} ± {sample_std(diffs):.3f} ({won}/{len(diffs)})"


def scenario_rows(report: str, inits: list[str], alternative: str | None) -> list[dict]:
    """Per init of one report: mean Dice over its folds, Δ to scratch and to the alternative (paired)."""
    dice = _dice(read_csv(os.path.join(report, "results.csv")))
    out = []
    for init in inits:
        values = [d for (i, _), d in dice.items() if i == init]
        if not values:
            continue
        to_scratch, _ = paired(dice, init, "scratch")
        to_alt = paired(dice, init, alternative)[0] if alternative and alternative not in ("scratch", init) else []
        out.append({"init": init, "dice": float(np.mean(values)), "folds": len(values),
                    "vs_scratch": _cell(to_scratch) if init != "scratch" else "", "vs_alternative": _cell(to_alt)
                    if alternative and alternative not in ("scratch", init) else ""})
    return out


def scenario_table(spec_file: str, benchmarks: str) -> str:
    """The markdown table of every scenario in ``spec_file`` (reports resolved below ``benchmarks``)."""
    with open(spec_file, "rb") as f:
        spec = tomllib.load(f)
    lines = ["| scenario | init | cases | mean Dice (folds) | Δ vs scratch (folds won) | Δ vs the simple alternative |",
             "|---|---|---|---|---|---|"]
    for sc in spec["scenario"].values():
        alternative = sc.get("alternative")
        for cases, report in sc["reports"].items():
            path = os.path.join(benchmarks, report)
            if not os.path.isfile(os.path.join(path, "results.csv")):
                lines.append(f"| {sc['title']} | (not run yet: {report}) | {cases} | | | |")
                continue
            for row in scenario_rows(path, sc["inits"], alternative):
                name = f"**{row['init']}**" if row["init"] == alternative else f"`{row['init']}`"
                lines.append(f"| {sc['title']} | {name} | {cases} | {row['dice']:.3f} ({row['folds']}) | "
                             f"{row['vs_scratch']} | {row['vs_alternative']} |")
    return "\n".join(lines) + "\n"
