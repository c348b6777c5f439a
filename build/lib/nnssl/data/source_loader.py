"""nnU-Net's data loader for a pool, with each item's source dataset attached.

Supervised multi-dataset training scores an item only on its own dataset's classes, so the loss needs to know
where each patch came from. The pooled case ids carry it (``D<id>__<case>``); this loader adds
``dataset_index`` (B,), the position of each item's source in ``datasets``, to nnU-Net's batch.
"""

import torch
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

from nnssl.case_ids import case_dataset_id


class SourceTaggedLoader(nnUNetDataLoader):
    """``nnUNetDataLoader`` whose batches also hold ``dataset_index`` (B,) long (index into ``datasets``)."""

    def __init__(self, *args, datasets, **kwargs):
        super().__init__(*args, **kwargs)
        self.dataset_position = {int(d): i for i, d in enumerate(datasets)}
        unknown = sorted({case_dataset_id(k) for k in self.indices} - set(self.dataset_position))
        if unknown:
            raise ValueError(f"pooled cases of dataset(s) {unknown} have no entry in the class layout "
                             f"({sorted(self.dataset_position)}); re-run nnssl_pretrain to rebuild the pool")

    def generate_train_batch(self) -> dict:
        batch = super().generate_train_batch()
        batch["dataset_index"] = torch.tensor([self.dataset_position[case_dataset_id(k)] for k in batch["keys"]],
                                              dtype=torch.long)
        return batch
