"""Chaitanya et al. (NeurIPS 2020): global contrastive pretraining of the encoder, then local
contrastive pretraining of a partial decoder d_l on the frozen encoder (method_spec B).

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
from nnssl.heads import GlobalProjector, LocalProjector, decoder_features
from nnssl.losses.contrastive import contrastive_loss, similarity_stats
from nnssl.sampling.regions import decoder_stages_for_resolution, extract_regions, jitter_positions, region_positions
from nnssl.sampling.strategies import global_masks, local_masks
from nnssl.trainers.base import SSLModel, SSLTrainerBase
from nnssl.trainers.config import GlobalLocalConfig
from nnssl.views import global_view_transform, local_view_transform


def partial_decoder_stages(strides, config: GlobalLocalConfig) -> int:
    """l of d_l: the configured value, or by resolution (d_l ends closest to 1/local_stride)."""
    if config.decoder_stages is not None:
        return config.decoder_stages
    return decoder_stages_for_resolution(strides, config.local_stride)


class GlobalModel(SSLModel):
    """Encoder + g1; forward returns the global contrastive loss of a partition-stratified batch."""

    def __init__(self, backbone: nn.Module, config: GlobalLocalConfig):
        enc = backbone.encoder
        ndim = 3 if enc.conv_op is nn.Conv3d else 2
        super().__init__(backbone, nn.ModuleDict({"g1": GlobalProjector(enc.output_channels[-1], ndim)}))
        self.cfg = config

    def forward(self, views, image, partition, **_) -> dict:
        """views (N, C, *P); image, partition (N,) index tensors."""
        z = self.heads["g1"](self.backbone.encoder(views)[-1])
        positive, negative = global_masks(self.cfg.global_strategy, image, partition)
        loss = contrastive_loss(z, positive, negative, self.cfg.temperature)
        pos_sim, neg_sim = similarity_stats(z, positive, negative)
        return {"global": loss, "pos_sim": pos_sim, "neg_sim": neg_sim, "loss": loss + self.connect_all()}


class LocalModel(SSLModel):
    """Frozen encoder, partial decoder d_l, g2 and region descriptors; forward returns the local loss."""

    def __init__(self, backbone: nn.Module, config: GlobalLocalConfig):
        dec, enc = backbone.decoder, backbone.encoder
        n_stages = partial_decoder_stages(enc.strides, config)
        if n_stages > len(dec.stages):
            raise ValueError(f"decoder_stages={n_stages} but this network has {len(dec.stages)} decoder "
                             f"stages; pass --decoder-stages <= {len(dec.stages)}")
        channels = enc.output_channels[-(n_stages + 1)]
        ndim = 3 if enc.conv_op is nn.Conv3d else 2
        k = config.region_size
        heads = nn.ModuleDict({"g2": LocalProjector(channels, enc.conv_op),
                               "region": nn.Linear(channels * k**ndim, 128) if k > 1 else nn.Identity()})
        super().__init__(backbone, heads)
        self.cfg = config
        self.decoder_stages = n_stages
        for p in enc.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.encoder.eval()  # frozen: norm statistics stay as stage 1 left them
        return self

    def forward(self, views, image, partition, **_) -> dict:
        """views (N, C, *P) ordered as intensity-only view pairs; image, partition (N,)."""
        with torch.no_grad():
            skips = self.backbone.encoder(views)
        f = self.heads["g2"](decoder_features(self.backbone.decoder, skips, self.decoder_stages))
        positions = region_positions(f.shape[2:], self.cfg.region_size)
        if self.training:
            positions = jitter_positions(positions, f.shape[2:], self.cfg.region_size, self.cfg.lattice_jitter)
        regions = self.heads["region"](extract_regions(f, positions, self.cfg.region_size))  # (N, A, D)
        n, a = regions.shape[:2]
        idx = torch.arange(a, device=views.device).repeat(n)
        positive, negative = local_masks(self.cfg.local_strategy, image.repeat_interleave(a),
                                         partition.repeat_interleave(a), idx)
        z = regions.reshape(n * a, -1)
        loss = contrastive_loss(z, positive, negative, self.cfg.temperature)
        pos_sim, neg_sim = similarity_stats(z, positive, negative)
        return {"local": loss, "pos_sim": pos_sim, "neg_sim": neg_sim, "regions": torch.tensor(float(a)),
                "loss": loss + self.connect_all()}


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
                               partitions=self.ssl_config.partitions, view_transform=self.view_transform(patch))


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
