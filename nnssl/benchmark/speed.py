"""Step-time measurements of the pretraining trainers against stock ``nnUNetTrainer``.

Everything runs in one process on one pool's plans: each trainer is built by nnU-Net from the same
plans (the pretraining trainers from their method defaults), gets its own nnU-Net data loaders, and
runs ``train_step`` on batches drawn from them beforehand, so the step time holds no data loading.

- **step**: median and interquartile range of ``train_step`` (forward, losses, backward, optimiser;
  the once-per-epoch gradient probe excluded), with a device sync around each.
- **overhead**: during one step every loss, voxel-sampling and on-thread view function the methods
  call is recorded with its inputs; each call is then replayed alone (forward + backward on the
  same tensors) and timed. Their sum over the step time is the share that is not the network.
- **loader**: batches per second the training loader produces with the default worker count
  (nnU-Net's ``get_allowed_n_proc_DA``), measured after its queue has drained, against the batches
  per second the step consumes.
- **memory**: CUDA peak allocated during the steps; on the CPU the peak resident set size sampled
  during the steps (the untimed first one included) minus the size before them.
"""

import contextlib
import copy
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from unittest import mock

import torch

from nnssl.benchmark.speed_probes import TRACKED, RSSPeak, record_calls, replay, sync  # noqa: F401

#: trainer classes measured, in table order: (row name, class name, run-config overrides)
TRAINERS = {
    "supervised": ("nnUNetTrainer", None),
    "mixcl": ("MixCLPretrainer", {"method": "mixcl"}),
    "global_local:global": ("GlobalContrastivePretrainer", {"method": "global_local", "stage": "global"}),
    "global_local:local": ("LocalContrastivePretrainer", {"method": "global_local", "stage": "local"}),
    "regression": ("RegressionPretrainer", {"method": "regression"}),
}




@dataclass
class StepResult:
    """Measurements of one trainer at one patch and batch."""

    name: str
    trainer: str
    patch: list[int]
    batch: int
    input_shape: list[int]
    step_s: list[float]
    median_s: float = 0.0
    iqr_s: float = 0.0
    replay_s: dict[str, float] = field(default_factory=dict)
    loader_workers: int = 0
    produced_per_s: float | None = None
    peak_memory_mb: float | None = None
    label_samples_per_pair: float | None = None
    repeat_medians_s: list[float] = field(default_factory=list)

    def finish(self) -> "StepResult":
        s = sorted(self.step_s)
        self.median_s = statistics.median(s)
        q = statistics.quantiles(s, n=4) if len(s) > 1 else [s[0]] * 3
        self.iqr_s = q[2] - q[0]
        return self

    @property
    def overhead_share(self) -> float:
        """Share of the step spent in the replayed losses, sampling and views."""
        return sum(self.replay_s.values()) / self.median_s if self.median_s else float("nan")


def scaled_plans(plans: dict, configuration: str, patch: list[int] | None, batch: int | None) -> dict:
    """A copy of ``plans`` whose configuration has another patch size and/or batch size."""
    plans = copy.deepcopy(plans)
    cfg = plans["configurations"][configuration]
    if patch is not None:
        cfg["patch_size"] = list(patch)
    if batch is not None:
        cfg["batch_size"] = int(batch)
    return plans


def build_trainer(class_name: str, overrides: dict | None, plans: dict, configuration: str, dataset_json: dict,
                  device: torch.device, scratch: str):
    """A trainer built by nnU-Net's class lookup, initialised, with its output below ``scratch``."""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from nnssl.methods.registry import trainer_classes

    cls = nnUNetTrainer if class_name == "nnUNetTrainer" else trainer_classes()[class_name]
    plans = copy.deepcopy(plans)
    if overrides is not None:  # the run record a trainer reads (nnssl/run_config.py), for this measurement only
        stage = getattr(cls, "stage", "")
        key = f"{getattr(cls, 'method', '')}{'_' + stage if stage else ''}"
        block = plans.setdefault("nnssl", {})
        block["runs"] = {**block.get("runs", {}),
                         key: {**overrides, "epochs": 1, "iterations_per_epoch": 1, "val_iterations": 1}}
        block.pop("run", None)
    plans = {**plans, "continue_training": False}  # nnU-Net 2.8.1's run_training adds (and __init__ pops) it
    trainer = cls(plans, configuration, "all", dataset_json, device)  # "all": no split file is written
    folder = os.path.join(scratch, class_name)
    os.makedirs(folder, exist_ok=True)
    trainer.output_folder = trainer.output_folder_base = folder
    trainer.log_file = os.path.join(folder, "log.txt")
    trainer.initialize()
    return trainer


#: implementations of the MixCL label term ``measure`` can run: the default grouped (class-sum) form and the
#: dense-mask form it replaced (same values and gradients, tested in tests/losses)
LABEL_IMPLS = ("grouped", "dense")


@contextlib.contextmanager
def label_impl(name: str):
    """Run MixCL's label term as ``name`` (one of ``LABEL_IMPLS``) inside the block."""
    if name not in LABEL_IMPLS:
        raise ValueError(f"label implementation {name!r}: choose one of {LABEL_IMPLS}")
    if name == "grouped":
        yield
        return
    import nnssl.methods.mixcl.model as mixcl
    from nnssl.losses.label_contrast import dense_label_contrast_loss

    def dense(z1, y1, z2, y2, temperature=0.1, variant="eq6", num_labels=None):
        return dense_label_contrast_loss(z1, y1, z2, y2, temperature, variant)

    dense.__name__ = "batched_label_contrast_loss"
    with mock.patch.object(mixcl, "batched_label_contrast_loss", dense):
        yield


def measure(name: str, class_name: str, overrides: dict | None, plans: dict, configuration: str,
            dataset_json: dict, device: torch.device, steps: int, loader_batches: int,
            label: str = "grouped") -> StepResult:
    """Step time, replayed overhead, loader throughput and peak memory of one trainer (``label``: the MixCL
    label term's implementation, see ``LABEL_IMPLS``)."""
    with label_impl(label):
        return _measure(name, class_name, overrides, plans, configuration, dataset_json, device, steps,
                        loader_batches)


def _measure(name: str, class_name: str, overrides: dict | None, plans: dict, configuration: str,
             dataset_json: dict, device: torch.device, steps: int, loader_batches: int) -> StepResult:
    from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter
    from nnunetv2.utilities.default_n_proc_DA import get_allowed_n_proc_DA

    with tempfile.TemporaryDirectory() as scratch:
        trainer = build_trainer(class_name, overrides, plans, configuration, dataset_json, device, scratch)
        train_loader, val_loader = trainer.get_dataloaders()
        try:
            batches = [next(train_loader) for _ in range(steps + 1)]
            workers = get_allowed_n_proc_DA()
            produced = None
            if loader_batches > 0:
                if isinstance(train_loader, NonDetMultiThreadedAugmenter):  # drain the prefetch queue first
                    for _ in range(train_loader.num_cached * 2):
                        next(train_loader)
                t0 = time.perf_counter()
                for _ in range(loader_batches):
                    next(train_loader)
                produced = loader_batches / (time.perf_counter() - t0)
        finally:
            for loader in (train_loader, val_loader):
                if hasattr(loader, "_finish"):
                    loader._finish()
        if hasattr(trainer, "_iteration"):
            trainer._iteration = 1  # the once-per-epoch gradient probe is not part of a regular step
        trainer.network.train()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        with RSSPeak() as rss:  # from before the first step: what a step allocates
            trainer.train_step(batches[0])  # warm-up (allocator, lazy init), not timed
            sync(device)
            for batch in batches[1:]:
                sync(device)
                t0 = time.perf_counter()
                trainer.train_step(batch)
                sync(device)
                times.append(time.perf_counter() - t0)
        peak = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
                else rss.peak - rss.base)
        calls: list = []
        with record_calls(calls):
            trainer.train_step(batches[0])
        first = batches[0]
        data = first["data"] if "data" in first else first.get("v1", first.get("views"))
        samples = None
        if "coords1" in first:
            samples = len(first["coords1"]) / first["v1"].shape[0]
        result = StepResult(name=name, trainer=class_name,
                            patch=[int(x) for x in trainer.configuration_manager.patch_size],
                            batch=int(trainer.batch_size), input_shape=list(data.shape), step_s=times,
                            replay_s=replay(calls, device), loader_workers=workers, produced_per_s=produced,
                            peak_memory_mb=round(peak, 1), label_samples_per_pair=samples)
        del trainer, batches
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return result.finish()


def merge_repeats(repeats: list[StepResult]) -> StepResult:
    """One row from the same measurement repeated: every step pooled (median, IQR), each repeat's median kept
    (their range is the spread between runs), the replayed times and memory of the median repeat."""
    order = sorted(range(len(repeats)), key=lambda i: repeats[i].median_s)
    mid = repeats[order[len(order) // 2]]
    merged = copy.copy(mid)
    merged.step_s = [s for r in repeats for s in r.step_s]
    merged.repeat_medians_s = [r.median_s for r in repeats]
    return merged.finish()


def results_json(results: list[StepResult], meta: dict) -> dict:
    """JSON-ready measurements plus how they were taken."""
    return {"meta": meta, "results": [{**asdict(r), "overhead_share": r.overhead_share} for r in results]}
