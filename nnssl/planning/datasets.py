"""nnU-Net's dataset folders as nnssl sees them: the environment, dataset ids and names, pool names, pool checks."""

import os
import re

from nnssl.io import load_json

ENV_VARS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
POOL_PREFIX = "nnsslPool_"
POOL_ID_RANGE = range(900, 1000)


def check_environment() -> None:
    """Raise a clear error when nnU-Net's folders are not configured, or the two nnssl writes to are not writable.

    Raises:
        OSError: naming the variable or the folder, and the fix (one line, before any work).
    """
    missing = [v for v in ENV_VARS if not os.environ.get(v)]
    if missing:
        raise OSError(f"environment variable(s) {', '.join(missing)} not set. nnssl uses nnU-Net's folders: "
                      f"export nnUNet_raw=..., nnUNet_preprocessed=... and nnUNet_results=... "
                      f"(see nnU-Net's documentation/setting_up_paths.md)")
    for var in ("nnUNet_preprocessed", "nnUNet_results"):
        folder = os.environ[var]
        existing = folder
        while existing and not os.path.exists(existing):  # a folder nnU-Net will create: its first existing parent
            existing = os.path.dirname(existing.rstrip(os.sep)) if existing != os.sep else ""
        if existing and not (os.path.isdir(existing) and os.access(existing, os.W_OK | os.X_OK)):
            raise OSError(f"{var}={folder} is not writable ({existing} is read-only or not a folder); point {var} "
                          "to a folder you can write to")


def raw_datasets() -> dict[int, list[str]]:
    """{id: [raw dataset folder names]} of every ``DatasetNNN_*`` folder with a dataset.json in nnUNet_raw."""
    root = os.environ["nnUNet_raw"]
    found: dict[int, list[str]] = {}
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        m = re.fullmatch(r"Dataset(\d{3})_.+", name)
        if m and os.path.isfile(os.path.join(root, name, "dataset.json")):
            found.setdefault(int(m.group(1)), []).append(name)
    return found


def resolve_dataset(dataset_id: int) -> str:
    """Name (``DatasetXXX_Name``) of a raw dataset, or a ValueError listing what exists.

    Raises:
        ValueError: when the id does not exist, or when two raw folders share it (nnU-Net would pick one).
    """
    found = raw_datasets()
    if len(found.get(dataset_id, [])) > 1:
        raise ValueError(f"dataset id {dataset_id} is used by {len(found[dataset_id])} folders in nnUNet_raw "
                         f"({', '.join(found[dataset_id])}); nnU-Net needs unique ids: renumber all but one")
    if dataset_id not in found:
        listing = ", ".join(f"{k} ({v[0]})" for k, v in found.items()) or "none"
        raise ValueError(f"dataset id {dataset_id} not found in nnUNet_raw={os.environ['nnUNet_raw']}; "
                         f"available: {listing}")
    return found[dataset_id][0]


def validate_pool(source_ids, target_id, require_labels: bool) -> tuple[dict[int, str], tuple[int, str] | None]:
    """Check a pool before any work: ids exist, no duplicates, same channels, labels present.

    Raises:
        ValueError: naming the offending dataset and the fix.
    """
    check_environment()
    if not source_ids:
        raise ValueError("give at least one source dataset with -d")
    if len(set(source_ids)) != len(source_ids):
        raise ValueError(f"duplicate dataset ids in -d {list(source_ids)}")
    if target_id is not None and target_id in source_ids:
        raise ValueError(f"target dataset {target_id} is also a pretraining source; pretraining on cases that "
                         f"are later scored inflates results. Remove it from -d or pool a disjoint copy")
    sources = {d: resolve_dataset(d) for d in source_ids}
    target = (target_id, resolve_dataset(target_id)) if target_id is not None else None
    raw = os.environ["nnUNet_raw"]
    channels = {}
    for d, name in [*sources.items(), *([target] if target else [])]:
        dj = load_json(os.path.join(raw, name, "dataset.json"))
        channels[d] = len(dj.get("channel_names", dj.get("modality", {})))
        if "labels" not in dj:
            raise ValueError(f"{name}/dataset.json has no 'labels' key; nnU-Net needs it, e.g. \"labels\": "
                             "{\"background\": 0, \"liver\": 1} (an unlabelled dataset declares background only)")
        labels = dj["labels"]
        if "ignore" in labels and d in sources:
            raise ValueError(f"dataset {name} has an ignore label; pooled pretraining does not support ignore "
                             f"labels yet. Remove it from the pool")
        if require_labels and d in sources and not any(v != 0 for k, v in labels.items() if k != "ignore"):
            raise ValueError(f"dataset {name} has no foreground labels, but this method needs labels. Remove it from "
                             "-d, use a label-free method (-m regression, -m global_local), or, with -m mixcl, "
                             "--allow-unlabelled (no label term)")
    if len(set(channels.values())) != 1:
        detail = ", ".join(f"{d}: {c}" for d, c in channels.items())
        raise ValueError(f"datasets have different numbers of input channels ({detail}); a pool needs the same "
                         f"channels in every dataset")
    return sources, target


def _existing_ids() -> set[int]:
    ids = set()
    for var in ENV_VARS:
        root = os.environ[var]
        if os.path.isdir(root):
            ids |= {int(m.group(1)) for n in os.listdir(root) if (m := re.fullmatch(r"Dataset(\d{3})_.+", n))}
    return ids


def pool_dataset_name(source_ids, pool_id: int | None = None) -> tuple[int, str]:
    """Reuse the pool of the same sources if it exists, else take the lowest free id in 900..999."""
    suffix = POOL_PREFIX + "_".join(str(d) for d in sorted(source_ids))
    pre = os.environ["nnUNet_preprocessed"]
    if pool_id is None and os.path.isdir(pre):
        for n in sorted(os.listdir(pre)):
            m = re.fullmatch(r"Dataset(\d{3})_(.+)", n)
            if m and m.group(2) == suffix:
                return int(m.group(1)), n
    taken = _existing_ids()
    if pool_id is None:
        free = [i for i in POOL_ID_RANGE if i not in taken]
        if not free:
            raise ValueError("no free dataset id in 900..999 for the pool; pass --pool-id")
        pool_id = free[0]
    elif pool_id in taken and not os.path.isdir(os.path.join(pre, f"Dataset{pool_id:03d}_{suffix}")):
        raise ValueError(f"--pool-id {pool_id} is already used by another dataset; choose a free id")
    return pool_id, f"Dataset{pool_id:03d}_{suffix}"
