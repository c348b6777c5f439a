"""What every nnssl command shares: help that states each default once, and the device choice."""

import argparse

DEVICES = ("cuda", "cpu", "mps")


class OneDefaultFormatter(argparse.RawDescriptionHelpFormatter):
    """Adds "(default: X)" to an option's help unless the help already states its default.

    Flags show "(default: off)", required options "(required)". Help texts that name their default
    in words ("default: the method's") are left as they are, so no option shows two defaults.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is argparse.SUPPRESS or "default" in text.lower() or "required" in text.lower():
            return text
        if action.required:
            return f"{text} (required)".strip()
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            return f"{text} (default: off)".strip()
        if action.default is None or action.default == []:
            return f"{text} (default: none)".strip()
        value = " ".join(map(str, action.default)) if isinstance(action.default, list | tuple) else action.default
        return f"{text} (default: {value})".strip().replace("%", "%%")


def default_device() -> str:
    """'cuda' when a CUDA device is visible, else 'cpu'."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def add_device_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``-device``/``--device`` (nnU-Net spells it with one dash), defaulting to what this machine has."""
    parser.add_argument("-device", "--device", default=None, choices=DEVICES,
                        help="cuda, cpu or mps (default: cuda when a GPU is visible, else cpu)")


def resolve_device(requested: str | None) -> str:
    """The device to use; raises ValueError (one line, with the fix) if CUDA is asked for but absent."""
    import torch

    if requested is None:
        device = default_device()
        if device == "cpu":
            print("nnssl: no CUDA device found, running on the CPU (pass -device cuda on a GPU machine)")
        return device
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("-device cuda was requested but no CUDA device is available; pass -device cpu")
    return requested
