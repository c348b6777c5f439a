"""``nnssl_pretrain``: pool datasets under one nnU-Net plan and pretrain one network.

Example::

    nnssl_pretrain -d 101 102 103 -m mixcl -t 200 -c 3d_fullres
    nnUNetv2_train 200 3d_fullres 0 -tr MixCLFinetuneTrainer

The words become one typed, frozen request (``nnssl/pretrain_options.py``, ``nnssl/pretrain_request.py``); the work
itself is ``nnssl.pretraining.pretrain(request)``.
"""

import argparse
import dataclasses
import sys

from nnssl.arguments import resolve_device
from nnssl.errors import UsageError, translate_nnunet_error
from nnssl.methods.registry import METHODS
from nnssl.pretrain_options import build_parser, parse_request
from nnssl.pretrain_request import PretrainRequest
from nnssl.pretraining import pretrain

__all__ = ["build_parser", "main", "parse_command"]


def parse_command(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> PretrainRequest:
    """The request of a command line; a usage error prints the usage and exits with status 2 (argparse's way).
    Raises ValueError for a bad ``--plans-from`` file."""
    parser = parser or build_parser()
    try:
        return parse_request(argv, parser)
    except UsageError as e:
        parser.exit(2, f"{parser.format_usage()}{parser.prog}: error: {e}\n")


def main(argv=None) -> int:
    """Entry point of ``nnssl_pretrain``."""
    words = sys.argv[1:] if argv is None else list(argv)
    if not words:  # the one useful line first, then a short usage (-h has the rest)
        print("nnssl_pretrain: give the source datasets, e.g. nnssl_pretrain -d 101 102 103 -m mixcl -t 200 "
              "(or a recipe: --plans-from NAME)\n"
              f"usage: nnssl_pretrain -d ID [ID ...] [-m {{{','.join(sorted(METHODS))}}}] [-t TARGET] "
              "[-c {3d_fullres,2d}] [--schedule {full,cpu,smoke}] [-device DEVICE] ...\n"
              "nnssl_pretrain -h lists every option with its default", file=sys.stderr)
        return 2
    try:
        request = parse_command(words)
        device = resolve_device(request.device) if not request.planning.plan_only else (request.device or "cpu")
        pretrain(dataclasses.replace(request, device=device))
    except (ValueError, OSError) as e:
        print(f"nnssl_pretrain: error: {e}", file=sys.stderr)
        return 2
    except (AssertionError, RuntimeError) as e:  # nnU-Net's own failures: one line with the fix where known
        message = translate_nnunet_error(e)
        if message is None:
            raise
        print(f"nnssl_pretrain: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
