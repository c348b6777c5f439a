"""Class-matched output layers: carry the rows of a pretrained output layer over to the target's classes.

A supervised pool model's output layer (nnU-Net's ``decoder.seg_layers.<i>``, one per deep-supervision output)
has one channel per class of every source dataset (``nnssl/losses/partial.py``'s ``ClassLayout``: background,
then each dataset's labels). When the fine-tune's classes are classes the pool was trained on, starting that layer
from random throws away what the pool taught and, at nnU-Net's lr, a random head distorts the transferred
features (Kumar et al., ICLR 2022; ``documentation/finetuning.md``). So the matching rows of every output layer
(weight and bias; background included) are copied, and only the unmatched rows start fresh.

Matching, in this order:

1. an explicit map ``{target label: (source dataset, source label)}``, from ``nnssl_pretrain --label-map
   200:1=101:3,200:2=101:1`` (stored in the target's plans ``nnssl`` block);
2. else by label name (case-insensitive, separators ``_ - . space`` ignored) within **one** source dataset: the
   source dataset that names the most target classes. Two source datasets that name equally many is ambiguous
   and needs the map.

With the dc_ce partial loss (a softmax over background plus the item's own dataset's channels) the copied rows
reproduce the pool model's prediction for that dataset exactly, before the first fine-tuning step.

Layout records (``output_layout`` in a checkpoint's adaptation record): one dict per output channel,
``{"channel": c, "dataset": d, "label": l, "name": n}`` with ``dataset`` None for the shared background.
"""

import re

import torch

SEG_LAYER = re.compile(r"(^|\.)seg_layers\.\d+\.(weight|bias)$")
_SEPARATORS = re.compile(r"[\s_\-.]+")


def normalise(name: str) -> str:
    """A label name for matching: lower case, separators removed (``Left_Kidney`` == ``left kidney``)."""
    return _SEPARATORS.sub("", str(name)).lower()


def layout_records(layout, names: dict[int, dict[int, str]]) -> list[dict]:
    """The ``output_layout`` of a ``ClassLayout`` with each source's label names ({dataset: {label: name}})."""
    out = [{"channel": 0, "dataset": None, "label": 0, "name": "background"}]
    for d in layout.datasets:
        for v in layout.labels[d]:
            out.append({"channel": layout.channel(d, v), "dataset": int(d), "label": int(v),
                        "name": names.get(d, {}).get(v, f"label {v}")})
    return out


def layout_from_record(record: dict) -> list[dict] | None:
    """The output layout a checkpoint's record describes (None when its output layer is not transferable).

    Older nnssl checkpoints carry only ``output_classes`` (``["background", "D601:1", ...]``): their channels
    match by an explicit map only (no names).
    """
    if isinstance(record.get("output_layout"), list):
        return record["output_layout"]
    classes = record.get("output_classes")
    if not isinstance(classes, list):
        return None
    out = []
    for c, text in enumerate(classes):
        m = re.fullmatch(r"D(\d+):(\d+)", str(text))
        out.append({"channel": c, "dataset": int(m[1]) if m else None, "label": int(m[2]) if m else 0,
                    "name": None if m else "background"})
    return out


def parse_label_map(text: str, target: int | None = None) -> dict[int, tuple[int, int]]:
    """``"200:1=101:3,200:2=101:1"`` as ``{1: (101, 3), 2: (101, 1)}`` (target label -> source dataset, label).

    Raises:
        ValueError: naming the bad item and the expected form, or an item for another target than ``target``.
    """
    out: dict[int, tuple[int, int]] = {}
    for item in (s.strip() for s in text.split(",") if s.strip()):
        m = re.fullmatch(r"(\d+):(\d+)=(\d+):(\d+)", item)
        if not m:
            raise ValueError(f"--label-map item {item!r} is not TARGET:LABEL=SOURCE:LABEL (e.g. 200:1=101:3)")
        t, tl, s, sl = map(int, m.groups())
        if target is not None and t != target:
            raise ValueError(f"--label-map item {item!r} names target {t}, but the target is {target} (-t)")
        if tl == 0 or sl == 0:
            raise ValueError(f"--label-map item {item!r}: background (0) always maps to background; map foreground "
                             "labels only")
        if tl in out:
            raise ValueError(f"--label-map maps target label {tl} twice")
        out[tl] = (s, sl)
    if not out:
        raise ValueError(f"--label-map {text!r} maps nothing; give TARGET:LABEL=SOURCE:LABEL,...")
    return out


def match_classes(target_labels: dict[str, int], layout: list[dict],
                  label_map: dict[int, tuple[int, int]] | None = None) -> dict[int, dict]:
    """Target channel -> the layout record it copies (background included when anything matched).

    Args:
        target_labels: the fine-tune's ``dataset.json`` ``labels`` (name -> integer label; regions unsupported).
        layout: the checkpoint's output layout (:func:`layout_records`).
        label_map: an explicit map, which wins over names.

    Raises:
        ValueError: an explicit map naming a class the checkpoint has no channel for, or a name match that is
            ambiguous (equally many target classes named in two source datasets), with the fix.
    """
    plain = {int(v): k for k, v in target_labels.items() if k != "ignore" and isinstance(v, int) and int(v) != 0}
    by_pair = {(r["dataset"], r["label"]): r for r in layout if r["dataset"] is not None}
    found: dict[int, dict] = {}
    if label_map:
        for tl, pair in sorted(label_map.items()):
            if tl not in plain:
                raise ValueError(f"label map: target label {tl} is not a class of the target (its labels: "
                                 f"{sorted(plain)})")
            if tuple(pair) not in by_pair:
                have = ", ".join(f"{d}:{label}" for d, label in sorted(by_pair))
                raise ValueError(f"label map: {tl} -> {pair[0]}:{pair[1]}, but the checkpoint's output layer has no "
                                 f"such class (it has {have})")
            found[tl] = by_pair[tuple(pair)]
    else:
        per_dataset: dict[int, dict[int, dict]] = {}
        for tl, name in plain.items():
            for r in layout:
                if r["dataset"] is not None and r.get("name") and normalise(r["name"]) == normalise(name):
                    per_dataset.setdefault(r["dataset"], {})[tl] = r
        if per_dataset:
            best = max(len(m) for m in per_dataset.values())
            winners = sorted(d for d, m in per_dataset.items() if len(m) == best)
            if len(winners) > 1:
                raise ValueError(f"the target's class names match source datasets {winners} equally well "
                                 f"({best} classes each); say which with nnssl_pretrain ... -t <target> --label-map "
                                 "TARGET:LABEL=SOURCE:LABEL,...")
            found = per_dataset[winners[0]]
    if found:
        background = next((r for r in layout if r["dataset"] is None), None)
        if background is not None:
            found = {0: background, **found}
    return found


def copy_matched_rows(target: dict, source: dict, matches: dict[int, dict]) -> dict[str, torch.Tensor]:
    """The target's output-layer tensors with the matched rows taken from ``source`` (all others unchanged).

    Shape: each ``*seg_layers.<i>.weight`` is (C, F, *k) and ``.bias`` (C,); target and source may differ in C
    only (C_target vs the pool's C_source).

    Raises:
        ValueError: when an output layer differs in anything but the class axis (another network), or a layer
            exists on one side only.
    """
    out = {}
    keys = sorted(k for k in target if SEG_LAYER.search(k))
    missing = [k for k in keys if k not in source]
    if missing:
        raise ValueError(f"the checkpoint has no output layer {missing[0]} (the target network has {len(keys)} "
                         "output tensors)")
    for k in keys:
        t, s = target[k], source[k]
        if tuple(t.shape[1:]) != tuple(s.shape[1:]):
            raise ValueError(f"{k}: pretrained {tuple(s.shape)} vs target {tuple(t.shape)} differ beyond the class "
                             "axis")
        new = t.detach().clone()
        for tc, r in matches.items():
            new[tc] = s[r["channel"]].to(new.dtype)
        out[k] = new
    return out


def describe(matches: dict[int, dict], target_labels: dict[str, int]) -> list[str]:
    """One ``'<target class> <- D<dataset>:<label> (<name>)'`` line per copied channel."""
    names = {int(v): k for k, v in target_labels.items() if isinstance(v, int)}
    lines = []
    for tc, r in sorted(matches.items()):
        src = "background" if r["dataset"] is None else f"D{r['dataset']}:{r['label']} ({r.get('name') or '?'})"
        lines.append(f"{names.get(tc, tc)} ({tc}) <- {src}")
    return lines
