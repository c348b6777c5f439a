"""What ``nnssl.pretraining.pretrain`` checks before it trains: which target classes take rows of the pool's output
layer, which fold the printed next commands use, and that a finished or interrupted run is not overwritten unasked."""

import os
import sys

from nnssl.io import load_json
from nnssl.methods.registry import METHODS
from nnssl.pretrain_request import PretrainRequest
from nnssl.run_records import check_no_legacy_run


def check_class_match(request: PretrainRequest, target: tuple[int, str]) -> list[str] | None:
    """Before any work: which target classes take rows of a supervised checkpoint's output layer (None: the method
    has no output layer to transfer, or nothing matches).

    Raises:
        ValueError: an ambiguous name match without ``--label-map``, or a map naming a class the pool lacks.
    """
    from nnssl.methods.supervised.trainer import pool_class_layout, pool_label_names
    from nnssl.output_layers import describe, layout_records, match_classes
    from nnssl.planning.datasets import resolve_dataset

    if request.method != "supervised":
        if request.label_map:
            print(f"nnssl: warning: --label-map has no effect with -m {request.method} (its checkpoint has no output "
                  "layer to transfer); it is recorded for a later supervised run", file=sys.stderr)
        return None
    sources = {d: resolve_dataset(d) for d in request.datasets}
    names = pool_label_names(sources)
    layout = layout_records(pool_class_layout(sources), names)
    labels = load_json(os.path.join(os.environ["nnUNet_raw"], target[1], "dataset.json"))["labels"]
    matches = match_classes(labels, layout, request.label_map)
    return describe(matches, labels) if matches else None


def finetune_fold(target, configuration: str, rank0: bool) -> str:
    """The fold the printed next commands use: 0, or 'all' for a target with fewer than 5 cases (warned)."""
    target_json = os.path.join(os.environ.get("nnUNet_raw", ""), target[1], "dataset.json") if target else ""
    if not target or not os.path.isfile(target_json):
        return "0"
    n_target = int(load_json(target_json).get("numTraining", 5))
    if n_target >= 5:
        return "0"
    if rank0:
        print(f"nnssl: warning: target {target[1]} has {n_target} training case(s); nnU-Net's 5-fold split needs at "
              f"least 5, so fold 0 would fail. Fine-tune on all of them with fold 'all' (nnUNetv2_train {target[0]} "
              f"{configuration} all ...) or write your own splits_final.json into its nnUNet_preprocessed folder",
              file=sys.stderr)
    return "all"


def refuse_to_overwrite(request: PretrainRequest, pool_name: str, train_plans: str, checkpoints: dict[str, str],
                        stages: list[tuple[str, str]]) -> None:
    """A finished or interrupted run of this name is resumed, extended or replaced only when asked to."""
    method = METHODS[request.method]
    keep_going = request.continue_training or request.overwrite
    if request.continue_training and train_plans != request.planning.plans_name:
        check_no_legacy_run(os.path.join(os.environ["nnUNet_results"], pool_name), [t for _, t in method.stages],
                            request.planning.plans_name, request.configuration, request.name,
                            list(checkpoints.values()))
    for stage, _ in stages:
        final = checkpoints[stage]
        if os.path.isfile(final) and not keep_going:
            raise ValueError(f"{final} is a finished pretraining; pass --continue to resume or extend it, "
                             f"--overwrite to replace it, or --run-name to keep both")
        latest = os.path.join(os.path.dirname(final), "checkpoint_latest.pth")
        if os.path.isfile(latest) and not os.path.isfile(final) and not keep_going:
            raise ValueError(f"an interrupted pretraining of this run is kept in {latest}; pass --continue to resume "
                             f"it, --overwrite to start again (its checkpoints are kept as *.replaced), or --run-name "
                             "to start another run beside it")
