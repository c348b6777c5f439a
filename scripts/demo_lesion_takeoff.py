"""When does each init learn the demo's lesion class? Seeded fine-tunes of the demo target (issue: the MixCL init
scored lesion Dice 0.000 in two demo runs).

Usage: python scripts/demo_lesion_takeoff.py DEMO_OUT [--seeds 0 1 2 3] [--epochs 10]
DEMO_OUT is a finished ``nnssl_demo --out DEMO_OUT`` folder (its preprocessed target and MixCL checkpoint are reused).
Each init is fine-tuned with nnSSL_SEED=s and nnU-Net's recipe for EPOCHS x 20 iterations on the demo's 2 labelled
cases; the per-epoch pseudo Dice of both classes is read from nnU-Net's log and written to
DEMO_OUT/takeoff/takeoff.json and printed as a table (first epoch with lesion pseudo Dice > 0.5, final Dice).
"""

import argparse
import json
import os
import re
import subprocess
import sys

TRAINERS = {"scratch": "nnsslScratchTrainer", "mixcl": "MixCLFinetuneTrainer_nnUNetSchedule"}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("demo_out")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--epochs", type=int, default=10)
    args = p.parse_args()
    out = os.path.abspath(args.demo_out)
    from nnssl.trainer_location import trainer_dir

    results = {}
    path = os.path.join(out, "takeoff", "takeoff.json")
    if os.path.isfile(path):
        with open(path) as f:
            results = json.load(f)
    for seed in args.seeds:
        for init, trainer in TRAINERS.items():
            key = f"{init}_seed{seed}"
            if key in results:
                continue
            root = os.path.join(out, "takeoff", key)
            env = {**os.environ, "nnUNet_raw": os.path.join(out, "raw"),
                   "nnUNet_preprocessed": os.path.join(out, "preprocessed"), "nnUNet_results": root,
                   "nnUNet_extTrainer": trainer_dir(), "nnSSL_SEED": str(seed), "nnUNet_n_proc_DA": "0",
                   "nnSSL_FINETUNE_SCHEDULE": f"epochs={args.epochs},iterations=20,val_iterations=5"}
            log = os.path.join(root, "train.log")
            os.makedirs(root, exist_ok=True)
            with open(log, "w") as f:
                code = subprocess.run([os.path.join(os.path.dirname(sys.executable), "nnUNetv2_train"), "200",
                                       "3d_fullres", "0", "-tr", trainer, "-p", "nnsslPlans", "-device", "cpu"],
                                      env=env, stdout=f, stderr=subprocess.STDOUT).returncode
            if code != 0:
                print(f"{key}: nnUNetv2_train failed, see {log}")
                return 1
            text = open(log).read()
            curve = [[float(a), float(b)] for a, b in re.findall(
                r"Pseudo dice \[np\.float32\(([\d.]+)\), np\.float32\(([\d.]+)\)\]", text)]
            fold = os.path.join(root, "Dataset200_SynthOrganLesion", f"{trainer}__nnsslPlans__3d_fullres", "fold_0")
            with open(os.path.join(fold, "validation", "summary.json")) as f:
                summary = json.load(f)
            results[key] = {"init": init, "seed": seed, "pseudo_dice": curve,
                            "final": {k: v["Dice"] for k, v in summary["mean"].items()}}
            with open(path, "w") as f:
                json.dump(results, f, indent=1)
            takeoff = next((i + 1 for i, (_, lesion) in enumerate(curve) if lesion > 0.5), None)
            print(f"{key}: lesion pseudo Dice > 0.5 first after epoch {takeoff} (of {len(curve)}, 20 iterations "
                  f"each); final organ {results[key]['final']['1']:.3f}, lesion {results[key]['final']['2']:.3f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
