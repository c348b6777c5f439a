"""The pooled case-id convention: a pool's case ``D101__case_000`` is case ``case_000`` of source dataset 101."""

CASE_SEPARATOR = "__"


def pooled_case_id(dataset_id: int, case_id: str) -> str:
    """The pool's id of one source case (also the prefix of its preprocessed files)."""
    return f"D{dataset_id}{CASE_SEPARATOR}{case_id}"


def case_dataset_id(case_id: str) -> int:
    """Source dataset id of a pooled case id ``D101__case_000``."""
    head, sep, _ = case_id.partition(CASE_SEPARATOR)
    if not sep or not head.startswith("D"):
        raise ValueError(f"{case_id!r} is not a pooled case id (expected 'D<id>{CASE_SEPARATOR}<case>')")
    return int(head[1:])
