"""Shared numerics helpers for the losses (section 0 of the method spec)."""

import contextlib

import torch

#: Finite fill value for masked logits; -inf would give NaN gradients in logsumexp on empty rows.
MASK_FILL = -1e9


def fp32_block(device_type: str):
    """Context that disables autocast so a loss is computed in fp32."""
    if device_type in ("cuda", "cpu"):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


def connected_zero(*tensors: torch.Tensor) -> torch.Tensor:
    """Return 0 that stays connected to the graph of ``tensors`` (avoids DDP unused-parameter errors)."""
    return sum(t.float().sum() * 0.0 for t in tensors)
