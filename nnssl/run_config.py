"""A pretraining run's configuration: the fields every method shares, and how a trainer finds its run's values.

Each method's own frozen, validated config subclasses :class:`PretrainConfig` (``nnssl/methods/<name>/config.py``);
``nnssl_pretrain`` maps its flags onto the fields. The trainer's ``__init__`` signature is nnU-Net's, so a run's
configuration reaches it through the one channel nnU-Net passes it: the pool's plans, where ``nnssl_pretrain``
records every run (``plans["nnssl"]["runs"][<run key>]``) before training; a stock ``nnUNetv2_train ... --c``, a
DDP worker and a rerun all read the same record. Without a record, the defaults apply. (nnssl < 0.4 also read a
file named by ``nnSSL_RUN_CONFIG``; that variable is ignored now, with a warning, since the record holds the same.)
"""

import dataclasses
import os
from dataclasses import dataclass

from nnssl.data.dataset_weights import SAMPLING_MODES

RUN_CONFIG_ENV = "nnSSL_RUN_CONFIG"


@dataclass(frozen=True)
class PretrainConfig:
    """Fields every pretraining method shares.

    Attributes:
        run_name: names the output folder suffix and the key under which the target's plans record
            the checkpoint (defaults to the method name).
        target_dataset: dataset the checkpoint must be fine-tunable on (checked before training).
        epochs, iterations_per_epoch, val_iterations: schedule (nnU-Net's epoch = N iterations).
        batch_size: None uses the plans' batch size.
        learning_rate, weight_decay: optimiser settings.
        save_every: epochs between ``checkpoint_latest.pth`` writes.
        dataset_sampling: how the loaders draw cases of a pool: "cases" (uniform over cases, nnU-Net's draw, so
            a dataset in proportion to its size) or "datasets" (each source dataset equally often;
            ``nnssl/data/dataset_weights.py``).
        seed: seeds every random draw of the run (network init, case sampling, views, masks, loader workers;
            ``nnssl/seeding.py``); the same seed and settings give the same run on the same machine and device.
    """

    method: str = ""
    run_name: str = ""
    target_dataset: str | None = None
    epochs: int = 100
    iterations_per_epoch: int = 250
    val_iterations: int = 10
    batch_size: int | None = None
    learning_rate: float = 1e-4
    weight_decay: float = 1e-5
    save_every: int = 10
    dataset_sampling: str = "cases"
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "iterations_per_epoch", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.val_iterations < 0:
            raise ValueError(f"val_iterations must be >= 0, got {self.val_iterations}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {self.batch_size}")
        if not self.learning_rate > 0 or self.learning_rate == float("inf"):  # NaN fails every comparison
            raise ValueError(f"learning_rate (--lr) must be a finite number > 0, got {self.learning_rate}")
        if self.dataset_sampling not in SAMPLING_MODES:
            raise ValueError(f"dataset_sampling must be one of {', '.join(SAMPLING_MODES)}, got "
                             f"{self.dataset_sampling!r}")

    def to_json(self) -> dict:
        """Plain dict (for JSON next to the checkpoint)."""
        return dataclasses.asdict(self)

    def caveats(self) -> list[str]:
        """Valid but probably unintended combinations of settings (the CLI prints them as warnings); none here."""
        return []

    @property
    def needs_labels(self) -> bool:
        """Whether this run trains on the pool's labels (then every source needs foreground labels)."""
        return False


def load_run_config(config_class: type[PretrainConfig], plans: dict | None = None,
                    run_key: str | None = None) -> tuple[PretrainConfig, str]:
    """The run configuration and where it came from: the configuration ``nnssl_pretrain`` recorded in the pool's
    plans under ``run_key`` (so a stock ``nnUNetv2_train ... --c`` resumes with the same settings), else the class
    defaults.

    Raises:
        ValueError: a record with fields the config class does not know, naming them.
    """
    if os.environ.get(RUN_CONFIG_ENV):
        import warnings

        warnings.warn(f"{RUN_CONFIG_ENV} is no longer read (nnssl >= 0.4 reads a run's configuration from the "
                      "pool's plans, where nnssl_pretrain records it); unset it", stacklevel=2)
    recorded = ((plans or {}).get("nnssl") or {}).get("runs", {}).get(run_key) if run_key else None
    if recorded is not None:
        values, source = dict(recorded), f"the pool's plans (run {run_key!r})"
    else:
        return config_class(), "defaults"
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown fields {unknown} in {source} for {config_class.__name__}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}  # JSON lists: the configs' tuples
    return config_class(**values), source
