"""MixCL pair loader on a real nnU-Net preprocessed pool."""

import os

import numpy as np
import pytest
import torch
from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

from nnssl.case_ids import case_dataset_id
from nnssl.data.pair_loader import MixCLPairLoader
from nnssl.io import load_json
from nnssl.views import base_patch_transform, intensity_view_transform


def make_loader(pool_env, view_p=0.2, same=0.5, base=None):
    pre = pool_env["env"]["nnUNet_preprocessed"]
    name = pool_env["pool"].pool_name
    pm = PlansManager(os.path.join(pre, name, "nnsslPlans.json"))
    cm = pm.get_configuration("3d_fullres")
    lm = pm.get_label_manager(load_json(os.path.join(pre, name, "dataset.json")))
    ds = nnUNetDatasetBlosc2(os.path.join(pre, name, "nnsslPlans_3d_fullres"))
    patch = cm.patch_size
    base = base or base_patch_transform(patch, (-0.5, 0.5), False)
    return MixCLPairLoader(ds, 4, patch, patch, lm, base_transform=base,
                           view_transform=intensity_view_transform(view_p), same_image_prob=same,
                           sampler_kwargs={"per_class": 64, "cap": 256})


def test_pairs_never_cross_datasets(pool_env):
    loader = make_loader(pool_env, same=0.0)
    for key in loader.indices:
        for _ in range(5):
            assert case_dataset_id(loader.partner(key)) == case_dataset_id(key)
    assert any(loader.partner(k) != k for k in loader.indices)


def test_batch_shapes_views_and_samples(pool_env):
    loader = make_loader(pool_env)
    b = next(loader)
    shape = b["p1"].shape
    assert shape[0] == 4 and all(b[k].shape == shape for k in ("p2", "v1", "v1b", "v2"))
    for c, y in ((b["coords1"], b["labels1"]), (b["coords2"], b["labels2"])):
        assert c.shape[1] == 4 and len(c) == len(y)
        assert (c[:, 0] < 4).all() and (c[:, 1:] >= 0).all()
        assert (c[:, 1:] < torch.tensor(shape[2:])).all()
        assert set(y.tolist()) <= {0, 1, 2} and (y > 0).any()  # foreground-forced crops
    # the sizes the model pads to without a host sync: python ints equal to what the tensors hold
    for rows, c in ((b["label_rows1"], b["coords1"]), (b["label_rows2"], b["coords2"])):
        assert type(rows) is int and rows == int(torch.bincount(c[:, 0]).max())
    assert type(b["num_labels"]) is int
    assert b["num_labels"] == 1 + int(torch.cat([b["labels1"], b["labels2"]]).max())


def test_views_share_the_spatial_grid(pool_env):
    """With the intensity step switched off, all views of a base patch are the identical array."""
    loader = make_loader(pool_env, view_p=0.0)
    b = next(loader)
    torch.testing.assert_close(b["v1"], b["p1"])
    torch.testing.assert_close(b["v1b"], b["p1"])
    torch.testing.assert_close(b["v2"], b["p2"])
    loader = make_loader(pool_env, view_p=1.0)
    b = next(loader)
    assert not torch.equal(b["v1"], b["v1b"])
    # intensity-only: the per-voxel ordering of the two views stays strongly correlated
    r = np.corrcoef(b["v1"][0].ravel().numpy(), b["v1b"][0].ravel().numpy())[0, 1]
    assert r > 0.5


@pytest.mark.parametrize("p", [0.0])
def test_sampled_labels_match_the_label_patch(pool_env, p):
    """Sampled coordinates carry the label of the (spatially augmented) base patch."""
    loader = make_loader(pool_env, view_p=p)
    key = loader.indices[0]
    np.random.seed(0)
    torch.manual_seed(0)
    _, label = loader.base_patch(key)
    gen = torch.Generator().manual_seed(0)
    coords, labels, most = loader._samples([label], gen)
    assert most == len(labels)  # one patch: its row count
    values = label[0][tuple(coords[:, 1:].T)]
    assert torch.equal(values.long(), labels)
