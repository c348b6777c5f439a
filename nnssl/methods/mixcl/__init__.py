"""MixCL (Li, Quan, Zhou): pixel Barlow Twins per encoder stage + supervised pixel contrast + reconstruction.

``config.py`` (its settings), ``model.py`` (the loss terms), ``trainer.py`` (the nnU-Net trainer) and this file's
:data:`METHOD` (its flags and how they map onto the config) are the whole method.
"""

import types

from nnssl.methods.method import Method, Option, finite_float, option_values
from nnssl.methods.mixcl.config import MixCLConfig

OPTIONS = (
    Option("--label-weight", "alpha (the starting value when --label-grad-ratio is set); 0 switches L_label off",
           field="label_weight", value_type=finite_float),
    Option("--label-samples", "label voxels sampled per class and patch (r); the label term's cost grows with r^2, "
           "not with the patch size", default=MixCLConfig.per_class, value_type=int),
    Option("--label-grad-ratio", "re-set alpha every epoch so that alpha*|grad L_label| = ratio*|grad L_id| on the "
           "encoder; 0 keeps alpha fixed at --label-weight (the paper), and so does --identity-weight 0",
           default=MixCLConfig.label_grad_ratio, value_type=finite_float),
    Option("--label-stage", "encoder stage of L_label (default: the second-deepest stage)", field="label_stage",
           value_type=int),
    Option("--label-decoder-stage", "take L_label on decoder stage S instead (0 = the one after the bottleneck, -1 = "
           "the last, full-resolution one), so the decoder learns the pool's labels (for --transfer-decoder; "
           "default: an encoder stage)", field="label_decoder_stage", value_type=int, metavar="S"),
    Option("--recon-weight", "beta; 0 switches L_recon off", field="recon_weight", value_type=finite_float),
    Option("--identity-weight", "0 switches L_id off", field="identity_weight", value_type=finite_float),
    Option("--no-label", "ablation: identity + reconstruction", action="store_true"),
    Option("--no-recon", "ablation: identity + label (the decoder then gets no gradient)", action="store_true"),
    Option("--allow-unlabelled", "pool datasets without labels; implies --no-label (identity + reconstruction only)",
           action="store_true"),
    Option("--label-loss", "form of the label term: the paper's Eq. 6, or SupCon with the sum outside the log",
           field="label_loss", choices=("eq6", "supcon_out")),
    Option("--bt-max-voxels", "L_id voxels per stage; 0 = all", default=MixCLConfig.bt_max_voxels, value_type=int),
    Option("--bt-decoder-stages", "decoder stages (0 = the one after the bottleneck) added to L_id, so the decoder "
           "learns from the views too, not only from L_recon (for --transfer-decoder; default: none)",
           field="bt_decoder_stages", value_type=int, nargs="+", metavar="S"),
    Option("--transfer-decoder", "also transfer decoder stages (mixcl and regression; default: encoder only)",
           field="transfer_decoder", action="store_true"),
)


def config_values(args: types.SimpleNamespace, stage: str = "", previous: str | None = None) -> dict:
    """MixCL's fields from its flags: the ablation switches zero a weight, 0 means "off" or "all" where None does."""
    values = option_values(OPTIONS, args)
    values.update(label_weight=0.0 if (args.no_label or args.allow_unlabelled) else args.label_weight,
                  recon_weight=0.0 if args.no_recon else args.recon_weight,
                  label_grad_ratio=args.label_grad_ratio or None, per_class=args.label_samples,
                  bt_max_voxels=args.bt_max_voxels or None)
    return values


METHOD = Method(
    name="mixcl",
    summary="pixel Barlow Twins per encoder stage + supervised pixel contrast + reconstruction",
    config_class=MixCLConfig,
    stages=(("", "MixCLPretrainer"),),
    finetune_trainer="MixCLFinetuneTrainer",
    trainer_module="nnssl.methods.mixcl.trainer",
    options=OPTIONS,
    config_values=config_values,
    # AdamW 1e-4 is the paper's; 5e-4 moved the encoder by 10-20 % per stage in 600 iterations on Hippocampus
    cpu_learning_rate=5e-4,
)
