"""Carry out a benchmark protocol: pretrain what is missing, fine-tune what is missing, write the report.

Each pretraining run of the protocol becomes one typed request, parsed before any work, and goes to
``nnssl.pretraining.pretrain``; the grid becomes ``nnssl_benchmark``'s request and goes to
``nnssl.benchmark.grid.run_benchmark`` (one call per fold, so an interrupted protocol resumes fold by fold, then one
report-only call over the report's folds). No command line is re-parsed; the equivalent ones are recorded. The
report folder gets the protocol file as written (``protocol.toml``) and as resolved (``protocol.resolved.json``:
every command line, checkpoint and version).
"""

import contextlib
import datetime
import os
import platform
import shutil

from nnssl.benchmark.grid import run_benchmark
from nnssl.benchmark.protocol import Protocol, check_against_data
from nnssl.benchmark.protocol_listing import print_listing, quote_command
from nnssl.benchmark.protocol_requests import benchmark_request, init_spec, recorded_runs, report_folds
from nnssl.benchmark.request import BenchmarkRequest
from nnssl.io import atomic_save_json, load_json


def _versions() -> dict:
    from importlib.metadata import version

    import nnssl

    out = {"nnssl": nnssl.__version__}
    for package in ("nnunetv2", "torch"):
        with contextlib.suppress(Exception):
            out[package] = version(package)
    return out


def write_record(protocol: Protocol, out: str, resolved: dict) -> None:
    """The protocol as written and as resolved, into the report folder."""
    os.makedirs(out, exist_ok=True)
    if os.path.isfile(protocol.source):
        shutil.copyfile(protocol.source, os.path.join(out, "protocol.toml"))
    atomic_save_json({"protocol": protocol.raw, "source": protocol.source, "resolved": resolved,
                      "versions": _versions(), "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
                      "written": datetime.datetime.now().isoformat(timespec="seconds")},
                     os.path.join(out, "protocol.resolved.json"))


def unplanned_datasets(protocol: Protocol, target_name: str) -> list[str]:
    """The target and [target] pool datasets whose plans lack the protocol's configuration."""
    from nnssl.planning.datasets import resolve_dataset

    out = []
    for name in [target_name, *(resolve_dataset(d) for d in protocol.target.pool)]:
        path = os.path.join(os.environ["nnUNet_preprocessed"], name, f"{protocol.target.plans}.json")
        if not os.path.isfile(path) or protocol.target.configuration not in load_json(path).get("configurations", {}):
            out.append(name)
    return out


def pretraining_status(protocol: Protocol, target_name: str | None, device: str) -> list[dict]:
    """Per pretraining run: its command line and whether it is done (finished with exactly this config)."""
    from nnssl.pretraining import finished_checkpoint

    out = []
    for run in protocol.pretrain.values():
        request = run.request(protocol.target, device)
        done = finished_checkpoint(request, target_name) if target_name else None
        out.append({"run": run.name, "argv": run.argv(protocol.target, device), "request": request,
                    "checkpoint": done, "done": done is not None})
    return out


def run(protocol: Protocol, out: str, work: str, device: str, dry_run: bool = False,
        report_only: bool = False) -> dict:
    """Carry out (or, with ``dry_run``, list) the protocol; returns the resolved record."""
    from nnssl.planning.datasets import check_environment, resolve_dataset

    check_environment()
    target = protocol.target
    plan_request = target.plan_request(device) if target.plans_itself else None  # parsed before any work
    if protocol.prepare and not dry_run and not report_only:
        from nnssl.benchmark.shared_data import prepare_hippocampus

        prepare_hippocampus(os.environ["nnUNet_raw"])
    try:
        target_name = resolve_dataset(protocol.target.dataset)
    except ValueError:
        if not dry_run or not protocol.prepare:
            raise
        target_name = None  # a dry run before the data was prepared
    unplanned = unplanned_datasets(protocol, target_name) if target_name else None
    if unplanned and plan_request is None and not protocol.pretrain:
        raise ValueError(f"{protocol.source or protocol.name}: no {target.plans} {target.configuration} plan for "
                         f"{', '.join(unplanned)} and no [pretrain] run that plans it; give [target] plans_from "
                         f"(a plans/ name) and "
                         f"pool (the pool's dataset ids), or plan first: nnssl_pretrain -d <pool ids> -t "
                         f"{target.dataset} -c {target.configuration} --plan-only")
    if unplanned and plan_request is not None and not dry_run and not report_only:
        from nnssl.pretraining import pretrain

        print(f"nnssl_benchmark run: {quote_command(target.plan_argv(device), 'nnssl_pretrain')}", flush=True)
        _step("planning the target", target.plan_argv(device), lambda: pretrain(plan_request), "nnssl_pretrain")
    recorded = recorded_runs(target_name, target.plans, target.configuration) if target_name else {}
    if target_name:
        check_against_data(protocol, target_name, recorded)
    status = pretraining_status(protocol, target_name, device)  # every pretraining request parsed before any work
    if dry_run:
        planning = None
        if plan_request is not None:
            planning = f"[{'to run' if unplanned or not target_name else 'done'}] " \
                       f"{quote_command(target.plan_argv(device), 'nnssl_pretrain')}"
        print_listing(protocol, out, work, device, target_name, recorded, status, planning)
        return {"pretrain": status}
    if not report_only:
        recorded = _train(protocol, out, work, device, target_name, status)
    final = benchmark_request(protocol, out, work, device, recorded, report_folds(protocol), report_only=True)
    missing = [n for n, i in protocol.inits.items() if init_spec(i, recorded) is None]
    if missing:
        raise ValueError(f"inits {missing} have no checkpoint yet (their pretraining has not run); run the protocol "
                         "without --report-only")
    _step("the report", final, lambda: run_benchmark(final))
    resolved = {"out": out, "work": work,
                "pretrain": {s["run"]: {"command": quote_command(s["argv"], "nnssl_pretrain"),
                                        "checkpoint": recorded.get(s["run"])} for s in status},
                "inits": {n: init_spec(i, recorded).split("=", 1)[1] for n, i in protocol.inits.items()},
                "report_command": quote_command(final.argv(), "nnssl_benchmark")}
    write_record(protocol, out, resolved)
    return resolved


def _train(protocol: Protocol, out: str, work: str, device: str, target_name: str, status: list[dict]) -> dict:
    """Pretrain what is not done, then fine-tune fold by fold (resumable); returns the runs the target records."""
    from nnssl.pretraining import pretrain

    for s in status:
        if s["done"]:
            print(f"nnssl_benchmark run: pretraining {s['run']} already done ({s['checkpoint']})", flush=True)
            continue
        print(f"nnssl_benchmark run: {quote_command(s['argv'], 'nnssl_pretrain')}", flush=True)
        _step(f"pretraining {s['run']}", s["argv"], lambda s=s: pretrain(s["request"]), "nnssl_pretrain")
    recorded = recorded_runs(target_name, protocol.target.plans, protocol.target.configuration)
    for fold in protocol.finetune.folds:
        request = benchmark_request(protocol, out, work, device, recorded, [fold])
        _step(f"fine-tuning fold {fold}", request, lambda r=request: run_benchmark(r))
    return recorded


def _step(what: str, request, work, program: str = "nnssl_benchmark") -> None:
    """Run one step; its failure names the step and its command line (to repeat it by hand)."""
    from nnssl.errors import translate_nnunet_error

    words = request.argv() if isinstance(request, BenchmarkRequest) else request
    try:
        work()
    except (ValueError, OSError) as e:
        raise RuntimeError(f"{what} failed: {e} ({quote_command(words, program)})") from e
    except (AssertionError, RuntimeError) as e:  # nnU-Net's own failures: the fix where it is known
        message = translate_nnunet_error(e)
        if message is None:
            raise
        raise RuntimeError(f"{what} failed: {message} ({quote_command(words, program)})") from e
