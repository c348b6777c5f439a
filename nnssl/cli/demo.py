"""``nnssl_demo``: the whole product on synthetic data, on any machine, in minutes.

pool (101 blobs, 102 shells, 103 tubes) -> ``nnssl_pretrain -m mixcl -t 200`` -> fine-tune the
target 200 on only 2 labelled cases with stock nnU-Net training, from scratch (nnU-Net's recipe) and
from the MixCL checkpoint, same recipe and budget -> nnU-Net's validation on the other 8
cases and stock prediction of 4 held-out test cases -> Dice table, then where everything went.
Everything is written below ``--out``; nnU-Net's own output goes to ``<out>/logs`` unless ``-v``.
The run is seeded (``--seed``, default 0: the pretraining's ``--seed`` and ``nnSSL_SEED`` for both fine-tunes,
recorded in ``demo_results.json`` and each fine-tune's ``nnssl_finetune.json``), so a rerun on the same machine
repeats it. The budget is smoke-sized: one run on synthetic data, so the scratch-vs-pretrained difference it
prints is noise-level evidence, not a claim; what it does show is that both inits learn both classes.
"""

import argparse
import glob
import json
import os
import sys
import time

import torch

from nnssl.arguments import OneDefaultFormatter, SuggestingArgumentParser, add_device_argument, resolve_device
from nnssl.cli.demo_progress import _step
from nnssl.cli.demo_report import format_report

#: the pair differs only in the init: both use nnU-Net's recipe (at 100 iterations the warm-up schedule of
#: MixCLFinetuneTrainer starts too late to compare; benchmarks/README.md measures it at longer budgets)
SCRATCH, PRETRAINED = "nnsslScratchTrainer_5ep20it", "MixCLFinetuneTrainer_nnUNetSchedule_5ep20it"
PLANS, CONFIG, TARGET = "nnsslPlans", "3d_fullres", 200
#: labelled target cases the demo fine-tunes on (fold 0); the other training cases validate. Few
#: enough that the synthetic target does not saturate (with 8 cases both inits reached Dice 0.96)
LABELLED = 2


def build_parser() -> argparse.ArgumentParser:
    """Argument parser."""
    p = SuggestingArgumentParser(prog="nnssl_demo", description=__doc__, formatter_class=OneDefaultFormatter,
                                allow_abbrev=False)
    p.add_argument("--out", default="nnssl_demo_output", help="folder for everything the demo writes")
    add_device_argument(p)
    p.add_argument("--pretrain-epochs", type=int, default=2, help="MixCL pretraining epochs")
    p.add_argument("--pretrain-iterations", type=int, default=10, help="MixCL iterations per epoch")
    p.add_argument("--seed", type=int, default=0, help="seeds the pretraining and both fine-tunes (recorded)")
    p.add_argument("-v", "--verbose", action="store_true", help="show nnU-Net's full output instead of logging it")
    return p


def write_low_label_split(target_name: str, labelled: int = LABELLED) -> dict:
    """Fold 0 of the target trains on ``labelled`` cases and validates on the rest (splits_final.json)."""
    from nnssl.io import atomic_save_json, load_json

    folder = os.path.join(os.environ["nnUNet_preprocessed"], target_name)
    path = os.path.join(folder, "splits_final.json")
    ending = load_json(os.path.join(folder, "dataset.json"))["file_ending"]
    labels = os.path.join(os.environ["nnUNet_raw"], target_name, "labelsTr")
    cases = sorted(f[:-len(ending)] for f in os.listdir(labels) if f.endswith(ending))
    if len(cases) <= labelled:
        raise ValueError(f"the demo target needs more than {labelled} training cases, found {len(cases)}")
    split = {"train": cases[:labelled], "val": cases[labelled:]}
    if not os.path.isfile(path) or load_json(path)[0] != split:
        atomic_save_json([split], path)
    return split


def _set_env(out: str, seed: int) -> int:
    """nnU-Net's folders below ``out``, the fine-tunes' seed, and torch's thread count; returns the thread count.

    Data augmentation workers and torch's threads share the cores: torch gets the cores the workers leave free
    (``OMP_NUM_THREADS``, when set, wins), so the demo never runs more busy threads than the machine has.
    """
    for var, sub in (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "preprocessed"), ("nnUNet_results", "results")):
        os.environ[var] = os.path.join(out, sub)
        os.makedirs(os.environ[var], exist_ok=True)
    cores = os.cpu_count() or 1
    os.environ.setdefault("nnUNet_def_n_proc", "1")
    os.environ.setdefault("nnUNet_n_proc_DA", "0" if cores <= 4 else "4")
    os.environ["nnSSL_SEED"] = str(seed)  # read by both fine-tune trainers (nnssl/seeding.py)
    threads = int(os.environ.get("OMP_NUM_THREADS") or max(1, cores - int(os.environ["nnUNet_n_proc_DA"])))
    torch.set_num_threads(threads)
    return threads


def _finetune(trainer: str, device: str, target_name: str) -> dict:
    from nnunetv2.run.run_training import run_training

    folder = os.path.join(os.environ["nnUNet_results"], target_name, f"{trainer}__{PLANS}__{CONFIG}", "fold_0")
    summary = os.path.join(folder, "validation", "summary.json")
    if not os.path.isfile(summary):
        run_training(str(TARGET), CONFIG, 0, trainer, PLANS, device=torch.device(device))
    with open(summary) as f:
        return json.load(f)


def _predict_and_score(trainer: str, device: str, target_name: str, out: str) -> dict:
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    raw = os.path.join(os.environ["nnUNet_raw"], target_name)
    pred = os.path.join(out, "predictions", trainer)
    predictor = nnUNetPredictor(device=torch.device(device), perform_everything_on_device=device == "cuda")
    predictor.initialize_from_trained_model_folder(
        os.path.join(os.environ["nnUNet_results"], target_name, f"{trainer}__{PLANS}__{CONFIG}"), use_folds=(0,))
    predictor.predict_from_files(os.path.join(raw, "imagesTs"), pred, num_processes_preprocessing=1,
                                 num_processes_segmentation_export=1)
    with open(os.path.join(raw, "dataset.json")) as f:
        dataset_json = json.load(f)
    labels = [v for v in dataset_json["labels"].values() if v != 0]
    return compute_metrics_on_folder(os.path.join(raw, "labelsTs"), pred, os.path.join(pred, "summary.json"),
                                     SimpleITKIO(), dataset_json["file_ending"], labels, num_processes=1)


def _pretrain_checkpoints(results: str) -> list[str]:
    return glob.glob(os.path.join(results, "Dataset*_nnsslPool_101_102_103", f"MixCLPretrainer__{PLANS}__{CONFIG}",
                                  "fold_all", "checkpoint_*.pth"))


def run_demo(out: str, device: str, pretrain_epochs: int, pretrain_iterations: int, verbose: bool = False,
             seed: int = 0) -> dict:
    """Run the pipeline; returns {init: {split: {class: dice}}} and writes demo_results.json."""
    from nnssl.cli import pretrain
    from nnssl.data.synthetic import write_demo_pool
    from nnssl.methods.registry import finetune_trainer_class
    from nnssl.trainer_location import ensure_ext_trainer_env

    out = os.path.abspath(out)
    logs = None if verbose else os.path.join(out, "logs")
    print(f"nnssl_demo: writing everything below {out} on {device}")
    threads = _set_env(out, seed)
    ensure_ext_trainer_env()
    folders = write_demo_pool(os.environ["nnUNet_raw"])
    target_name = os.path.basename(folders[-1])
    t0 = time.time()
    resume = ["--continue"] if _pretrain_checkpoints(os.environ["nnUNet_results"]) else []
    with _step(f"pool 101-103 under one plan, pretrain MixCL ({pretrain_epochs} x {pretrain_iterations} iterations)",
               logs and os.path.join(logs, "pretrain.log"), pretrain_epochs):
        code = pretrain.main(["-d", "101", "102", "103", "-m", "mixcl", "-t", str(TARGET), "-c", CONFIG,
                              "--epochs", str(pretrain_epochs), "--iterations", str(pretrain_iterations),
                              "--val-iterations", "2", "--seed", str(seed), "--device", device, *resume])
    if code != 0:
        where = os.path.join(logs, "pretrain.log") if logs else "the error above"
        raise RuntimeError(f"pretraining failed; see {where}")
    split = write_low_label_split(target_name)
    results, timings = {}, {"pool_and_pretrain_s": round(time.time() - t0, 1)}
    folders_out = {}
    for name, trainer in (("scratch", SCRATCH), ("mixcl", PRETRAINED)):
        t = time.time()
        title = (f"fine-tune target 200 on {len(split['train'])} labelled cases from {name} ({trainer}), "
                 f"validate on {len(split['val'])}, predict 4 test cases")
        epochs = finetune_trainer_class(trainer).schedule.epochs
        with _step(title, logs and os.path.join(logs, f"{name}.log"), epochs):
            val = _finetune(trainer, device, target_name)
            test = _predict_and_score(trainer, device, target_name, out)
        timings[f"{name}_s"] = round(time.time() - t, 1)
        folders_out[name] = os.path.join(os.environ["nnUNet_results"], target_name, f"{trainer}__{PLANS}__{CONFIG}",
                                         "fold_0")
        results[name] = {split_name: {str(k): round(v["Dice"], 4) for k, v in s["mean"].items()} | {
            "mean": round(s["foreground_mean"]["Dice"], 4)} for split_name, s in (("validation", val), ("test", test))}
    sched = finetune_trainer_class(SCRATCH).schedule
    report = {"results": results, "timings": timings, "device": device, "seed": seed, "torch_threads": threads,
              "budget": f"pretrain {pretrain_epochs}x{pretrain_iterations} iterations; fine-tune "
                        f"{sched.epochs}x{sched.iterations} iterations on {len(split['train'])} labelled cases "
                        f"(fold 0), {len(split['val'])} validation cases, 4 held-out test cases; one run, seed {seed}"}
    with open(os.path.join(out, "demo_results.json"), "w") as f:
        json.dump(report, f, indent=2)
    pretrain_folder = next(iter(glob.glob(os.path.join(os.environ["nnUNet_results"], "Dataset*_nnsslPool_101_102_103",
                                                       f"MixCLPretrainer__{PLANS}__{CONFIG}", "fold_all"))), None)
    print(format_report(report, out, folders_out, {"scratch": SCRATCH, "mixcl": PRETRAINED}, pretrain_folder))
    return report


def main(argv=None) -> int:
    """Entry point of ``nnssl_demo``."""
    args = build_parser().parse_args(argv)
    t = time.time()
    try:
        device = resolve_device(args.device)
    except ValueError as e:
        print(f"nnssl_demo: error: {e}", file=sys.stderr)
        return 2
    if not 0 <= args.seed < 2**32:
        print(f"nnssl_demo: error: --seed {args.seed}: give an integer in 0..{2**32 - 1}", file=sys.stderr)
        return 2
    saved = {k: os.environ.get(k) for k in ("nnSSL_SEED", "nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}
    try:
        run_demo(args.out, device, args.pretrain_epochs, args.pretrain_iterations, args.verbose, args.seed)
    finally:  # the demo's folders and seed stay the demo's (matters when main() is called in-process)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    print(f"nnssl_demo: done in {time.time() - t:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
