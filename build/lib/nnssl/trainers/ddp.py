"""Where a pretraining rank runs and how its network is wrapped for DistributedDataParallel."""

import os

import torch
from torch import nn


def ddp_device(requested: torch.device) -> torch.device:
    """This rank's device: the GPU of LOCAL_RANK (torchrun; nnU-Net's spawn: the rank) or the CPU.

    nnU-Net 2.8.1 uses ``cuda:<global rank>``, which does not exist beyond the first node.
    """
    if requested.type == "cuda" and torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", torch.distributed.get_rank()))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def wrap_ddp(network: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel on this rank's device, with the projector heads inside.

    On GPUs every BatchNorm becomes SyncBatchNorm, as nnU-Net does; the heads' BatchNorms already
    reduce across ranks on any backend (``nnssl.distributed``), which keeps CPU/gloo runs exact.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    if device.type == "cuda":
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
        return DDP(network, device_ids=[device.index])
    return DDP(network)
