"""The one rule for names that become paths, and the check that a path stays inside its root.

Run names, plans identifiers, data identifiers, protocol report/runs folders, init and pretraining keys all end up
as folder or file names below nnU-Net's folders (``<Trainer>__<plans>_<run>__<configuration>``,
``nnUNet_preprocessed/<dataset>/<data_identifier>``, ``benchmarks/<report>``). One of them holding ``/`` or ``..``
would write (or delete) outside that root, so every such name passes :func:`check_name` before anything is written,
and a path built from user input passes :func:`check_inside`.

The rule: letters, digits, ``_``, ``-`` and ``.``, starting with a letter or a digit, at most 100 characters, no
``..`` (nnU-Net's own identifiers all follow it: ``nnUNetPlans``, ``nnUNetPlans_3d_fullres``,
``Dataset004_Hippocampus``).
"""

import os
import re

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
RULE = "letters, digits, '_', '-' and '.', starting with a letter or digit, at most 100 characters, no '..'"


def name_problem(value) -> str | None:
    """Why ``value`` cannot be a file or folder name under nnssl's rule (None: it can)."""
    if not isinstance(value, str):
        return f"{value!r} is not a string"
    if not NAME.fullmatch(value) or ".." in value:
        return f"{value!r} is not a safe name ({RULE})"
    return None


def check_name(value, what: str) -> str:
    """``value`` if it is a safe name, else ValueError naming ``what`` (the option or key) and the rule.

    Raises:
        ValueError: e.g. ``--run-name '../x' is not a safe name (letters, digits, ...)``.
    """
    problem = name_problem(value)
    if problem:
        raise ValueError(f"{what} {problem}; it becomes a file or folder name")
    return value


def check_inside(path: str, root: str, what: str) -> str:
    """The absolute ``path`` if it lies inside ``root`` (after resolving ``..`` and links), else ValueError.

    Raises:
        ValueError: naming ``what``, the path and the root it must stay in.
    """
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise ValueError(f"{what} {path!r} lies outside {root}; give a name inside it")
    return os.path.abspath(path)
