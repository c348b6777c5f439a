"""Methods by name: the CLI's ``-m`` choices come from here, built-in ones and plugins.

A package adds a method without editing nnssl by declaring an entry point in the group
``nnssl.methods`` whose object is a :class:`Method`, e.g. in its pyproject.toml::

    [project.entry-points."nnssl.methods"]
    mymethod = "my_package.nnssl_plugin:METHOD"

Its pretraining trainers subclass ``nnssl.trainers.base.SSLTrainerBase`` (so the checkpoint
contract is the same), and ``Method.trainer_folder`` names a folder of nnU-Net trainer shims that
``nnssl_pretrain`` adds to ``nnUNet_extTrainer`` (users add it too, for fine-tuning and inference).
"""

import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points

from nnssl.trainers.config import GlobalLocalConfig, MixCLConfig, PretrainConfig, RegressionConfig, SupervisedConfig


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
    trainer_folder: str | None = None  # plugins: where nnU-Net finds their trainers (nnUNet_extTrainer)


ENTRY_POINT_GROUP = "nnssl.methods"

BUILTIN: dict[str, Method] = {
    "mixcl": Method("mixcl", (("", "MixCLPretrainer"),), "MixCLFinetuneTrainer", MixCLConfig, True,
                    "pixel Barlow Twins per encoder stage + supervised pixel contrast + reconstruction"),
    "global_local": Method("global_local", (("global", "GlobalContrastivePretrainer"),
                                            ("local", "LocalContrastivePretrainer")),
                           "GlobalLocalFinetuneTrainer", GlobalLocalConfig, False,
                           "Chaitanya et al.: global contrast on the encoder, then local contrast on d_l"),
    "regression": Method("regression", (("", "RegressionPretrainer"),), "RegressionFinetuneTrainer", RegressionConfig,
                         False, "masked-noise regression pretext (L1 on masked voxels), transfers the encoder "
                                "(--transfer-decoder adds the decoder)"),
    "supervised": Method("supervised", (("", "SupervisedPretrainer"),), "SupervisedFinetuneTrainer", SupervisedConfig,
                         True, "nnU-Net training on the whole pool with dataset-local classes (MultiTalent: one output "
                               "per class of every dataset, each image scored on its own dataset's classes); "
                               "transfers encoder and decoder"),
}


def discover() -> dict[str, Method]:
    """Built-in methods plus every valid ``nnssl.methods`` entry point (a broken plugin warns, never breaks)."""
    methods = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            method = ep.load()
        except Exception as e:  # a broken third-party package must not break nnssl itself
            warnings.warn(f"nnssl: method plugin {ep.name!r} ({ep.value}) failed to load: {e}", stacklevel=2)
            continue
        if not isinstance(method, Method) or method.name != ep.name:
            warnings.warn(f"nnssl: method plugin {ep.name!r} ({ep.value}) is not a Method named {ep.name!r}; "
                          f"ignored", stacklevel=2)
        elif ep.name in BUILTIN:
            warnings.warn(f"nnssl: method plugin {ep.name!r} would replace a built-in method; ignored", stacklevel=2)
        else:
            methods[ep.name] = method
    return methods


METHODS: dict[str, Method] = discover()
