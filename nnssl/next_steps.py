"""The commands ``nnssl_pretrain`` prints after a pretraining: fine-tune, the fair pair against scratch, predict."""

import shlex

from nnssl.pretrain_request import PretrainRequest


def next_commands(target_id: int, request: PretrainRequest, trainer: str, plans: str | None = None,
                  fold: str = "0") -> str:
    """The exact next commands for this user: their device, configuration, plans and fine-tune trainer.

    ``plans``: the plans identifier that names this run (``-p``); None when the target's ``nnUNetPlans.json`` is
    nnssl's alias of the method's own run, so on a GPU the commands read exactly ``nnUNetv2_train 200 3d_fullres 0
    -tr MixCLFinetuneTrainer``. A run named with ``--run-name R`` has its own identifier (``nnsslPlans_R``), so
    its results land in their own folders and its fine-tune trainers load its checkpoint.
    """
    device = f" -device {request.device}" if request.device != "cuda" else ""
    p = f" -p {shlex.quote(plans)}" if plans else ""
    train = f"nnUNetv2_train {target_id} {request.configuration} {fold}"
    which = "fold 0 of 5" if fold == "0" else "every case (fold 'all': too few cases for 5 folds)"
    lines = [f"nnssl: next steps ({which}; nnU-Net's default 1000 epochs, append a schedule suffix such as "
             "_5epochs for a short run):",
             "  export nnUNet_extTrainer=$(nnssl_trainer_dir)",
             f"  {train} -tr {trainer}{p}{device}",
             "  # to measure what the init adds, train both with nnU-Net's recipe (only the init differs):",
             f"  {train} -tr {trainer}_nnUNetSchedule{p}{device}",
             f"  {train} -tr nnsslScratchTrainer{p}{device}",
             f"  nnUNetv2_predict -i IN -o OUT -d {target_id} -c {request.configuration} -f {fold} -tr {trainer}"
             f"{p}{device}"]
    if plans == request.planning.plans_name and plans != "nnUNetPlans":
        lines.append(f"  (target {target_id} has its own nnUNetPlans.json, which nnssl leaves alone: keep "
                     f"-p {request.planning.plans_name})")
    elif plans and plans != request.planning.plans_name:
        lines.append(f"  (-p {plans}: the plans of run {request.run_name!r}, so its results get their own folders)")
    return "\n".join(lines)
