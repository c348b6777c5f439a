"""The table every method's fine-tune trainer variants are derived from (``nnssl/trainers/finetune_variants.py``).

One row per variant: the class-name suffix, its schedule, which checkpoint prefixes it loads (None: what the
checkpoint's record says) and a line saying what it changes (the class docstring).
"""

from nnssl.checkpoint import ENCODER_PREFIXES
from nnssl.trainers.finetune_presets import (
    DECODER_FIRST,
    FROZEN_ENCODER_WARMUP,
    HEADS_FIRST,
    LINEAR_PROBE,
    NNUNET_DEFAULT,
    PRETRAINED,
    WARMUP,
    shortened,
)
from nnssl.trainers.finetune_schedule import FinetuneSchedule

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
