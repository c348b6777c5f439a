"""Locks that keep two nnssl runs from planning or preprocessing the same datasets at once.

One lock file per dataset (sources, target and pool) in ``nnUNet_preprocessed/.nnssl_locks/``, taken in sorted
order (so two runs never wait on each other in a circle) with ``fcntl.flock``: the kernel releases a lock when its
holder exits or is killed, so a stale lock cannot block anyone. A second run prints who holds the lock (PID,
command, since when) and waits; once the first run's preprocessing is complete, the second finds it current and
reuses it. Training only reads the preprocessed data and takes no dataset lock. :func:`exclusive` guards one
file's read-modify-write (the benchmark's ``splits_final.json``, which two benchmarks of one target extend side by
side) and one piece of work two benchmarks side by side could both start (a fine-tune cell, a self-training cell,
a pool model, whose runs folder protocols may share): the second waits and then finds the work done.
"""

import contextlib
import datetime
import fcntl
import os
import sys

LOCK_FOLDER = ".nnssl_locks"


def _holder(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip() or "another process"
    except OSError:
        return "another process"


def _take(handle, path: str, waiting: str | None) -> None:
    """Lock ``handle`` (the open lock file ``path``) exclusively; when another process holds it, first print
    ``waiting`` followed by who holds it (None: wait silently); then record this process as the holder."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if waiting:
            print(f"{waiting} {_holder(path)}; waiting for it to finish (lock file {path})", file=sys.stderr,
                  flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
    handle.seek(0)
    handle.truncate()
    handle.write(f"PID {os.getpid()} ({' '.join(sys.argv[:3])} ...), since "
                 f"{datetime.datetime.now().isoformat(timespec='seconds')}")
    handle.flush()


def _release(handle) -> None:
    with contextlib.suppress(OSError):
        handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def dataset_locks(names, what: str = "planning and preprocessing"):
    """Hold an exclusive lock on every dataset in ``names`` (waiting for another nnssl run that holds one)."""
    folder = os.path.join(os.environ["nnUNet_preprocessed"], LOCK_FOLDER)
    os.makedirs(folder, exist_ok=True)
    handles = []
    try:
        for name in sorted(set(names)):
            path = os.path.join(folder, f"{name}.lock")
            handle = open(path, "a+")
            _take(handle, path, f"nnssl: {name} is locked for {what} by")
            handles.append(handle)
        yield
    finally:
        for handle in reversed(handles):
            _release(handle)
            handle.close()


@contextlib.contextmanager
def exclusive(path: str, what: str | None = None):
    """Hold an exclusive ``fcntl.flock`` on ``<path>.lock`` (waiting for its holder) around a read-modify-write of
    ``path``: two processes that each read, extend and rewrite the file would otherwise lose one's additions.
    Also guards one piece of work that two benchmarks side by side could both start (a fine-tune cell, a pool
    model): with ``what``, a process that has to wait says what it waits for and who holds it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(f"{path}.lock", "a+") as handle:
        _take(handle, f"{path}.lock", f"nnssl: {what} is being run by" if what else None)
        try:
            yield
        finally:
            _release(handle)
