"""Re-export shim for nnU-Net's trainer lookup (point nnUNet_extTrainer at this folder): every nnssl trainer."""

from nnssl.methods.registry import trainer_classes

globals().update(trainer_classes())
