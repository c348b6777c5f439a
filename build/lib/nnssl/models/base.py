"""SSLModel: the plain nnU-Net network plus pretraining heads; forward returns the loss terms."""

import torch
from torch import nn


class SSLModel(nn.Module):
    """Plain nnU-Net network (``backbone``) plus pretraining heads (``heads``).

    ``balance_terms`` names the weighted loss terms whose gradient norms on the encoder the trainer
    measures (first step of every epoch); ``rebalance`` may then change the weights (MixCL's
    gradient-matched alpha) and ``combine`` recomputes the total from the terms.
    """

    balance_terms: tuple[str, ...] = ()

    def __init__(self, backbone: nn.Module, heads: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.heads = heads

    def term_weights(self) -> dict[str, float]:
        """Current weights of the weighted terms (stored in checkpoints)."""
        return {}

    def set_term_weights(self, weights: dict[str, float]) -> None:
        """Restore weights saved by :meth:`term_weights`."""

    def rebalance(self, grad_norms: dict[str, float]) -> bool:
        """Adjust term weights from measured gradient norms; True when the total must be recomputed."""
        return False

    def combine(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The total loss from the terms under the current weights."""
        return terms["loss"]

    def connect_all(self) -> torch.Tensor:
        """0 attached to every parameter, so DDP never sees unused parameters (e.g. seg layers)."""
        return sum(p.view(-1)[0] * 0.0 for p in self.parameters() if p.requires_grad)
