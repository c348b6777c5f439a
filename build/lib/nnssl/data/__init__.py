"""Data helpers: the synthetic pooled-dataset generator and the MixCL pair loader."""
