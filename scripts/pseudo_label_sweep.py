"""Pseudo-label threshold sweep where the truth is known: a benchmark teacher predicts its fold's "unlabelled" cases
(training cases whose labels the student never sees), and every threshold is scored against those hidden labels
(nnssl/selftrain/sweep.py; documentation/selftraining.md, "Threshold").

Usage (inside the benchmark's environment: nnUNet_raw / nnUNet_preprocessed of its --work folder):
    python scripts/pseudo_label_sweep.py --splits REPORT/label_fraction_splits.json --cases 1 --folds 0 1 2 \
        --name scratch --teacher RUNS/scratch/Dataset602_Hippocampus/nnsslScratchTrainer__nnsslPlans__2d \
        --teacher-fold entry --out benchmarks/hippocampus_2d_1case_1500it_selftrain_threshold
``--teacher-fold entry`` takes the fold nnU-Net registered for the labelled subset (a fine-tune teacher), ``all``
a pool model. Writes OUT/sweep_<name>.csv (one row per fold and threshold), OUT/sweep_<name>.md (means over folds)
and OUT/sweep_<name>.png; the teacher's predictions are deleted afterwards, a rerun reuses the CSV's finished folds.
"""

import argparse
import csv
import os
import shutil
import sys
import tempfile

THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99]
FIELDS = ["fold", "threshold", "kept", "kept_true_foreground", "accuracy_kept", "dice_kept"]


def sweep_fold(target_name: str, teacher: str, teacher_fold: str, cases: list[str], thresholds: list[float],
               device: str) -> list[dict]:
    """The teacher's predictions of ``cases`` of the target, scored at every threshold against their labels."""
    import numpy as np
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from nnssl.io import load_json
    from nnssl.selftrain.derived import case_images
    from nnssl.selftrain.run import predict_teacher
    from nnssl.selftrain.sweep import count_case, rates

    raw = os.path.join(os.environ["nnUNet_raw"], target_name)
    dataset_json = load_json(os.path.join(raw, "dataset.json"))
    plans = PlansManager(os.path.join(teacher, "plans.json"))
    labels = list(plans.get_label_manager(dataset_json).all_labels)
    rw = plans.image_reader_writer_class()
    ending = dataset_json["file_ending"]
    work = tempfile.mkdtemp(prefix="nnssl_sweep_")
    try:
        out = os.path.join(work, "predictions")
        predict_teacher(teacher, teacher_fold, {c: case_images(raw, c, dataset_json) for c in cases}, ending, out,
                        device, dict(os.environ), os.path.join(work, "predict.log"))
        counts = []
        for case in cases:
            probabilities = np.load(os.path.join(out, case + ".npz"))["probabilities"]
            reference, _ = rw.read_seg(os.path.join(raw, "labelsTr", case + ending))
            counts.append(count_case(probabilities, reference[0], thresholds, labels))
        return rates(counts)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_outputs(rows: list[dict], name: str, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from nnssl.plotting import save_figure

    thresholds = sorted({r["threshold"] for r in rows})
    folds = sorted({r["fold"] for r in rows})
    mean = {t: {k: float(np.mean([r[k] for r in rows if r["threshold"] == t])) for k in FIELDS[2:]}
            for t in thresholds}
    lines = [f"Teacher `{name}`, folds {', '.join(map(str, folds))}: its predictions of each fold's unlabelled "
             "cases scored against their hidden labels (means over folds).", "",
             "| threshold | voxels kept | true foreground kept | kept voxels right | Dice of kept labels |",
             "|---|---|---|---|---|"]
    lines += [f"| {t:g} | {m['kept']:.4f} | {m['kept_true_foreground']:.3f} | {m['accuracy_kept']:.4f} | "
              f"{m['dice_kept']:.3f} |" for t, m in mean.items()]
    md = os.path.join(out, f"sweep_{name}.md")
    with open(md + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(md + ".tmp", md)
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("kept_true_foreground", "true foreground kept"), ("dice_kept", "Dice of kept labels")):
        ax.plot(thresholds, [mean[t][key] for t in thresholds], marker="o", label=label)
    ax.set_xlabel("pseudo-label threshold (top class probability)")
    ax.set_title(f"teacher {name}, folds {', '.join(map(str, folds))}")
    ax.legend()
    save_figure(fig, os.path.join(out, f"sweep_{name}.png"))
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--splits", required=True, help="a benchmark report's label_fraction_splits.json")
    p.add_argument("--cases", type=int, required=True, help="labelled cases of the subsets to use")
    p.add_argument("--folds", type=int, nargs="+", required=True)
    p.add_argument("--name", required=True, help="the teacher's init name (file names)")
    p.add_argument("--teacher", required=True, help="the teacher's model folder")
    p.add_argument("--teacher-fold", required=True, help="'entry' (the subset's registered fold) or a fold, 'all'")
    p.add_argument("--target", default="Dataset602_Hippocampus")
    p.add_argument("--thresholds", type=float, nargs="+", default=THRESHOLDS)
    p.add_argument("--out", required=True)
    p.add_argument("-device", default="cpu")
    args = p.parse_args(argv)
    from nnssl.benchmark.splits import base_splits
    from nnssl.io import load_json
    from nnssl.names import check_name

    try:
        check_name(args.name, "--name")  # it becomes part of the output file names
    except ValueError as e:
        p.error(str(e))
    pre = os.path.join(os.environ["nnUNet_preprocessed"], args.target)
    plans = load_json(os.path.join(pre, "nnsslPlans.json"))
    base = base_splits(pre, next(iter(plans["configurations"].values()))["data_identifier"])
    entries = {e["fold"]: e for e in load_json(args.splits) if len(e["train"]) == args.cases}
    os.makedirs(args.out, exist_ok=True)
    table = os.path.join(args.out, f"sweep_{args.name}.csv")
    rows = []
    if os.path.isfile(table):
        with open(table) as f:
            rows = [{"fold": int(r["fold"]), **{k: float(r[k]) for k in FIELDS[1:]}} for r in csv.DictReader(f)]
    for fold in args.folds:
        if any(r["fold"] == fold for r in rows):
            continue
        entry = entries[fold]
        cases = sorted(set(base[fold]["train"]) - set(entry["train"]))
        teacher_fold = str(entry["nnunet_fold"]) if args.teacher_fold == "entry" else args.teacher_fold
        print(f"fold {fold}: {args.name} ({args.teacher} fold {teacher_fold}) on {len(cases)} cases", flush=True)
        rows += [{"fold": fold, **r} for r in sweep_fold(args.target, args.teacher, teacher_fold, cases,
                                                          args.thresholds, args.device)]
        with open(table + ".tmp", "w", newline="") as f:
            w = csv.DictWriter(f, FIELDS)
            w.writeheader()
            w.writerows(rows)
        os.replace(table + ".tmp", table)
    write_outputs(rows, args.name, args.out)
    print(open(os.path.join(args.out, f"sweep_{args.name}.md")).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
