"""Cross-rank statistics with gradients, so a DDP step equals one step on the combined batch.

Under DistributedDataParallel each rank computes its loss on its own part of the batch, and DDP
averages the parameter gradients over the W ranks. That is exact for a loss that is a mean over
equal per-rank batches (reconstruction), but not for losses whose statistics span the batch: the
Barlow Twins cross-correlation, BatchNorm in the projectors, contrastive negatives, and means over
a varying number of items (informative label pairs, masked voxels). For those, nnssl reduces
across ranks here, on any backend (NCCL on GPUs, gloo on CPUs):

- :func:`all_reduce_sum` and :func:`gather_rows` give every rank the global value; their backward
  sums the gradient over ranks, so each rank holds W x its share and DDP's average restores it.
- :func:`global_mean` averages a per-rank sum over a global count without a differentiable
  collective (the rank's sum is scaled by W / global count).

Outside DDP (one process, or a process group of size 1) every helper is the identity, so the
single-process maths and numbers are unchanged.
"""

import torch
import torch.distributed as dist
from torch import nn


def world_size() -> int:
    """Number of ranks of the default process group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = x.contiguous().clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of ``x`` over ranks, differentiable (backward sums the gradient over ranks).

    Shape: any; returns the same shape.
    """
    return _AllReduceSum.apply(x) if world_size() > 1 else x


def reduce_count(n: torch.Tensor | float) -> torch.Tensor:
    """Sum of a count over ranks, without gradient (a float tensor)."""
    t = torch.as_tensor(n, dtype=torch.float32).detach().clone()
    if world_size() > 1:
        dist.all_reduce(t)
    return t


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, sizes: list[int]):
        ctx.rank, ctx.sizes = dist.get_rank(), sizes
        width = max(sizes)
        padded = x.new_zeros((width, *x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous())
        return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # all_reduce + slice works on gloo, which has no reduce_scatter
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start: start + ctx.sizes[ctx.rank]], None


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` from every rank, concatenated in rank order; differentiable.

    Shape:
        x: (N_r, ...) on rank r (N_r may differ). Returns (sum_r N_r, ...) on every rank.
    """
    w = world_size()
    if w == 1:
        return x
    sizes = [torch.zeros(1, dtype=torch.int64, device=x.device) for _ in range(w)]
    dist.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
    return _GatherRows.apply(x, [int(s) for s in sizes])


def gather_ids(ids: torch.Tensor, offset_per_rank: bool) -> torch.Tensor:
    """Integer ids of every rank's rows; with ``offset_per_rank`` they are made unique per rank.

    Ids local to a rank's batch (which image a view came from) must not collide across ranks;
    ids with a global meaning (slice partition, region position) keep their value.

    Shape: ids (N_r,) integer. Returns (sum_r N_r,).
    """
    w = world_size()
    if w == 1:
        return ids
    if offset_per_rank:
        top = (ids.max() + 1 if ids.numel() else ids.new_zeros(())).reshape(1).clone()
        dist.all_reduce(top, op=dist.ReduceOp.MAX)
        ids = ids + dist.get_rank() * top
    return gather_rows(ids)


def global_mean(local_sum: torch.Tensor, local_count: torch.Tensor | float) -> torch.Tensor:
    """Mean over all ranks' items, as this rank's share scaled for DDP's gradient average.

    Returns ``W * local_sum / global_count``: its gradient, averaged by DDP over the W ranks, is the
    gradient of ``sum over ranks / global_count`` (the single-process mean), and its value averaged
    over ranks (as the trainer logs it) is that mean. 0 when the global count is 0.
    """
    w = world_size()
    if w == 1:
        return local_sum / torch.as_tensor(local_count, dtype=local_sum.dtype, device=local_sum.device).clamp(min=1)
    total = reduce_count(local_count).to(local_sum.device).clamp(min=1)
    return local_sum * w / total


class _CrossRankBatchNorm:
    """BatchNorm whose training statistics span all ranks, on any backend (CPU/gloo included).

    torch's SyncBatchNorm runs on GPUs only; nnU-Net converts every BatchNorm to it under DDP on
    GPUs, which computes the same statistics. Outside DDP this is the plain BatchNorm.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.ndim)]
        shape = [1, -1] + [1] * (x.ndim - 2)
        xf = x.float()
        n = reduce_count(x.numel() // x.shape[1]).to(x.device)
        mean = all_reduce_sum(xf.sum(dims)) / n
        centred = xf - mean.view(shape)
        var = all_reduce_sum(centred.pow(2).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.to(self.running_mean.dtype))
                unbiased = var * n / (n - 1).clamp(min=1)
                self.running_var.mul_(1 - m).add_(m * unbiased.to(self.running_var.dtype))
        y = centred / torch.sqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


class CrossRankBatchNorm1d(_CrossRankBatchNorm, nn.BatchNorm1d):
    """nn.BatchNorm1d with cross-rank training statistics (same parameters and state dict)."""


class CrossRankBatchNorm2d(_CrossRankBatchNorm, nn.BatchNorm2d):
    """nn.BatchNorm2d with cross-rank training statistics (same parameters and state dict)."""


class CrossRankBatchNorm3d(_CrossRankBatchNorm, nn.BatchNorm3d):
    """nn.BatchNorm3d with cross-rank training statistics (same parameters and state dict)."""
