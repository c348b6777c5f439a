"""Re-export shim for nnU-Net's trainer lookup: point nnUNet_extTrainer at this folder."""

from nnssl.trainers.finetune import *  # noqa: F403
from nnssl.trainers.global_local import GlobalContrastivePretrainer, LocalContrastivePretrainer  # noqa: F401
from nnssl.trainers.mixcl import MixCLPretrainer  # noqa: F401
from nnssl.trainers.regression import RegressionPretrainer  # noqa: F401
from nnssl.trainers.supervised import SupervisedPretrainer  # noqa: F401
