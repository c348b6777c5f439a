"""The requests a benchmark protocol resolves to: each init's ``--init`` value, the grid's ``nnssl_benchmark`` request
(and its equivalent command line, for the record), the folds its report covers."""

import os

from nnssl.benchmark.protocol import Init, Protocol, resolve_report
from nnssl.benchmark.request import BenchmarkRequest
from nnssl.io import load_json


def recorded_runs(target_name: str, plans: str, configuration: str) -> dict[str, str]:
    """{run name: checkpoint} that the target's plans record for ``configuration`` ({} before any pretraining)."""
    path = os.path.join(os.environ["nnUNet_preprocessed"], target_name, f"{plans}.json")
    if not os.path.isfile(path):
        return {}
    return dict((load_json(path).get("nnssl") or {}).get("pretrained", {}).get(configuration, {}))


def init_spec(init: Init, recorded: dict[str, str]) -> str | None:
    """The ``--init`` value of one init, or None while its pretraining has not run."""
    if init.pool_direct is not None:
        return f"{init.name}={init.pool_direct}"
    if init.selftrain is not None:
        threshold = f":{init.threshold:g}" if init.threshold is not None else ""
        student = f"{threshold or ':'}:{init.student}" if init.student else threshold
        return f"{init.name}=selftrain:{init.selftrain}{student}"
    if init.checkpoint is not None:
        return f"{init.name}={os.path.abspath(init.checkpoint)}"
    path = recorded.get(init.run)
    return f"{init.name}={path}" if path else None


def benchmark_request(protocol: Protocol, out: str, work: str, device: str, recorded: dict[str, str],
                      folds=None, report_only: bool = False) -> BenchmarkRequest:
    """The ``nnssl_benchmark`` request of the protocol's grid (``folds``: these folds only)."""
    t, ft = protocol.target, protocol.finetune
    inits, variants, overrides = [], [], []
    for init in protocol.inits.values():
        inits.append(init_spec(init, recorded) or f"{init.name}=<checkpoint of run {init.run}>")
        if init.variant:
            variants.append(f"{init.name}={init.variant}")
        if init.schedule_override:
            overrides.append(f"{init.name}={init.schedule_override}")
    return BenchmarkRequest(target=t.dataset, out=out, configuration=t.configuration, plans_name=t.plans,
                            init=tuple(inits), fractions=tuple(ft.fractions) if ft.fractions else None,
                            cases=tuple(ft.cases or ()), scratch=tuple(ft.scratch),
                            import_report=tuple(resolve_report(r) for r in ft.imports),
                            folds=tuple(ft.folds if folds is None else folds), seed=ft.seed or 0,
                            schedule=tuple(ft.schedule) if ft.schedule else None, device=device,
                            runs=os.path.join(work, ft.runs_folder), variant=tuple(variants),
                            schedule_override=tuple(overrides), report_only=report_only)


def benchmark_argv(protocol: Protocol, out: str, work: str, device: str, recorded: dict[str, str],
                   folds=None, report_only: bool = False) -> list[str]:
    """The ``nnssl_benchmark`` command line of the protocol's grid: what the record and the dry run show."""
    return benchmark_request(protocol, out, work, device, recorded, folds, report_only).argv()


def report_folds(protocol: Protocol) -> list[int]:
    """The folds the report covers (``report_folds``, else the protocol's folds)."""
    return protocol.finetune.report_folds or protocol.finetune.folds
