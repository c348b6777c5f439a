"""One clear line instead of a traceback for the errors nnssl raises inside stock nnU-Net commands.

``nnUNetv2_train`` runs nnssl's trainers inside nnU-Net's own stack, so a ValueError nnssl raises there (a
checkpoint that does not fit, a resume with other settings) reaches the user as the last line of a 50-line
traceback. :func:`exit_with_one_line` prints the message (or, for a full disk anywhere in the exception chain, the
hint) and exits with status 2; an error raised elsewhere (a bug, nnU-Net's own) keeps its traceback.
"""

import os
import sys
from typing import NoReturn

PACKAGE = os.path.dirname(os.path.abspath(__file__))
#: the exception types a user can cause and nnssl raises with a message that names the fix
USER_ERRORS = (ValueError, FileNotFoundError)


class UsageError(ValueError):
    """A command's words that cannot make a request (a bad or conflicting option); the message names the option and
    the fix. The command line shows it with its usage line, a protocol file with the protocol's name."""


#: nnU-Net failures users meet, as (text in nnU-Net's message, the one-line fix)
KNOWN_NNUNET_FAILURES = (
    ("out of memory", "the GPU ran out of memory: lower --plan-batch-size or --gpu-memory-target, or use a smaller "
                      "configuration (-c 2d)"),
    ("6 feet under", "a worker process died, most often killed for lack of RAM: use fewer processes (-np 1, "
                     "nnUNet_n_proc_DA=1) or free memory"),
    ("Torch not compiled with CUDA", "this PyTorch has no CUDA support: pass -device cpu"),
    ("Expected plans file", "the dataset has no plans of this identifier yet: run nnssl_pretrain ... -t <target> "
                            "(or check -p)"),
    ("Could not find a dataset with the ID", "no such dataset in nnUNet_raw/nnUNet_preprocessed: check the id and "
                                             "the nnUNet_* variables"),
    ("Did not find the expected number of training cases", "numTraining in dataset.json does not match imagesTr: "
                                                           "correct numTraining"),
    ("No space left on device", "the disk is full: free space under nnUNet_preprocessed / nnUNet_results, then "
                                "rerun with --continue"),
    # torch's zip writer reports a full disk as a failed write at some position, the OSError is its cause
    ("unexpected pos", "the disk is full (torch could not finish writing a checkpoint): free space under "
                       "nnUNet_results, then rerun with --continue"),
)


def exception_chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it was raised from or during (``__cause__`` / ``__context__``), outermost
    first."""
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        chain.append(error)
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return chain


def translate_nnunet_error(error: BaseException) -> str | None:
    """A one-line message with the fix for a known failure anywhere in the exception chain, or None."""
    import errno

    for link in exception_chain(error):
        text = str(link)
        if isinstance(link, OSError) and link.errno == errno.ENOSPC:
            text += " No space left on device"
        for needle, fix in KNOWN_NNUNET_FAILURES:
            if needle.lower() in text.lower():
                first = text.strip().splitlines()[0] if text.strip() else type(link).__name__
                return f"{fix} (nnU-Net: {type(link).__name__}: {first[:200]})"
    return None


def raised_in_nnssl(error: BaseException) -> bool:
    """Whether the innermost frame of ``error``'s traceback is nnssl's code (its own ``raise``)."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(PACKAGE + os.sep)


def one_line(error: BaseException) -> str | None:
    """The line to show for ``error``, or None when it should keep its traceback."""
    known = translate_nnunet_error(error)
    if known is not None:
        return known
    if isinstance(error, USER_ERRORS) and raised_in_nnssl(error):
        return str(error)
    return None


def exit_with_one_line(error: BaseException, prog: str = "nnssl") -> NoReturn:
    """Print ``prog: error: <line>`` and exit 2 when :func:`one_line` has a line; else re-raise ``error``."""
    line = one_line(error)
    if line is None:
        raise error
    print(f"{prog}: error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(2)
