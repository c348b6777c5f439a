"""Checkpoint interoperability with MIC-DKFZ/nnssl (the DKFZ pretraining framework, a different project).

DKFZ's checkpoints carry ``nnssl_adaptation_plan``: the architecture (class name, kwargs and which of
them need an import), the pretraining plan, the number of input channels, a recommended downstream
patch size, and the state-dict prefixes of the encoder (``key_to_encoder``) and of its stem
(``key_to_stem``); nnU-Net's master branch fine-tunes from it. Here:

- :func:`adaptation_plan` writes that block for our checkpoints, so DKFZ's tooling can read them;
- :func:`record_from_adaptation_plan` turns a DKFZ block into our adaptation record, so our fine-tune
  trainers load a DKFZ checkpoint through ``nnSSL_PRETRAINED`` (encoder prefixes from
  ``key_to_encoder``; shapes are checked and a different channel count adapts the stem as usual).

The field names follow DKFZ's ``AdaptationPlan`` dataclass (``src/nnssl/adaptation_planning``):
``architecture_plans`` as their ``ArchitecturePlans`` (PlainConvUNet's ``n_conv_per_stage`` is
written as their ``n_blocks_per_stage``), the two keys, the channel count and the patch size.
``pretrain_plan`` carries nnU-Net's plan fields; DKFZ's own ``Plan`` class has changed between their
versions, so tools that rebuild it may need to map field names.
"""

import copy

DKFZ_KEY = "nnssl_adaptation_plan"
#: dynamic_network_architectures classes DKFZ's presets name without their module
_ARCH_NAMES = {"dynamic_network_architectures.architectures.unet.PlainConvUNet": "PlainConvUNet",
               "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet": "ResidualEncoderUNet"}
#: the encoder's state-dict prefix in nnU-Net's U-Nets, and the first convolution of its first stage
ENCODER_KEY = "encoder.stages"
PLAIN_STEM_KEY = "encoder.stages.0.0.convs.0"
RESENC_STEM_KEY = "encoder.stem"


def adaptation_plan(plans: dict, configuration: str, num_input_channels: int) -> dict:
    """DKFZ's ``nnssl_adaptation_plan`` for a checkpoint pretrained with ``plans``/``configuration``."""
    conf = plans["configurations"][configuration]
    arch = conf["architecture"]
    class_name = _ARCH_NAMES.get(arch["network_class_name"], arch["network_class_name"])
    kwargs = copy.deepcopy(arch["arch_kwargs"])
    if "n_conv_per_stage" in kwargs:  # DKFZ's DynamicArchitecturePlans calls it n_blocks_per_stage
        kwargs["n_blocks_per_stage"] = kwargs.pop("n_conv_per_stage")
    pretrain_plan = {k: plans.get(k) for k in ("dataset_name", "plans_name", "original_median_spacing_after_transp",
                                               "original_median_shape_after_transp", "image_reader_writer",
                                               "transpose_forward", "transpose_backward", "experiment_planner_used")}
    pretrain_plan["configurations"] = {k: v for k, v in conf.items() if k != "architecture"}
    return {
        "architecture_plans": {"arch_class_name": class_name, "arch_kwargs": kwargs,
                               "arch_kwargs_requiring_import": list(arch.get("_kw_requires_import", []))},
        "pretrain_plan": pretrain_plan,
        "pretrain_num_input_channels": int(num_input_channels),
        "recommended_downstream_patchsize": [int(p) for p in conf["patch_size"]],
        "key_to_encoder": ENCODER_KEY,
        "key_to_stem": RESENC_STEM_KEY if class_name == "ResidualEncoderUNet" else PLAIN_STEM_KEY,
    }


def record_from_adaptation_plan(plan: dict, path: str) -> dict:
    """Our adaptation record for a DKFZ checkpoint (what the transfer loader needs).

    Raises:
        ValueError: naming the path when the block lacks ``key_to_encoder``.
    """
    encoder = plan.get("key_to_encoder")
    if not encoder:
        raise ValueError(f"{path}: its {DKFZ_KEY} has no key_to_encoder; cannot tell which weights to transfer")
    encoder = encoder.rstrip(".") + "."
    prefixes = [encoder]
    if encoder.startswith("encoder."):  # nnU-Net's U-Nets hold the encoder twice
        prefixes.append("decoder." + encoder)
    pretrain = plan.get("pretrain_plan") or {}
    return {"method": "dkfz_nnssl", "transfer_prefixes": prefixes,
            "plans_identifier": pretrain.get("plans_name", "?"), "configuration": "?",
            "num_input_channels": plan.get("pretrain_num_input_channels"),
            "source": "MIC-DKFZ/nnssl adaptation plan"}
