"""A plan's network checked as a whole before anything is written: which class, its arguments, and a build.

nnU-Net builds the network from ``architecture.network_class_name`` and imports every name in
``_kw_requires_import`` with ``pydoc.locate``, then calls them: a frozen plan naming ``os.system`` would run it.
So the class must be one of dynamic_network_architectures' networks (the ones nnU-Net's planners write, its
residual-encoder presets included), the imported arguments must be ``torch.nn`` classes, the per-stage lists must
fit the stage count and the patch's dimensionality, and finally the network is built on the meta device (no
memory, no weights) with the plan's own arguments, which proves nnU-Net's trainer will build it too.
"""

import pydoc

#: the network classes nnU-Net's planners (default and residual-encoder presets) write into plans
ALLOWED_NETWORKS = (
    "dynamic_network_architectures.architectures.unet.PlainConvUNet",
    "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet",
)
#: per-stage argument lists and how long each must be (n_stages, or n_stages - 1 for the decoder)
STAGE_LISTS = {"features_per_stage": 0, "kernel_sizes": 0, "strides": 0, "n_conv_per_stage": 0,
               "n_blocks_per_stage": 0, "n_conv_per_stage_decoder": 1}


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def architecture_problems(arch, patch: list[int] | None, num_input_channels: int = 1) -> list[str]:
    """Why ``arch`` (a plan configuration's ``architecture``) cannot be built (empty: it builds)."""
    if not isinstance(arch, dict):
        return ["architecture must be an object"]
    name, kwargs = arch.get("network_class_name"), arch.get("arch_kwargs")
    if name not in ALLOWED_NETWORKS:
        return [f"network_class_name {name!r} is not one of nnU-Net's networks "
                f"({', '.join(_short(n) for n in ALLOWED_NETWORKS)}); nnssl only builds those"]
    if not isinstance(kwargs, dict):
        return ["arch_kwargs must be an object"]
    problems = []
    imports = arch.get("_kw_requires_import", [])
    if not isinstance(imports, list) or not all(isinstance(k, str) for k in imports):
        return ["_kw_requires_import must be a list of argument names"]
    for key in imports:
        value = kwargs.get(key)
        if value is not None and not (isinstance(value, str) and value.startswith("torch.nn.")
                                      and isinstance(pydoc.locate(value), type)):
            problems.append(f"arch_kwargs.{key} = {value!r} must name a torch.nn class (e.g. torch.nn.Conv3d)")
    n = kwargs.get("n_stages")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        return [*problems, f"arch_kwargs.n_stages = {n!r} must be a positive integer"]
    dims = len(patch) if isinstance(patch, list) else None
    for key, short in STAGE_LISTS.items():
        if key not in kwargs:
            continue
        value = kwargs[key]
        if isinstance(value, int) and not isinstance(value, bool) and key not in ("kernel_sizes", "strides"):
            continue  # DNA accepts one int for every stage
        if not isinstance(value, list) or len(value) != n - short:
            problems.append(f"arch_kwargs.{key} = {value!r} must be a list of {n - short} entries (n_stages {n})")
            continue
        if key in ("kernel_sizes", "strides"):
            bad = [v for v in value if not (isinstance(v, list) and all(isinstance(x, int) and x > 0 for x in v)
                                            and (dims is None or len(v) == dims))]
            if bad:
                problems.append(f"arch_kwargs.{key} entry {bad[0]!r} must be {dims or 'N'} positive integers (one "
                                "per patch axis)")
        elif not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            problems.append(f"arch_kwargs.{key} = {value!r} must hold positive integers")
    return problems or _build_problems(arch, num_input_channels)


def _build_problems(arch: dict, num_input_channels: int) -> list[str]:
    """Build the network on the meta device; the builder's error if it fails."""
    import torch
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    try:
        with torch.device("meta"):
            get_network_from_plans(arch["network_class_name"], arch["arch_kwargs"],
                                   arch.get("_kw_requires_import", []), num_input_channels, 2, allow_init=False,
                                   deep_supervision=True)
    except Exception as e:  # whatever the builder raises names the bad argument; report it, do not crash
        return [f"the network does not build from these arch_kwargs: {type(e).__name__}: {str(e).splitlines()[0]}"]
    return []
