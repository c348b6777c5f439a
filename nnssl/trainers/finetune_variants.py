"""Every method's fine-tune trainer classes, derived from its ``Method``: the same variants for every method.

``<Method>FinetuneTrainer`` (the method's ``finetune_trainer`` name) fine-tunes from that method's checkpoint with
the ``PRETRAINED`` schedule; each variant puts what it changes in the class name (nnU-Net's idiom, so the result
folder names it):

- ``_frozenEncoderWarmup``: transferred weights frozen for the first 5 % of epochs, then warmed up;
- ``_linearProbe``: transferred weights frozen for the whole run (diagnostic);
- ``_nnUNetSchedule``: nnU-Net's scratch recipe on the pretrained init (the fair comparison with scratch);
- ``_warmup``: the scratch baseline's warm-up schedule, lr 1e-2 for every weight (init is the only difference);
- ``_headsFirst``: only the output layers (class-matched or fresh) and other fresh weights train for the first 10 %
  of the steps, warming up to their peak; then every weight warms up over 10 % and decays (LP-FT, MultiTalent);
- ``_decoderFirst``: the transferred encoder frozen for the first 20 % while decoder and output layers warm up and
  decay (sawtooth); then every weight warms up and decays (for checkpoints that transfer the encoder only);
- ``_encoderOnly``, ``_nnUNetSchedule_encoderOnly``: only the encoder of a checkpoint that transfers the decoder
  too loads, the decoder stays fresh (the paired decoder ablation);
- ``_5epochs`` (5 x 250), ``_5ep20it`` (5 x 20, demo), ``_2ep5it`` (2 x 5, smoke tests), alone or after
  ``_nnUNetSchedule``.

The classes are made once per method and cached, so a name always means the same class object.
"""

import functools

from nnssl.checkpoint import ENCODER_PREFIXES
from nnssl.methods.method import Method
from nnssl.trainers.finetune import nnsslScratchTrainer
from nnssl.trainers.finetune_schedule import (
    DECODER_FIRST,
    FROZEN_ENCODER_WARMUP,
    HEADS_FIRST,
    LINEAR_PROBE,
    NNUNET_DEFAULT,
    PRETRAINED,
    WARMUP,
    FinetuneSchedule,
    shortened,
)

#: suffix -> (schedule, transfer_only, what it changes); "" is the method's own trainer
VARIANTS: dict[str, tuple[FinetuneSchedule, tuple[str, ...] | None, str]] = {
    "": (PRETRAINED, None, "warm-up schedule, transferred weights at peak lr 1e-3"),
    "frozenEncoderWarmup": (FROZEN_ENCODER_WARMUP, None, "transferred weights frozen for the first 5 % of epochs"),
    "linearProbe": (LINEAR_PROBE, None, "transferred weights frozen for the whole run (diagnostic)"),
    "nnUNetSchedule": (NNUNET_DEFAULT, None, "nnU-Net's scratch recipe on the pretrained init"),
    "headsFirst": (HEADS_FIRST, None, "output layers and fresh weights first (10 % of the steps), then every weight"),
    "decoderFirst": (DECODER_FIRST, None, "encoder frozen for 20 % while the rest warms up and decays, then all"),
    "headsFirst_2ep5it": (shortened(HEADS_FIRST, "2ep5it", 2, 5, 2), None, "headsFirst, 2 x 5 iterations (smoke)"),
    "warmup": (WARMUP, None, "exactly nnsslScratchTrainer_warmup's schedule (one lr for all weights)"),
    "encoderOnly": (PRETRAINED, ENCODER_PREFIXES, "only the checkpoint's encoder loads (the decoder stays fresh)"),
    "nnUNetSchedule_encoderOnly": (NNUNET_DEFAULT, ENCODER_PREFIXES,
                                   "nnU-Net's recipe, only the checkpoint's encoder loads"),
    "5epochs": (shortened(PRETRAINED, "5epochs", 5), None, "5 x 250 iterations"),
    "5ep20it": (shortened(PRETRAINED, "5ep20it", 5, 20, 5), None, "5 x 20 iterations (demo)"),
    "2ep5it": (shortened(PRETRAINED, "2ep5it", 2, 5, 2), None, "2 x 5 iterations (smoke tests)"),
    "nnUNetSchedule_5epochs": (shortened(NNUNET_DEFAULT, "5epochs", 5), None,
                               "nnU-Net's recipe, 5 x 250 iterations: pairs with nnsslScratchTrainer_5epochs"),
    "nnUNetSchedule_5ep20it": (shortened(NNUNET_DEFAULT, "5ep20it", 5, 20, 5), None,
                               "nnU-Net's recipe, 5 x 20 iterations: pairs with nnsslScratchTrainer_5ep20it"),
    "nnUNetSchedule_2ep5it": (shortened(NNUNET_DEFAULT, "2ep5it", 2, 5, 2), None,
                              "nnU-Net's recipe, 2 x 5 iterations: pairs with nnsslScratchTrainer_2ep5it"),
}


@functools.cache
def _classes(name: str, base_name: str) -> dict[str, type]:
    classes: dict[str, type] = {}
    for suffix, (schedule, only, what) in VARIANTS.items():
        cls_name = f"{base_name}_{suffix}" if suffix else base_name
        parent = classes.get(base_name, nnsslScratchTrainer)
        doc = (f"Fine-tune from ``nnssl_pretrain -m {name} -t <this dataset>``: {what}." if not suffix
               else f"``{base_name}`` variant: {what}.")
        classes[cls_name] = type(cls_name, (parent,), {"__doc__": doc, "__module__": __name__, "ssl_run": name,
                                                       "schedule": schedule, "transfer_only": only})
    return classes


def finetune_trainers(method: Method) -> dict[str, type]:
    """{class name: class} of ``method``'s fine-tune trainer and every variant (the same objects on every call)."""
    return dict(_classes(method.name, method.finetune_trainer))


def finetune_trainer_class(name: str) -> type:
    """The nnssl fine-tune or scratch trainer class called ``name``.

    Raises:
        ValueError: naming the unknown class and the variants of its method.
    """
    from nnssl.methods.registry import method_of_finetune_trainer
    from nnssl.trainers.finetune import SCRATCH_TRAINERS

    scratch = {cls.__name__: cls for cls in SCRATCH_TRAINERS}
    if name in scratch:
        return scratch[name]
    method = method_of_finetune_trainer(name)
    classes = finetune_trainers(method) if method else {}
    if name not in classes:
        base = method.finetune_trainer if method else None
        known = ", ".join(sorted(n.removeprefix(base + "_") for n in classes if n != base)) if base else ""
        raise ValueError(f"no nnssl trainer {name!r}" + (f"; {base} has the variants {known}" if base else
                                                           f"; scratch trainers: {', '.join(scratch)}"))
    return classes[name]
