"""Supervised multi-dataset pretraining with dataset-local classes (MultiTalent, Ulrich et al., MICCAI 2023).

nnU-Net's own network, augmentation and deep supervision, trained on the whole pool at once. The output layer has
one channel per class of every source dataset (:class:`~nnssl.losses.partial.ClassLayout`: background, then each
dataset's labels), and an item's loss counts only the channels its own dataset annotates, so a class of dataset
A is never a negative for an image of dataset B. Transfer: encoder and decoder (the output layer stays behind).
With one source dataset this is plain nnU-Net training on it.
"""

import os

import torch
from torch import nn

from nnssl.checkpoint import DECODER_PREFIXES, ENCODER_PREFIXES
from nnssl.data.source_loader import SourceTaggedLoader
from nnssl.io import load_json
from nnssl.losses.partial import ClassLayout
from nnssl.methods.supervised.config import SupervisedConfig
from nnssl.methods.supervised.model import SupervisedModel
from nnssl.output_layers import layout_records
from nnssl.trainers.base import NnUNetOptimiserMixin, SSLTrainerBase


def dataset_labels(dataset_json: dict, name: str) -> tuple[int, ...]:
    """Sorted foreground label ids of one dataset.json.

    Raises:
        ValueError: for region-based labels (lists of ids), which the partial loss does not support.
    """
    values = []
    for key, value in dataset_json.get("labels", {}).items():
        if key == "ignore":
            continue
        if isinstance(value, (list, tuple)):
            raise ValueError(f"{name}: label {key!r} is a region {value}; supervised pretraining supports plain "
                             "integer labels only")
        if int(value) != 0:
            values.append(int(value))
    return tuple(sorted(values))


def pool_class_layout(sources: dict) -> ClassLayout:
    """The union class layout of a pool from each source's dataset.json (preprocessed copy, else raw).

    Raises:
        ValueError: when a source has no dataset.json or no foreground labels.
    """
    return ClassLayout({d: tuple(sorted(names)) for d, names in pool_label_names(sources).items()})


def pool_label_names(sources: dict) -> dict[int, dict[int, str]]:
    """{source dataset id: {foreground label: its name in the dataset.json}} (preprocessed copy, else raw).

    Raises:
        ValueError: when a source has no dataset.json, or a label is a region.
    """
    names = {}
    for dataset_id, name in sources.items():
        candidates = [os.path.join(os.environ.get(v, ""), name, "dataset.json")
                      for v in ("nnUNet_preprocessed", "nnUNet_raw")]
        path = next((p for p in candidates if os.path.isfile(p)), None)
        if path is None:
            raise ValueError(f"source {name} has no dataset.json in nnUNet_preprocessed or nnUNet_raw")
        dataset_json = load_json(path)
        ids = dataset_labels(dataset_json, name)
        by_value = {int(v): k for k, v in dataset_json["labels"].items() if k != "ignore"}
        names[int(dataset_id)] = {v: by_value[v] for v in ids}
    return names


class SupervisedPretrainer(NnUNetOptimiserMixin, SSLTrainerBase):
    """nnU-Net trainer for supervised multi-dataset pretraining on a pooled dataset (fold 'all')."""

    method = "supervised"
    config_class = SupervisedConfig

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.enable_deep_supervision = self.ssl_config.deep_supervision
        sources = (plans.get("nnssl") or {}).get("sources") or dataset_json.get("nnssl_sources")
        if not sources:
            raise ValueError(f"plans of {plans.get('dataset_name')} name no source datasets; supervised pretraining "
                             "runs on a pool written by nnssl_pretrain")
        self.label_names = pool_label_names(sources)
        self.class_layout = pool_class_layout(sources)

    @property
    def transfer_prefixes(self):
        return ENCODER_PREFIXES + DECODER_PREFIXES

    def build_ssl_model(self, backbone: nn.Module) -> SupervisedModel:
        layout = self.class_layout
        self.print_to_log_file(f"nnssl: {layout.num_outputs} output channels, dataset-local classes "
                               + ", ".join(layout.names()) + f"; loss {self.ssl_config.loss}, deep supervision "
                               f"{'on' if self.enable_deep_supervision else 'off'}")
        return SupervisedModel(backbone, layout, self.ssl_config.loss, self.configuration_manager.batch_dice)

    def build_loader(self, dataset, training: bool) -> SourceTaggedLoader:
        rotation, dummy_2d, initial_patch, mirror = self.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        patch = self.configuration_manager.patch_size
        scales = self._get_deep_supervision_scales()
        if training:
            transforms = self.get_training_transforms(patch, rotation, scales, mirror, dummy_2d,
                                                      self.configuration_manager.use_mask_for_norm)
        else:
            transforms = self.get_validation_transforms(scales)
        return SourceTaggedLoader(dataset, self.batch_size, initial_patch if training else patch, patch,
                                  self.label_manager, self.oversample_foreground_percent,
                                  sampling_probabilities=self.case_probabilities(dataset), transforms=transforms,
                                  datasets=self.class_layout.datasets)

    def _model_inputs(self, batch: dict) -> dict:
        target = batch["target"]
        if isinstance(target, (list, tuple)):
            target = [t.to(self.device, non_blocking=True) for t in target]
        else:
            target = target.to(self.device, non_blocking=True)
        return {"data": batch["data"].to(self.device, non_blocking=True), "target": target,
                "dataset_index": batch["dataset_index"].to(self.device, non_blocking=True)}

    def adaptation_record(self) -> dict:
        """The base record plus the pool's output classes: ``output_layout`` (channel, dataset, label, name) lets a
        fine-tune copy the rows of the classes it shares with the pool (``nnssl/output_layers.py``)."""
        return {**super().adaptation_record(), "output_classes": self.class_layout.names(),
                "output_layout": layout_records(self.class_layout, self.label_names)}
