"""MixCL pair loader: P1 and an auxiliary P2 from the same dataset, three intensity views.

Built on nnU-Net's ``nnUNetDataLoader`` (its case loading and foreground-forced cropping). For each
pair: pick case I1 and its dataset D (from the pooled case id), crop P1; P2 comes from I1 with
probability ``same_image_prob`` and otherwise from another case of D (never from another dataset,
so label ids stay dataset-local). Each base patch is spatially augmented once, then views are
intensity-only: V1, V1' from P1 and V2 from P2. Label voxels are sampled here (in the workers).
"""

import numpy as np
import torch
from acvl_utils.cropping_and_padding.bounding_boxes import crop_and_pad_nd
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
from threadpoolctl import threadpool_limits

from nnssl.case_ids import case_dataset_id
from nnssl.sampling import sample_class_voxels


def _max_label(labels: torch.Tensor) -> int:
    """Largest label id of a CPU tensor of sampled labels (0 when empty)."""
    return int(labels.max()) if labels.numel() else 0


class MixCLPairLoader(nnUNetDataLoader):
    """Yields dicts with p1, p2, v1, v1b, v2 (B, C, ...), sampled label voxels and dataset ids.

    ``coords1``/``coords2`` are (N, 1 + dim) int64 rows ``[pair, x, y(, z)]`` in final-patch voxel
    coordinates with labels ``labels1``/``labels2`` (N,).
    """

    def __init__(self, data, batch_size, patch_size, final_patch_size, label_manager, *, base_transform,
                 view_transform, same_image_prob: float = 0.5, sample_labels: bool = True,
                 sampler_kwargs: dict | None = None, sampling_probabilities=None):
        super().__init__(data, batch_size, patch_size, final_patch_size, label_manager,
                         oversample_foreground_percent=1.0, sampling_probabilities=sampling_probabilities,
                         transforms=None)
        self.base_transform = base_transform
        self.view_transform = view_transform
        self.same_image_prob = same_image_prob
        self.sample_labels = sample_labels
        self.sampler_kwargs = dict(sampler_kwargs or {})
        self.by_dataset: dict[int, list[str]] = {}
        for key in self.indices:
            self.by_dataset.setdefault(case_dataset_id(key), []).append(key)

    def partner(self, key: str) -> str:
        """Case of P2: the same case or another case of the same source dataset."""
        same = self.by_dataset[case_dataset_id(key)]
        others = [k for k in same if k != key]
        if not others or np.random.uniform() < self.same_image_prob:
            return key
        return others[np.random.randint(len(others))]

    def base_patch(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Foreground-forced crop of ``key``, spatially augmented once (image and label together)."""
        data, seg, _, properties = self._data.load_case(key)
        lbs, ubs = self.get_bbox(data.shape[1:], True, properties["class_locations"])
        bbox = [[a, b] for a, b in zip(lbs, ubs, strict=True)]
        image = torch.from_numpy(crop_and_pad_nd(data, bbox, 0)).float()
        label = torch.from_numpy(crop_and_pad_nd(seg, bbox, -1, cast_cropped_to=np.int16)).to(torch.int16)
        if self.patch_size_was_2d:
            image, label = image[:, 0], label[:, 0]
        out = self.base_transform(image=image, segmentation=label)
        return out["image"], out["segmentation"]

    def view(self, image: torch.Tensor) -> torch.Tensor:
        """An intensity-only view (voxel correspondence kept)."""
        return self.view_transform(image=image.clone())["image"]

    def _samples(self, labels: list[torch.Tensor], generator: torch.Generator):
        """Sampled voxels of every patch: coords (N, 1 + ndim) with the patch index first, labels (N,), and the
        largest number of rows of one patch (a python int, so the model pads without a host sync)."""
        coords, values = [], []
        for j, seg in enumerate(labels):
            c, v = sample_class_voxels(seg[0].numpy(), generator=generator, **self.sampler_kwargs)
            coords.append(torch.cat([torch.full((len(c), 1), j, dtype=torch.int64), c], 1))
            values.append(v)
        return torch.cat(coords), torch.cat(values), max((len(v) for v in values), default=0)

    def generate_train_batch(self) -> dict:
        """One batch of ``batch_size`` pairs."""
        keys = self.get_indices()
        p1, p2, s1, s2 = [], [], [], []
        with torch.no_grad(), threadpool_limits(limits=1, user_api=None):
            for key in keys:
                image, label = self.base_patch(key)
                p1.append(image)
                s1.append(label)
                image, label = self.base_patch(self.partner(key))
                p2.append(image)
                s2.append(label)
            batch = {
                "p1": torch.stack(p1), "p2": torch.stack(p2),
                "v1": torch.stack([self.view(x) for x in p1]),
                "v1b": torch.stack([self.view(x) for x in p1]),
                "v2": torch.stack([self.view(x) for x in p2]),
                "dataset_ids": torch.tensor([case_dataset_id(k) for k in keys]),
                "keys": keys,
            }
            if self.sample_labels:
                generator = torch.Generator().manual_seed(int(np.random.randint(0, 2**31 - 1)))
                batch["coords1"], batch["labels1"], batch["label_rows1"] = self._samples(s1, generator)
                batch["coords2"], batch["labels2"], batch["label_rows2"] = self._samples(s2, generator)
                # python ints: the label term pads and one-hot encodes without reading sizes back from the GPU
                batch["num_labels"] = 1 + max(_max_label(batch["labels1"]), _max_label(batch["labels2"]))
        return batch
