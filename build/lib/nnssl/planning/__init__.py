"""Pooled planning: one nnU-Net plan for several datasets (pure merge + a thin planner)."""
