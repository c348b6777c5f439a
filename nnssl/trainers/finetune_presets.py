"""The named fine-tuning schedules (``nnssl/trainers/finetune_schedule.py`` holds their maths): nnU-Net's recipe, the
warm-ups for pretrained inits, heads first, decoder first, the linear probe; and their short-budget copies."""

import dataclasses

from nnssl.trainers.finetune_schedule import FinetuneSchedule

#: nnU-Net's scratch recipe: SGD lr 1e-2, poly, no warm-up (the strongest scratch baseline)
NNUNET_DEFAULT = FinetuneSchedule(name="nnUNet")
#: the same warm-up shape for every parameter: the "same schedule" scratch baseline
WARMUP = FinetuneSchedule(name="warmup", warmup_fraction=0.05)
#: the default for pretrained inits: warm-up, transferred weights at lr 1e-3, fresh ones at 1e-2
PRETRAINED = FinetuneSchedule(name="pretrained", warmup_fraction=0.05, pretrained_lr=1e-3)
#: the older upstream variant: train the new parts with the transferred ones frozen first, then warm up all
FROZEN_ENCODER_WARMUP = dataclasses.replace(PRETRAINED, name="frozenEncoderWarmup", freeze_fraction=0.05)
#: heads first (LP-FT; MultiTalent): only what the checkpoint did not fill, output layers included, trains for the
#: first 10 % of the steps while warming up to its peak; then every weight warms up over 10 % and decays with poly.
#: One peak (1e-2) for every weight, as ``_nnUNetSchedule``, so the pair isolates the heads-first phase
#: (documentation/finetuning.md says what was measured)
HEADS_FIRST = FinetuneSchedule(name="headsFirst", warmup_fraction=0.1, freeze_fraction=0.1, first_phase="warmup")
#: decoder first (the sawtooth): the transferred encoder frozen for the first 20 % of the steps while the decoder
#: and output layers warm up over 5 % and decay to 0; then every weight warms up over 5 % and decays
DECODER_FIRST = FinetuneSchedule(name="decoderFirst", warmup_fraction=0.05, freeze_fraction=0.2,
                                 freeze_scope="encoder", first_phase="sawtooth")
#: transferred weights frozen throughout: how much the representation alone carries
LINEAR_PROBE = dataclasses.replace(PRETRAINED, name="linearProbe", linear_probe=True)


def shortened(schedule: FinetuneSchedule, suffix: str, epochs: int, iterations: int | None = None,
              val_iterations: int | None = None) -> FinetuneSchedule:
    """``schedule`` with a short budget, named ``<name>_<suffix>`` (``_5epochs``, ``_5ep20it``, ``_2ep5it``)."""
    return dataclasses.replace(schedule, name=f"{schedule.name}_{suffix}", epochs=epochs, iterations=iterations,
                               val_iterations=val_iterations)
