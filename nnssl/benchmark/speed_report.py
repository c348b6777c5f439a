"""The report of ``nnssl_benchmark speed``: its tables (step, scaling, label term) and which step-time targets hold."""

import os

from nnssl.benchmark.speed import StepResult

#: scale name -> (patch volume factor, batch factor)
SCALES = {"base": (1, 1), "batch x2": (1, 2), "patch x2": (2, 1)}
#: stock nnU-Net's step on 3 x the batch: what three views through the network cost, with nothing else
FLOOR_ROW = "supervised, 3 x batch"


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def tables(results: list[StepResult]) -> str:
    """Markdown: the step table, the scaling table, the label-term table and the targets."""
    base = [r for r in results if r.name.endswith("@base")]
    ref = next((r for r in base if r.name.startswith("supervised")), None)
    lines = ["| trainer | input (B, C, *patch) | step median (IQR) s | x supervised | losses s | label term s | "
             "sampling s | views s | overhead share | loader workers | produced / s | consumed / s | "
             "produced / consumed | peak memory MB |", "|" + "---|" * 14]
    for r in base:
        consumed = 1 / r.median_s
        ratio = r.median_s / ref.median_s if ref else None
        runs = (f"; runs {min(r.repeat_medians_s):.3f}-{max(r.repeat_medians_s):.3f}"
                if len(r.repeat_medians_s) > 1 else "")
        lines.append(
            f"| {r.name.removesuffix('@base')} | {tuple(r.input_shape)} | {r.median_s:.3f} ({r.iqr_s:.3f}{runs}) | "
            f"{_fmt(ratio)} | {_fmt(r.replay_s.get('loss'))} | {_fmt(r.replay_s.get('label'))} | "
            f"{_fmt(r.replay_s.get('sampling'))} | {_fmt(r.replay_s.get('views'))} | "
            f"{r.overhead_share:.1%} | {r.loader_workers} | {_fmt(r.produced_per_s)} | {consumed:.3g} | "
            f"{_fmt(r.produced_per_s / consumed if r.produced_per_s else None)} | {_fmt(r.peak_memory_mb, 4)} |")
    scales = sorted({r.name.split("@")[1] for r in results}, key=list(SCALES).index)
    rows = list(dict.fromkeys(r.name.split("@")[0] for r in results))  # in measurement order
    by = {r.name: r for r in results}
    lines += ["", "| trainer | " + " | ".join(f"{s}: step s (items, patch)" for s in scales) + " |",
              "|" + "---|" * (len(scales) + 1)]
    for row in rows:
        cells = []
        for s in scales:
            r = by.get(f"{row}@{s}")
            cells.append("-" if r is None else f"{r.median_s:.3f} ({r.input_shape[0]}, {'x'.join(map(str, r.patch))})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    label = [r for r in results if r.name.startswith("mixcl") and r.name.split("@")[1] in ("base", "patch x2")]
    if label:
        lines += ["", "| MixCL label term | patch | samples per pair | label term s (gather + loss) | "
                  "step s |", "|---|---|---|---|---|"]
        for r in label:
            lines.append(f"| {r.name.replace('@', ' @ ')} | {'x'.join(map(str, r.patch))} | "
                         f"{_fmt(r.label_samples_per_pair)} | {_fmt(r.replay_s.get('label'))} | {r.median_s:.3f} |")
    return "\n".join(lines)


def targets(results: list[StepResult]) -> list[tuple[str, bool | None, str]]:
    """The step-time targets of documentation/benchmarks.md: (target, met (None: not measured), the numbers)."""
    by = {r.name: r for r in results}
    ref = by.get("supervised@base")
    out = []

    def ratio(name):
        r = by.get(f"{name}@base")
        return None if r is None or ref is None else r.median_s / ref.median_s

    for name, limit in (("mixcl", 3.3), ("global_local:global", 1.5), ("global_local:local", 1.5),
                        ("regression", 1.5)):
        x = ratio(name)
        out.append((f"{name} step <= {limit}x supervised", None if x is None else x <= limit,
                    "not measured" if x is None else f"{x:.2f}x"))
    floor, mix = by.get(f"{FLOOR_ROW}@base"), by.get("mixcl@base")
    if floor and mix and ref:
        rest = mix.median_s - floor.median_s
        out.append(("the MixCL step's cost beyond three views through the network (projectors, Barlow Twins, label "
                    "and reconstruction terms, views)", None,
                    f"three views alone {floor.median_s:.3f} s ({floor.median_s / ref.median_s:.2f}x supervised), "
                    f"MixCL {mix.median_s:.3f} s: {rest:.3f} s more ({rest / mix.median_s:.0%} of its step), of "
                    f"which the label term {_fmt(mix.replay_s.get('label'))} s and the other loss terms "
                    f"{_fmt(mix.replay_s.get('loss'))} s (replayed alone)"))
    dense = by.get("mixcl:dense-label@base")
    grouped = by.get("mixcl@base")
    if dense and grouped:
        out.append(("grouped label term faster than the dense masks it replaced (same maths)",
                    grouped.median_s < dense.median_s,
                    f"step {grouped.median_s:.3f} vs {dense.median_s:.3f} s, label term "
                    f"{_fmt(grouped.replay_s.get('label'))} vs {_fmt(dense.replay_s.get('label'))} s"))
    shares = {r.name.removesuffix("@base"): r.overhead_share for r in results
              if r.name.endswith("@base") and not r.name.startswith("supervised")}
    if shares:
        worst = max(shares, key=shares.get)
        out.append(("losses + sampling + views <= 10 % of a step", shares[worst] <= 0.10,
                    ", ".join(f"{k} {v:.1%}" for k, v in shares.items())))
    a, b = by.get("mixcl@base"), by.get("mixcl@patch x2")
    if a and b and a.replay_s.get("label") and b.replay_s.get("label"):
        growth = b.replay_s["label"] / a.replay_s["label"]
        out.append(("label term independent of patch size at a fixed budget (x1.5 at most for 2x volume)",
                    growth <= 1.5,
                    f"label term x{growth:.2f} for patch volume x2 (step x{b.median_s / a.median_s:.2f})"))
    loader = {r.name.removesuffix("@base"): r.produced_per_s * r.median_s for r in results
              if r.name.endswith("@base") and r.produced_per_s}
    if loader:
        worst = min(loader, key=loader.get)
        out.append(("loader produces >= 1.5x what the step consumes", loader[worst] >= 1.5,
                    ", ".join(f"{k} {v:.2f}x" for k, v in loader.items())))
    return out


def write_report(results: list[StepResult], meta: dict, out: str) -> str:
    """speed.md in ``out``: the tables and the targets (returns its text)."""
    report = tables(results) + "\n\n| target | met | measured |\n|---|---|---|\n" + "\n".join(
        f"| {t} | {'-' if ok is None else 'yes' if ok else '**no**'} | {m} |" for t, ok, m in targets(results))
    with open(os.path.join(out, "speed.md"), "w") as f:
        f.write(f"<!-- {meta['command']} ({meta['device']}, {meta['cpu_count']} CPUs, torch {meta['torch']}) -->\n"
                f"{report}\n")
    return report
