"""Low-label evaluation: nested label-fraction splits, the fine-tuning grid, the report."""
