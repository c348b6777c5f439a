"""Chaitanya et al. (NeurIPS 2020): global contrast on the encoder, then local contrast on a partial decoder d_l.

``config.py``, ``model.py``, ``trainer.py`` and this file's :data:`METHOD` (its flags, its two stages) are the
whole method.
"""

import types

from nnssl.methods.global_local.config import GlobalLocalConfig
from nnssl.methods.method import Method, Option, finite_float, option_values

OPTIONS = (
    Option("--gl-stage", "run both stages in turn, or one (local needs the global stage's checkpoint)",
           default="both", choices=("both", "global", "local")),
    Option("--global-strategy", "positives of the global loss: GR the two views only; GD- also the same partition "
           "of other volumes; GD both (Chaitanya et al.)", field="global_strategy", choices=("GR", "GD-", "GD")),
    Option("--local-strategy", "LR: the positive is the same position in the other view (the paper's proposal); LD: "
           "also in other volumes of the same partition (a harder task, but no better an init on Hippocampus: "
           "benchmarks/HISTORY.md, Update 6)", field="local_strategy", choices=("LR", "LD")),
    Option("--partitions", "S partitions along the slice axis", field="partitions", value_type=int),
    Option("--cases-per-batch", "m; batch = m x S x 2 views", field="cases_per_batch", value_type=int),
    Option("--decoder-stages", "l of the partial decoder d_l (default: chosen so that d_l ends at 1/--local-stride)",
           field="decoder_stages", value_type=int),
    Option("--local-stride", "target output stride of d_l when l is chosen", field="local_stride", value_type=int),
    Option("--lattice-jitter", "random per-step shift of the region lattice in feature voxels (0 = fixed lattice)",
           field="lattice_jitter", value_type=int),
    Option("--region-size", "K", field="region_size", value_type=int, choices=(1, 3)),
    Option("--patch-fraction", "3D pretraining patch / plan patch", field="patch_fraction", value_type=finite_float),
)


def config_values(args: types.SimpleNamespace, stage: str = "", previous: str | None = None) -> dict:
    """The fields of one stage; the local stage starts from the global stage's checkpoint (``previous``)."""
    return {**option_values(OPTIONS, args), "stage": stage or "global", "global_checkpoint": previous}


METHOD = Method(
    name="global_local",
    summary="Chaitanya et al.: global contrast on the encoder, then local contrast on d_l",
    config_class=GlobalLocalConfig,
    stages=(("global", "GlobalContrastivePretrainer"), ("local", "LocalContrastivePretrainer")),
    finetune_trainer="GlobalLocalFinetuneTrainer",
    trainer_module="nnssl.methods.global_local.trainer",
    options=OPTIONS,
    config_values=config_values,
    select_stages=lambda args: ["global", "local"] if args.gl_stage == "both" else [args.gl_stage],
)
