"""What every nnssl command's parser shares: help that states each default once, suggestions on a typo, and the
device choice (library code: the typed requests of nnssl_pretrain and nnssl_benchmark are parsed with it)."""

import argparse
import sys

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


class SuggestingArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors suggest the closest option name or choice ("did you mean ...?"), and which
    warns once per process when MIC-DKFZ/nnssl is installed beside this project (``nnssl/name_clash.py``)."""

    _clash_checked = False
    #: True: an error raises nnssl.errors.UsageError (library parsing) instead of printing the usage and exiting
    raise_usage_errors = False

    def parse_known_args(self, args=None, namespace=None):
        if not SuggestingArgumentParser._clash_checked:
            from nnssl.name_clash import name_clash_warning

            SuggestingArgumentParser._clash_checked = True
            text = name_clash_warning()
            if text:
                print(f"{self.prog}: {text}", file=sys.stderr)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        import difflib
        import re

        hint = ""
        m = re.search(r"unrecognized arguments: (.*)", message)
        if m:
            options = [o for o in self._option_string_actions if o.startswith("--") or len(o) > 2]
            guesses = [(tok, difflib.get_close_matches(tok.split("=")[0], options, n=1, cutoff=0.6))
                       for tok in m.group(1).split() if tok.startswith("-")]
            hint = "; ".join(f"{tok}: did you mean {g[0]}?" for tok, g in guesses if g)
        m = re.search(r"argument (\S+): invalid choice: '([^']*)'", message)
        if m:
            action = self._option_string_actions.get(m.group(1).split("/")[-1])
            choices = [str(c) for c in (action.choices or [])] if action else []
            close = difflib.get_close_matches(m.group(2), choices, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else ""
        text = f"{message}{' (' + hint + ')' if hint else ''}"
        if self.raise_usage_errors:
            from nnssl.errors import UsageError

            raise UsageError(text)
        super().error(text)
