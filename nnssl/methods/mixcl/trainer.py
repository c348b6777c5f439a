"""MixCL pretraining (Li, Quan, Zhou): L = L_id + alpha L_label + beta L_recon (documentation/design.md A).

- L_id: pixel-level Barlow Twins per encoder stage k between V1 and V1' (same voxels I_k),
  through per-stage projectors sigma^k.
- L_label: supervised pixel contrast at stage ``label_stage`` between P1 (view V1) and P2 (view V2)
  of the same dataset, on boundary-weighted voxel samples, averaged over pairs.
- L_recon: the full decoder plus a regression head reconstructs the undistorted base patch.
Transfer: the encoder (optionally the decoder stages too).
"""


from torch import nn

from nnssl.checkpoint import DECODER_PREFIXES, ENCODER_PREFIXES
from nnssl.data.pair_loader import MixCLPairLoader
from nnssl.methods.mixcl.config import MixCLConfig
from nnssl.methods.mixcl.model import MixCLModel, default_label_stage, gather_voxels  # noqa: F401 (re-exported)
from nnssl.trainers.base import SSLTrainerBase
from nnssl.views import base_patch_transform, intensity_view_transform


class MixCLPretrainer(SSLTrainerBase):
    """nnU-Net trainer running MixCL on a pooled dataset (fold 'all')."""

    method = "mixcl"
    config_class = MixCLConfig

    @property
    def transfer_prefixes(self):
        return ENCODER_PREFIXES + (DECODER_PREFIXES if self.ssl_config.transfer_decoder else ())

    def build_ssl_model(self, backbone: nn.Module) -> MixCLModel:
        enc = backbone.encoder
        return MixCLModel(backbone, enc.output_channels, enc.strides, self.num_input_channels, enc.conv_op,
                          self.ssl_config)

    def build_loader(self, dataset, training: bool) -> MixCLPairLoader:
        rotation, dummy_2d, initial_patch, _ = self.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        patch = self.configuration_manager.patch_size
        cfg = self.ssl_config
        return MixCLPairLoader(
            dataset, self.batch_size, initial_patch if training else patch, patch, self.label_manager,
            base_transform=base_patch_transform(patch, rotation, dummy_2d, p_elastic=0.5 if training else 0,
                                                p_affine=0.5 if training else 0),
            view_transform=intensity_view_transform(cfg.view_probability),
            same_image_prob=cfg.same_image_prob, sample_labels=cfg.label_weight > 0,
            sampling_probabilities=self.case_probabilities(dataset),
            sampler_kwargs={"per_class": cfg.per_class, "cap": cfg.sample_cap, "mu": cfg.boundary_mu,
                            "eps": cfg.boundary_eps})
