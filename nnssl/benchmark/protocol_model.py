"""The data model of a benchmark protocol (``nnssl/benchmark/protocol.py`` reads a file into it): the keys each table
takes with their types, and one dataclass per table."""

from dataclasses import dataclass, field

TOP = {"name": str, "question": str, "report": str, "prepare": str, "target": dict, "pretrain": dict, "init": dict,
       "finetune": dict}
REQUIRED_TOP = ("name", "question", "target", "finetune")
TARGET = {"dataset": int, "configuration": str, "plans": str, "plans_from": str, "pool": list}
PRETRAIN = {"method": str, "plans_from": str, "datasets": list, "schedule": str, "epochs": int, "flags": list}
INIT = {"run": str, "checkpoint": str, "pool_direct": int, "selftrain": str, "threshold": float, "student": str,
        "variant": str, "schedule_override": str}
FINETUNE = {"schedule": list, "cases": list, "fractions": list, "folds": list, "report_folds": list, "seed": int,
            "scratch": list, "imports": list, "runs": str}
PREPARE = ("shared_hippocampus",)
CONFIGURATIONS = ("2d", "3d_fullres")
INIT_SOURCES = ("run", "checkpoint", "pool_direct", "selftrain")


def parse_pretrain_words(argv: list[str], where: str):
    """The typed ``nnssl_pretrain`` request of a protocol's words; a refusal becomes a ValueError naming ``where``."""
    from nnssl.errors import UsageError
    from nnssl.pretrain_options import parse_request

    try:
        return parse_request(argv)
    except UsageError as e:
        raise ValueError(f"{where}: {e}") from None


@dataclass
class Pretraining:
    """One ``nnssl_pretrain`` run of a protocol; ``name`` is its run name."""

    name: str
    method: str
    plans_from: str | None = None
    datasets: list[int] = field(default_factory=list)
    schedule: str = "full"
    epochs: int | None = None
    flags: list[str] = field(default_factory=list)

    def argv(self, target: "Target", device: str) -> list[str]:
        """The ``nnssl_pretrain`` command line (resumable: ``--continue``)."""
        out = ["--plans-from", self.plans_from] if self.plans_from else []
        if self.datasets:
            out += ["-d", *map(str, self.datasets)]
        out += ["-t", str(target.dataset), "-c", target.configuration, "-p", target.plans, "-device", device,
                "-m", self.method, "--schedule", self.schedule]
        if self.epochs is not None:
            out += ["--epochs", str(self.epochs)]
        return [*out, *self.flags, "--run-name", self.name, "--continue"]

    def request(self, target: "Target", device: str):
        """The typed ``nnssl_pretrain`` request of this run: its words parsed once, before any work.

        Raises:
            ValueError: a flag that ``nnssl_pretrain`` refuses, naming this run.
        """
        return parse_pretrain_words(self.argv(target, device), f"[pretrain.{self.name}]")


@dataclass
class Init:
    """One init of the report: a pretraining run, a checkpoint or the pool-direct alternative."""

    name: str
    run: str | None = None
    checkpoint: str | None = None
    pool_direct: int | None = None
    selftrain: str | None = None
    threshold: float | None = None
    student: str | None = None
    variant: str | None = None
    schedule_override: str | None = None


@dataclass
class Target:
    """The target; ``plans_from`` / ``pool``: how a protocol without a pretraining run plans it (and the pool
    datasets a ``pool_direct`` init trains on) before any fine-tuning: ``nnssl_pretrain --plan-only``."""

    dataset: int
    configuration: str = "3d_fullres"
    plans: str = "nnsslPlans"
    plans_from: str | None = None
    pool: list[int] = field(default_factory=list)

    @property
    def plans_itself(self) -> bool:
        """Whether the protocol plans the target itself (``plans_from`` or ``pool`` given)."""
        return bool(self.plans_from or self.pool)

    def plan_argv(self, device: str) -> list[str]:
        """The ``nnssl_pretrain`` words that plan and preprocess the pool and the target, training nothing."""
        out = ["--plans-from", self.plans_from] if self.plans_from else []
        if self.pool:
            out += ["-d", *map(str, self.pool)]
        return [*out, "-t", str(self.dataset), "-c", self.configuration, "-p", self.plans, "-device", device,
                "--plan-only"]

    def plan_request(self, device: str):
        """The typed ``nnssl_pretrain`` request of :meth:`plan_argv`, parsed before any work.

        Raises:
            ValueError: words ``nnssl_pretrain`` refuses, naming [target].
        """
        return parse_pretrain_words(self.plan_argv(device), "[target] plans_from / pool")


@dataclass
class Finetune:
    schedule: list[int] | None = None
    cases: list[int] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    folds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    report_folds: list[int] | None = None
    seed: int = 0
    scratch: list[str] = field(default_factory=lambda: ["scratch"])
    imports: list[str] = field(default_factory=list)
    runs: str | None = None

    @property
    def runs_folder(self) -> str:
        """The folder below --work that holds the per-init results roots (the script's lowlabel_runs_<steps>)."""
        if self.runs:
            return self.runs
        return f"lowlabel_runs_{self.schedule[0] * self.schedule[1]}" if self.schedule else "lowlabel_runs"


@dataclass
class Protocol:
    name: str
    question: str
    target: Target
    finetune: Finetune
    pretrain: dict[str, Pretraining] = field(default_factory=dict)
    inits: dict[str, Init] = field(default_factory=dict)
    report: str | None = None
    prepare: str | None = None
    source: str = ""
    raw: dict = field(default_factory=dict, repr=False)


def check_table(table: dict, schema: dict, where: str, path: str) -> None:
    """Refuse unknown keys and values of the wrong type in one table (ValueError naming file, table and key)."""
    unknown = sorted(set(table) - set(schema))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown} in {where}; known: {sorted(schema)}")
    for key, kind in schema.items():
        if key not in table:
            continue
        value = table[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            raise ValueError(f"{path}: {where}.{key} = {value!r} must be a{'n' if kind is int else ''} "
                             f"{kind.__name__}")


def int_list(values, where: str, path: str, minimum: int = 0) -> list[int]:
    """The values as a list, refused unless every one is an integer >= ``minimum``."""
    if any(not isinstance(v, int) or isinstance(v, bool) or v < minimum for v in values):
        raise ValueError(f"{path}: {where} = {values!r} must hold integers >= {minimum}")
    return list(values)
