"""The global_local pretraining models (see trainer.py beside it for the method and its trainer)."""

import torch
from torch import nn

from nnssl.distributed import gather_ids, gather_rows
from nnssl.heads import GlobalProjector, LocalProjector, decoder_features
from nnssl.losses.contrastive import contrastive_loss, similarity_stats
from nnssl.methods.global_local.config import GlobalLocalConfig
from nnssl.models.base import SSLModel
from nnssl.sampling.regions import decoder_stages_for_resolution, extract_regions, jitter_positions, region_positions
from nnssl.sampling.strategies import global_masks, local_masks


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
        # negatives from every rank under DDP: the loss is the combined batch's (nnssl.distributed)
        z = gather_rows(self.heads["g1"](self.backbone.encoder(views)[-1]))
        image, partition = gather_ids(image, offset_per_rank=True), gather_ids(partition, offset_per_rank=False)
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
        idx = gather_ids(torch.arange(a, device=views.device).repeat(n), offset_per_rank=False)
        image = gather_ids(image.repeat_interleave(a), offset_per_rank=True)
        partition = gather_ids(partition.repeat_interleave(a), offset_per_rank=False)
        positive, negative = local_masks(self.cfg.local_strategy, image, partition, idx)
        z = gather_rows(regions.reshape(n * a, -1))  # regions of every rank under DDP
        loss = contrastive_loss(z, positive, negative, self.cfg.temperature)
        pos_sim, neg_sim = similarity_stats(z, positive, negative)
        return {"local": loss, "pos_sim": pos_sim, "neg_sim": neg_sim, "regions": torch.tensor(float(a)),
                "loss": loss + self.connect_all()}
