"""Fine-tuning schedules: warm-up, per-group peak learning rates, frozen transferred weights.

Pure code (no nnU-Net import) so the schedule maths is testable on its own. Two parameter groups:
``transferred`` (weights loaded from the pretrained checkpoint) and ``fresh`` (randomly initialised:
the rest of the decoder and the segmentation heads; for scratch runs, everything).

Per group, the learning rate at optimiser step t (of T = epochs x iterations) is

- 0 while the group is frozen (transferred weights during the first ``freeze_epochs``, or the whole
  run with ``linear_probe``),
- a linear warm-up ``peak * (t - start + 1) / W`` over W steps from the group's start,
- then nnU-Net's poly decay ``peak * (1 - (t - start - W) / (T - start - W)) ** 0.9``.

``l2sp`` > 0 adds L2-SP (``nnssl/trainers/l2sp.py``): the transferred weights in ``freeze_scope`` are
pulled toward their pretrained values with gradient ``l2sp * (theta - theta_0)``.

Two-phase schedules (``first_phase``): while the transferred weights in ``freeze_scope`` are frozen (the first R =
``freeze_fraction`` of the steps), the groups that train ("fresh": the output layers, class-matched or not, and
every weight the checkpoint did not fill; with ``freeze_scope="encoder"`` also a transferred decoder) follow a
phase of their own, and at R **every** group warms up again over W and decays with poly to the end:

- ``first_phase="warmup"`` (heads first, LP-FT: Kumar et al., ICLR 2022; MultiTalent's ``warmupsegheads``): a
  linear warm-up to the peak over the whole first phase, ``peak * (t + 1) / R``;
- ``first_phase="sawtooth"`` (decoder first; nnU-Net's pretraining branch): warm-up over W, then poly to 0 at R.

W is ``warmup_fraction`` of all steps, counted per iteration (5 % of a 20-epoch CPU budget is one
epoch, which an epoch-wise warm-up would skip). This follows nnU-Net's upstream fine-tuning of SSL
checkpoints (lr 1e-3, linear warm-up over 5 %, then poly; ``PretrainedTrainer`` on nnU-Net's
master branch) and its older variant that first trains the new parts with the encoder frozen.
"""

import dataclasses
from dataclasses import dataclass

#: environment variable that overrides a trainer's schedule, e.g. "epochs=20,iterations=50,val_iterations=5"
#: or the legacy "20,50,5" (epochs, iterations, validation iterations)
SCHEDULE_ENV = "nnSSL_FINETUNE_SCHEDULE"
POLY_EXPONENT = 0.9
#: what a schedule's freezing applies to: every transferred weight, or only the transferred encoder
FREEZE_SCOPES = ("transferred", "encoder")
#: how the groups that train while the others are frozen move through that phase ("": no phase of their own)
FIRST_PHASES = ("", "warmup", "sawtooth")


@dataclass(frozen=True)
class FinetuneSchedule:
    """A fine-tuning recipe. ``None`` in epochs/iterations/val_iterations keeps nnU-Net's value.

    Attributes:
        name: short label written to the log and the result folder's ``nnssl_finetune.json``.
        warmup_fraction: share of all optimiser steps spent in linear warm-up (per group).
        fresh_lr: peak learning rate of randomly initialised weights (nnU-Net's 1e-2).
        pretrained_lr: peak learning rate of transferred weights (None: same as ``fresh_lr``).
        freeze_fraction: share of the epochs during which transferred weights are frozen (no
            gradient, no optimiser state); their warm-up starts when they are released.
        linear_probe: keep transferred weights frozen for the whole run (a diagnostic).
        freeze_scope: which transferred weights ``freeze_fraction`` / ``linear_probe`` freeze: all of them
            ("transferred") or only the encoder ("encoder": a transferred decoder trains from the first step at
            the transferred peak lr). ``l2sp`` applies to the same weights.
        l2sp: strength of the L2-SP pull of the transferred weights in ``freeze_scope`` toward their pretrained
            values (0: off). With nnU-Net's SGD (momentum 0.99) at lr 1e-2 a deviation shrinks by about
            ``l2sp`` per step at peak lr: 1e-3 is a mild pull over a 1500-step run, 1e-2 a strong one.
        first_phase: "" (the groups that train from step 0 follow one warm-up and poly over the whole run), or a
            phase of their own while the transferred weights are frozen ("warmup": heads first; "sawtooth":
            decoder first), after which every group warms up again (see the module docstring).
    """

    name: str = "nnUNet"
    epochs: int | None = None
    iterations: int | None = None
    val_iterations: int | None = None
    warmup_fraction: float = 0.0
    fresh_lr: float = 1e-2
    pretrained_lr: float | None = None
    freeze_fraction: float = 0.0
    linear_probe: bool = False
    freeze_scope: str = "transferred"
    l2sp: float = 0.0
    first_phase: str = ""

    def __post_init__(self):
        for field in ("epochs", "iterations", "val_iterations"):
            value = getattr(self, field)
            if value is not None and value < 1:
                raise ValueError(f"{field} must be a positive integer or None, got {value!r}")
        for field in ("warmup_fraction", "freeze_fraction"):
            if not 0 <= getattr(self, field) < 1:
                raise ValueError(f"{field} must be in [0, 1), got {getattr(self, field)!r}")
        if self.freeze_scope not in FREEZE_SCOPES:
            raise ValueError(f"freeze_scope must be one of {', '.join(FREEZE_SCOPES)}, got {self.freeze_scope!r}")
        if self.first_phase not in FIRST_PHASES:
            raise ValueError(f"first_phase must be one of {FIRST_PHASES}, got {self.first_phase!r}")
        if self.first_phase and not (self.freeze_fraction > 0 and not self.linear_probe):
            raise ValueError(f"first_phase {self.first_phase!r} needs freeze_fraction > 0 (the first phase is the "
                             "time the transferred weights are frozen) and no linear_probe")
        if self.l2sp < 0:
            raise ValueError(f"l2sp must be >= 0 (0 switches L2-SP off), got {self.l2sp!r}")
        if self.fresh_lr <= 0 or (self.pretrained_lr is not None and self.pretrained_lr <= 0):
            raise ValueError(f"learning rates must be > 0, got fresh_lr={self.fresh_lr}, "
                             f"pretrained_lr={self.pretrained_lr}")

    @property
    def frozen_part(self) -> str:
        """What the freeze applies to, in words for the log."""
        return "transferred weights" if self.freeze_scope == "transferred" else "transferred encoder weights"

    def with_overrides(self, text: str) -> "FinetuneSchedule":
        """This schedule with fields from ``"key=value,..."`` (or the legacy ``"E,I,V"``) replaced.

        Raises:
            ValueError: naming the bad item and the accepted keys.
        """
        text = text.strip()
        if not text:
            return self
        items = [s.strip() for s in text.split(",") if s.strip()]
        if all("=" not in s for s in items):
            if len(items) != 3:
                raise ValueError(f"{SCHEDULE_ENV}={text!r}: give 'epochs,iterations,val_iterations' or key=value pairs")
            items = [f"{k}={v}" for k, v in zip(("epochs", "iterations", "val_iterations"), items, strict=True)]
        fields = {f.name: f for f in dataclasses.fields(self)}
        values = {}
        for item in items:
            key, _, raw = item.partition("=")
            key = key.strip()
            if key not in fields or key == "name":
                raise ValueError(f"{SCHEDULE_ENV}: unknown key {key!r}; use one of "
                                 f"{', '.join(k for k in fields if k != 'name')}")
            try:
                if key == "linear_probe":
                    if raw.lower() not in ("0", "1", "true", "false"):
                        raise ValueError
                    values[key] = raw.lower() in ("1", "true")
                elif key in ("epochs", "iterations", "val_iterations"):
                    values[key] = int(raw)
                elif key in ("freeze_scope", "first_phase"):
                    values[key] = raw.strip()
                else:
                    values[key] = float(raw)
            except ValueError:
                raise ValueError(f"{SCHEDULE_ENV}: {key}={raw!r} is not a valid value") from None
        return dataclasses.replace(self, **values)

    def resolve(self, epochs: int, iterations: int) -> "ResolvedSchedule":
        """Concrete step counts for a run of ``epochs`` x ``iterations`` optimiser steps."""
        total = epochs * iterations
        warmup = round(self.warmup_fraction * total)
        if self.warmup_fraction > 0:
            warmup = max(1, warmup)
        freeze = epochs if self.linear_probe else round(self.freeze_fraction * epochs)
        if self.freeze_fraction > 0:
            freeze = max(1, freeze)
        return ResolvedSchedule(self, epochs, iterations, warmup, min(freeze, epochs))


@dataclass(frozen=True)
class ResolvedSchedule:
    """A schedule bound to a run length. ``freeze_epochs == epochs`` means frozen throughout."""

    schedule: FinetuneSchedule
    epochs: int
    iterations: int
    warmup_steps: int
    freeze_epochs: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.iterations

    def peak(self, group: str) -> float:
        """Peak learning rate of ``group``: 'fresh', 'transferred' (the transferred weights the freeze applies
        to) or 'transferred_unfrozen' (transferred weights outside ``freeze_scope``, trained from step 0)."""
        s = self.schedule
        if group.startswith("transferred") and s.pretrained_lr is not None:
            return s.pretrained_lr
        return s.fresh_lr

    def start_step(self, group: str) -> int:
        """First optimiser step at which ``group`` trains."""
        return self.freeze_epochs * self.iterations if group == "transferred" else 0

    def frozen(self, group: str, epoch: int) -> bool:
        """Whether ``group`` is frozen during ``epoch``."""
        return group == "transferred" and epoch < self.freeze_epochs

    @property
    def release_step(self) -> int:
        """The step at which the frozen transferred weights start training (``total_steps``: never)."""
        return self.freeze_epochs * self.iterations

    def lr(self, group: str, step: int) -> float:
        """Learning rate of ``group`` at optimiser step ``step`` (0-based)."""
        release = self.release_step
        start = self.start_step(group)
        if self.schedule.first_phase and group != "transferred" and 0 < release < self.total_steps:
            if step < release:
                return self._first_phase_lr(group, step, release)
            start = release  # every group warms up again when the frozen weights are released
        if step < start:
            return 0.0
        peak, t = self.peak(group), step - start
        if t < self.warmup_steps:
            return peak * (t + 1) / self.warmup_steps
        decay_steps = self.total_steps - start - self.warmup_steps
        if decay_steps <= 0:
            return peak
        progress = min(1.0, (t - self.warmup_steps) / decay_steps)
        return peak * (1 - progress) ** POLY_EXPONENT

    def _first_phase_lr(self, group: str, step: int, release: int) -> float:
        """The lr of a group that trains while the transferred weights are frozen, at ``step`` < ``release``."""
        peak = self.peak(group)
        if self.schedule.first_phase == "warmup":
            return peak * (step + 1) / release
        warmup = min(self.warmup_steps, release)
        if step < warmup:
            return peak * (step + 1) / warmup
        return peak * (1 - (step - warmup) / max(1, release - warmup)) ** POLY_EXPONENT

    def describe(self) -> str:
        """One line for the training log."""
        s = self.schedule
        parts = [f"schedule '{s.name}': {self.epochs} epochs x {self.iterations} iterations"]
        parts.append(f"linear warm-up over {self.warmup_steps} steps then poly" if self.warmup_steps
                     else "poly decay, no warm-up")
        parts.append(f"peak lr {s.fresh_lr:g}" if s.pretrained_lr is None else
                     f"peak lr fresh {s.fresh_lr:g}, transferred {s.pretrained_lr:g}")
        if s.linear_probe:
            parts.append(f"{s.frozen_part} frozen for the whole run"
                         + (" (linear probe)" if s.freeze_scope == "transferred" else ""))
        elif self.freeze_epochs:
            parts.append(f"{s.frozen_part} frozen for the first {self.freeze_epochs} epochs")
            if s.first_phase == "warmup":
                parts.append("meanwhile the rest (output layers, fresh weights) warms up to its peak; then every "
                             "weight warms up again and decays")
            elif s.first_phase == "sawtooth":
                parts.append("meanwhile the rest warms up and decays to 0 (sawtooth); then every weight warms up "
                             "again and decays")
        if s.l2sp:
            parts.append(f"L2-SP {s.l2sp:g}: {s.frozen_part} pulled toward their pretrained values")
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self.schedule), "resolved_epochs": self.epochs,
                "resolved_iterations": self.iterations, "warmup_steps": self.warmup_steps,
                "freeze_epochs": self.freeze_epochs, "total_steps": self.total_steps}


def schedule_env(schedule, override: str = "") -> str:
    """``$nnSSL_FINETUNE_SCHEDULE`` for a benchmark budget (EPOCHS, ITERATIONS, VAL_ITERATIONS or None) plus an
    init's ``--schedule-override`` (``"key=value,..."``); "" when neither is given."""
    budget = ",".join(map(str, schedule)) if schedule else ""
    if not override:
        return budget  # the legacy form, as every run before --schedule-override recorded it
    keys = ("epochs", "iterations", "val_iterations")
    return ",".join([f"{k}={v}" for k, v in zip(keys, schedule or (), strict=False)] + [override])
