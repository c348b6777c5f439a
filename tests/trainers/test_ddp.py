"""DDP (gloo, CPU): the MixCL model trains under DistributedDataParallel without unused parameters,
and the per-term gradient probe (autograd.grad through DDP, norms all-reduced) keeps ranks in sync."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank: int, world: int, port: int, out: dict):
    from torch.nn.parallel import DistributedDataParallel as DDP

    from nnssl.trainers.diagnostics import term_gradient_norms
    from tests.conftest import mixcl_batch as batch
    from tests.conftest import mixcl_model as model

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    net = DDP(model())  # find_unused_parameters=False, as nnU-Net wraps it
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    for step in range(2):
        torch.manual_seed(100 * rank + step)  # different data per rank
        b = batch()
        b = {k: v + 0.05 * rank * torch.randn_like(v) if v.is_floating_point() else v for k, v in b.items()}
        opt.zero_grad()
        terms = net(**b)
        if step == 0:  # the trainer's probe: per-term gradient norms on the encoder, averaged over ranks
            enc = list(net.module.backbone.encoder.parameters())
            norms = term_gradient_norms(terms, net.module.balance_terms, enc)
            t = torch.tensor([norms[k] for k in sorted(norms)])
            dist.all_reduce(t)
            net.module.rebalance({k: float(v) / world for k, v in zip(sorted(norms), t, strict=True)})
            terms = {**terms, "loss": net.module.combine(terms)}
        terms["loss"].backward()
        opt.step()
    checksum = torch.stack([p.detach().double().sum() for p in net.parameters()]
                           + [torch.tensor(net.module.label_weight, dtype=torch.float64)]).sum()
    gathered = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(gathered, checksum)
    out[rank] = [float(g) for g in gathered]
    dist.destroy_process_group()


@pytest.mark.ddp
def test_mixcl_model_under_ddp_keeps_ranks_in_sync():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(2, port, out), nprocs=2, join=True)
    assert out[0][0] == pytest.approx(out[0][1], rel=1e-9)  # identical parameters after synced steps
