"""AnchoredSGD: L2-SP as a per-group pull toward the weights a parameter had at its first step."""

import pytest
import torch

from nnssl.trainers.l2sp import ANCHOR, AnchoredSGD


def params(seed=0, n=3):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(4, 5, generator=g)) for _ in range(n)]


def run(opt, ps, steps, grad_seed=1, zero_grad_for=()):
    g = torch.Generator().manual_seed(grad_seed)
    for _ in range(steps):
        for i, p in enumerate(ps):
            p.grad = None if i in zero_grad_for else torch.randn(p.shape, generator=g)
        opt.step()


def test_l2sp_zero_is_exactly_torch_sgd():
    a, b = params(), params()
    kw = dict(momentum=0.99, nesterov=True, weight_decay=3e-5)
    run(AnchoredSGD([{"params": a}], 1e-2, **kw), a, 20)
    run(torch.optim.SGD([{"params": b}], 1e-2, **kw), b, 20)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_pull_without_data_gradient_shrinks_the_deviation_geometrically():
    """Plain SGD (no momentum), zero data gradient: theta_t - theta_0 = (1 - lr * l2sp)^t (theta_1 - theta_0)."""
    (p,) = params(n=1)
    opt = AnchoredSGD([{"params": [p], "l2sp": 0.5}], 0.1)
    p.grad = torch.ones_like(p)
    opt.step()  # the anchor is theta_0 (taken before this update); the data gradient moves p off it
    anchor = opt.state[p][ANCHOR].clone()
    deviation = p.detach() - anchor
    assert torch.allclose(deviation, torch.full_like(p, -0.1))
    for _ in range(10):
        p.grad = torch.zeros_like(p)
        opt.step()
    assert torch.allclose(p.detach() - anchor, deviation * (1 - 0.1 * 0.5) ** 10, atol=1e-7)


def test_only_groups_with_l2sp_are_pulled_and_params_without_gradient_get_no_state():
    pulled, free, frozen = params(n=3)
    opt = AnchoredSGD([{"params": [pulled, frozen], "l2sp": 1e-2}, {"params": [free]}], 1e-2, momentum=0.99)
    start = pulled.detach().clone()
    run(opt, [pulled, free, frozen], 5, zero_grad_for={2})
    assert torch.equal(opt.state[pulled][ANCHOR], start)
    assert ANCHOR not in opt.state[free]
    assert frozen not in opt.state  # a frozen weight (no gradient) keeps having no optimiser state
    assert opt.param_groups[1]["l2sp"] == 0.0


def test_anchor_survives_a_checkpoint_round_trip():
    """nnU-Net saves optimizer.state_dict() and loads it on --c: resuming equals never stopping."""
    a, b = params(), params()
    kw = dict(momentum=0.99, nesterov=True)
    straight = AnchoredSGD([{"params": a, "l2sp": 1e-2}], 1e-2, **kw)
    run(straight, a, 10)
    run(straight, a, 10, grad_seed=2)
    first = AnchoredSGD([{"params": b, "l2sp": 1e-2}], 1e-2, **kw)
    run(first, b, 10)
    saved = first.state_dict()
    resumed = AnchoredSGD([{"params": b, "l2sp": 1e-2}], 1e-2, **kw)
    resumed.load_state_dict(saved)
    run(resumed, b, 10, grad_seed=2)
    assert all(torch.allclose(x, y) for x, y in zip(a, b, strict=True))


def test_negative_l2sp_is_refused():
    with pytest.raises(ValueError, match="l2sp must be >= 0, got -1"):
        AnchoredSGD([{"params": params(n=1), "l2sp": -1.0}], 1e-2)
