"""Checkpoint interoperability with nnU-Net master's pretrained path and MIC-DKFZ/nnssl (a different project).

Both read a checkpoint's ``nnssl_adaptation_plan``: the architecture, the pretraining plan, the number of input
channels, a recommended downstream patch size, and where in the state dict the encoder, its stem, the input
projection and a learned positional embedding live. nnU-Net master (``nnUNetv2_preprocess_like_nnssl``,
``nnUNetv2_plan_like_dynamic``, ``nnUNetv2_train_pretrained``; ``documentation/interop.md`` has the commands)
reads it as follows, and so :func:`adaptation_plan` writes it:

- ``architecture_plans``: ``arch_class_name`` (the dotted dynamic_network_architectures class, which master builds
  with ``get_network_from_plans``), ``arch_kwargs`` exactly as nnU-Net's plans hold them, and
  ``arch_kwargs_requiring_import``;
- ``pretrain_plan``: the pretraining plan in DKFZ's ``Plan`` schema (exactly its fields; each configuration a
  ``ConfigurationPlan``: nnU-Net's resampling of segmentations as their ``resampling_fn_mask``, ``spacing_style``
  "median", which is how nnU-Net chooses its spacing), ``configurations`` as ``{configuration name: configuration}``
  (master reads its ``spacing`` and ``patch_size``);
- ``key_to_encoder``, ``key_to_stem``, ``keys_to_in_proj``, ``key_to_lpe``: the network instance's own attributes
  (dynamic_network_architectures >= 0.4 sets them; master loads the stem under ``key_to_stem`` and the encoder
  under ``key_to_encoder``), with the same values for older versions that lack them.

:func:`record_from_adaptation_plan` turns a DKFZ block into our adaptation record, so our fine-tune trainers load a
DKFZ checkpoint through ``nnSSL_PRETRAINED``: the encoder (``key_to_encoder``) and the stem (``key_to_stem``),
both with nnU-Net's ``decoder.`` alias of the encoder.
"""

import copy

DKFZ_KEY = "nnssl_adaptation_plan"
PLAIN = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
RESENC = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
#: what dynamic_network_architectures >= 0.4 sets on its U-Nets (used when an older version lacks the attributes)
NETWORK_KEYS = {
    PLAIN: {"key_to_encoder": "encoder.stages", "key_to_stem": "encoder.stages.0",
            "keys_to_in_proj": ["encoder.stages.0.0.convs.0.all_modules.0", "encoder.stages.0.0.convs.0.conv"],
            "key_to_lpe": None},
    RESENC: {"key_to_encoder": "encoder.stages", "key_to_stem": "encoder.stem",
             "keys_to_in_proj": ["encoder.stem.convs.0.conv", "encoder.stem.convs.0.all_modules.0"],
             "key_to_lpe": None},
}
#: nnU-Net's planners whose plans build each class (what a mismatch message suggests)
PLANNERS = {PLAIN: "nnssl_pretrain's default planner (nnU-Net's ExperimentPlanner)",
            RESENC: "-pl nnUNetPlannerResEncM (or L, XL)"}


#: DKFZ's ``Plan`` fields (``src/nnssl/experiment_planning/experiment_planners/plan.py``): no more, no fewer
PLAN_FIELDS = ("dataset_name", "plans_name", "original_median_spacing_after_transp", "image_reader_writer",
               "transpose_forward", "transpose_backward", "experiment_planner_used")


def configuration_plan(conf: dict) -> dict:
    """One nnU-Net configuration as DKFZ's ``ConfigurationPlan`` (exactly its fields)."""
    return {"data_identifier": conf.get("data_identifier"), "preprocessor_name": conf.get("preprocessor_name"),
            "spacing_style": "median", "normalization_schemes": conf.get("normalization_schemes"),
            "use_mask_for_norm": conf.get("use_mask_for_norm"), "resampling_fn_data": conf.get("resampling_fn_data"),
            "resampling_fn_data_kwargs": conf.get("resampling_fn_data_kwargs"),
            "resampling_fn_mask": conf.get("resampling_fn_seg"),
            "resampling_fn_mask_kwargs": conf.get("resampling_fn_seg_kwargs"),
            "spacing": conf.get("spacing"), "patch_size": conf.get("patch_size")}


def network_keys(network, class_name: str) -> dict:
    """``key_to_encoder``, ``key_to_stem``, ``keys_to_in_proj``, ``key_to_lpe`` of a network instance (or of its class
    for a dynamic_network_architectures version that does not set them)."""
    fallback = NETWORK_KEYS.get(class_name, NETWORK_KEYS[PLAIN])
    out = {}
    for key, default in fallback.items():
        value = getattr(network, key, default) if network is not None else default
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def adaptation_plan(plans: dict, configuration: str, num_input_channels: int, network=None) -> dict:
    """The ``nnssl_adaptation_plan`` of a checkpoint pretrained with ``plans``/``configuration`` (``network``: the
    plans-built network, whose key attributes are written)."""
    conf = plans["configurations"][configuration]
    arch = conf["architecture"]
    pretrain_plan = {k: plans.get(k) for k in PLAN_FIELDS}
    pretrain_plan["configurations"] = {configuration: configuration_plan(conf)}
    return {
        "architecture_plans": {"arch_class_name": arch["network_class_name"],
                               "arch_kwargs": copy.deepcopy(arch["arch_kwargs"]),
                               "arch_kwargs_requiring_import": list(arch.get("_kw_requires_import", []))},
        "pretrain_plan": pretrain_plan,
        "pretrain_num_input_channels": int(num_input_channels),
        "recommended_downstream_patchsize": [int(p) for p in conf["patch_size"]],
        **network_keys(network, arch["network_class_name"]),
    }


def class_of_plan(plan: dict) -> str | None:
    """The dotted network class an adaptation plan describes (DKFZ writes short names such as ``ResEncL``)."""
    name = (plan.get("architecture_plans") or {}).get("arch_class_name")
    if not isinstance(name, str):
        return None
    for full in (PLAIN, RESENC):
        if name == full or name == full.rsplit(".", 1)[-1]:
            return full
    return RESENC if name.startswith("ResEnc") else name


def record_from_adaptation_plan(plan: dict, path: str) -> dict:
    """Our adaptation record for a DKFZ checkpoint (what the transfer loader needs): encoder and stem prefixes.

    Raises:
        ValueError: naming the path when the block lacks ``key_to_encoder``.
    """
    encoder = plan.get("key_to_encoder")
    if not encoder:
        raise ValueError(f"{path}: its {DKFZ_KEY} has no key_to_encoder; cannot tell which weights to transfer")
    prefixes = []
    for key in (encoder, plan.get("key_to_stem")):
        if not key:
            continue
        key = key.rstrip(".") + "."
        if key.startswith("encoder.") and not any(key.startswith(p) for p in prefixes):
            prefixes += [key, "decoder." + key]  # nnU-Net's U-Nets hold the encoder twice
        elif not any(key.startswith(p) for p in prefixes):
            prefixes.append(key)
    pretrain = plan.get("pretrain_plan") or {}
    return {"method": "dkfz_nnssl", "transfer_prefixes": prefixes,
            "plans_identifier": pretrain.get("plans_name", "?"), "configuration": "?",
            "num_input_channels": plan.get("pretrain_num_input_channels"),
            "network_arch_class_name": class_of_plan(plan),
            "source": "MIC-DKFZ/nnssl adaptation plan"}
