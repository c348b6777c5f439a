"""MIC-DKFZ/nnssl and this project both install a top-level package called ``nnssl``.

Installed into one environment, the package installed last overwrites (or shadows) the other's files, and the
other's commands then fail with import errors that do not say why. This module finds the other distribution so
that every nnssl command can say so up front (``nnssl/arguments.py`` calls :func:`name_clash_warning` when it
parses arguments). The fix is one virtual environment per project (documentation/interop.md); to exchange
checkpoints, run the other project's commands from its own environment.
"""

import re

#: this project's distribution name (pyproject.toml)
OURS = "nnssl-pretrain"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def other_nnssl_distributions() -> list[str]:
    """Installed distributions other than this one that provide a top-level ``nnssl`` package."""
    from importlib.metadata import packages_distributions

    return sorted({d for d in packages_distributions().get("nnssl", []) if _canonical(d) != OURS})


def name_clash_warning() -> str | None:
    """One paragraph naming the other distribution and what to do, or None when there is none."""
    others = other_nnssl_distributions()
    if not others:
        return None
    return (f"warning: {', '.join(others)} is installed in this environment as well; it installs a top-level package "
            f"'nnssl' like this project ({OURS}), so whichever was installed last overwrites or shadows the other "
            "and its commands fail on import. Use one virtual environment per project: pip uninstall "
            f"{' '.join(others)} here (or {OURS} there), then reinstall the one you use (pip install -e . in this "
            "repository). Checkpoints move between the two as files (documentation/interop.md).")
