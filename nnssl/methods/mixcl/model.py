"""The mixcl pretraining model (see trainer.py beside it for the method and its trainer)."""

import numpy as np
import torch
from torch import nn

from nnssl.distributed import global_mean
from nnssl.heads import RegressionHead, VoxelProjector, decoder_stage_outputs
from nnssl.losses import barlow_twins_loss, reconstruction_loss
from nnssl.losses.label_contrast import batched_label_contrast_loss, rows_by_item
from nnssl.methods.mixcl.config import MixCLConfig
from nnssl.models.base import SSLModel


def gather_voxels(features: torch.Tensor, coords: torch.Tensor, stride) -> torch.Tensor:
    """Rows of ``features`` at full-resolution ``coords`` mapped to the stage grid (coord // stride).

    Shape:
        features: (B, F, *S); coords: (N, 1 + dim) rows [item, x, y(, z)]. Returns (N, F).
    """
    spatial = features.shape[2:]
    idx = [coords[:, 0]]
    for d, (s, size) in enumerate(zip(stride, spatial, strict=True)):
        idx.append((coords[:, d + 1] // s).clamp_(0, size - 1))
    return features.movedim(1, -1)[tuple(idx)]


def default_label_stage(num_stages: int) -> int:
    """The second-deepest encoder stage (receptive field large enough to separate sub-structures)."""
    return max(0, num_stages - 2)


def _voxel_pairs(h: torch.Tensor, b: int, max_voxels: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of views V1 (items :b) and V1' (items b:2b) of one feature map at the same voxels, optionally
    the same random subsample of ``max_voxels`` of them.

    Shape:
        h: (>= 2B, F, *S). Returns two (M, F) tensors, M = min(B * prod(S), max_voxels).
    """
    rows = h[:b].movedim(1, -1).reshape(-1, h.shape[1])
    rows_b = h[b:2 * b].movedim(1, -1).reshape(-1, h.shape[1])
    if max_voxels is not None and rows.shape[0] > max_voxels:
        pick = torch.randperm(rows.shape[0], device=rows.device)[:max_voxels]
        rows, rows_b = rows[pick], rows_b[pick]
    return rows, rows_b


class MixCLModel(SSLModel):
    """Backbone + per-stage projectors + reconstruction head; forward returns the loss terms."""

    balance_terms = ("identity", "label", "recon")

    def __init__(self, backbone: nn.Module, features_per_stage, strides, in_channels: int, conv_op,
                 config: MixCLConfig):
        n = len(features_per_stage)
        bt_decoder_stages = tuple(config.bt_decoder_stages)
        if any(not 0 <= s < n - 1 for s in bt_decoder_stages):
            raise ValueError(f"bt_decoder_stages {bt_decoder_stages} must index the {n - 1} decoder stages "
                             f"(0..{n - 2}, 0 = the stage after the bottleneck)")
        heads = nn.ModuleDict({
            "projectors": nn.ModuleList([VoxelProjector(f) for f in features_per_stage]),
            "reconstruction": RegressionHead(features_per_stage[0], in_channels, conv_op),
        })
        label_dec = config.label_decoder_stage
        if label_dec is not None:  # negative: counted from the full-resolution end, -1 = the last stage
            if not -(n - 1) <= label_dec < n - 1:
                raise ValueError(f"label_decoder_stage {label_dec} must index the {n - 1} decoder stages (0..{n - 2}, "
                                 f"or -1..-{n - 1} from the full-resolution end)")
            label_dec %= n - 1
        if bt_decoder_stages:  # decoder stage s outputs F_{K-2-s} channels (K = n stages)
            heads["decoder_projectors"] = nn.ModuleDict(
                {str(s): VoxelProjector(features_per_stage[n - 2 - s]) for s in bt_decoder_stages})
        if label_dec is not None:
            heads["label_projector"] = VoxelProjector(features_per_stage[n - 2 - label_dec])
        super().__init__(backbone, heads)
        self.cfg = config
        self.strides = [tuple(int(x) for x in s) for s in np.cumprod(np.array(strides), axis=0)]
        self.bt_stages = tuple(range(n)) if config.bt_stages is None else tuple(config.bt_stages)
        self.bt_decoder_stages = bt_decoder_stages
        self.label_stage = default_label_stage(n) if config.label_stage is None else config.label_stage
        if any(not 0 <= k < n for k in self.bt_stages) or not 0 <= self.label_stage < n:
            raise ValueError(f"bt_stages {self.bt_stages} / label_stage {self.label_stage} must index the "
                             f"{n} encoder stages")
        self.label_decoder_stage = label_dec
        self.label_weight = config.label_weight

    def term_weights(self) -> dict[str, float]:
        return {"label": self.label_weight} if self.cfg.label_weight > 0 else {}

    def set_term_weights(self, weights: dict[str, float]) -> None:
        self.label_weight = weights.get("label", self.label_weight)

    def rebalance(self, grad_norms: dict[str, float]) -> bool:
        """alpha = ratio * w_id * |grad L_id| / |grad L_label| (clamped to [1e-4, 1e3])."""
        ratio, g_label, g_id = self.cfg.label_grad_ratio, grad_norms.get("label"), grad_norms.get("identity")
        if ratio is None or not g_label or not g_id or self.cfg.label_weight == 0:
            return False
        self.label_weight = min(1e3, max(1e-4, ratio * self.cfg.identity_weight * g_id / g_label))
        return True

    def combine(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        zero = terms["loss"] * 0.0
        return (self.cfg.identity_weight * terms.get("identity", zero) + self.label_weight * terms.get("label", zero)
                + self.cfg.recon_weight * terms.get("recon", zero) + zero)

    def forward(self, v1, v1b, v2, p1, p2, coords1=None, labels1=None, coords2=None, labels2=None,
                label_rows1=None, label_rows2=None, num_labels=None, **_):
        """Loss terms of one batch of B pairs (all (B, C, *S) tensors; coords as in the loader; the loader's
        python ints ``label_rows1/2`` (most rows of one patch) and ``num_labels`` spare the label term
        its host syncs, and are read from the tensors when absent)."""
        cfg, b = self.cfg, v1.shape[0]
        use_label = cfg.label_weight > 0 and coords1 is not None
        use_v2 = use_label or cfg.recon_weight > 0
        skips = self.backbone.encoder(torch.cat([v1, v1b, v2] if use_v2 else [v1, v1b]))
        zero = self.connect_all()
        terms: dict[str, torch.Tensor] = {}

        k_lab = self.label_stage
        label_on_decoder = use_label and self.label_decoder_stage is not None
        label_rows_v1 = None
        if use_label and not label_on_decoder:
            label_rows_v1 = gather_voxels(skips[k_lab][:b], coords1, self.strides[k_lab])
        identity = zero
        if cfg.identity_weight > 0:
            identity, label_rows_v1 = self._encoder_identity(skips, b, label_rows_v1, identity, terms)
        decoder_outputs = None
        if cfg.recon_weight > 0 or self.bt_decoder_stages or label_on_decoder:  # one decoder pass for all
            decoder_outputs = decoder_stage_outputs(self.backbone.decoder, skips)
        if cfg.identity_weight > 0:
            terms["identity"] = identity = self._decoder_identity(decoder_outputs, b, identity, terms)
        label_projected = label_rows_v1 is not None and cfg.identity_weight > 0 and k_lab in self.bt_stages

        label = zero
        if use_label:
            if label_on_decoder:  # decoder stage s has the resolution of encoder stage K-2-s
                s_lab, projector = self.label_decoder_stage, self.heads["label_projector"]
                h, stride = decoder_outputs[s_lab], self.strides[len(self.strides) - 2 - s_lab]
                z1 = projector(gather_voxels(h[:b], coords1, stride))
                z2 = projector(gather_voxels(h[2 * b:], coords2, stride))
            else:
                projectors = self.heads["projectors"]
                z1 = label_rows_v1 if label_projected else projectors[k_lab](label_rows_v1)
                z2 = projectors[k_lab](gather_voxels(skips[k_lab][2 * b:], coords2, self.strides[k_lab]))
            label = self._label_term(z1, z2, b, labels1, coords1, labels2, coords2, label_rows1, label_rows2,
                                     num_labels, terms)

        recon = zero
        if cfg.recon_weight > 0:
            out = self.heads["reconstruction"](decoder_outputs[-1])
            recon = reconstruction_loss(out, torch.cat([p1, p1, p2]))
            terms["recon"] = recon

        terms["loss"] = (cfg.identity_weight * identity + self.label_weight * label + cfg.recon_weight * recon
                         + zero)
        return terms

    def _encoder_identity(self, skips, b: int, label_rows_v1, identity, terms: dict):
        """Barlow Twins of V1 and V1' on every encoder stage in ``bt_stages`` (``id_stage{k}`` terms); V1's label
        rows at the label stage go through the projector in the same call as its BT rows (one BatchNorm call).
        Returns (identity so far, V1's label rows, projected where they shared the call)."""
        cfg, projectors = self.cfg, self.heads["projectors"]
        for k in self.bt_stages:
            rows, rows_b = _voxel_pairs(skips[k], b, cfg.bt_max_voxels)
            m = rows.shape[0]
            if k == self.label_stage and label_rows_v1 is not None:  # one BN call for V1's BT and label rows
                both = projectors[k](torch.cat([rows, label_rows_v1]))
                z1, label_rows_v1 = both[:m], both[m:]
            else:
                z1 = projectors[k](rows)
            bt = barlow_twins_loss(z1, projectors[k](rows_b), off_diagonal_weight=cfg.off_diagonal_weight)
            terms[f"id_stage{k}"] = bt.total
            identity = identity + bt.total
        return identity, label_rows_v1

    def _decoder_identity(self, decoder_outputs, b: int, identity, terms: dict):
        """Barlow Twins of V1 and V1' on the decoder stages in ``bt_decoder_stages`` (``id_dec{s}`` terms)."""
        for s in self.bt_decoder_stages:
            projector = self.heads["decoder_projectors"][str(s)]
            rows, rows_b = _voxel_pairs(decoder_outputs[s], b, self.cfg.bt_max_voxels)
            bt = barlow_twins_loss(projector(rows), projector(rows_b), off_diagonal_weight=self.cfg.off_diagonal_weight)
            terms[f"id_dec{s}"] = bt.total
            identity = identity + bt.total
        return identity

    def _label_term(self, z1, z2, b: int, labels1, coords1, labels2, coords2, label_rows1, label_rows2, num_labels,
                    terms: dict):
        """The label contrast of all pairs at once: rows grouped per pair (labels compared only inside a pair)."""
        a, ya = rows_by_item(z1, labels1, coords1[:, 0], b, k=label_rows1)
        c, yc = rows_by_item(z2, labels2, coords2[:, 0], b, k=label_rows2)
        per_pair, informative = batched_label_contrast_loss(a, ya, c, yc, temperature=self.cfg.temperature,
                                                            variant=self.cfg.label_loss, num_labels=num_labels)
        # a pair teaches the label term only if both patches show a common foreground label; the mean
        # is over those pairs only (the others would add zeros), of all ranks under DDP; no host sync
        weight = informative.to(per_pair.dtype)
        label = global_mean((per_pair * weight).sum(), weight.sum())
        terms["label"] = label
        terms["label_pairs"] = weight.mean().detach()
        return label
