"""nnU-Net's own ExperimentPlanner, run on a pool's merged fingerprint (one plan for every source)."""

import contextlib
import copy
import os

from nnssl.io import atomic_save_json, load_json


@contextlib.contextmanager
def planning_safe_env():
    """nnU-Net 2.8.1's planner calls torch.set_num_threads(nnUNet_n_proc_DA), which crashes on 0."""
    old = os.environ.get("nnUNet_n_proc_DA")
    if old is not None and old.strip() == "0":
        os.environ["nnUNet_n_proc_DA"] = "1"
    try:
        yield
    finally:
        if old is not None:
            os.environ["nnUNet_n_proc_DA"] = old


#: nnU-Net's planners nnssl_pretrain -pl accepts (nnU-Net's names) and the plans identifier each writes by default
PLANNERS = {"ExperimentPlanner": "nnsslPlans", "nnUNetPlannerResEncM": "nnsslResEncUNetMPlans",
            "nnUNetPlannerResEncL": "nnsslResEncUNetLPlans", "nnUNetPlannerResEncXL": "nnsslResEncUNetXLPlans"}


def planner_class(name: str):
    """nnU-Net's planner class called ``name`` (one of :data:`PLANNERS`).

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if name == "ExperimentPlanner":
        from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

        return ExperimentPlanner
    if name not in PLANNERS:
        raise ValueError(f"-pl {name!r}: nnssl plans pools with {', '.join(PLANNERS)}")
    from nnunetv2.experiment_planning.experiment_planners.residual_unets import residual_encoder_unet_planners

    return getattr(residual_encoder_unet_planners, name)


def _make_pooled_planner(fingerprint: dict, num_training: int, planner: str = "ExperimentPlanner"):
    base = planner_class(planner)

    class nnsslPooledPlanner(base):
        """nnU-Net's planner (default or a residual-encoder preset) fed the pooled fingerprint and case count."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.dataset_fingerprint = fingerprint
            self.dataset_json = dict(self.dataset_json, numTraining=num_training)

    return nnsslPooledPlanner


def plan_pool(sources: dict[int, str], merged: dict, n_training: int, plans_name: str,
              gpu_memory_target_in_gb: float | None, planner_name: str = "ExperimentPlanner") -> dict:
    """nnU-Net's planner ``planner_name`` run on the pooled fingerprint."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import plan_experiment_dataset

    planner = _make_pooled_planner(merged, n_training, planner_name)
    # nnU-Net's planner saves the plan into the first source's plans file; that file keeps describing the data
    # beside it until the new data is complete (preprocess_beside), so its old contents come back here
    first = os.path.join(os.environ["nnUNet_preprocessed"], next(iter(sources.values())), f"{plans_name}.json")
    old = load_json(first) if os.path.isfile(first) else None
    try:
        with planning_safe_env():
            pooled, _ = plan_experiment_dataset(next(iter(sources)), planner, gpu_memory_target_in_gb,
                                                overwrite_plans_name=plans_name)
    finally:
        if old is not None:
            atomic_save_json(old, first)
        elif os.path.isfile(first):
            os.remove(first)
    pooled = copy.deepcopy(pooled)
    pooled["experiment_planner_used"] = planner_name  # resolvable by name inside nnU-Net
    return pooled
