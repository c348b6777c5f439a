"""The probes of ``nnssl_benchmark speed`` (``nnssl/benchmark/speed.py``): record the loss, sampling and view calls a
step makes and replay each alone, timed; sample the peak resident memory. Recording wraps the tracked functions
of the method modules for the duration of one step (``mock.patch.object``) and puts them back after it."""

import contextlib
import os
import statistics
import threading
import time
from unittest import mock

import torch

#: functions the methods call inside a step, by module: (name, category)
TRACKED = {
    "nnssl.methods.mixcl.model": [("barlow_twins_loss", "loss"), ("batched_label_contrast_loss", "label"),
                                  ("rows_by_item", "label"), ("reconstruction_loss", "loss"),
                                  ("gather_voxels", "label")],
    "nnssl.methods.global_local.model": [("contrastive_loss", "loss"), ("similarity_stats", "loss"),
                                         ("global_masks", "sampling"), ("local_masks", "sampling"),
                                         ("extract_regions", "sampling"), ("jitter_positions", "sampling")],
    "nnssl.methods.regression.model": [("masked_l1_loss", "loss"), ("mask_and_corrupt", "views")],
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clone(x):
    if isinstance(x, torch.Tensor):
        return x.detach().clone().requires_grad_(x.requires_grad and x.is_floating_point())
    if isinstance(x, (list, tuple)):
        return type(x)(_clone(v) for v in x)
    if isinstance(x, dict):
        return {k: _clone(v) for k, v in x.items()}
    return x


def _scalar(out) -> torch.Tensor | None:
    """A scalar that depends on every floating output tensor (for the replayed backward)."""
    tensors = [out] if isinstance(out, torch.Tensor) else [t for t in (out if isinstance(out, tuple) else ())
                                                          if isinstance(t, torch.Tensor)]
    grads = [t.float().sum() for t in tensors if t.requires_grad]
    return torch.stack(grads).sum() if grads else None


@contextlib.contextmanager
def record_calls(calls: list):
    """Record (category, name, fn, args, kwargs) of every tracked call made inside the block."""
    import importlib

    patches = []
    for module_name, names in TRACKED.items():
        module = importlib.import_module(module_name)
        for name, category in names:
            fn = getattr(module, name)

            def wrapper(*args, _fn=fn, _name=name, _cat=category, **kwargs):
                calls.append((_cat, _name, _fn, _clone(args), _clone(kwargs)))
                return _fn(*args, **kwargs)

            patches.append(mock.patch.object(module, name, wrapper))
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        yield


def replay(calls: list, device: torch.device, repeats: int = 3) -> dict[str, float]:
    """Seconds per step spent in each category: every recorded call re-run alone, forward + backward."""
    per_category: dict[str, float] = {}
    for category, _, fn, args, kwargs in calls:
        times = []
        for _ in range(repeats):
            a, k = _clone(args), _clone(kwargs)
            sync(device)
            t0 = time.perf_counter()
            s = _scalar(fn(*a, **k))
            if s is not None:
                s.backward()
            sync(device)
            times.append(time.perf_counter() - t0)
        per_category[category] = per_category.get(category, 0.0) + statistics.median(times)
    return per_category


class RSSPeak:
    """Peak resident set size (MB) sampled every 5 ms while active (Linux /proc)."""

    def __init__(self):
        self.peak = 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss_mb() -> float:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except OSError:
            return float("nan")

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss_mb())
            time.sleep(0.005)

    def __enter__(self):
        self.base = self.rss_mb()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss_mb())
