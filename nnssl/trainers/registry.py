"""Methods by name: the CLI's ``-m`` choices come from here."""

from dataclasses import dataclass

from nnssl.trainers.config import MixCLConfig, PretrainConfig


@dataclass(frozen=True)
class Method:
    """A pretraining method: its trainer class name (as nnU-Net finds it) and config."""

    name: str
    trainer: str
    finetune_trainer: str
    config_class: type[PretrainConfig]
    needs_labels: bool
    summary: str


METHODS: dict[str, Method] = {
    "mixcl": Method("mixcl", "MixCLPretrainer", "MixCLFinetuneTrainer", MixCLConfig, True,
                    "pixel Barlow Twins per encoder stage + supervised pixel contrast + reconstruction"),
}
