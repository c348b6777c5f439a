"""Supervised multi-dataset training with dataset-local classes (MultiTalent, Ulrich et al., MICCAI 2023).

``config.py``, ``model.py``, ``trainer.py`` and this file's :data:`METHOD` (its flags) are the whole method.
"""

from nnssl.methods.method import Method, Option
from nnssl.methods.supervised.config import SUPERVISED_LOSSES, SupervisedConfig

OPTIONS = (
    Option("--supervised-loss", "partial loss over each image's own dataset's classes: dc_ce (Dice + CE on a softmax "
           "over them) or dc_bce (one sigmoid per class, BCE + Dice; MultiTalent's)", field="loss",
           choices=SUPERVISED_LOSSES),
)

METHOD = Method(
    name="supervised",
    summary="nnU-Net training on the whole pool with dataset-local classes (MultiTalent: one output per class of "
            "every dataset, each image scored on its own dataset's classes); transfers encoder and decoder",
    config_class=SupervisedConfig,
    stages=(("", "SupervisedPretrainer"),),
    finetune_trainer="SupervisedFinetuneTrainer",
    trainer_module="nnssl.methods.supervised.trainer",
    options=OPTIONS,
)
