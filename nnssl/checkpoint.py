"""The prefix-filtered, shape-checked transfer of a pretrained checkpoint into a fine-tuning network.

The checkpoint format itself (keys, record, reading and writing) is ``nnssl/checkpoint_format.py``. The state
dict holds the encoder twice (``encoder.*`` and ``decoder.encoder.*``); both copies are the same tensors and both
count as "encoder".
"""

import os
from dataclasses import dataclass, field

import torch
from torch import nn

from nnssl import checkpoint_format
from nnssl.interop import DKFZ_KEY, PLANNERS, network_keys, record_from_adaptation_plan
from nnssl.output_layers import copy_matched_rows, describe, layout_from_record, match_classes
from nnssl.planning.block import NnsslBlock

ENCODER_PREFIXES = ("encoder.", "decoder.encoder.")
DECODER_PREFIXES = ("decoder.transpconvs.", "decoder.stages.")
PRETRAINED_ENV = "nnSSL_PRETRAINED"
ALLOW_OTHER_METHOD_ENV = "nnSSL_ALLOW_OTHER_METHOD"


def unwrap(network: nn.Module) -> nn.Module:
    """The plain module behind DDP and torch.compile wrappers."""
    if isinstance(network, torch.nn.parallel.DistributedDataParallel):
        network = network.module
    return getattr(network, "_orig_mod", network)


def transferable_keys(state_dict: dict, prefixes) -> list[str]:
    """Keys under any of ``prefixes``; segmentation heads are never transferred."""
    return [k for k in state_dict if k.startswith(tuple(prefixes)) and ".seg_layers." not in k]


def check_transfer(source: dict, target: dict, prefixes) -> list[str]:
    """Problems that would stop ``source`` weights from loading into ``target`` under ``prefixes``."""
    keys = transferable_keys(source, prefixes)
    problems = [] if keys else [f"no weights under prefixes {list(prefixes)}"]
    for k in keys:
        if k not in target:
            problems.append(f"{k}: missing in the target network")
        elif tuple(target[k].shape) != tuple(source[k].shape):
            problems.append(f"{k}: pretrained {tuple(source[k].shape)} vs target {tuple(target[k].shape)}")
    return problems


def adapt_input_channels(source: dict, target: dict, prefixes) -> tuple[dict, list[str]]:
    """Fit the stem convolution of ``source`` to a target with another number of input channels.

    A conv kernel whose shape differs from the target's only in the input-channel axis (dim 1) is
    replaced by its sum over the pretrained channels divided by the target's channel count, repeated
    for every target channel: an input whose channels look alike then gives the stem the same
    response as the pretraining input did (1 -> 3 channels: each channel gets a third of the kernel).

    Returns:
        (state dict with the adapted tensors, the adapted keys).
    """
    adapted, out = [], dict(source)
    for k in transferable_keys(source, prefixes):
        s, t = source[k], target.get(k)
        if t is None or s.ndim < 3 or s.shape == t.shape:
            continue
        if s.shape[0] == t.shape[0] and s.shape[2:] == t.shape[2:] and s.shape[1] != t.shape[1]:
            out[k] = (s.sum(1, keepdim=True) / t.shape[1]).repeat(1, t.shape[1], *([1] * (s.ndim - 2)))
            adapted.append(k)
    return out, adapted


@dataclass
class TransferReport:
    """What the loader did."""

    checkpoint: str
    loaded: list[str] = field(default_factory=list)
    not_transferred: list[str] = field(default_factory=list)
    kept_fresh: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    origin: str = "nnssl"
    #: output-layer tensors whose matched class rows were copied (``nnssl/output_layers.py``)
    head_keys: list[str] = field(default_factory=list)
    #: one line per copied class channel: ``'<target class> (<label>) <- D<dataset>:<label> (<name>)'``
    matched_classes: list[str] = field(default_factory=list)
    #: loaded tensors per part of the network ("stem", "encoder", "decoder"; the decoder's encoder alias counts once)
    parts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """Human-readable summary for the training log."""
        fresh_keys = [k for k in self.kept_fresh if k not in self.head_keys]
        fresh = sorted({k.rsplit(".", 2)[0] for k in fresh_keys})
        heads = (f"; output layers class-matched ({len(self.head_keys)} tensors, {len(self.matched_classes)} class "
                 f"rows copied: {'; '.join(self.matched_classes)}; any other rows fresh)" if self.head_keys else "")
        parts = ", ".join(f"{k} {v}" for k, v in self.parts.items())
        return (f"nnssl: loaded {len(self.loaded)} tensors from {self.checkpoint}"
                f"{' (' + self.origin + ')' if self.origin != 'nnssl' else ''}"
                + (f" ({parts}, not counting nnU-Net's decoder.encoder alias)" if parts else "") + "; "
                f"{len(self.not_transferred)} checkpoint tensors outside the transfer prefixes were skipped; "
                f"{len(fresh_keys)} network tensors keep their fresh init"
                + (f" ({', '.join(fresh[:6])}{' ...' if len(fresh) > 6 else ''})" if fresh else "")
                + (f"; input channels adapted in {len(self.adapted)} stem tensors ({self.adapted[0]} ...: "
                   f"pretrained kernel summed over its channels, split evenly over the target's)"
                   if self.adapted else "") + heads)


def load_transferable_weights(network: nn.Module, path: str, expected_method: str | None = None,
                              only: tuple[str, ...] | None = None, target_labels: dict | None = None,
                              label_map: dict | None = None) -> TransferReport:
    """Load the transferable part of a nnssl checkpoint into ``network`` (DDP/compile aware).

    ``only`` narrows the checkpoint's transfer prefixes to those starting with one of its entries
    (``ENCODER_PREFIXES``: the encoder of a ``--transfer-decoder`` checkpoint, the rest stays fresh).
    With ``target_labels`` (the fine-tune's dataset.json labels), a checkpoint whose output layer is described by
    its record (``output_layout``) and whose decoder transfers too gets its class-matched output rows copied
    (``nnssl/output_layers.py``; ``label_map`` ``{target label: (dataset, label)}`` overrides name matching).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file has no adaptation record, a transferable tensor does not fit or is not
            finite, or (with ``expected_method``) the checkpoint comes from another method and
            ``$nnSSL_ALLOW_OTHER_METHOD`` is not set.
    """
    if os.path.isdir(path):
        raise ValueError(f"pretrained checkpoint {path} is a folder; set {PRETRAINED_ENV} to the checkpoint_final.pth "
                         "inside it")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained checkpoint {path} does not exist; run nnssl_pretrain first or set "
                                f"{PRETRAINED_ENV} to an existing checkpoint_final.pth")
    ckpt = checkpoint_format.read(path, foreign=True)
    record = ckpt.get(checkpoint_format.RECORD_KEY)
    if record is None:  # a MIC-DKFZ/nnssl checkpoint: transfer its encoder
        record = record_from_adaptation_plan(ckpt[DKFZ_KEY], path)
        expected_method = None
    module = unwrap(network)
    target = module.state_dict()
    prefixes = tuple(record["transfer_prefixes"])
    if only is not None:
        prefixes = tuple(p for p in prefixes if p.startswith(tuple(only)))
        if not prefixes:
            raise ValueError(f"checkpoint {path} transfers {record['transfer_prefixes']}, none of which starts with "
                             f"{list(only)}; fine-tune it with a trainer that transfers all of it")
    source, adapted = adapt_input_channels(ckpt["network_weights"], target, prefixes)
    keys = transferable_keys(source, prefixes)
    _refuse_misfits(path, record, source, target, prefixes, keys, module, expected_method)
    device_of = {k: v.device for k, v in target.items()}
    heads, matched = matched_output_rows(record, source, target, prefixes, target_labels, label_map)
    module.load_state_dict({**{k: source[k].to(device_of[k]) for k in keys},
                            **{k: v.to(device_of[k]) for k, v in heads.items()}}, strict=False)
    return TransferReport(path, loaded=keys, not_transferred=[k for k in source if k not in keys and k not in heads],
                          kept_fresh=[k for k in target if k not in keys], adapted=adapted,
                          origin=record.get("source", "nnssl"), head_keys=sorted(heads), matched_classes=matched,
                          parts=part_counts(keys, module))


def _refuse_misfits(path: str, record: dict, source: dict, target: dict, prefixes: tuple[str, ...], keys: list[str],
                    module: nn.Module, expected_method: str | None) -> None:
    """Raise ValueError (with the fix) for a checkpoint that does not fit this network, holds non-finite
    transferable tensors, or (with ``expected_method``) comes from another method unasked."""
    problems = check_transfer(source, target, prefixes)
    theirs, ours = record.get("network_arch_class_name"), f"{type(module).__module__}.{type(module).__name__}"
    if problems and theirs and theirs.rsplit(".", 1)[-1] != type(module).__name__:
        raise ValueError(f"checkpoint {path} holds a {theirs.rsplit('.', 1)[-1]}, but this network is a "
                         f"{type(module).__name__} (plans {record.get('plans_identifier')}); fine-tune it with plans "
                         f"that build a {theirs.rsplit('.', 1)[-1]}: plan the target with "
                         f"{PLANNERS.get(theirs, 'the planner that made it')} (nnssl_pretrain ... -t <target>), or "
                         f"use a checkpoint of a {type(module).__name__} ({PLANNERS.get(ours, '')})")
    if problems:
        raise ValueError(f"checkpoint {path} (plans {record['plans_identifier']}, configuration "
                         f"{record['configuration']}) does not fit this network: " + "; ".join(problems[:5])
                         + ". Either fine-tune with the plans that pretraining wrote (same -p and configuration), "
                           "or pretrain again for this dataset: nnssl_pretrain ... -t <this dataset> (a pooled "
                           "plan for both) or ... -t <this dataset> --plan-from-target (this dataset's existing plan)")
    bad = [k for k in keys if source[k].is_floating_point() and not bool(torch.isfinite(source[k]).all())]
    if bad:
        raise ValueError(f"checkpoint {path} holds non-finite values in {len(bad)} transferable tensors "
                         f"(e.g. {bad[0]}); its pretraining diverged. Re-run nnssl_pretrain with a lower --lr")
    if expected_method and record.get("method") != expected_method and not os.environ.get(ALLOW_OTHER_METHOD_ENV):
        raise ValueError(f"checkpoint {path} was pretrained with method {record.get('method')!r}, but this trainer "
                         f"fine-tunes {expected_method!r} checkpoints; use the trainer of that method, or set "
                         f"{ALLOW_OTHER_METHOD_ENV}=1 to load it deliberately")


def part_counts(keys: list[str], network: nn.Module) -> dict[str, int]:
    """Loaded tensors per part: the stem (the network's ``key_to_stem``), the rest of the encoder, the decoder
    (``decoder.encoder.*`` is the encoder again and is not counted twice)."""
    stem = network_keys(network, f"{type(network).__module__}.{type(network).__name__}")["key_to_stem"] + "."
    counts = {"stem": 0, "encoder": 0, "decoder": 0}
    for k in keys:
        if k.startswith("decoder.encoder."):
            continue
        part = "stem" if k.startswith(stem) else "encoder" if k.startswith("encoder.") else "decoder"
        counts[part] += 1
    return {k: v for k, v in counts.items() if v or k != "decoder"}


def matched_output_rows(record: dict, source: dict, target: dict, prefixes, target_labels: dict | None,
                        label_map: dict | None) -> tuple[dict, list[str]]:
    """The target's output-layer tensors with the class-matched rows of ``source`` copied, and a line per copied
    class; nothing when the record describes no output layer, the decoder does not transfer (an output layer on a
    fresh decoder would read features it was never trained on) or no class matches."""
    layout = layout_from_record(record)
    if not target_labels or layout is None or not any(p.startswith(DECODER_PREFIXES) for p in prefixes):
        return {}, []
    matches = match_classes(target_labels, layout, label_map)
    if not matches:
        return {}, []
    return copy_matched_rows(target, source, matches), describe(matches, target_labels)


def resolve_pretrained_checkpoint(plans: dict, configuration: str, run_name: str) -> str:
    """Checkpoint of ``run_name`` for ``configuration``: ``$nnSSL_PRETRAINED`` if set, else the plans' record.

    Raises:
        ValueError: when neither names a checkpoint, with the command that fixes it.
    """
    override = os.environ.get(PRETRAINED_ENV)
    if override:
        return override
    block = NnsslBlock.from_plans(plans, f"plans {plans.get('plans_name')} of {plans.get('dataset_name')}")
    recorded = block.pretrained if block else {}
    if run_name not in recorded.get(configuration, {}):
        have = ", ".join(f"{c}/{r}" for c, runs in sorted(recorded.items())
                         if isinstance(runs, dict) for r in sorted(runs)) or "none"
        raise ValueError(f"plans {plans.get('plans_name')} of {plans.get('dataset_name')} record no pretrained "
                         f"'{run_name}' checkpoint for configuration {configuration} (recorded: {have}). Run "
                         f"nnssl_pretrain -d <sources> -m {run_name} -t <this dataset> -c {configuration}, pass "
                         f"-p <the nnssl plans>, or set {PRETRAINED_ENV}=<path>")
    return recorded[configuration][run_name]
