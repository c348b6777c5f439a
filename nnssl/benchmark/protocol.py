"""Benchmark protocols as data: one TOML file declares everything one report needs (``nnssl_benchmark run``).

Why TOML: a protocol is written and read by people, so it needs comments (why this setting, which update it
answers), and it must be data only (no code). TOML has comments, is read by Python's own ``tomllib`` and
maps onto JSON one to one, so the resolved protocol is stored as JSON beside the report. JSON has no comments;
YAML needs a dependency and has implicit types (``no`` becomes False).

A protocol::

    name = "s4_supervised_1case"                 # required: short id
    question = "..."                             # required: what the report answers, in one sentence
    report = "hippocampus_2d_1case_1500it_s4"    # default --out: benchmarks/<report> in this checkout
    prepare = "shared_hippocampus"               # optional: build the raw datasets from ../shared/data first

    [target]                                     # required
    dataset = 602                                # required
    configuration = "2d"                         # default 3d_fullres
    plans = "nnsslPlans"                         # default
    plans_from = "hippocampus_601_602_2d"        # optional, for a protocol without [pretrain]: plan the target
    pool = [601]                                 #   (and these pool datasets) with nnssl_pretrain --plan-only first

    [pretrain.supervised_601]                    # one table per pretraining run; the key is its --run-name
    method = "supervised"                        # required
    plans_from = "hippocampus_601_602_2d"        # a frozen plan (plans/ name or path); default: plan the pool
    datasets = [601]                             # the pool's sources (default: the plans_from recipe's)
    schedule = "cpu"                             # nnssl_pretrain --schedule (default full)
    epochs = 30                                  # optional --epochs
    flags = ["--supervised-loss", "dc_ce"]       # more nnssl_pretrain options

    [init.supervised_601_nnunet]                 # one table per init; the key is its name in the report
    run = "supervised_601"                       # exactly one of: run (a [pretrain] key or a run recorded in the
    variant = "nnUNetSchedule"                   #   target's plans), checkpoint (a path), pool_direct (a dataset id),
    schedule_override = "pretrained_lr=3e-3"     #   selftrain (a teacher: "scratch" or an init above it)
                                                 # optional: variant, schedule_override (fine-tunes), threshold
                                                 #   (selftrain's pseudo-label confidence, default 0.9), student
                                                 #   (selftrain: an init above whose fine-tune the student copies)

    [finetune]                                   # required
    schedule = [30, 50, 5]                       # epochs, iterations, validation iterations (default nnU-Net's)
    cases = [1]                                  # labelled cases and/or
    fractions = []                               #   percentages of each fold's training cases
    folds = [0, 1, 2, 3, 4]
    report_folds = [0, 1, 2, 3, 4]               # folds the report shows (default: folds; imports fill the rest)
    seed = 0
    scratch = ["scratch"]                        # scratch baselines trained here ([] with imports holding them)
    imports = ["hippocampus_2d_1case_1500it_decoder_pair"]   # earlier reports (benchmarks/ names or paths;
                                                 #   "NAME:scratch,other" imports only those inits)
    runs = "lowlabel_runs_1500"                  # per-init nnUNet_results roots below --work

Everything is checked before any work (:func:`load`, :func:`check_against_data`); unknown keys are errors.
"""

import copy
import math
import os

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from nnssl.benchmark.protocol_model import (
    CONFIGURATIONS,
    FINETUNE,
    INIT,
    INIT_SOURCES,
    PREPARE,
    PRETRAIN,
    REQUIRED_TOP,
    TARGET,
    TOP,
    Finetune,
    Init,
    Pretraining,
    Protocol,
    Target,
    check_table,
    int_list,
)
from nnssl.io import load_json


def repository_folder(name: str) -> str:
    """A folder of this source checkout (``benchmarks``, ``plans``, ...)."""
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", name))


def parse(data: dict, path: str = "<protocol>") -> Protocol:
    """A :class:`Protocol` from a parsed TOML document.

    Raises:
        ValueError: naming the file, the key and the fix (unknown or missing keys, wrong types, bad values).
    """
    check_table(data, TOP, "the protocol", path)
    missing = [k for k in REQUIRED_TOP if k not in data]
    if missing:
        raise ValueError(f"{path}: missing {missing} (every protocol needs {list(REQUIRED_TOP)})")
    from nnssl.names import name_problem

    for key, value in [*((k, data.get(k)) for k in ("name", "report")),
                       *((f"[pretrain.{k}]", k) for k in data.get("pretrain", {})),
                       *((f"[init.{k}]", k) for k in data.get("init", {})),
                       ("[finetune] runs", (data.get("finetune") or {}).get("runs"))]:
        problem = value is not None and name_problem(value)
        if problem:  # each becomes a folder or file name (the report folder, results roots, --run-name)
            raise ValueError(f"{path}: {key} {problem}; it becomes a folder name")
    check_table(data["target"], TARGET, "[target]", path)
    if "dataset" not in data["target"]:
        raise ValueError(f"{path}: [target] needs dataset (the target dataset id)")
    target = Target(**data["target"])
    target.pool = int_list(target.pool, "[target] pool", path, minimum=1)
    if target.configuration not in CONFIGURATIONS:
        raise ValueError(f"{path}: [target] configuration {target.configuration!r} must be one of {CONFIGURATIONS}")
    if data.get("prepare") is not None and data["prepare"] not in PREPARE:
        raise ValueError(f"{path}: prepare = {data['prepare']!r}; known: {list(PREPARE)}")
    pretrain = _parse_pretrain(data.get("pretrain", {}), path)
    inits = _parse_inits(data.get("init", {}), path)
    ft = _parse_finetune(data["finetune"], inits, path)
    return Protocol(data["name"], data["question"], target, ft, pretrain, inits, data.get("report"),
                    data.get("prepare"), os.path.abspath(path) if os.path.isfile(path) else path, copy.deepcopy(data))


def _parse_pretrain(tables: dict, path: str) -> dict[str, Pretraining]:
    pretrain = {}
    for name, table in tables.items():
        where = f"[pretrain.{name}]"
        if not isinstance(table, dict):
            raise ValueError(f"{path}: {where} must be a table")
        check_table(table, PRETRAIN, where, path)
        if "method" not in table:
            raise ValueError(f"{path}: {where} needs method (mixcl, global_local, regression, supervised, ...)")
        run = Pretraining(name, **table)
        run.datasets = int_list(run.datasets, f"{where}.datasets", path, 1)
        if not run.datasets and not run.plans_from:
            raise ValueError(f"{path}: {where} needs datasets (the pool's sources) or plans_from (a recipe)")
        if not all(isinstance(f, str) for f in run.flags):
            raise ValueError(f"{path}: {where}.flags must be a list of strings")
        reserved = {"-t", "--target", "-c", "--configuration", "-m", "--method", "--run-name", "-device", "--device"}
        clash = sorted(reserved & set(run.flags))
        if clash:
            raise ValueError(f"{path}: {where}.flags has {clash}; the protocol sets them (target, method, run name, "
                             "device)")
        pretrain[name] = run
    return pretrain


def _parse_inits(tables: dict, path: str) -> dict[str, Init]:
    inits = {}
    for name, table in tables.items():
        where = f"[init.{name}]"
        if not isinstance(table, dict):
            raise ValueError(f"{path}: {where} must be a table")
        check_table(table, INIT, where, path)
        given = [k for k in INIT_SOURCES if k in table]
        if len(given) != 1:
            raise ValueError(f"{path}: {where} needs exactly one of {list(INIT_SOURCES)} (has {given or 'none'})")
        init = Init(name, **table)
        if init.pool_direct is not None and (init.variant or init.schedule_override):
            raise ValueError(f"{path}: {where} is pool_direct (not fine-tuned): it takes no variant or override")
        if init.pool_direct is not None and not (name == "pool_direct" or name.startswith("pool_direct_")):
            raise ValueError(f"{path}: {where}: name a pool_direct init pool_direct or pool_direct_<suffix>")
        if name in ("scratch", "scratch_warmup"):
            raise ValueError(f"{path}: {where}: {name} is a scratch baseline; list it in [finetune] scratch")
        if init.selftrain is not None and (init.variant or init.schedule_override):
            raise ValueError(f"{path}: {where} is a self-training student: it takes no variant or override (it "
                             "trains from scratch with nnU-Net's recipe, or like the init named by student)")
        if init.threshold is not None and (init.selftrain is None or not 0 <= init.threshold <= 1):
            raise ValueError(f"{path}: {where}.threshold belongs to a selftrain init and must be in [0, 1]")
        fine_tunes = [k for k, v in inits.items() if v.run is not None or v.checkpoint is not None]
        if init.student is not None and (init.selftrain is None or init.student not in fine_tunes):
            raise ValueError(f"{path}: {where} student = {init.student!r}: a selftrain init's student names an init "
                             f"above it that fine-tunes a checkpoint (run or checkpoint; here: "
                             f"{', '.join(fine_tunes) or 'none'})")
        inits[name] = init
    return inits


def _parse_finetune(table: dict, inits: dict[str, Init], path: str) -> Finetune:
    check_table(table, FINETUNE, "[finetune]", path)
    ft = Finetune(**table)
    if ft.schedule is not None:
        ft.schedule = int_list(ft.schedule, "[finetune] schedule", path, 1)
        if len(ft.schedule) != 3:
            raise ValueError(f"{path}: [finetune] schedule = {ft.schedule} must be [epochs, iterations, "
                             "validation iterations]")
    ft.cases = int_list(ft.cases, "[finetune] cases", path, 1)
    ft.folds = int_list(ft.folds, "[finetune] folds", path)
    if ft.report_folds is not None:
        ft.report_folds = int_list(ft.report_folds, "[finetune] report_folds", path)
    if any(not isinstance(f, (int, float)) or not 0 < f <= 100 for f in ft.fractions):
        raise ValueError(f"{path}: [finetune] fractions = {ft.fractions} must be percentages in (0, 100]")
    if not ft.cases and not ft.fractions:
        raise ValueError(f"{path}: [finetune] needs cases (labelled cases per fold) or fractions (percent)")
    bad = [s for s in ft.scratch if s not in ("scratch", "scratch_warmup")]
    if bad:
        raise ValueError(f"{path}: [finetune] scratch {bad}; known: scratch, scratch_warmup")
    for name, init in inits.items():
        earlier = [*ft.scratch, *list(inits)[:list(inits).index(name)]]
        if init.selftrain is not None and init.selftrain not in earlier:
            raise ValueError(f"{path}: [init.{name}] selftrain = {init.selftrain!r}: the teacher must be trained in "
                             f"this protocol before it ({', '.join(earlier) or 'nothing is'}); imported runs have no "
                             "model here")
    if not inits and not ft.scratch and not ft.imports:
        raise ValueError(f"{path}: nothing to report: no [init.*], no scratch baseline and no imports")
    return ft


def load(path: str) -> Protocol:
    """Read and check a protocol file (a path, or a name in the checkout's ``benchmarks/protocols/``).

    Raises:
        ValueError: the file is missing or not valid TOML, or :func:`parse` refuses it.
    """
    if not os.path.isfile(path):
        candidate = os.path.join(repository_folder("benchmarks"), "protocols", f"{path.removesuffix('.toml')}.toml")
        if not os.path.isfile(candidate):
            raise ValueError(f"protocol {path!r}: no such file, and no benchmarks/protocols/{path}.toml")
        path = candidate
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML ({e})") from None
    return parse(data, path)


def resolve_report(spec: str) -> str:
    """An imported report folder: a path, or a name in the checkout's ``benchmarks/``; a ``:INIT,...`` suffix (only
    those inits are imported) is kept."""
    from nnssl.benchmark.imported import parse_import

    name_or_path, inits = parse_import(spec)
    if inits:
        return f"{resolve_report(name_or_path)}:{','.join(inits)}"
    if os.path.isdir(name_or_path):
        return os.path.abspath(name_or_path)
    candidate = os.path.join(repository_folder("benchmarks"), name_or_path)
    if os.path.isdir(candidate):
        return candidate
    raise ValueError(f"import {name_or_path!r}: no such report folder (a path, or a folder in benchmarks/)")


def smallest_training_set(target_name: str, data_identifier: str | None = None) -> int:
    """The fewest training cases of any of nnU-Net's 5 folds of the target (its splits file, else from the raw
    case count: nnU-Net's KFold puts ceil(n / 5) cases into the largest validation set)."""
    pre = os.path.join(os.environ["nnUNet_preprocessed"], target_name, "splits_final.json")
    if os.path.isfile(pre):
        return min(len(s["train"]) for s in load_json(pre)[:5])
    raw = os.path.join(os.environ["nnUNet_raw"], target_name)
    n = int(load_json(os.path.join(raw, "dataset.json"))["numTraining"])
    return n - math.ceil(n / 5)


def check_against_data(protocol: Protocol, target_name: str, recorded: dict) -> None:
    """Checks that need the data, before any work: label counts that fit the folds, inits that name a run.

    ``recorded``: the runs the target's plans record for the configuration ({run name: checkpoint}).

    Raises:
        ValueError: naming the key and the fix.
    """
    where = protocol.source or protocol.name
    smallest = smallest_training_set(target_name)
    too_many = [n for n in protocol.finetune.cases if n > smallest]
    if too_many:
        raise ValueError(f"{where}: [finetune] cases {too_many}: the smallest training set of {target_name}'s folds "
                         f"has {smallest} cases")
    for init in protocol.inits.values():
        if init.run is not None and init.run not in protocol.pretrain and init.run not in recorded:
            raise ValueError(f"{where}: [init.{init.name}] run {init.run!r} is neither a [pretrain.*] run of this "
                             f"protocol nor recorded in {target_name}'s plans (recorded: "
                             f"{', '.join(sorted(recorded)) or 'none'}); add a [pretrain.{init.run}] table or give "
                             "checkpoint = <path>")
        if init.checkpoint is not None and not os.path.isfile(init.checkpoint):
            raise ValueError(f"{where}: [init.{init.name}] checkpoint {init.checkpoint} does not exist")
