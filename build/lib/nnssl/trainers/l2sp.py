"""L2-SP for fine-tuning: SGD whose chosen groups are pulled toward their pretrained values.

L2-SP (Li, Grandvalet, Davoine, ICML 2018, "Explicit inductive bias for transfer learning with
convolutional networks") adds ``l2sp / 2 * ||theta - theta_0||^2`` to the loss, where theta_0 are the
pretrained weights, instead of (or beside) weight decay toward 0. Its gradient ``l2sp * (theta - theta_0)``
is added here to every parameter of a group whose ``l2sp`` is > 0, right before the SGD update: after
nnU-Net's gradient clipping (which therefore sees only the data gradient) and after AMP unscaling (nnU-Net
calls ``unscale_`` before clipping), so the pull is in real units on CPU and CUDA alike.

theta_0 is taken at a parameter's first step with a gradient and kept in the optimiser state
(``l2sp_anchor``), so it is saved in nnU-Net's checkpoints and restored on ``--c``. A parameter frozen at
the start of the run gets its anchor when it is released; frozen weights do not change, so that is
still its pretrained value, and frozen parameters keep having no optimiser state.
"""

import torch

ANCHOR = "l2sp_anchor"


class AnchoredSGD(torch.optim.SGD):
    """``torch.optim.SGD`` with an extra per-group option ``l2sp`` (default 0: plain SGD)."""

    def __init__(self, params, lr, **kwargs):
        super().__init__(params, lr, **kwargs)
        for group in self.param_groups:
            group.setdefault("l2sp", 0.0)
            if group["l2sp"] < 0:
                raise ValueError(f"l2sp must be >= 0, got {group['l2sp']}")

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            if not group["l2sp"]:
                continue
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if ANCHOR not in state:
                    state[ANCHOR] = p.detach().clone()
                p.grad.add_(p - state[ANCHOR], alpha=group["l2sp"])
        return super().step(closure)
