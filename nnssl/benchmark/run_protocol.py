"""Carry out a benchmark protocol: pretrain what is missing, fine-tune what is missing, write the report.

Pretraining goes through ``nnssl_pretrain``'s own functions (in this process), fine-tuning and the report
through ``nnssl_benchmark``'s (one call per fold, so an interrupted protocol resumes fold by fold, then one
``--report-only`` call over the report's folds). The report folder gets the protocol file as written
(``protocol.toml``) and as resolved (``protocol.resolved.json``: every command line, checkpoint and version).
"""

import contextlib
import datetime
import os
import platform
import shlex
import shutil

from nnssl.benchmark.protocol import Init, Protocol, check_against_data, resolve_report
from nnssl.io import atomic_save_json, load_json


@contextlib.contextmanager
def restored_environment():
    """Run a step without leaking its environment changes (``nnssl_pretrain`` sets ``nnSSL_RUN_CONFIG``)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


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
        return f"{init.name}=selftrain:{init.selftrain}{threshold}"
    if init.checkpoint is not None:
        return f"{init.name}={os.path.abspath(init.checkpoint)}"
    path = recorded.get(init.run)
    return f"{init.name}={path}" if path else None


def benchmark_argv(protocol: Protocol, out: str, work: str, device: str, recorded: dict[str, str],
                   folds=None, report_only: bool = False) -> list[str]:
    """The ``nnssl_benchmark`` command line of the protocol's grid (``folds``: these folds only)."""
    t, ft = protocol.target, protocol.finetune
    argv = ["-t", str(t.dataset), "-c", t.configuration, "-p", t.plans]
    if ft.schedule:
        argv += ["--schedule", *map(str, ft.schedule)]
    argv += ["-device", device, "--runs", os.path.join(work, ft.runs_folder), "--scratch", *ft.scratch]
    for report in ft.imports:
        argv += ["--import-report", resolve_report(report)]
    argv += ["--out", out]
    for init in protocol.inits.values():
        spec = init_spec(init, recorded)
        argv += ["--init", spec or f"{init.name}=<checkpoint of run {init.run}>"]
        if init.variant:
            argv += ["--variant", f"{init.name}={init.variant}"]
        if init.schedule_override:
            argv += ["--schedule-override", f"{init.name}={init.schedule_override}"]
    if ft.fractions:
        argv += ["--fractions", *map(str, ft.fractions)]
    if ft.cases:
        argv += ["--cases", *map(str, ft.cases)]
    if ft.seed:
        argv += ["--seed", str(ft.seed)]
    argv += ["--folds", *map(str, ft.folds if folds is None else folds)]
    return [*argv, "--report-only"] if report_only else argv


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


def _quote(argv: list[str], program: str, env: dict | None = None) -> str:
    prefix = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in (env or {}).items() if v is not None)
    unset = " ".join(f"-u {k}" for k, v in (env or {}).items() if v is None)
    head = f"env {unset} " if unset else ""
    return (head + (prefix + " " if prefix else "") + " ".join(shlex.quote(a) for a in [program, *argv])).strip()


def pretraining_status(protocol: Protocol, target_name: str | None, device: str) -> list[dict]:
    """Per pretraining run: its command line and whether it is done (finished with exactly this config)."""
    from nnssl.cli import pretrain as cli
    from nnssl.pretraining import finished_checkpoint

    out = []
    for run in protocol.pretrain.values():
        argv = run.argv(protocol.target, device)
        args = cli.parse_command(argv)
        done = finished_checkpoint(args, target_name) if target_name else None
        out.append({"run": run.name, "argv": argv, "checkpoint": done, "done": done is not None})
    return out


def finetune_listing(protocol: Protocol, out: str, work: str, device: str, target_name: str,
                     recorded: dict[str, str]) -> list[dict]:
    """Every fine-tuning run of the grid with its command and status (done, imported, to run), computed without
    writing anything (the subsets are not registered)."""
    from nnssl.benchmark import finetune_runs
    from nnssl.benchmark.imported import parse_import, run_key
    from nnssl.benchmark.pool_direct import TRAINER
    from nnssl.benchmark.report import read_csv
    from nnssl.benchmark.splits import base_splits, label_fraction_splits
    from nnssl.cli import benchmark

    argv = benchmark_argv(protocol, out, work, device, recorded)
    args = benchmark.build_parser().parse_args(argv)
    pre = os.path.join(os.environ["nnUNet_preprocessed"], target_name)
    plans_file = os.path.join(pre, f"{protocol.target.plans}.json")
    if not os.path.isfile(plans_file):
        return [{"what": "every fine-tuning run", "status": "to run", "command": "(the target is planned by the "
                 "first pretraining; run without --dry-run)"}]
    data_id = load_json(plans_file)["configurations"][protocol.target.configuration]["data_identifier"]
    ft = protocol.finetune
    entries = label_fraction_splits(base_splits(pre, data_id), ft.folds, ft.fractions, ft.seed, ft.cases)
    splits_file = os.path.join(pre, "splits_final.json")
    splits = load_json(splits_file) if os.path.isfile(splits_file) else []
    imported = set()
    for report in ft.imports:
        folder, only = parse_import(resolve_report(report))
        imported |= {run_key(r) for r in read_csv(os.path.join(folder, "results.csv"))
                     if r["label"] == "mean" and (only is None or r["init"] in only)}
    listing = []
    names = [*ft.scratch, *protocol.inits]
    for entry in entries:
        registered = [i for i, s in enumerate(splits) if i >= 5 and sorted(s["train"]) == sorted(entry["train"])
                      and sorted(s["val"]) == sorted(entry["val"])]
        fold_id = registered[0] if registered else None
        for name in names:
            init = protocol.inits.get(name)
            what = f"{name} fold {entry['fold']} {len(entry['train'])} case(s)"
            key = (name, entry["fold"], round(float(entry["fraction"]), 6))
            if init is not None and init.pool_direct is not None:
                summary = os.path.join(args.runs, name, target_name, f"fold_{entry['fold']}", "summary.json")
                command = (f"nnUNetv2_train {init.pool_direct} {protocol.target.configuration} all -tr {TRAINER} "
                           f"-p {protocol.target.plans} (once), then nnUNetv2_predict on the fold's validation cases")
                listing.append({"what": what, "command": command,
                                "status": "done" if os.path.isfile(summary) else "to run"})
                continue
            if init is not None and init.selftrain is not None:
                index = os.path.join(args.runs, name, f"fold_{entry['fold']}_{len(entry['train'])}cases.json")
                listing.append({"what": what, "status": "done" if os.path.isfile(index) else "to run",
                                "command": f"nnssl_selftrain: {init.selftrain}'s model of this fold labels the fold's "
                                           "other training cases, a student trains from scratch with nnU-Net's "
                                           "recipe"})
                continue
            spec = init_spec(init, recorded) if init else None
            checkpoint = spec.split("=", 1)[1] if spec else None
            if init is not None and checkpoint is None:
                listing.append({"what": what, "status": "to run", "command": f"(after pretraining {init.run})"})
                continue
            trainer = finetune_runs.trainer_for(checkpoint, name, dict(v.split("=", 1) for v in args.variant))
            plan = finetune_runs.finetune_plan(args, target_name, name, checkpoint,
                                           fold_id if fold_id is not None else -1, trainer,
                                           (init.schedule_override or "") if init else "")
            done = fold_id is not None and os.path.isfile(plan["summary"])
            status = "done" if done else "imported" if key in imported else "to run"
            command = _quote(plan["cmd"][1:], "nnUNetv2_train", plan["env"])
            if fold_id is None:
                command = command.replace(" -1 -tr", " <new fold> -tr")
            listing.append({"what": what, "command": command, "status": status})
    return listing


def run(protocol: Protocol, out: str, work: str, device: str, dry_run: bool = False,
        report_only: bool = False) -> dict:
    """Carry out (or, with ``dry_run``, list) the protocol; returns the resolved record."""
    from nnssl.cli import benchmark
    from nnssl.cli import pretrain as cli
    from nnssl.planning.datasets import check_environment, resolve_dataset

    check_environment()
    if protocol.prepare and not dry_run and not report_only:
        from nnssl.benchmark.shared_data import prepare_hippocampus

        prepare_hippocampus(os.environ["nnUNet_raw"])
    try:
        target_name = resolve_dataset(protocol.target.dataset)
    except ValueError:
        if not dry_run or not protocol.prepare:
            raise
        target_name = None  # a dry run before the data was prepared
    recorded = recorded_runs(target_name, protocol.target.plans, protocol.target.configuration) if target_name else {}
    if target_name:
        check_against_data(protocol, target_name, recorded)
    status = pretraining_status(protocol, target_name, device)
    resolved = {"pretrain": {}, "inits": {}, "out": out, "work": work}
    if dry_run:
        print(f"protocol {protocol.name}: {protocol.question}")
        if protocol.prepare:
            print(f"  prepare: {protocol.prepare} ({'target present' if target_name else 'to run'})")
        for s in status:
            print(f"  [{'done' if s['done'] else 'to run'}] {_quote(s['argv'], 'nnssl_pretrain')}")
        if target_name:
            for row in finetune_listing(protocol, out, work, device, target_name, recorded):
                print(f"  [{row['status']}] {row['what']}: {row['command']}")
        final = benchmark_argv(protocol, out, work, device, recorded, report_folds(protocol), True)
        print(f"  then: {_quote(final, 'nnssl_benchmark')}")
        return {"pretrain": status}
    if not report_only:
        for s in status:
            if s["done"]:
                print(f"nnssl_benchmark run: pretraining {s['run']} already done ({s['checkpoint']})", flush=True)
                continue
            print(f"nnssl_benchmark run: {_quote(s['argv'], 'nnssl_pretrain')}", flush=True)
            with restored_environment():
                if cli.main(s["argv"]) != 0:
                    raise RuntimeError(f"pretraining {s['run']} failed (nnssl_pretrain {' '.join(s['argv'])})")
        recorded = recorded_runs(target_name, protocol.target.plans, protocol.target.configuration)
        for fold in protocol.finetune.folds:
            argv = benchmark_argv(protocol, out, work, device, recorded, [fold])
            with restored_environment():
                if benchmark.main(argv) != 0:
                    raise RuntimeError(f"fine-tuning fold {fold} failed (nnssl_benchmark {' '.join(argv)})")
    final = benchmark_argv(protocol, out, work, device, recorded, report_folds(protocol), report_only=True)
    missing = [n for n, i in protocol.inits.items() if init_spec(i, recorded) is None]
    if missing:
        raise ValueError(f"inits {missing} have no checkpoint yet (their pretraining has not run); run the protocol "
                         "without --report-only")
    with restored_environment():
        if benchmark.main(final) != 0:
            raise RuntimeError(f"the report failed (nnssl_benchmark {' '.join(final)})")
    resolved["pretrain"] = {s["run"]: {"command": _quote(s["argv"], "nnssl_pretrain"),
                                       "checkpoint": recorded.get(s["run"])} for s in status}
    resolved["inits"] = {n: init_spec(i, recorded).split("=", 1)[1] for n, i in protocol.inits.items()}
    resolved["report_command"] = _quote(final, "nnssl_benchmark")
    write_record(protocol, out, resolved)
    return resolved


def report_folds(protocol: Protocol) -> list[int]:
    return protocol.finetune.report_folds or protocol.finetune.folds
