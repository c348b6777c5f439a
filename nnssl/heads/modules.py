"""Projector and regression heads, and a partial-decoder feature tap.

The projector is MixCL's sigma^k (documentation/design.md A.3): three 1x1x1 convolutions [F, F, 2F] with
BatchNorm + ReLU between them, written as a per-voxel MLP so voxels can be gathered first.
Their BatchNorms take statistics over all ranks under DDP (``nnssl.distributed``).
"""

import torch
from torch import nn

from nnssl.distributed import CrossRankBatchNorm1d, CrossRankBatchNorm2d, CrossRankBatchNorm3d


class VoxelProjector(nn.Module):
    """Per-voxel MLP (equivalent to 1x1x1 convs) with widths [F, F, 2F] by default.

    Shape:
        input: (N, F) gathered voxel features; output: (N, widths[-1]).
    """

    def __init__(self, in_features: int, widths: tuple[int, ...] | None = None):
        super().__init__()
        widths = widths or (in_features, in_features, 2 * in_features)
        layers: list[nn.Module] = []
        width_in = in_features
        for i, w in enumerate(widths):
            last = i == len(widths) - 1
            layers.append(nn.Linear(width_in, w, bias=last))
            if not last:
                layers += [CrossRankBatchNorm1d(w), nn.ReLU(inplace=True)]
            width_in = w
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project gathered voxel rows."""
        return self.mlp(x)


class RegressionHead(nn.Module):
    """1x1(x1) convolution to ``out_channels`` with linear output (reconstruction / regression)."""

    def __init__(self, in_channels: int, out_channels: int, conv_op: type[nn.Module]):
        super().__init__()
        self.conv = conv_op(in_channels, out_channels, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map decoder features (B, F, ...) to (B, out_channels, ...)."""
        return self.conv(x)


def decoder_stage_outputs(decoder: nn.Module, skips: list[torch.Tensor],
                          num_stages: int | None = None) -> list[torch.Tensor]:
    """Output of each of the first ``num_stages`` decoder stages (all by default), without seg layers.

    Mirrors ``UNetDecoder.forward`` (transpconv, concat skip, stage) but stops early and skips the
    segmentation heads, so a partial decoder d_l or a full reconstructor can share nnU-Net's modules.

    Shape:
        skips: encoder outputs, bottleneck last. Element s is (B, F_{K-2-s}, ...) at the resolution of
        skip K-2-s (s = 0 is the stage right after the bottleneck).
    """
    n = len(decoder.stages) if num_stages is None else num_stages
    if not 0 < n <= len(decoder.stages):
        raise ValueError(f"num_stages must be in 1..{len(decoder.stages)}, got {num_stages}")
    x, outputs = skips[-1], []
    for s in range(n):
        x = decoder.transpconvs[s](x)
        x = torch.cat((x, skips[-(s + 2)]), 1)
        x = decoder.stages[s](x)
        outputs.append(x)
    return outputs


def decoder_features(decoder: nn.Module, skips: list[torch.Tensor], num_stages: int | None = None) -> torch.Tensor:
    """Features after the first ``num_stages`` decoder stages (all by default): the last of
    ``decoder_stage_outputs``.

    Shape:
        skips: encoder outputs, bottleneck last. Returns (B, F_{K-1-l}, ...) at skip resolution.
    """
    return decoder_stage_outputs(decoder, skips, num_stages)[-1]


class GlobalProjector(nn.Module):
    """g1 for the global loss: adaptive avg-pool to 2^d cells, flatten, Linear 1024 (ReLU), Linear out.

    Shape:
        input: (N, F, *S) bottleneck features; output: (N, out_features).
    """

    def __init__(self, in_features: int, ndim: int, hidden: int = 1024, out_features: int = 128):
        super().__init__()
        pool = nn.AdaptiveAvgPool3d(2) if ndim == 3 else nn.AdaptiveAvgPool2d(2)
        self.mlp = nn.Sequential(pool, nn.Flatten(), nn.Linear(in_features * 2**ndim, hidden, bias=False),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, out_features, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project pooled bottleneck features."""
        return self.mlp(x)


class LocalProjector(nn.Module):
    """g2 for the local loss: 1x1 conv (BN, ReLU) then 1x1 conv, same width, no bias."""

    def __init__(self, channels: int, conv_op: type[nn.Module]):
        super().__init__()
        norm = CrossRankBatchNorm3d if conv_op is nn.Conv3d else CrossRankBatchNorm2d
        self.net = nn.Sequential(conv_op(channels, channels, 1, bias=False), norm(channels), nn.ReLU(inplace=True),
                                 conv_op(channels, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, *S) -> (N, C, *S)."""
        return self.net(x)
