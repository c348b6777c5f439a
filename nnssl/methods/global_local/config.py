"""Chaitanya et al.'s run configuration: global then local contrast (documentation/design.md B)."""

from dataclasses import dataclass

from nnssl.run_config import PretrainConfig


@dataclass(frozen=True)
class GlobalLocalConfig(PretrainConfig):
    """Chaitanya et al. (NeurIPS 2020) stage-wise global then local contrastive pretraining (documentation/design.md B).

    Attributes:
        stage: "global" (encoder + g1) or "local" (frozen encoder, partial decoder d_l + g2); the CLI
            runs both in turn by default.
        global_strategy: "GR", "GD-" or "GD"; local_strategy: "LR" or "LD".
        partitions: S slice-axis partitions (4); cases_per_batch: m (batch = m x S x 2 views).
        temperature: tau of both losses (0.1).
        decoder_stages: l of d_l; None (default) picks l by resolution so that d_l ends closest to
            1/``local_stride`` of the input (the paper's d_3 ends at 1/4 on a 6-level network).
        local_stride: target output stride of d_l (4).
        lattice_jitter: per-step random shift (feature voxels, per region and axis, the same in both
            views) of the region lattice, so fixed positions cannot solve the local loss (1; 0 = off).
        region_size: K (1 or 3).
        patch_fraction: 3D pretraining patch as a fraction of the plan patch (rounded to the
            network's stride); 2D uses the plan patch.
        global_checkpoint: stage-1 checkpoint the local stage starts from (set by the CLI).
    Optimiser: Adam, lr 1e-3, constant (the paper's setting).
    """

    method: str = "global_local"
    stage: str = "global"
    global_strategy: str = "GD"
    local_strategy: str = "LR"
    partitions: int = 4
    cases_per_batch: int = 4
    temperature: float = 0.1
    decoder_stages: int | None = None
    local_stride: int = 4
    lattice_jitter: int = 1
    region_size: int = 3
    patch_fraction: float = 0.5
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    global_checkpoint: str | None = None

    def __post_init__(self):
        super().__post_init__()
        checks = {
            "stage": (self.stage, ("global", "local")),
            "global_strategy": (self.global_strategy, ("GR", "GD-", "GD")),
            "local_strategy": (self.local_strategy, ("LR", "LD")),
            "region_size": (self.region_size, (1, 3)),
        }
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.partitions < 1 or self.cases_per_batch < 1 or (self.decoder_stages or 1) < 1 or self.local_stride < 1:
            raise ValueError("partitions, cases_per_batch, decoder_stages and local_stride must be >= 1")
        if self.lattice_jitter < 0:
            raise ValueError(f"lattice_jitter must be >= 0, got {self.lattice_jitter}")
        if self.temperature <= 0 or not 0 < self.patch_fraction <= 1:
            raise ValueError("temperature must be > 0 and patch_fraction in (0, 1]")
        if self.global_strategy != "GR" and self.partitions < 2:
            raise ValueError(f"{self.global_strategy} needs at least 2 partitions for negatives")
