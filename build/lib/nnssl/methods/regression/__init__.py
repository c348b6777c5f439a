"""Masked-noise regression (Umapathy et al., ISMRM 2022): L1 on masked voxels of a full U-Net.

``config.py``, ``model.py``, ``trainer.py`` and this file's :data:`METHOD` (its flags) are the whole method.
"""

from nnssl.methods.method import Method, Option, finite_float
from nnssl.methods.regression.config import RegressionConfig

OPTIONS = (
    Option("--mask-ratio", "fraction of voxels corrupted (default: about 256 voxels per patch, within 0.2-10 %%)",
           field="mask_ratio", value_type=finite_float),
    Option("--mask-layout", "masked voxels: one per grid cell (stratified) or independent draws (bernoulli)",
           field="mask_layout", choices=("stratified", "bernoulli")),
    Option("--replacement", "what replaces a masked voxel: N(0, 1), or N(mean, std) of its patch",
           field="replacement", choices=("gaussian", "patch_gaussian")),
    Option("--transfer-decoder", "also transfer decoder stages (mixcl and regression; default: encoder only)",
           field="transfer_decoder", action="store_true"),
)

METHOD = Method(
    name="regression",
    summary="masked-noise regression pretext (L1 on masked voxels), transfers the encoder (--transfer-decoder adds "
            "the decoder)",
    config_class=RegressionConfig,
    stages=(("", "RegressionPretrainer"),),
    finetune_trainer="RegressionFinetuneTrainer",
    trainer_module="nnssl.methods.regression.trainer",
    options=OPTIONS,
)
