"""nnssl: self-supervised and contrastive pretraining in front of nnU-Net v2.

This package is *not* MIC-DKFZ/nnssl; it is an independent nnU-Net v2 plugin. Symbols used in
docstrings throughout: B batch, C channels, X·Y·Z spatial, N sampled voxels, D embedding width.
"""

__version__ = "0.3.0"
