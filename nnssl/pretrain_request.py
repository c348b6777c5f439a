"""The typed request behind ``nnssl_pretrain``: what one pretraining run is asked to do, parsed once.

``nnssl_pretrain`` and the benchmark's protocol runner build a :class:`PretrainRequest` (with
``nnssl.pretrain_options.parse_request``) and hand it to ``nnssl.pretraining.pretrain``; nothing below them reads a
command line or changes the request (it is frozen: a changed value is a new request, ``dataclasses.replace``).
The schedule is resolved when the request is made (presets filled in), so two requests that train the same
run compare equal.
"""

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

from nnssl.run_config import PretrainConfig

#: --schedule presets: epochs, iterations per epoch, validation iterations, what it costs
PRESETS = {
    "smoke": (2, 5, 1, "a plumbing check, about a minute on a CPU"),
    "cpu": (12, 50, 2, "600 iterations, about 20-60 min on 2 CPU cores for a 2D Hippocampus-sized plan; "
                       "a method's cpu learning rate applies unless --lr is given"),
    "full": (PretrainConfig.epochs, PretrainConfig.iterations_per_epoch, PretrainConfig.val_iterations,
             "25,000 iterations, GPU-sized: hours on a GPU, days on a CPU"),
}


@dataclasses.dataclass(frozen=True)
class Planning:
    """How the pool is planned and preprocessed (``nnssl/planning/``).

    ``frozen_plans``: the content of a ``--plans-from`` file (its plan replaces planning), or None.
    ``check_inputs``: check the raw datasets first (``--skip-input-check`` turns it off).
    """

    plans_name: str = "nnsslPlans"
    planner: str = "ExperimentPlanner"
    pool_id: int | None = None
    num_processes: int = 1
    gpu_memory_target: float | None = None
    plan_batch_size: int | None = None
    plan_from_target: bool = False
    frozen_plans: Mapping | None = None
    save_plans: str | None = None
    plan_only: bool = False
    check_inputs: bool = True


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How long and how the network trains; ``preset`` is the ``--schedule`` the numbers came from.

    ``lr``: None keeps the method's configured learning rate.
    """

    preset: str = "full"
    epochs: int = PretrainConfig.epochs
    iterations: int = PretrainConfig.iterations_per_epoch
    val_iterations: int = PretrainConfig.val_iterations
    batch_size: int | None = None
    lr: float | None = None
    seed: int = PretrainConfig.seed
    save_every: int = PretrainConfig.save_every
    dataset_sampling: str = PretrainConfig.dataset_sampling

    @classmethod
    def resolved(cls, preset: str, cpu_learning_rate: float | None, epochs: int | None = None,
                 iterations: int | None = None, val_iterations: int | None = None, lr: float | None = None,
                 **rest) -> "Schedule":
        """The preset's numbers where none is given; the cpu preset takes the method's cpu learning rate unless
        ``lr`` is given."""
        if preset not in PRESETS:
            raise ValueError(f"--schedule {preset!r}: choose one of {sorted(PRESETS)}")
        default_epochs, default_iterations, default_val, _ = PRESETS[preset]
        if preset == "cpu" and lr is None:
            lr = cpu_learning_rate
        return cls(preset=preset, epochs=default_epochs if epochs is None else epochs,
                   iterations=default_iterations if iterations is None else iterations,
                   val_iterations=default_val if val_iterations is None else val_iterations, lr=lr, **rest)


@dataclasses.dataclass(frozen=True)
class PretrainRequest:
    """One ``nnssl_pretrain`` run.

    Attributes:
        datasets: the pool's source dataset ids.
        method: the ``-m`` name (``nnssl.methods.registry.METHODS``).
        options: every method option's value by its argparse destination (``Method.options``); the method's hooks
            read them as attributes (:meth:`method_options`).
        target: the target dataset id (gets the pool's plans and the checkpoint's record), or None.
        configuration: nnU-Net's configuration planned and pretrained.
        run_name: names the run (its own plans identifier); None: the method's own run.
        label_map: {target label: (source dataset, source label)} given with ``--label-map``, or None.
        device: 'cuda', 'cpu' or 'mps' (the command line resolves "whatever this machine has" before).
        num_gpus: DDP ranks nnU-Net starts itself (``-num_gpus``); 1 under torchrun.
        continue_training / overwrite: resume or extend a run / replace a finished one.
    """

    datasets: tuple[int, ...]
    method: str = "mixcl"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    target: int | None = None
    configuration: str = "3d_fullres"
    run_name: str | None = None
    label_map: Mapping[int, tuple[int, int]] | None = None
    planning: Planning = Planning()
    schedule: Schedule = Schedule()
    device: str = "cuda"
    num_gpus: int = 1
    continue_training: bool = False
    overwrite: bool = False

    def __post_init__(self):
        object.__setattr__(self, "datasets", tuple(self.datasets))
        object.__setattr__(self, "options", types.MappingProxyType(dict(self.options)))

    @property
    def name(self) -> str:
        """The run's name: ``--run-name``, else the method's."""
        return self.run_name or self.method

    def method_options(self) -> types.SimpleNamespace:
        """The method options as attributes: what a method's ``config_values`` / ``select_stages`` hooks read."""
        return types.SimpleNamespace(**self.options)

    def recipe(self) -> dict:
        """What ``--save-plans`` writes beside the plan, so ``--plans-from`` repeats this run."""
        values = {"sources": list(self.datasets), "target": self.target, "configuration": self.configuration,
                  "plan_batch_size": self.planning.plan_batch_size, "method": self.method,
                  "schedule": self.schedule.preset}
        return {k: v for k, v in values.items() if v is not None}
