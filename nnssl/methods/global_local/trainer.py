"""Chaitanya et al. (NeurIPS 2020): global contrastive pretraining of the encoder, then local
contrastive pretraining of a partial decoder d_l on the frozen encoder (documentation/design.md B).

Stage 1 (``GlobalContrastivePretrainer``): z = normalize(g1(e(x))) with G^R / G^D- / G^D masks.
Stage 2 (``LocalContrastivePretrainer``): starts from stage 1's encoder, freezes it (no grad, not in
the optimiser), trains d_l + g2 (+ region Linear for K = 3) with L^R / L^D on intensity-only views.
Transfer after stage 2: encoder + d_l; ``GlobalLocalFinetuneTrainer`` fine-tunes everything.
"""

import numpy as np
import torch
from torch import nn

from nnssl.checkpoint import ENCODER_PREFIXES, load_transferable_weights
from nnssl.data.partition_loader import PartitionLoader
from nnssl.methods.global_local.config import GlobalLocalConfig
from nnssl.methods.global_local.model import GlobalModel, LocalModel, partial_decoder_stages
from nnssl.trainers.base import SSLTrainerBase
from nnssl.views import global_view_transform, local_view_transform


class _GlobalLocalBase(SSLTrainerBase):
    method = "global_local"
    config_class = GlobalLocalConfig
    stage = ""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        if self.ssl_config.stage != self.stage:
            raise ValueError(f"run config is for stage {self.ssl_config.stage!r}, trainer {type(self).__name__} "
                             f"runs stage {self.stage!r}")

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.initial_lr, weight_decay=self.weight_decay)

    def lr_at(self, epoch: int) -> float:
        return self.initial_lr  # constant, as in the paper

    def pretrain_patch_size(self) -> list[int]:
        """3D: a fraction of the plan patch, rounded to the network stride; 2D: the plan patch."""
        patch = list(self.configuration_manager.patch_size)
        if len(patch) == 2:
            return patch
        strides = np.prod(np.array(self.configuration_manager.network_arch_init_kwargs["strides"]), axis=0)
        return [int(max(s, round(p * self.ssl_config.patch_fraction / s) * s)) for p, s in zip(patch, strides,
                                                                                              strict=True)]

    def view_transform(self, patch):
        raise NotImplementedError

    def build_loader(self, dataset, training: bool) -> PartitionLoader:
        patch = self.pretrain_patch_size()
        return PartitionLoader(dataset, self.ssl_config.cases_per_batch, patch, self.label_manager,
                               partitions=self.ssl_config.partitions, view_transform=self.view_transform(patch),
                               sampling_probabilities=self.case_probabilities(dataset))


class GlobalContrastivePretrainer(_GlobalLocalBase):
    """Stage 1: global contrastive loss on the encoder."""

    stage = "global"

    @property
    def transfer_prefixes(self):
        return ENCODER_PREFIXES

    def build_ssl_model(self, backbone: nn.Module) -> GlobalModel:
        return GlobalModel(backbone, self.ssl_config)

    def view_transform(self, patch):
        return global_view_transform(patch)


class LocalContrastivePretrainer(_GlobalLocalBase):
    """Stage 2: local contrastive loss on d_l, encoder frozen and initialised from stage 1."""

    stage = "local"

    @property
    def transfer_prefixes(self):
        strides = self.configuration_manager.network_arch_init_kwargs["strides"]
        l_stages = range(partial_decoder_stages(strides, self.ssl_config))
        return ENCODER_PREFIXES + tuple(f"decoder.{m}.{s}." for m in ("transpconvs", "stages") for s in l_stages)

    def build_ssl_model(self, backbone: nn.Module) -> LocalModel:
        path = self.ssl_config.global_checkpoint
        if path:
            self.print_to_log_file(load_transferable_weights(backbone, path).summary())
        else:
            self.print_to_log_file("nnssl: WARNING no global_checkpoint: the frozen encoder is random")
        return LocalModel(backbone, self.ssl_config)

    def view_transform(self, patch):
        return local_view_transform()
