"""Masked-noise regression pretraining (Umapathy et al. ISMRM 2022; documentation/design.md C).

Full nnU-Net U-Net (deep supervision off) plus a 1x1 regression head; the input is corrupted at a
stratified set of voxels (by default about 256 per patch, within 0.2-10 %; the same voxels in every
channel) and the L1 loss counts only those.
Augmentation is nnU-Net's standard training pipeline (one view); masking comes last. Transfer:
the encoder (``transfer_decoder`` adds the decoder stages).
"""

from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
from torch import nn

from nnssl.checkpoint import DECODER_PREFIXES, ENCODER_PREFIXES
from nnssl.methods.regression.config import RegressionConfig
from nnssl.methods.regression.model import RegressionModel
from nnssl.trainers.base import NnUNetOptimiserMixin, SSLTrainerBase


class RegressionPretrainer(NnUNetOptimiserMixin, SSLTrainerBase):
    """nnU-Net trainer running the masked-noise regression pretext on a pooled dataset."""

    method = "regression"
    config_class = RegressionConfig

    @property
    def transfer_prefixes(self):
        return ENCODER_PREFIXES + (DECODER_PREFIXES if self.ssl_config.transfer_decoder else ())

    def build_ssl_model(self, backbone: nn.Module) -> RegressionModel:
        model = RegressionModel(backbone, self.num_input_channels, self.ssl_config,
                                self.configuration_manager.patch_size)
        self.print_to_log_file(f"nnssl: mask ratio {model.mask_ratio:.4g} "
                               f"({'set' if self.ssl_config.mask_ratio else 'automatic, by patch size'})")
        return model

    def build_loader(self, dataset, training: bool) -> nnUNetDataLoader:
        rotation, dummy_2d, initial_patch, mirror = self.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        patch = self.configuration_manager.patch_size
        if training:
            transforms = self.get_training_transforms(patch, rotation, None, mirror, dummy_2d,
                                                      self.configuration_manager.use_mask_for_norm)
        else:
            transforms = self.get_validation_transforms(None)
        return nnUNetDataLoader(dataset, self.batch_size, initial_patch if training else patch, patch,
                                self.label_manager, self.oversample_foreground_percent,
                                sampling_probabilities=self.case_probabilities(dataset), transforms=transforms)
