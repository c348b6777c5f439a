"""Pretraining diagnostics: did the weights move, and which loss term drives the encoder?

- :func:`relative_movement`: per encoder stage, ||theta - theta_0|| / ||theta_0|| (documentation/design.md I:
  a pretraining that leaves the encoder where it started transfers nothing).
- :func:`term_gradient_norms`: the gradient norm of each loss term on the shared parameters, so a
  term whose weight makes it irrelevant (MixCL's alpha = 0.01 label term) shows in the curves.
"""

import re

import torch

_STAGE = re.compile(r"^encoder\.(stem|stages\.(\d+))\.")


def encoder_stage(key: str) -> str | None:
    """'stem', 'stage<k>' or None for a state-dict key outside the encoder (``decoder.encoder.*`` is None)."""
    m = _STAGE.match(key)
    if m is None:
        return None
    return "stem" if m.group(1) == "stem" else f"stage{m.group(2)}"


def relative_movement(initial: dict[str, torch.Tensor], current: dict[str, torch.Tensor]) -> dict[str, float]:
    """{encoder stage: ||theta - theta_0|| / ||theta_0||} over the floating-point tensors of each stage.

    Shape:
        initial, current: state dicts of the same network (keys as ``encoder.stages.<k>.*``).
    Raises:
        ValueError: if a key of ``initial`` is missing from ``current`` or changed shape.
    """
    diff: dict[str, float] = {}
    base: dict[str, float] = {}
    for key, t0 in initial.items():
        stage = encoder_stage(key)
        if stage is None or not t0.is_floating_point():
            continue
        if key not in current or current[key].shape != t0.shape:
            raise ValueError(f"{key}: not in the current network or shaped differently")
        t0 = t0.detach().double().cpu()
        t1 = current[key].detach().double().cpu()
        diff[stage] = diff.get(stage, 0.0) + float(((t1 - t0) ** 2).sum())
        base[stage] = base.get(stage, 0.0) + float((t0**2).sum())
    return {s: (diff[s] ** 0.5) / max(base[s] ** 0.5, 1e-12) for s in sorted(diff, key=_stage_order)}


def _stage_order(stage: str) -> tuple[int, int]:
    return (0, 0) if stage == "stem" else (1, int(stage.removeprefix("stage")))


def term_gradient_norms(terms: dict[str, torch.Tensor], names, params: list[torch.nn.Parameter]) -> dict[str, float]:
    """L2 norm of d(term)/d(params) for each named term that depends on ``params`` (graph kept).

    Terms that are missing, constant or unconnected to ``params`` are left out.
    """
    norms = {}
    for name in names:
        term = terms.get(name)
        if term is None or not term.requires_grad:
            continue
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        sq = [g.detach().float().pow(2).sum() for g in grads if g is not None]
        if sq:
            norms[name] = float(torch.stack(sq).sum().sqrt())
    return norms
