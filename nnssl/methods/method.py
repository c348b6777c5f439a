"""What a pretraining method is to nnssl: one :class:`Method` object, from which everything else is derived.

From a method's ``Method``: its ``nnssl_pretrain`` flags and their defaults (``options``, defaults read from the
config class), the registry entry (``-m`` choices), its config from the parsed flags (``config_values``), the
stages it runs (``stages``, ``select_stages``), its fine-tune trainer classes (``finetune_trainer`` and the
standard variants, ``nnssl/trainers/finetune_variants.py``), the benchmark's init lookup (the checkpoint's method
-> ``finetune_trainer``) and what nnssl's nnU-Net shim exports (``trainer_module``'s pretraining trainers and the
fine-tune trainers). Built-in methods live in ``nnssl/methods/<name>/``; a plugin package declares a ``Method``
under the ``nnssl.methods`` entry point (``nnssl/methods/registry.py``) and goes through exactly the same path.
"""

import argparse
import dataclasses
import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nnssl.run_config import PretrainConfig


def finite_float(text: str) -> float:
    """argparse type: a float that is neither NaN nor infinite (argparse names the option in its error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


#: an Option default that means "the config field's default"
FIELD_DEFAULT = object()


@dataclass(frozen=True)
class Option:
    """One ``nnssl_pretrain`` flag of a method.

    Attributes:
        flag: the long option, e.g. ``--label-weight``; its dest is the flag without dashes, ``-`` -> ``_``.
        help: one sentence; ``--help`` adds the default.
        field: the config field the flag sets unchanged (None: the method's ``config_values`` reads it).
        default: the flag's default; by default the config field's default (so the two cannot drift apart).
        value_type, choices, nargs, action, metavar: as argparse's type, choices, ... (``action="store_true"`` for
            switches).
    """

    flag: str
    help: str
    field: str | None = None
    default: Any = FIELD_DEFAULT
    value_type: Callable | None = None
    choices: tuple | None = None
    nargs: str | None = None
    action: str | None = None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def default_for(self, config_class: type[PretrainConfig]) -> Any:
        """The default, resolved against the config class (raises ValueError for an unknown field)."""
        if self.default is not FIELD_DEFAULT:
            return self.default
        if self.action == "store_true":
            return False
        fields = {f.name: f for f in dataclasses.fields(config_class)}
        if self.field not in fields:
            raise ValueError(f"option {self.flag} takes its default from field {self.field!r}, which "
                             f"{config_class.__name__} does not have")
        return fields[self.field].default

    def add_to(self, group, config_class: type[PretrainConfig]) -> None:
        """Add the flag to an argparse parser or group."""
        kwargs = {"help": self.help, "default": self.default_for(config_class), "dest": self.dest}
        if self.action:
            kwargs["action"] = self.action
        if self.value_type is not None:
            kwargs["type"] = self.value_type
        for name in ("choices", "nargs", "metavar"):
            if getattr(self, name) is not None:
                kwargs[name] = list(self.choices) if name == "choices" else getattr(self, name)
        group.add_argument(self.flag, **kwargs)


def option_values(options: tuple[Option, ...], args: types.SimpleNamespace | argparse.Namespace) -> dict:
    """{field: parsed value} of the options that set a config field unchanged (lists become tuples)."""
    out = {}
    for o in options:
        if o.field is not None:
            value = getattr(args, o.dest)
            out[o.field] = tuple(value) if isinstance(value, list) else value
    return out


@dataclass(frozen=True)
class Method:
    """A pretraining method.

    Attributes:
        name: the ``-m`` name; also the default run name and the fine-tune trainers' ``ssl_run``.
        summary: one line for ``nnssl_pretrain --help``.
        config_class: its frozen :class:`PretrainConfig` subclass.
        stages: (stage name, pretraining trainer class name) in the order they run; the last stage's checkpoint
            is the one fine-tuning uses. Stage names are "" for single-stage methods.
        finetune_trainer: the name of its fine-tune trainer class; the standard variants append a suffix
            (``MixCLFinetuneTrainer_nnUNetSchedule``, ...). Derived: never written as a class by hand.
        trainer_module: the module that defines the pretraining trainers (nnssl's shim imports it).
        options: its ``nnssl_pretrain`` flags (a flag several methods declare is added once).
        config_values: (the method options as attributes, ``PretrainRequest.method_options()``; stage; previous
            stage's checkpoint or None) -> config fields; default: the options' fields unchanged.
        select_stages: the method options as attributes -> the stage names this call runs (default: all).
        cpu_learning_rate: the lr of ``--schedule cpu`` where the method's GPU-sized default barely moves the
            encoder in 600 iterations (None: the config's default).
        trainer_folder: a plugin's own folder of nnU-Net shims, added to ``nnUNet_extTrainer`` (optional: nnssl's
            shim already exports ``trainer_module``'s trainers and the fine-tune trainers).
    """

    name: str
    summary: str
    config_class: type[PretrainConfig]
    stages: tuple[tuple[str, str], ...]
    finetune_trainer: str
    trainer_module: str | None = None
    options: tuple[Option, ...] = ()
    config_values: Callable[[types.SimpleNamespace, str, str | None], dict] | None = None
    select_stages: Callable[[types.SimpleNamespace], list[str]] | None = None
    cpu_learning_rate: float | None = None
    trainer_folder: str | None = None

    def __post_init__(self):
        if not self.stages or not self.finetune_trainer:
            raise ValueError(f"method {self.name!r} needs at least one stage and a fine-tune trainer name")
        if not issubclass(self.config_class, PretrainConfig):
            raise ValueError(f"method {self.name!r}: config_class must subclass nnssl.run_config.PretrainConfig")
        for option in self.options:
            option.default_for(self.config_class)  # a field that does not exist fails here, not at parse time

    def values(self, options: types.SimpleNamespace, stage: str = "", previous: str | None = None) -> dict:
        """Config fields of one stage from the method options (``PretrainRequest.method_options()``)."""
        if self.config_values is not None:
            return self.config_values(options, stage, previous)
        return option_values(self.options, options)

    def stages_to_run(self, options: types.SimpleNamespace) -> list[tuple[str, str]]:
        """(stage, trainer) pairs that this call runs."""
        if self.select_stages is None:
            return list(self.stages)
        chosen = set(self.select_stages(options))
        return [s for s in self.stages if s[0] in chosen]

    @property
    def needs_labels(self) -> bool:
        """Whether its default configuration trains on labels (a run's own config may not: ``needs_labels``)."""
        return self.config_class().needs_labels
