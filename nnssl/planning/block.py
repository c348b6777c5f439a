"""The ``plans["nnssl"]`` block: what nnssl writes into nnU-Net plans files, validated.

``role``: ``pool`` (the pooled pretraining dataset), ``source`` or ``target``; ``sources``: source id
-> raw dataset name; ``pool``: the pool dataset's name (sources and target); ``pretrained``:
configuration -> run name -> checkpoint path (target only, written after a checkpoint was checked);
``plan_from``: the target whose plans the pool uses (``--plan-from-target``); ``alias_of``: set in a copy
of nnssl's plans of that name under another identifier (the target's ``nnUNetPlans.json``, a named run's
``<plans>_<run>.json``; ``nnssl/planning/aliases.py``); ``run``: the ``--run-name`` such a copy belongs to;
``runs`` (pool only): run key (``<run name>[_<stage>]``) -> the run configuration ``nnssl_pretrain`` trained it
with, so a stock ``nnUNetv2_train ... --c`` resumes with the same settings; ``label_map`` (target only): target
label -> ``[source dataset, source label]`` from ``--label-map``, which class rows of a pretrained output layer the
fine-tune copies (``nnssl/output_layers.py``).
"""

from dataclasses import asdict, dataclass, field, fields

ROLES = ("pool", "source", "target")


@dataclass(frozen=True)
class NnsslBlock:
    role: str
    sources: dict[str, str]
    pool: str | None = None
    pretrained: dict[str, dict[str, str]] = field(default_factory=dict)
    plan_from: str | None = None
    alias_of: str | None = None
    run: str | None = None
    runs: dict[str, dict] = field(default_factory=dict)
    label_map: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.sources, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                         for k, v in self.sources.items()):
            raise ValueError(f"sources must map dataset ids (str) to dataset names (str), got {self.sources!r}")
        if not isinstance(self.pretrained, dict) or not all(
                isinstance(runs, dict) and all(isinstance(r, str) and isinstance(p, str) for r, p in runs.items())
                for runs in self.pretrained.values()):
            raise ValueError(f"pretrained must map configuration -> run name -> checkpoint path, "
                             f"got {self.pretrained!r}")
        if not isinstance(self.runs, dict) or not all(isinstance(v, dict) for v in self.runs.values()):
            raise ValueError(f"runs must map run keys to run configurations, got {self.runs!r}")
        if not isinstance(self.label_map, dict) or not all(
                isinstance(k, str) and k.isdigit() and isinstance(v, (list, tuple)) and len(v) == 2
                and all(isinstance(x, int) for x in v) for k, v in self.label_map.items()):
            raise ValueError(f"label_map must map target labels ('1') to [source dataset, source label], "
                             f"got {self.label_map!r}")
        for name in ("pool", "plan_from", "alias_of", "run"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string or absent, got {getattr(self, name)!r}")

    @classmethod
    def from_plans(cls, plans: dict, where: str = "plans") -> "NnsslBlock | None":
        """The validated block of ``plans`` (None when it has none).

        Raises:
            ValueError: naming ``where`` and the bad or unknown key.
        """
        block = plans.get("nnssl")
        if block is None:
            return None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(block) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown} in the 'nnssl' block; known: {sorted(known)}")
        try:
            return cls(**block)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: invalid 'nnssl' block: {e}") from None

    def label_map_pairs(self) -> dict[int, tuple[int, int]]:
        """``label_map`` as ``{target label: (source dataset, source label)}``."""
        return {int(k): (int(v[0]), int(v[1])) for k, v in self.label_map.items()}

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and not (k == "label_map" and not v)}
