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
    from nnssl.cli._common import translate_nnunet_error

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
