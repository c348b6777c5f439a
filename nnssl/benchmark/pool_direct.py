"""The simple alternative of a pool that labels the target's own structures: nnU-Net trained on the pool, applied.

``nnssl_benchmark --init pool_direct=<dataset id>`` trains stock nnU-Net (``nnsslScratchTrainer``, the benchmark's
schedule) on every case of that dataset (fold ``all``) with the target's plans, then predicts each fold's
validation cases of the target with ``nnUNetv2_predict`` and scores them with nnU-Net's
``compute_metrics_on_folder``: no target label is used. It only makes sense when the pool's labels are the
target's (same names and ids); anything else is refused before any work.
"""

import os
import subprocess
import sys

from nnssl.benchmark.request import BenchmarkRequest
from nnssl.io import load_json

PREFIX = "pool_direct"
TRAINER = "nnsslScratchTrainer"


def is_pool_direct(name: str) -> bool:
    """Whether an init name asks for the pool-direct alternative (``pool_direct`` or ``pool_direct_<suffix>``)."""
    return name == PREFIX or name.startswith(PREFIX + "_")


def check_pool_dataset(dataset_id: int, target_name: str, plans_name: str, configuration: str) -> str:
    """The pool dataset's name after checking that its model can be scored on the target as it is.

    Raises:
        ValueError: no such dataset, no such plans or configuration, other channels, or labels that are not the
            target's.
    """
    from nnssl.planning.datasets import resolve_dataset

    name = resolve_dataset(dataset_id)
    pre = os.environ["nnUNet_preprocessed"]
    plans_file = os.path.join(pre, name, f"{plans_name}.json")
    if not os.path.isfile(plans_file) or configuration not in load_json(plans_file).get("configurations", {}):
        raise ValueError(f"--init {PREFIX}={dataset_id}: {name} has no {plans_name} {configuration} plan; preprocess "
                         f"it with the target's plan first (nnssl_pretrain -d {dataset_id} -t <target> ..., or "
                         f"nnUNetv2_plan_and_preprocess)")
    ours = load_json(os.path.join(pre, name, "dataset.json"))
    theirs = load_json(os.path.join(pre, target_name, "dataset.json"))
    if ours.get("labels") != theirs.get("labels"):
        raise ValueError(f"--init {PREFIX}={dataset_id}: {name}'s labels {ours.get('labels')} are not the target's "
                         f"{theirs.get('labels')}; a model of other classes cannot be scored on the target without "
                         "fine-tuning (use -m supervised and fine-tune it instead)")
    if len(ours.get("channel_names", {})) != len(theirs.get("channel_names", {})):
        raise ValueError(f"--init {PREFIX}={dataset_id}: {name} has other input channels than the target")
    return name


def _run(cmd: list[str], log_file: str, env: dict) -> None:
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    with open(log_file, "a") as log:
        proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed; see {log_file}")


def _tool(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def model_folder(request: BenchmarkRequest, init: str, dataset_id: int) -> str:
    """Where ``train_pool_model`` puts the pool model of ``init`` in a benchmark call (``--runs``/<init>)."""
    from nnssl.planning.datasets import resolve_dataset

    results = os.path.join(os.path.abspath(request.runs or os.path.join(request.out, "runs")), init)
    return os.path.join(results, resolve_dataset(dataset_id),
                        f"{TRAINER}__{request.plans_name}__{request.configuration}")


def train_pool_model(results: str, dataset_id: int, pool_name: str, configuration: str, plans_name: str,
                     device: str, schedule_env: str) -> str:
    """Train (or resume) nnU-Net on every case of the pool dataset; returns the model folder."""
    from nnssl.planning.locks import exclusive
    from nnssl.trainer_location import ext_trainer_path
    from nnssl.trainers.finetune_schedule import SCHEDULE_ENV

    model = os.path.join(results, pool_name, f"{TRAINER}__{plans_name}__{configuration}")
    fold_dir = os.path.join(model, "fold_all")
    os.makedirs(model, exist_ok=True)
    with exclusive(os.path.join(model, "training")):  # two benchmarks side by side: the second waits, then reads it
        if os.path.isfile(os.path.join(fold_dir, "checkpoint_final.pth")):
            return model
        env = {**os.environ, "nnUNet_results": results,
               "nnUNet_extTrainer": ext_trainer_path()}
        env.pop("nnSSL_PRETRAINED", None)
        if schedule_env:
            env[SCHEDULE_ENV] = schedule_env
        cmd = [_tool("nnUNetv2_train"), str(dataset_id), configuration, "all", "-tr", TRAINER, "-p", plans_name,
               "-device", device]
        if os.path.isdir(fold_dir) and any(f.startswith("checkpoint") for f in os.listdir(fold_dir)):
            cmd.append("--c")  # resume an interrupted training
        _run(cmd, os.path.join(results, "pool_training.log"), env)
    return model


def score_fold(results: str, dataset_id: int, target_name: str, fold: int, val_cases: list[str],
               configuration: str, plans_name: str, device: str) -> dict:
    """nnU-Net's validation summary of the pool model on one fold's validation cases (cached per fold)."""
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from nnssl.trainer_location import ext_trainer_path

    out = os.path.join(results, target_name, f"fold_{fold}")
    summary = os.path.join(out, "summary.json")
    if os.path.isfile(summary):
        return load_json(summary)
    raw = os.path.join(os.environ["nnUNet_raw"], target_name)
    dj = load_json(os.path.join(raw, "dataset.json"))
    ending, n_channels = dj["file_ending"], len(dj["channel_names"])
    inputs, predictions = os.path.join(out, "input"), os.path.join(out, "predictions")
    os.makedirs(inputs, exist_ok=True)
    for case in val_cases:  # the raw images of the validation cases, linked (raw data is never touched)
        for ch in range(n_channels):
            link = os.path.join(inputs, f"{case}_{ch:04d}{ending}")
            if not os.path.lexists(link):
                os.symlink(os.path.join(raw, "imagesTr", f"{case}_{ch:04d}{ending}"), link)
    env = {**os.environ, "nnUNet_results": results,
           "nnUNet_extTrainer": ext_trainer_path()}
    cmd = [_tool("nnUNetv2_predict"), "-i", inputs, "-o", predictions, "-d", str(dataset_id),
           "-c", configuration, "-f", "all", "-tr", TRAINER, "-p", plans_name, "-device", device,
           "-npp", "1", "-nps", "1", "--disable_progress_bar"]
    _run(cmd, os.path.join(out, "predict.log"), env)
    pre = os.path.join(os.environ["nnUNet_preprocessed"], target_name)
    plans = PlansManager(os.path.join(pre, f"{plans_name}.json"))
    labels = plans.get_label_manager(load_json(os.path.join(pre, "dataset.json")))
    return compute_metrics_on_folder(os.path.join(pre, "gt_segmentations"), predictions, summary,
                                     plans.image_reader_writer_class(), ending,
                                     labels.foreground_regions if labels.has_regions else labels.foreground_labels,
                                     labels.ignore_label, num_processes=1, chill=True)
