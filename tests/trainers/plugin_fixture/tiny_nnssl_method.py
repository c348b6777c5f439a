"""A tiny third-party pretraining method, registered only through the ``nnssl.methods`` entry point."""

import os

from nnssl.trainers.config import RegressionConfig
from nnssl.trainers.registry import Method

METHOD = Method("tiny", (("", "RegressionPretrainer"),), "RegressionFinetuneTrainer", RegressionConfig, False,
                "a test plugin (reuses the regression trainer)", trainer_folder=os.path.dirname(__file__))
