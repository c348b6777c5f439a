"""``nnssl_finetune.json``: what a fine-tune ran with, and the check that ``--c`` resumes only the same run.

A fine-tune's result depends on its trainer class (in nnU-Net's result path), and on what the path does not
show: the pretrained checkpoint (its path and sha256), the resolved schedule, and the environment variables
that selected them. All of it is recorded in the fold folder; a ``nnUNetv2_train --c`` whose checkpoint or
schedule differs from the record is refused, since it would continue one run with another's settings.
"""

import os

from nnssl.checkpoint import ALLOW_OTHER_METHOD_ENV, PRETRAINED_ENV
from nnssl.seeding import SEED_ENV
from nnssl.trainers.finetune_schedule import SCHEDULE_ENV

RECORD_FILE = "nnssl_finetune.json"
#: environment variables that change what a fine-tune does (each one set is recorded)
RESULT_ENV = (PRETRAINED_ENV, SCHEDULE_ENV, ALLOW_OTHER_METHOD_ENV, SEED_ENV)
#: record fields that are not part of the run's identity (where the file lies may move with the folder)
_NOT_IDENTITY = ("pretrained_checkpoint", "environment", "schedule_override", "process_seed")


def result_environment(environ=None) -> dict[str, str]:
    """The variables of ``RESULT_ENV`` that are set (non-empty) in ``environ`` (default: ``os.environ``)."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in RESULT_ENV if environ.get(k)}


def resume_problems(recorded: dict, current: dict) -> list[str]:
    """How ``current`` (this start's record) differs from ``recorded`` (the fold folder's) in what changes a
    result; fields an older record does not have are not compared."""
    return [f"{k}: recorded {recorded[k]!r}, now {current[k]!r}" for k in sorted(current)
            if k not in _NOT_IDENTITY and k in recorded and recorded[k] != current[k]]


def refuse_changed_resume(folder: str, recorded: dict, current: dict) -> None:
    """Raise ValueError when a resumed fine-tune in ``folder`` would run with other settings than it started with.

    Raises:
        ValueError: naming every changed field and the two ways out.
    """
    problems = resume_problems(recorded, current)
    if problems:
        raise ValueError(f"nnUNetv2_train --c: {folder} was started with other settings ({'; '.join(problems)}). "
                         f"Resume with the settings recorded in {os.path.join(folder, RECORD_FILE)} (the same "
                         f"{', '.join(RESULT_ENV)}), or train the fold again without --c")
