"""Mathematical properties of the MixCL losses (documentation/design.md A.9)."""

import itertools

import numpy as np
import pytest
import torch

from nnssl.losses import barlow_twins_loss, cross_correlation, label_contrast_loss, reconstruction_loss


def whitened(m: int, d: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(m, d, generator=g, dtype=torch.float64)
    z = z - z.mean(0)
    # exact whitening: columns orthogonal with unit biased variance
    q, _ = torch.linalg.qr(z)
    return q * np.sqrt(m)


class TestBarlowTwins:
    def test_whitened_identical_views_give_zero(self):
        z = whitened(256, 16)
        assert barlow_twins_loss(z, z).total.item() == pytest.approx(0.0, abs=1e-6)

    def test_identical_not_whitened_has_zero_on_diagonal(self):
        z = torch.randn(128, 8) @ torch.randn(8, 8)
        terms = barlow_twins_loss(z, z)
        assert terms.on_diagonal.item() == pytest.approx(0.0, abs=1e-4)
        assert terms.off_diagonal.item() > 0

    def test_symmetric(self):
        a, b = torch.randn(100, 12), torch.randn(100, 12)
        assert barlow_twins_loss(a, b).total.item() == pytest.approx(barlow_twins_loss(b, a).total.item(), rel=1e-6)

    def test_invariant_to_per_column_positive_affine_maps_and_row_permutation(self):
        a, b = torch.randn(200, 10), torch.randn(200, 10) + 0.5 * torch.randn(200, 10)
        scale, shift = torch.rand(10) * 5 + 0.1, torch.randn(10) * 3
        perm = torch.randperm(200)
        ref = barlow_twins_loss(a, b).total.item()
        assert barlow_twins_loss(a * scale + shift, b).total.item() == pytest.approx(ref, rel=1e-4)
        assert barlow_twins_loss(a[perm], b[perm]).total.item() == pytest.approx(ref, rel=1e-5)

    def test_not_invariant_to_rotation(self):
        a = torch.randn(200, 6)
        b = a + 0.3 * torch.randn(200, 6)
        rot, _ = torch.linalg.qr(torch.randn(6, 6))
        assert barlow_twins_loss(a @ rot, b).total.item() != pytest.approx(barlow_twins_loss(a, b).total.item(),
                                                                               rel=1e-3)

    def test_collapsed_columns_are_finite_and_on_diagonal_equals_d(self):
        z = torch.ones(64, 7)
        terms = barlow_twins_loss(z, z)
        assert torch.isfinite(terms.total)
        assert terms.on_diagonal.item() == pytest.approx(7.0)

    def test_lambda_zero_is_bounded(self):
        for _ in range(5):
            t = barlow_twins_loss(torch.randn(50, 9), torch.randn(50, 9), off_diagonal_weight=0.0)
            assert 0.0 <= t.total.item() <= 4 * 9

    def test_fp16_large_m_matches_fp64_reference(self):
        m = 2_000_000
        a = torch.randn(m, 4).half()
        b = (a.float() + 0.5 * torch.randn(m, 4)).half()
        got = barlow_twins_loss(a, b).total
        a64, b64 = a.double(), b.double()
        a64 = (a64 - a64.mean(0)) / torch.sqrt(a64.var(0, unbiased=False) + 1e-5)
        b64 = (b64 - b64.mean(0)) / torch.sqrt(b64.var(0, unbiased=False) + 1e-5)
        c = a64.T @ b64 / m
        ref = ((1 - c.diagonal()) ** 2).sum() + 5e-3 * (c.pow(2).sum() - c.diagonal().pow(2).sum())
        assert torch.isfinite(got)
        torch.testing.assert_close(cross_correlation(a, b).double(), c, atol=2e-4, rtol=0)
        assert got.item() == pytest.approx(ref.item(), rel=5e-3)

    def test_correlation_entries_are_pearson(self):
        a, b = torch.randn(300, 3).double(), torch.randn(300, 3).double()
        c = cross_correlation(a, b)
        ref = np.corrcoef(a[:, 0].numpy(), b[:, 1].numpy())[0, 1]
        assert c[0, 1].item() == pytest.approx(ref, abs=1e-4)

    def test_ill_shape(self):
        with pytest.raises(ValueError, match="equal shapes"):
            barlow_twins_loss(torch.randn(5, 3), torch.randn(5, 4))


def naive_label_loss(z1, y1, z2, y2, tau, variant):
    z1 = torch.nn.functional.normalize(z1.double(), dim=1)
    z2 = torch.nn.functional.normalize(z2.double(), dim=1)
    losses = []
    for i in range(len(y1)):
        pos, valid = [], []
        for j in range(len(y2)):
            if y1[i] == 0 and y2[j] == 0:
                continue
            s = float(z1[i] @ z2[j]) / tau
            valid.append(s)
            if y1[i] == y2[j]:
                pos.append(s)
        if not pos:
            continue
        if variant == "eq6":
            losses.append(-np.log(sum(np.exp(pos)) / sum(np.exp(valid))))
        else:
            neg = [s for s in valid if s not in pos]
            losses.append(np.mean([-np.log(np.exp(p) / (np.exp(p) + sum(np.exp(neg)))) for p in pos]))
    return float(np.mean(losses)) if losses else 0.0


class TestLabelContrast:
    @pytest.mark.parametrize("variant", ["eq6", "supcon_out"])
    def test_matches_naive_double_loop(self, variant):
        g = torch.Generator().manual_seed(1)
        z1, z2 = torch.randn(30, 8, generator=g), torch.randn(25, 8, generator=g)
        y1, y2 = torch.randint(0, 3, (30,), generator=g), torch.randint(0, 3, (25,), generator=g)
        got = label_contrast_loss(z1, y1, z2, y2, temperature=0.5, variant=variant).item()
        assert got == pytest.approx(naive_label_loss(z1, y1, z2, y2, 0.5, variant), rel=1e-5)

    def test_no_shared_class_gives_connected_zero_with_finite_grads(self):
        z1 = torch.randn(10, 4, requires_grad=True)
        z2 = torch.randn(12, 4, requires_grad=True)
        loss = label_contrast_loss(z1, torch.full((10,), 1), z2, torch.full((12,), 2))
        assert loss.item() == 0.0
        loss.backward()
        assert torch.isfinite(z1.grad).all() and (z1.grad == 0).all()

    def test_background_background_pairs_and_background_anchors_are_ignored(self):
        g = torch.Generator().manual_seed(3)
        z1, z2 = torch.randn(20, 6, generator=g), torch.randn(20, 6, generator=g)
        y1, y2 = torch.randint(0, 3, (20,), generator=g), torch.randint(0, 3, (20,), generator=g)
        ref = label_contrast_loss(z1, y1, z2, y2)
        z1b = z1.clone()
        z1b[y1 == 0] = torch.randn(int((y1 == 0).sum()), 6)
        assert label_contrast_loss(z1b, y1, z2, y2).item() == pytest.approx(ref.item(), rel=1e-6)

    def test_invariances(self):
        g = torch.Generator().manual_seed(4)
        z1, z2 = torch.randn(20, 6, generator=g), torch.randn(22, 6, generator=g)
        y1, y2 = torch.randint(0, 3, (20,), generator=g), torch.randint(0, 3, (22,), generator=g)
        ref = label_contrast_loss(z1, y1, z2, y2).item()
        relabel = torch.tensor([0, 2, 1])  # swap class ids consistently in both patches
        assert label_contrast_loss(z1, relabel[y1], z2, relabel[y2]).item() == pytest.approx(ref, rel=1e-6)
        p1, p2 = torch.randperm(20), torch.randperm(22)
        assert label_contrast_loss(z1[p1], y1[p1], z2[p2], y2[p2]).item() == pytest.approx(ref, rel=1e-5)
        assert label_contrast_loss(3 * z1, y1, 0.2 * z2, y2).item() == pytest.approx(ref, rel=1e-5)

    def test_decreases_as_classes_cluster(self):
        g = torch.Generator().manual_seed(5)
        centres = torch.eye(8)[:3] * 4
        y1, y2 = torch.randint(0, 3, (40,), generator=g), torch.randint(0, 3, (40,), generator=g)
        n1, n2 = torch.randn(40, 8, generator=g), torch.randn(40, 8, generator=g)
        values = []
        for t in (0.0, 0.3, 0.6, 0.9, 1.0):
            z1 = t * centres[y1] + (1 - t) * n1
            z2 = t * centres[y2] + (1 - t) * n2
            values.append(label_contrast_loss(z1, y1, z2, y2).item())
        assert all(a > b for a, b in itertools.pairwise(values))

    def test_ignore_label_is_ignored(self):
        z1, z2 = torch.randn(6, 3), torch.randn(6, 3)
        y1 = torch.tensor([1, 1, 2, 2, 9, 9])
        y2 = torch.tensor([1, 2, 1, 2, 9, 0])
        full = label_contrast_loss(z1, y1, z2, y2, ignore_label=9)
        keep1, keep2 = y1 != 9, y2 != 9
        assert full.item() == pytest.approx(label_contrast_loss(z1[keep1], y1[keep1], z2[keep2], y2[keep2]).item())

    def test_finite_at_large_n(self):
        z1, z2 = torch.randn(8192, 16, requires_grad=True), torch.randn(8192, 16)
        y1, y2 = torch.randint(0, 4, (8192,)), torch.randint(0, 4, (8192,))
        loss = label_contrast_loss(z1, y1, z2, y2, temperature=0.1)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(z1.grad).all()

    def test_ill_opts(self):
        z, y = torch.randn(3, 2), torch.zeros(3, dtype=torch.long)
        with pytest.raises(ValueError, match="variant"):
            label_contrast_loss(z, y, z, y, variant="nope")
        with pytest.raises(ValueError, match="temperature"):
            label_contrast_loss(z, y, z, y, temperature=0)
        with pytest.raises(ValueError, match=r"\(N1,\)"):
            label_contrast_loss(z, y[:2], z, y)


def test_reconstruction_zero_at_target_and_positive_elsewhere():
    x = torch.randn(2, 1, 4, 5, 6)
    assert reconstruction_loss(x, x).item() == 0.0
    assert reconstruction_loss(x + 1, x).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must match"):
        reconstruction_loss(x, x[:1])


@pytest.mark.parametrize("variant", ["eq6", "supcon_out"])
def test_batched_label_contrast_equals_the_per_pair_loss(variant):
    """All pairs at once (padded, one bmm) = the per-pair loss, pair by pair, values and gradients."""
    from nnssl.losses.label_contrast import batched_label_contrast_loss, rows_by_item

    torch.manual_seed(3)
    b, d = 4, 6
    n1, n2 = 50, 40
    item1, item2 = torch.randint(0, b, (n1,)), torch.randint(0, b, (n2,))
    item2[item2 == 3] = 2  # pair 3: no P2 rows -> not informative
    y1, y2 = torch.randint(0, 3, (n1,)), torch.randint(0, 3, (n2,))
    y1[item1 == 0], y2[item2 == 0] = 1, 2  # pair 0: no shared label -> not informative
    z1 = torch.randn(n1, d, requires_grad=True)
    z2 = torch.randn(n2, d, requires_grad=True)
    a, ya = rows_by_item(z1, y1, item1, b)
    c, yc = rows_by_item(z2, y2, item2, b)
    per_pair, informative = batched_label_contrast_loss(a, ya, c, yc, temperature=0.2, variant=variant)
    (per_pair * torch.arange(1.0, b + 1)).sum().backward()
    g1, g2 = z1.grad.clone(), z2.grad.clone()
    z1.grad = z2.grad = None
    ref = [label_contrast_loss(z1[item1 == j], y1[item1 == j], z2[item2 == j], y2[item2 == j], 0.2, variant)
           for j in range(b)]
    (torch.stack(ref) * torch.arange(1.0, b + 1)).sum().backward()
    assert informative.tolist() == [False, True, True, False]
    assert torch.allclose(per_pair, torch.stack(ref).detach(), atol=1e-5)
    assert torch.allclose(g1, z1.grad, atol=1e-5) and torch.allclose(g2, z2.grad, atol=1e-5)


def _padded_pairs(seed, b=5, k1=37, k2=29, d=8, labels=4):
    """Random (B, K, D) rows with pads, background-only anchors, a pair without a shared label, an empty pair."""
    from nnssl.losses.label_contrast import PAD_LABEL

    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(b, k1, d, generator=g), torch.randn(b, k2, d, generator=g)
    y1, y2 = torch.randint(0, labels, (b, k1), generator=g), torch.randint(0, labels, (b, k2), generator=g)
    y1[:, -5:], y2[:, -3:] = PAD_LABEL, PAD_LABEL  # padding rows (zeroed, as rows_by_item writes them)
    y1[0], y2[0, :-3] = 1, 2  # pair 0: no shared label
    y1[1, :-5] = 0  # pair 1: background anchors only
    y1[2], y2[2] = PAD_LABEL, PAD_LABEL  # pair 2: no rows at all
    z1[y1 == PAD_LABEL], z2[y2 == PAD_LABEL] = 0.0, 0.0
    return z1.requires_grad_(), y1, z2.requires_grad_(), y2


@pytest.mark.parametrize("variant", ["eq6", "supcon_out"])
@pytest.mark.parametrize("temperature", [1.0, 0.1, 0.05, 0.01])  # 0.01: past the exp range -> dense path
def test_grouped_label_contrast_equals_the_dense_masks(variant, temperature):
    """The grouped (class-sum) loss = the dense-mask reference, values, informative flags and gradients."""
    from nnssl.losses.label_contrast import batched_label_contrast_loss, dense_label_contrast_loss

    for seed in range(3):
        z1, y1, z2, y2 = _padded_pairs(seed)
        w = torch.arange(1.0, z1.shape[0] + 1)
        got, got_inf = batched_label_contrast_loss(z1, y1, z2, y2, temperature, variant)
        (got * w).sum().backward()
        g1, g2 = z1.grad.clone(), z2.grad.clone()
        z1.grad = z2.grad = None
        ref, ref_inf = dense_label_contrast_loss(z1, y1, z2, y2, temperature, variant)
        (ref * w).sum().backward()
        assert got_inf.tolist() == ref_inf.tolist() and got_inf.tolist() == [False, False, False, True, True]
        assert torch.isfinite(got).all() and bool(got[got_inf].gt(0).all())
        assert torch.allclose(got, ref, rtol=1e-5, atol=1e-5), (got, ref)
        scale = z1.grad.abs().max()
        assert torch.allclose(g1, z1.grad, atol=1e-5 * scale) and torch.allclose(g2, z2.grad, atol=1e-5 * scale)


def test_grouped_label_contrast_num_labels_given_or_read_and_empty_rows():
    """Passing num_labels (no host sync) changes nothing; a larger bound too; zero rows give connected zeros."""
    from nnssl.losses.label_contrast import batched_label_contrast_loss

    z1, y1, z2, y2 = _padded_pairs(7)
    read, _ = batched_label_contrast_loss(z1, y1, z2, y2, 0.1, "eq6")
    for bound in (4, 9):
        given, _ = batched_label_contrast_loss(z1, y1, z2, y2, 0.1, "eq6", num_labels=bound)
        assert torch.allclose(given, read, atol=1e-6)
    empty1 = torch.zeros(3, 0, 8, requires_grad=True)
    loss, informative = batched_label_contrast_loss(empty1, torch.zeros(3, 0, dtype=torch.long), z2[:3],
                                                    y2[:3], 0.1, "supcon_out")
    assert loss.tolist() == [0.0, 0.0, 0.0] and not informative.any()
    loss.sum().backward()  # connected to the graph
    assert z2.grad is not None and torch.isfinite(z2.grad).all()
