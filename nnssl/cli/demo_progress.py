"""The demo's terminal: one line per step and a live epoch line; nnU-Net's own output goes to the step's log."""

import contextlib
import os
import re
import sys
import time
import warnings


class _Progress:
    """A file for redirected output: everything goes to the log; nnU-Net's "Epoch N" lines also update one
    progress line on the terminal (epoch, elapsed time, ETA)."""

    EPOCH = re.compile(r"\bEpoch (\d+)\s*$")

    def __init__(self, log, terminal, total_epochs: int | None):
        self.log, self.terminal, self.total = log, terminal, total_epochs
        self.start, self.pending, self.shown = time.time(), "", False

    def write(self, text: str) -> int:
        self.log.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            m = self.EPOCH.search(line)
            if m and self.total:
                self.show(int(m.group(1)))
        return len(text)

    def show(self, epoch: int) -> None:
        elapsed = time.time() - self.start
        eta = f", about {elapsed / epoch * (self.total - epoch) / 60:.0f} min left" if epoch else ""
        line = f"nnssl_demo:   epoch {epoch + 1}/{self.total} ({elapsed / 60:.1f} min{eta})"
        tty = self.terminal.isatty()
        self.terminal.write(("\r" + line.ljust(70)) if tty else line + "\n")
        self.terminal.flush()
        self.shown = tty

    def flush(self) -> None:
        self.log.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _step(title: str, log: str | None, total_epochs: int | None = None):
    """Print one line per step and a live epoch line; nnU-Net's output, progress bars and dependency warnings go
    to ``log`` (None: everything to the terminal)."""
    print(f"nnssl_demo: {title} ...", flush=True)
    t = time.time()
    if log is None:
        yield
    else:
        os.makedirs(os.path.dirname(log), exist_ok=True)
        terminal = sys.stdout
        with open(log, "a") as f:
            progress = _Progress(f, terminal, total_epochs)
            with contextlib.redirect_stdout(progress), contextlib.redirect_stderr(progress), \
                    warnings.catch_warnings():
                warnings.simplefilter("default")  # shown once each, into the log
                warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: f.write(
                    warnings.formatwarning(message, category, filename, lineno, line))
                yield
        if progress.shown:
            terminal.write("\n")
    print(f"nnssl_demo:   done in {time.time() - t:.0f} s" + (f" (log: {log})" if log else ""), flush=True)
