"""Partition-stratified batches for Chaitanya et al.'s global/local contrastive pretraining.

A batch holds m cases x S partitions x 2 views. Partition s of a case is the s-th of S equal
chunks of the slice axis (nnU-Net axis 0) of its preprocessed volume, which nnU-Net has already
cropped to the nonzero region; the patch centre lies in that chunk along axis 0 and in the central
50 % in-plane (documentation/design.md B.5). In the ``2d`` configuration the patch is one slice.
"""

import numpy as np
import torch
from acvl_utils.cropping_and_padding.bounding_boxes import crop_and_pad_nd
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
from threadpoolctl import threadpool_limits


def partition_bounds(length: int, partitions: int, s: int) -> tuple[int, int]:
    """[lo, hi) of partition ``s`` along an axis of ``length`` voxels (never empty)."""
    lo = (s * length) // partitions
    hi = max(lo + 1, ((s + 1) * length) // partitions)
    return lo, min(hi, length) if lo < length else (length - 1, length)


class PartitionLoader(nnUNetDataLoader):
    """Yields {"views" (N, C, *P), "image" (N,), "partition" (N,), "view" (N,)} with N = m * S * 2.

    Items are ordered case-major, then partition, then view; ``image`` = case * S + partition.
    """

    def __init__(self, data, cases_per_batch: int, patch_size, label_manager, *, partitions: int,
                 view_transform, sampling_probabilities=None):
        super().__init__(data, cases_per_batch, patch_size, patch_size, label_manager,
                         oversample_foreground_percent=0.0, sampling_probabilities=sampling_probabilities,
                         transforms=None)
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.partitions = partitions
        self.view_transform = view_transform

    def crop(self, key: str, s: int) -> torch.Tensor:
        """A base patch of case ``key`` centred in partition ``s`` (central 50 % in-plane)."""
        data, _, _, _ = self._data.load_case(key)
        shape = data.shape[1:]
        lo, hi = partition_bounds(shape[0], self.partitions, s)
        centre = [np.random.randint(lo, hi)]
        centre += [int(np.random.uniform(0.25, 0.75) * n) for n in shape[1:]]
        bbox = [[c - p // 2, c - p // 2 + p] for c, p in zip(centre, self.patch_size, strict=True)]
        image = torch.from_numpy(crop_and_pad_nd(data, bbox, 0)).float()
        return image[:, 0] if self.patch_size_was_2d else image

    def generate_train_batch(self) -> dict:
        """One batch of cases_per_batch x partitions x 2 views."""
        keys = np.random.choice(self.indices, self.batch_size, replace=len(self.indices) < self.batch_size,
                                p=self.sampling_probabilities)
        views, image, partition, view = [], [], [], []
        with torch.no_grad(), threadpool_limits(limits=1, user_api=None):
            for i, key in enumerate(keys):
                for s in range(self.partitions):
                    base = self.crop(key, s)
                    for v in range(2):
                        views.append(self.view_transform(image=base.clone())["image"])
                        image.append(i * self.partitions + s)
                        partition.append(s)
                        view.append(v)
        return {"views": torch.stack(views), "image": torch.tensor(image), "partition": torch.tensor(partition),
                "view": torch.tensor(view), "keys": list(keys)}
