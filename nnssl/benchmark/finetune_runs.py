"""One fine-tuning run of the low-label benchmark: which trainer an init uses, its schedule, its command and folder.

Each init trains into its own ``nnUNet_results`` root below ``--runs`` (its name is in the run's path), with the
checkpoint given as ``$nnSSL_PRETRAINED`` and the budget as ``$nnSSL_FINETUNE_SCHEDULE``; both are recorded in the
run's ``nnssl_finetune.json``. A finished run is reused, never for another schedule; a run is trained under a
lock (``training_fold_<id>.lock`` beside its fold folder), so two benchmarks side by side never train one twice.
"""

import dataclasses
import os
import subprocess
import sys

from nnssl.benchmark import pool_direct, selftrain_runs
from nnssl.benchmark.pool_direct import is_pool_direct
from nnssl.benchmark.request import SCRATCH_TRAINERS, BenchmarkRequest
from nnssl.io import load_json
from nnssl.trainers.finetune_schedule import schedule_env

#: scratch baseline name -> trainer (nnU-Net's recipe; the pretrained trainers' warm-up shape)


def resolve_inits(specs: list[str], plans: dict, configuration: str,
                  scratch=tuple(SCRATCH_TRAINERS)) -> dict[str, str | None]:
    """{name: checkpoint or None for a scratch baseline}.

    Raises:
        ValueError: if a run name is not recorded or a checkpoint file is missing.
    """
    inits: dict[str, str | dict | None] = dict.fromkeys(scratch)
    recorded = plans.get("nnssl", {}).get("pretrained", {}).get(configuration, {})
    for spec in specs:
        name, _, path = spec.partition("=")
        if path.startswith(selftrain_runs.PREFIX):
            inits[name] = selftrain_runs.parse_spec(name, path, inits)
            continue
        if is_pool_direct(name):
            if not path.isdigit():
                raise ValueError(f"--init {spec}: give {name}=DATASET_ID, the id of the dataset whose nnU-Net model "
                                 "is applied without fine-tuning")
            inits[name] = {"pool_direct": int(path)}
            continue
        if not path:
            if name not in recorded:
                raise ValueError(f"--init {name}: no such run recorded for {configuration} (recorded: "
                                 f"{', '.join(sorted(recorded)) or 'none'}); pass {name}=/path/checkpoint_final.pth")
            path = recorded[name]
        if not os.path.isfile(path):
            raise ValueError(f"--init {name}: checkpoint {path} does not exist (pretraining not finished?)")
        inits[name] = path
    return inits


def trainer_for(checkpoint: str | None, init: str = "scratch", variants: dict | None = None) -> str:
    """The fine-tune trainer class for a checkpoint (its adaptation record names the method).

    Raises:
        ValueError: if a requested variant is not a trainer class nnssl defines.
    """
    if checkpoint is None:
        return SCRATCH_TRAINERS[init]
    if isinstance(checkpoint, dict):  # pool_direct (stock nnU-Net on the pool) or a self-training student
        if (variants or {}).get(init):
            raise ValueError(f"--variant {init}: {init} is a pool model or a self-training student, so it has no "
                             "trainer variant")
        if selftrain_runs.is_selftrain(checkpoint):
            from nnssl.selftrain.run import DEFAULT_STUDENT

            return DEFAULT_STUDENT
        return pool_direct.TRAINER
    from nnssl import checkpoint_format
    from nnssl.methods.registry import METHODS, finetune_trainer_class

    method = checkpoint_format.record(checkpoint)["method"]
    if method not in METHODS:
        raise ValueError(f"--init {init}: {checkpoint} was pretrained with method {method!r}, which is not installed "
                         f"(methods: {', '.join(METHODS)})")
    trainer = METHODS[method].finetune_trainer
    suffix = (variants or {}).get(init)
    if suffix:
        trainer = f"{trainer}_{suffix}"
        try:
            finetune_trainer_class(trainer)
        except ValueError as e:
            raise ValueError(f"--variant {init}={suffix}: {e}") from None
    return trainer


def parse_schedule_overrides(specs: list[str], inits: dict, variants: dict) -> dict[str, str]:
    """{init: "key=value,..."} from ``--schedule-override NAME=KEY=VALUE[,...]``, each checked against its trainer.

    Raises:
        ValueError: naming the bad item (no such init, a scratch baseline, an unknown key or value).
    """
    overrides = {}
    for spec in specs:
        name, _, text = spec.partition("=")
        if name not in inits or "=" not in text:
            raise ValueError(f"--schedule-override {spec!r}: give NAME=KEY=VALUE[,KEY=VALUE] for an --init NAME "
                             f"(inits: {', '.join(inits)})")
        if inits[name] is None or isinstance(inits[name], dict):
            raise ValueError(f"--schedule-override {spec!r}: {name} is a scratch baseline, the pool-direct "
                             "alternative or a self-training student; its recipe is fixed")
        trainer_schedule(trainer_for(inits[name], name, variants), text)  # raises on an unknown key or value
        overrides[name] = text
    return overrides


def trainer_schedule(trainer: str, env: str):
    """The :class:`FinetuneSchedule` that ``trainer`` runs under ``$nnSSL_FINETUNE_SCHEDULE=env``."""
    from nnssl.methods.registry import finetune_trainer_class

    return finetune_trainer_class(trainer).schedule.with_overrides(env)


def run_pool_direct(request: BenchmarkRequest, target_name: str, init: str, dataset_id: int,
                    entry: dict) -> tuple[dict | None, None]:
    """The pool-direct alternative on one fold: nnU-Net trained on the pool dataset (once, resumable), scored on
    the fold's validation cases without fine-tuning; the summary is the same for every label count of a fold."""
    results = os.path.join(os.path.abspath(request.runs or os.path.join(request.out, "runs")), init)
    pool_name = pool_direct.check_pool_dataset(dataset_id, target_name, request.plans_name, request.configuration)
    summary = os.path.join(results, target_name, f"fold_{entry['fold']}", "summary.json")
    if request.report_only:
        return (load_json(summary) if os.path.isfile(summary) else None), None
    pool_direct.train_pool_model(results, dataset_id, pool_name, request.configuration, request.plans_name,
                                 request.device, schedule_env(request.schedule))
    return pool_direct.score_fold(results, dataset_id, target_name, entry["fold"], entry["val"],
                                  request.configuration, request.plans_name, request.device), None


def finetune_plan(request: BenchmarkRequest, target_name: str, init: str, checkpoint: str | None, fold_id: int,
                  trainer: str, override: str = "") -> dict:
    """How one init is fine-tuned on one registered fold: {"cmd", "env" (what is set or removed on top of this
    environment), "fold_dir", "summary", "results"}; shared by the run and ``nnssl_benchmark run --dry-run``."""
    from nnssl.trainer_location import ext_trainer_path

    results = os.path.join(os.path.abspath(request.runs or os.path.join(request.out, "runs")), init)
    fold_dir = os.path.join(results, target_name, f"{trainer}__{request.plans_name}__{request.configuration}",
                            f"fold_{fold_id}")
    env_schedule = schedule_env(request.schedule, override) or os.environ.get("nnSSL_FINETUNE_SCHEDULE", "")
    env = {"nnUNet_results": results,
           "nnUNet_extTrainer": ext_trainer_path(),
           "nnSSL_PRETRAINED": checkpoint, "nnSSL_FINETUNE_SCHEDULE": env_schedule or None}  # None: unset
    cmd = [os.path.join(os.path.dirname(sys.executable), "nnUNetv2_train"), str(request.target), request.configuration,
           str(fold_id), "-tr", trainer, "-p", request.plans_name, "-device", request.device]
    if os.path.isdir(fold_dir) and any(f.startswith("checkpoint") for f in os.listdir(fold_dir)):
        cmd.append("--c")
    return {"cmd": cmd, "env": env, "fold_dir": fold_dir, "results": results,
            "summary": os.path.join(fold_dir, "validation", "summary.json"), "schedule": env_schedule}


def run_one(request: BenchmarkRequest, target_name: str, init: str, checkpoint: str | None, fold_id: int,
            trainer: str, override: str = "") -> tuple[dict, str]:
    """Fine-tune one init on one registered fold (resumable); returns nnU-Net's validation summary and the
    run's fold folder."""
    plan = finetune_plan(request, target_name, init, checkpoint, fold_id, trainer, override)
    fold_dir, summary = plan["fold_dir"], plan["summary"]
    check_recorded_schedule(fold_dir, request.schedule, trainer_schedule(trainer, plan["schedule"]))
    if not os.path.isfile(summary) and request.report_only:
        return None, fold_dir
    if not os.path.isfile(summary):
        from nnssl.planning.locks import exclusive

        # two benchmarks side by side (protocols sharing a runs folder) may both reach this cell: the second waits
        # for the first and reads its result; a run killed midway leaves checkpoints that the next one resumes
        with exclusive(os.path.join(os.path.dirname(fold_dir), f"training_{os.path.basename(fold_dir)}"),
                       what=f"fine-tuning {init} on fold {fold_id}"):
            if not os.path.isfile(summary):
                _train(finetune_plan(request, target_name, init, checkpoint, fold_id, trainer, override), fold_id)
    return load_json(summary), fold_dir


def _train(plan: dict, fold_id: int) -> None:
    """Run ``plan["cmd"]`` (nnUNetv2_train) with its environment, appending to ``<results>/fold_<id>.log``."""
    env = {**os.environ, **{k: v for k, v in plan["env"].items() if v is not None}}
    for k in (k for k, v in plan["env"].items() if v is None):
        env.pop(k, None)
    os.makedirs(plan["results"], exist_ok=True)
    with open(os.path.join(plan["results"], f"fold_{fold_id}.log"), "a") as log:
        proc = subprocess.run(plan["cmd"], env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(plan['cmd'])} failed; see {log.name}")


def check_recorded_schedule(fold_dir: str, schedule, expected=None) -> None:
    """Refuse to reuse a run folder trained with another schedule than the one asked for: another budget, or
    (with ``expected``, the :class:`FinetuneSchedule` this call would run) another recorded schedule field.

    Raises:
        ValueError: naming the folder, both schedules and the fix (a new --runs folder or init name).
    """
    from nnssl.trainers.finetune import RECORD_FILE
    from nnssl.trainers.finetune_schedule import FinetuneSchedule

    record_file = os.path.join(fold_dir, RECORD_FILE)
    if not os.path.isfile(record_file):
        return
    record = load_json(record_file)
    recorded = [record.get("resolved_epochs"), record.get("resolved_iterations")]
    if schedule and recorded != list(schedule[:2]):
        raise ValueError(f"{fold_dir} was trained with {recorded[0]} x {recorded[1]} iterations, not the requested "
                         f"{schedule[0]} x {schedule[1]}; pass a new --runs folder")
    fields = ("warmup_fraction", "fresh_lr", "pretrained_lr", "freeze_fraction", "linear_probe", "freeze_scope",
              "l2sp")
    # a field missing from an older record did not exist then: that run behaved as its default
    defaults = {f.name: f.default for f in dataclasses.fields(FinetuneSchedule)}
    differ = [f"{k}={record.get(k, defaults[k])} (asked: {getattr(expected, k)})" for k in fields
              if expected is not None and record.get(k, defaults[k]) != getattr(expected, k)]
    if differ:
        raise ValueError(f"{fold_dir} was trained with {', '.join(differ)}; give this schedule another --init name "
                         "(its runs go to their own folder) or pass a new --runs folder")


def run_seconds(fold_dir: str) -> float:
    """Training + validation time of a finished run: nnU-Net writes debug.json at the start and
    validation/summary.json at the end (so a resumed grid still reports every run's time)."""
    return os.path.getmtime(os.path.join(fold_dir, "validation", "summary.json")) - \
        os.path.getmtime(os.path.join(fold_dir, "debug.json"))
