"""What ``nnssl_benchmark run --dry-run`` lists: every command of a protocol and whether it is done, computed
without writing anything (the labelled subsets are not registered)."""

import os
import shlex

from nnssl.benchmark.protocol import Protocol, resolve_report
from nnssl.benchmark.protocol_requests import benchmark_argv, benchmark_request, init_spec, report_folds
from nnssl.io import load_json


def quote_command(argv: list[str], program: str, env: dict | None = None) -> str:
    prefix = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in (env or {}).items() if v is not None)
    unset = " ".join(f"-u {k}" for k, v in (env or {}).items() if v is None)
    head = f"env {unset} " if unset else ""
    return (head + (prefix + " " if prefix else "") + " ".join(shlex.quote(a) for a in [program, *argv])).strip()


def finetune_listing(protocol: Protocol, out: str, work: str, device: str, target_name: str,
                     recorded: dict[str, str]) -> list[dict]:
    """Every fine-tuning run of the grid with its command and status (done, imported, to run), computed without
    writing anything (the subsets are not registered)."""
    from nnssl.benchmark.imported import parse_import, run_key
    from nnssl.benchmark.report import read_csv
    from nnssl.benchmark.splits import base_splits, label_fraction_splits

    request = benchmark_request(protocol, out, work, device, recorded)
    pre = os.path.join(os.environ["nnUNet_preprocessed"], target_name)
    plans_file = os.path.join(pre, f"{protocol.target.plans}.json")
    if not os.path.isfile(plans_file):
        return [{"what": "every fine-tuning run", "status": "to run",
                 "command": "(listed once the target is planned, by [target] plans_from or the first pretraining; "
                            "run without --dry-run)"}]
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
    for entry in entries:
        registered = [i for i, s in enumerate(splits) if i >= 5 and sorted(s["train"]) == sorted(entry["train"])
                      and sorted(s["val"]) == sorted(entry["val"])]
        fold_id = registered[0] if registered else None
        for name in [*ft.scratch, *protocol.inits]:
            row = _row(protocol, request, target_name, recorded, name, entry, fold_id)
            if row["status"] == "to run" and (name, entry["fold"], round(float(entry["fraction"]), 6)) in imported:
                row["status"] = "imported"
            listing.append(row)
    return listing


def _row(protocol: Protocol, request, target_name: str, recorded: dict[str, str], name: str, entry: dict,
         fold_id: int | None) -> dict:
    """One init on one labelled subset: what it runs and whether it is done."""
    from nnssl.benchmark import finetune_runs
    from nnssl.benchmark.pool_direct import TRAINER

    init = protocol.inits.get(name)
    what = f"{name} fold {entry['fold']} {len(entry['train'])} case(s)"
    if init is not None and init.pool_direct is not None:
        summary = os.path.join(request.runs, name, target_name, f"fold_{entry['fold']}", "summary.json")
        return {"what": what, "status": "done" if os.path.isfile(summary) else "to run",
                "command": f"nnUNetv2_train {init.pool_direct} {protocol.target.configuration} all -tr {TRAINER} "
                           f"-p {protocol.target.plans} (once), then nnUNetv2_predict on the fold's validation cases"}
    if init is not None and init.selftrain is not None:
        index = os.path.join(request.runs, name, f"fold_{entry['fold']}_{len(entry['train'])}cases.json")
        return {"what": what, "status": "done" if os.path.isfile(index) else "to run",
                "command": f"nnssl_selftrain: {init.selftrain}'s model of this fold labels the fold's other training "
                           "cases, a student trains " + (f"like {init.student}" if init.student else
                                                         "from scratch with nnU-Net's recipe")}
    spec = init_spec(init, recorded) if init else None
    checkpoint = spec.split("=", 1)[1] if spec else None
    if init is not None and checkpoint is None:
        return {"what": what, "status": "to run", "command": f"(after pretraining {init.run})"}
    trainer = finetune_runs.trainer_for(checkpoint, name, dict(v.split("=", 1) for v in request.variant))
    plan = finetune_runs.finetune_plan(request, target_name, name, checkpoint, fold_id if fold_id is not None else -1,
                                       trainer, (init.schedule_override or "") if init else "")
    command = quote_command(plan["cmd"][1:], "nnUNetv2_train", plan["env"])
    if fold_id is None:
        command = command.replace(" -1 -tr", " <new fold> -tr")
    done = fold_id is not None and os.path.isfile(plan["summary"])
    return {"what": what, "command": command, "status": "done" if done else "to run"}


def print_listing(protocol: Protocol, out: str, work: str, device: str, target_name: str | None, recorded: dict,
          status: list[dict], planning: str | None = None) -> None:
    """The dry run: every command, and whether it is done (``planning``: the target's own planning line)."""
    print(f"protocol {protocol.name}: {protocol.question}")
    if protocol.prepare:
        print(f"  prepare: {protocol.prepare} ({'target present' if target_name else 'to run'})")
    if planning:
        print(f"  {planning}")
    for s in status:
        print(f"  [{'done' if s['done'] else 'to run'}] {quote_command(s['argv'], 'nnssl_pretrain')}")
    if target_name:
        for row in finetune_listing(protocol, out, work, device, target_name, recorded):
            print(f"  [{row['status']}] {row['what']}: {row['command']}")
    final = benchmark_argv(protocol, out, work, device, recorded, report_folds(protocol), True)
    print(f"  then: {quote_command(final, 'nnssl_benchmark')}")
