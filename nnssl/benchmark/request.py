"""The typed request behind ``nnssl_benchmark``: one grid of inits x folds x labelled subsets, and its report.

``nnssl_benchmark``'s command line and the protocol runner (``nnssl/benchmark/run_protocol.py``) both build a
:class:`BenchmarkRequest` and hand it to ``nnssl.benchmark.grid.run_benchmark``; :meth:`BenchmarkRequest.argv` gives
back the equivalent command line, for the report's record and for a user who wants to repeat one fold by hand.
"""

import dataclasses

#: the scratch baselines: nnU-Net's recipe, and the pretrained trainers' warm-up schedule from random weights
SCRATCH_TRAINERS = {"scratch": "nnsslScratchTrainer", "scratch_warmup": "nnsslScratchTrainer_warmup"}
#: label fractions (percent of each fold's training cases) when neither fractions nor case counts are given
DEFAULT_FRACTIONS = (5.0, 15.0, 50.0, 100.0)


@dataclasses.dataclass(frozen=True)
class BenchmarkRequest:
    """One ``nnssl_benchmark`` call (the fields are its options; ``nnssl_benchmark -h`` says what each means).

    ``fractions``: None takes :data:`DEFAULT_FRACTIONS` unless ``cases`` is given (then none).
    ``schedule``: (epochs, iterations, validation iterations) of every fine-tune, or None for nnU-Net's.
    ``device``: None until the command line resolves it to what this machine has.
    """

    target: int
    out: str
    configuration: str = "3d_fullres"
    plans_name: str = "nnsslPlans"
    init: tuple[str, ...] = ()
    fractions: tuple[float, ...] | None = None
    cases: tuple[int, ...] = ()
    scratch: tuple[str, ...] = tuple(SCRATCH_TRAINERS)
    import_report: tuple[str, ...] = ()
    folds: tuple[int, ...] = (0, 1, 2, 3, 4)
    seed: int = 0
    schedule: tuple[int, int, int] | None = None
    device: str | None = None
    runs: str | None = None
    variant: tuple[str, ...] = ()
    schedule_override: tuple[str, ...] = ()
    report_only: bool = False

    def __post_init__(self):
        for name in ("init", "cases", "scratch", "import_report", "folds", "variant", "schedule_override"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.fractions is None:
            object.__setattr__(self, "fractions", () if self.cases else DEFAULT_FRACTIONS)
        object.__setattr__(self, "fractions", tuple(float(f) for f in self.fractions))
        if self.schedule is not None:
            if len(self.schedule) != 3 or any(int(v) < 1 for v in self.schedule):
                raise ValueError(f"--schedule {list(self.schedule)}: give EPOCHS ITERATIONS VAL_ITERATIONS, each >= 1")
            object.__setattr__(self, "schedule", tuple(int(v) for v in self.schedule))
        unknown = sorted(set(self.scratch) - set(SCRATCH_TRAINERS))
        if unknown:
            raise ValueError(f"--scratch {unknown}: choose from {sorted(SCRATCH_TRAINERS)}")

    def argv(self) -> list[str]:
        """The ``nnssl_benchmark`` words of this request."""
        words = ["-t", str(self.target), "-c", self.configuration, "-p", self.plans_name]
        if self.schedule:
            words += ["--schedule", *map(str, self.schedule)]
        words += ["-device", self.device] if self.device else []
        if self.runs:
            words += ["--runs", self.runs]
        words += ["--scratch", *self.scratch]
        for report in self.import_report:
            words += ["--import-report", report]
        words += ["--out", self.out]
        for flag, values in (("--init", self.init), ("--variant", self.variant),
                             ("--schedule-override", self.schedule_override)):
            for value in values:
                words += [flag, value]
        if self.fractions and not (self.fractions == DEFAULT_FRACTIONS and not self.cases):
            words += ["--fractions", *(f"{f:g}" for f in self.fractions)]
        if self.cases:
            words += ["--cases", *map(str, self.cases)]
        if self.seed:
            words += ["--seed", str(self.seed)]
        words += ["--folds", *map(str, self.folds)]
        return [*words, "--report-only"] if self.report_only else words
