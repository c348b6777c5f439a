"""Methods by name: the CLI's ``-m`` choices come from here."""

from dataclasses import dataclass

from nnssl.trainers.config import GlobalLocalConfig, MixCLConfig, PretrainConfig, RegressionConfig


@dataclass(frozen=True)
class Method:
    """A pretraining method: its stages' trainer class names (as nnU-Net finds them) and config.

    ``stages`` lists (stage name, trainer class name) in the order they run; the last stage's
    checkpoint is the one fine-tuning uses.
    """

    name: str
    stages: tuple[tuple[str, str], ...]
    finetune_trainer: str
    config_class: type[PretrainConfig]
    needs_labels: bool
    summary: str


METHODS: dict[str, Method] = {
    "mixcl": Method("mixcl", (("", "MixCLPretrainer"),), "MixCLFinetuneTrainer", MixCLConfig, True,
                    "pixel Barlow Twins per encoder stage + supervised pixel contrast + reconstruction"),
    "global_local": Method("global_local", (("global", "GlobalContrastivePretrainer"),
                                            ("local", "LocalContrastivePretrainer")),
                           "GlobalLocalFinetuneTrainer", GlobalLocalConfig, False,
                           "Chaitanya et al.: global contrast on the encoder, then local contrast on d_l"),
    "regression": Method("regression", (("", "RegressionPretrainer"),), "RegressionFinetuneTrainer", RegressionConfig,
                         False, "masked-noise regression pretext (L1 on masked voxels), transfers the encoder "
                                "(--transfer-decoder adds the decoder)"),
}
