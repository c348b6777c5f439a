"""Running ``nnssl_pretrain`` under torchrun (several nodes, or one node without nnU-Net's spawn).

nnU-Net's ``-num_gpus`` spawns its ranks itself on one node. torchrun starts one process per GPU on
every node and sets RANK, LOCAL_RANK and WORLD_SIZE; then each process joins the process group here,
rank 0 plans and preprocesses (the others wait; ``nnUNet_preprocessed`` and ``nnUNet_results`` must
be on a file system every node sees), and every rank runs the pretraining trainer in-process, as
nnU-Net's own DDP worker does. Only rank 0 writes plans, run records, checkpoints, logs and plots.
"""

import os

import torch
import torch.distributed as dist


def under_torchrun() -> bool:
    """Whether torchrun (or another launcher that sets RANK and WORLD_SIZE) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def join_process_group(device: str) -> None:
    """Join the default process group: NCCL on GPUs, gloo on CPUs (environment rendezvous)."""
    if dist.is_initialized():
        return
    use_cuda = device == "cuda" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if use_cuda else "gloo")


def is_rank0() -> bool:
    """True outside DDP and on rank 0."""
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op outside DDP)."""
    if dist.is_initialized():
        dist.barrier()


def broadcast(value):
    """Rank 0's ``value`` on every rank (no-op outside DDP)."""
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def train_this_rank(pool_name: str, configuration: str, trainer_name: str, plans_name: str,
                    continue_training: bool, device: str) -> None:
    """One rank's share of a DDP pretraining, as nnU-Net's ``run_ddp`` does it (fold ``all``)."""
    from nnunetv2.run.run_training import get_trainer_from_args, maybe_load_checkpoint

    trainer = get_trainer_from_args(pool_name, configuration, "all", trainer_name, plans_name,
                                    device=torch.device(device))
    maybe_load_checkpoint(trainer, continue_training, False, None)
    trainer.run_training()
    trainer.perform_actual_validation(False)
