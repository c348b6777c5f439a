"""The supervised multi-dataset method's run configuration (MultiTalent-style, dataset-local classes)."""

from dataclasses import dataclass

from nnssl.run_config import PretrainConfig

#: partial losses of the supervised method (``nnssl/losses/partial.py``)
SUPERVISED_LOSSES = ("dc_ce", "dc_bce")


@dataclass(frozen=True)
class SupervisedConfig(PretrainConfig):
    """Supervised multi-dataset training with dataset-local classes (MultiTalent, Ulrich et al., MICCAI 2023).

    nnU-Net's network, augmentation and deep supervision on the pool; the output layer has one channel per
    class of every source dataset (plus background) and each item's loss counts only its own dataset's
    channels, so label 1 of one dataset is never label 1 (nor a negative) of another. Transfer: encoder and
    decoder; the output layer (the pool's classes) stays behind.

    Attributes:
        loss: "dc_ce" (Dice + CE on a softmax over the item's own channels) or "dc_bce" (one sigmoid per class,
            BCE + Dice on the item's own classes, MultiTalent's choice).
        deep_supervision: nnU-Net's deep supervision (default on, as nnU-Net trains).
    Optimiser: nnU-Net's SGD (lr 1e-2, momentum 0.99, Nesterov, poly decay).
    """

    method: str = "supervised"
    learning_rate: float = 1e-2
    weight_decay: float = 3e-5
    loss: str = "dc_ce"
    deep_supervision: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.loss not in SUPERVISED_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(SUPERVISED_LOSSES)}, got {self.loss!r}")

    @property
    def needs_labels(self) -> bool:
        return True
