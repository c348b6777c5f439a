"""Frozen pooled plans and pool recipes as versioned JSON (the repository's ``plans/`` folder).

A plans file holds a *recipe* (sources, target, configuration, batch override, method, schedule) and
the *plan* nnU-Net made for that pool (spacing, patch, topology, ...). ``nnssl_pretrain --plans-from
FILE`` fills the command's options from the recipe (options given on the command line win) and uses
the frozen plan instead of planning, so a run is the same on every machine and nnU-Net version.
``nnssl_pretrain ... --save-plans FILE`` writes one from a run.
"""

import copy
import difflib
import os

from nnssl.io import atomic_save_json, load_json

VERSION = 1
#: recipe keys and the nnssl_pretrain option each one fills
RECIPE_OPTIONS = {"sources": "datasets", "target": "target", "configuration": "configuration",
                  "plan_batch_size": "plan_batch_size", "method": "method", "schedule": "schedule"}
REQUIRED_CONFIGURATION_KEYS = ("data_identifier", "preprocessor_name", "batch_size", "patch_size", "spacing",
                               "normalization_schemes", "architecture")
REQUIRED_PLAN_KEYS = ("transpose_forward", "transpose_backward", "configurations")
#: refuse patches and batches that no machine trains: voxels per patch, and voxels per batch (patch x batch);
#: nnU-Net's own plans for 8 GB GPUs stay far below (e.g. 128^3 x 2 = 4.2e6)
MAX_PATCH_VOXELS = 512 ** 3
MAX_BATCH_VOXELS = 2 ** 28


def _is_number(v) -> bool:
    import math

    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def plan_problems(plan: dict, configuration: str) -> list[str]:
    """What makes a frozen plan unusable, checked as a whole before anything is written (types, keys, ranges)."""
    problems = [f"the plan lacks {k!r}" for k in REQUIRED_PLAN_KEYS if k not in plan]
    for key in ("transpose_forward", "transpose_backward"):
        value = plan.get(key)
        if key in plan and (not isinstance(value, list) or sorted(value) != list(range(len(value)))):
            problems.append(f"{key} = {value!r} must be a permutation such as [0, 1, 2]")
    conf = plan.get("configurations", {}).get(configuration)
    if not isinstance(conf, dict):
        return problems
    problems += [f"configuration {configuration!r} lacks {k!r}" for k in REQUIRED_CONFIGURATION_KEYS if k not in conf]
    batch, patch, spacing = conf.get("batch_size"), conf.get("patch_size"), conf.get("spacing")
    if "batch_size" in conf and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        problems.append(f"batch_size = {batch!r} must be an integer >= 1")
    if "patch_size" in conf and (not isinstance(patch, list) or not patch
                                 or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in patch)):
        problems.append(f"patch_size = {patch!r} must be a list of positive integers")
        patch = None
    if "spacing" in conf and (not isinstance(spacing, list) or not all(_is_number(x) and x > 0 for x in spacing)):
        problems.append(f"spacing = {spacing!r} must be a list of positive numbers")
    elif isinstance(patch, list) and isinstance(spacing, list) and len(spacing) != len(patch):
        problems.append(f"spacing {spacing} and patch_size {patch} have different lengths")
    if isinstance(patch, list) and patch:
        voxels = 1
        for x in patch:
            voxels *= x
        if voxels > MAX_PATCH_VOXELS:
            problems.append(f"patch_size {patch} has {voxels:.3g} voxels (limit {MAX_PATCH_VOXELS:.3g}); no GPU or CPU "
                            "trains it. Use the plan nnU-Net made, or a smaller patch")
        elif isinstance(batch, int) and batch >= 1 and voxels * batch > MAX_BATCH_VOXELS:
            problems.append(f"batch_size {batch} x patch_size {patch} = {voxels * batch:.3g} voxels per step (limit "
                            f"{MAX_BATCH_VOXELS:.3g}); lower batch_size or the patch")
    arch = conf.get("architecture")
    arch_ok = isinstance(arch, dict) and {"network_class_name", "arch_kwargs"} <= set(arch)
    if "architecture" in conf and not arch_ok:
        problems.append("architecture must hold network_class_name and arch_kwargs")
    elif arch_ok:
        from nnssl.planning.architecture import architecture_problems

        problems += architecture_problems(arch, patch if isinstance(patch, list) else None)
    schemes = conf.get("normalization_schemes")
    schemes_ok = isinstance(schemes, list) and all(isinstance(x, str) for x in schemes)
    if "normalization_schemes" in conf and not schemes_ok:
        problems.append(f"normalization_schemes = {schemes!r} must be a list of scheme names")
    from nnssl.names import name_problem

    for key in ("data_identifier", "preprocessor_name"):
        problem = name_problem(conf[key]) if key in conf else None
        if problem:  # data_identifier becomes a folder below nnUNet_preprocessed/<dataset>
            problems.append(f"{key}: {problem}")
    return problems


def plans_folder() -> str:
    """The repository's ``plans/`` folder (next to the ``nnssl`` package in a source checkout)."""
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "plans"))


def available() -> list[str]:
    folder = plans_folder()
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".json")) if os.path.isdir(folder) else []


def resolve(name_or_path: str) -> str:
    """A plans file path from a path or a name in ``plans/``; ValueError naming the closest names."""
    if os.path.isfile(name_or_path):
        return name_or_path
    candidate = os.path.join(plans_folder(), f"{name_or_path.removesuffix('.json')}.json")
    if os.path.isfile(candidate):
        return candidate
    names = available()
    close = difflib.get_close_matches(name_or_path, names, n=1)
    raise ValueError(f"--plans-from {name_or_path!r}: no such file, and no plans/{name_or_path}.json"
                     + (f" (did you mean {close[0]!r}?)" if close else "")
                     + f"; available: {', '.join(names) or 'none'}")


def load(name_or_path: str) -> dict:
    """Read and validate a plans file.

    Raises:
        ValueError: naming the file and what is wrong with it.
    """
    import json

    path = resolve(name_or_path)
    try:
        data = load_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"--plans-from {path}: not a JSON file ({e}); give a plans file that nnssl_pretrain "
                         "--save-plans wrote, or a name in plans/") from None
    if not isinstance(data, dict):
        raise ValueError(f"--plans-from {path}: holds a {type(data).__name__}, not a plans object")
    if data.get("nnssl_plans_version") != VERSION:
        raise ValueError(f"{path}: nnssl_plans_version is {data.get('nnssl_plans_version')!r}, this nnssl reads "
                         f"{VERSION}")
    recipe, plan = data.get("recipe"), data.get("plan")
    if not isinstance(recipe, dict) or not isinstance(plan, dict):
        raise ValueError(f"{path}: needs a 'recipe' and a 'plan' object")
    unknown = sorted(set(recipe) - set(RECIPE_OPTIONS))
    if unknown:
        raise ValueError(f"{path}: unknown recipe key(s) {unknown}; known: {sorted(RECIPE_OPTIONS)}")
    configuration = recipe.get("configuration")
    confs = plan.get("configurations", {})
    if configuration not in confs:
        raise ValueError(f"{path}: the plan has no configuration {configuration!r} (it has {sorted(confs)})")
    problems = plan_problems(plan, configuration)
    if problems:
        raise ValueError(f"{path}: the frozen plan cannot be used, nothing was written: " + "; ".join(problems))
    return data


def apply_recipe(args, data: dict, given: set[str]) -> None:
    """Fill ``args`` from the recipe, except the options in ``given`` (typed on the command line)."""
    for key, option in RECIPE_OPTIONS.items():
        if key in data["recipe"] and option not in given:
            setattr(args, option, data["recipe"][key])


def frozen_plan(data: dict, configurations) -> dict:
    """The frozen plan restricted to ``configurations``, ready to be written into every dataset."""
    plan = copy.deepcopy(data["plan"])
    missing = [c for c in configurations if c not in plan["configurations"]]
    if missing:
        raise ValueError(f"the frozen plan has no configuration {missing}; it has {sorted(plan['configurations'])}")
    plan["configurations"] = {c: plan["configurations"][c] for c in configurations}
    return plan


def save(path: str, recipe: dict, pooled: dict, description: str = "") -> None:
    """Write the recipe of this run (``PretrainRequest.recipe()``) and its pooled plan as a plans file."""
    plan = copy.deepcopy(pooled)
    for key in ("nnssl", "dataset_name"):
        plan.pop(key, None)
    unknown = sorted(set(recipe) - set(RECIPE_OPTIONS))
    if unknown:
        raise ValueError(f"recipe key(s) {unknown} are not read back by --plans-from (known: {sorted(RECIPE_OPTIONS)})")
    atomic_save_json({"nnssl_plans_version": VERSION, "description": description, "recipe": recipe, "plan": plan},
                     path)
