"""A tiny third-party pretraining method, registered only through the ``nnssl.methods`` entry point: its own
config field, flag and pretraining trainer; its fine-tune trainers come from nnssl."""

from dataclasses import dataclass

from nnssl.methods.method import Method, Option, finite_float
from nnssl.methods.regression.config import RegressionConfig
from nnssl.methods.regression.trainer import RegressionPretrainer


@dataclass(frozen=True)
class TinyConfig(RegressionConfig):
    method: str = "tiny"
    tiny_scale: float = 2.0


class TinyPretrainer(RegressionPretrainer):
    """The regression pretext under another name (what a plugin's own trainer would be)."""

    method = "tiny"
    config_class = TinyConfig


METHOD = Method(
    name="tiny",
    summary="a test plugin (the regression pretext with a flag of its own)",
    config_class=TinyConfig,
    stages=(("", "TinyPretrainer"),),
    finetune_trainer="TinyFinetuneTrainer",
    trainer_module="tiny_nnssl_method",
    options=(Option("--tiny-scale", "a setting only this method has", field="tiny_scale", value_type=finite_float),),
)
