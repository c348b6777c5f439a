"""The demo's closing printout: the Dice table, what it can and cannot show, and where everything went."""

import os

#: a class below this Dice is reported in words as missed (learned classes score above 0.9 in the demo)
MISSED = 0.5


def verdict(report: dict) -> list[str]:
    """What the table can and cannot show, and, in words, every class an init missed (Dice below ``MISSED``)."""
    names = {"1": "organ", "2": "lesion"}
    lines = ["  what it shows: the whole pipeline runs and each init's Dice per class after one seeded smoke-sized "
             "run; it cannot show whether pretraining helps (one synthetic run; benchmarks/README.md measures that "
             "over folds on real data)"]
    for init, splits in report["results"].items():
        for split, d in splits.items():
            missed = [f"{names.get(k, 'label ' + k)} (Dice {v:.3f})" for k, v in d.items()
                      if k != "mean" and v < MISSED]
            if missed:
                lines.append(f"  note: the {init} init missed the {', '.join(missed)} on the {split} cases: that "
                             f"class did not take off within this budget, so the mean says little about {init}")
    return lines


def format_report(report: dict, out: str, folders: dict[str, str], trainers: dict[str, str],
                  pretrain_folder: str | None) -> str:
    """The final table and where everything went (``folders``: each init's fold folder; ``trainers``: its trainer)."""
    lines = ["", "nnssl_demo: Dice on the target (label 1 organ, label 2 lesion)",
             f"  {'init':<10}{'split':<12}{'organ':>8}{'lesion':>8}{'mean':>8}"]
    for init, splits in report["results"].items():
        for split, d in splits.items():
            lines.append(f"  {init:<10}{split:<12}{d.get('1', float('nan')):>8.3f}{d.get('2', float('nan')):>8.3f}"
                         f"{d['mean']:>8.3f}")
    t = report["timings"]
    lines += [f"  budget: {report['budget']}", *verdict(report),
              f"  time: pool + pretraining {t['pool_and_pretrain_s']:.0f} s, scratch {t['scratch_s']:.0f} s, "
              f"mixcl {t['mixcl_s']:.0f} s", "",
              "nnssl_demo: where things are"]
    places = []
    if pretrain_folder:
        places += [("pretraining curves (per loss term)", os.path.join(pretrain_folder, "loss_terms.png")),
                   ("pretrained checkpoint", os.path.join(pretrain_folder, "checkpoint_final.pth"))]
    places += [(f"{init} fine-tune curves", os.path.join(folder, "progress.png")) for init, folder in folders.items()]
    places += [(f"{init} test predictions", os.path.join(out, "predictions", trainers[init])) for init in folders]
    places.append(("all numbers", os.path.join(out, "demo_results.json")))
    width = max(len(name) for name, _ in places) + 2
    lines += [f"  {name + ':':<{width}}{path}" for name, path in places]
    return "\n".join(lines)
