"""Self-training as a benchmark init: ``--init NAME=selftrain:TEACHER[:THRESHOLD[:STUDENT]]``.

The teacher is another init of the same call (``scratch``, a pretrained init or a ``pool_direct`` one), trained
on the same fold and labelled subset; the unlabelled images are the fold's other training cases (never its
validation cases), and the student is scored by nnU-Net's validation on the fold's validation cases like every
other init (``nnssl/selftrain/run.py``). The student trains from scratch with nnU-Net's recipe
(``nnsslScratchTrainer``, the benchmark's schedule), or, given STUDENT (an earlier init with a checkpoint), is
fine-tuned exactly like that init (its checkpoint, trainer variant and schedule override) on the labelled plus
pseudo-labelled cases (documentation/selftraining.md, "Student init").
"""

import os

from nnssl.benchmark.request import BenchmarkRequest
from nnssl.io import atomic_save_json, load_json

PREFIX = "selftrain:"


def is_selftrain(spec) -> bool:
    return isinstance(spec, dict) and "selftrain" in spec


def parse_spec(name: str, text: str, known: dict) -> dict:
    """``selftrain:TEACHER[:THRESHOLD[:STUDENT]]`` as {"selftrain": teacher, "threshold": t} (plus "student").

    ``known`` maps the inits given before this one to their specs (a checkpoint path, a dict, None for scratch).

    Raises:
        ValueError: a teacher that is not an init given before this one, a bad threshold, or a student that is not
            an earlier init with a checkpoint.
    """
    from nnssl.selftrain.run import DEFAULT_THRESHOLD

    teacher, _, rest = text[len(PREFIX):].partition(":")
    threshold, _, student = rest.partition(":")
    if teacher not in known:
        raise ValueError(f"--init {name}={text}: the teacher {teacher!r} must be an init given before it (inits so "
                         f"far: {', '.join(known) or 'none'})")
    try:
        value = float(threshold) if threshold else DEFAULT_THRESHOLD
    except ValueError:
        raise ValueError(f"--init {name}={text}: threshold {threshold!r} is not a number") from None
    if not 0 <= value <= 1:
        raise ValueError(f"--init {name}={text}: threshold {value} must be in [0, 1]")
    if not student:
        return {"selftrain": teacher, "threshold": value}
    if not isinstance(known.get(student), str):
        with_checkpoint = [k for k, v in known.items() if isinstance(v, str)]
        raise ValueError(f"--init {name}={text}: the student {student!r} must be an init given before it that "
                         f"fine-tunes a checkpoint (such inits so far: {', '.join(with_checkpoint) or 'none'}); "
                         "leave it out for a student from scratch")
    return {"selftrain": teacher, "threshold": value, "student": student}


def _index(request: BenchmarkRequest, init: str, entry: dict) -> str:
    results = os.path.join(os.path.abspath(request.runs or os.path.join(request.out, "runs")), init)
    return os.path.join(results, f"fold_{entry['fold']}_{len(entry['train'])}cases.json")


def run_selftrain(request: BenchmarkRequest, target_name: str, init: str, spec: dict, entry: dict, fold_id: int,
                  teacher: tuple[str, str] | None, base_train: list[str],
                  student: tuple[str, str, str] | None = None) -> tuple[dict | None, str | None]:
    """The student of ``teacher`` (model folder, fold) on one registered fold; (nnU-Net's validation summary, the
    student's fold folder), or (None, None) while it has not run (``--report-only``, or the teacher is missing).

    ``student``: (trainer, checkpoint, schedule override) of the init named by the spec's "student" (None: from
    scratch with nnU-Net's recipe)."""
    from nnssl.selftrain.run import DEFAULT_STUDENT, SelfTrainRequest, selftrain
    from nnssl.trainers.finetune_schedule import schedule_env

    index = _index(request, init, entry)
    if request.report_only or teacher is None:
        if not os.path.isfile(index):
            return None, None
        done = load_json(index)
        return (load_json(done["summary"]) if os.path.isfile(done["summary"]) else None), done["fold_dir"]
    unlabelled = tuple(sorted(set(base_train) - set(entry["train"])))
    trainer, pretrained, override = student or (DEFAULT_STUDENT, None, "")
    request = SelfTrainRequest(target=request.target, configuration=request.configuration, fold=fold_id,
                               teacher=teacher[0], teacher_fold=teacher[1], unlabelled_cases=unlabelled,
                               plans=request.plans_name, threshold=spec["threshold"], student_trainer=trainer,
                               pretrained=pretrained, results=os.path.dirname(index),
                               schedule=schedule_env(request.schedule, override), device=request.device)
    from nnssl.planning.locks import exclusive

    # a second benchmark side by side on the same cell waits; then selftrain finds the first's derived dataset and
    # student finished and reuses them (two at once would write one derived dataset and train one student twice)
    with exclusive(index, what=f"self-training {init} on fold {fold_id}"):
        result = selftrain(request)
        fold_dir = os.path.join(result["student"], f"fold_{result['fold']}")
        atomic_save_json({"summary": result["summary"], "fold_dir": fold_dir, "teacher": spec["selftrain"],
                          "student": spec.get("student"), "dataset": result["rounds"][-1]["dataset"]}, index)
    return load_json(result["summary"]), fold_dir


def versus_teacher(rows: list[dict], inits: dict) -> str:
    """Markdown lines: each self-training init's mean Dice against its own teacher, paired by fold and label count
    (mean difference ± sample std, folds won, and each fold's difference: a target per fold is read off it)."""
    import numpy as np

    lines = []
    mean = {(r["init"], r["fold"], r["n_train"]): r["dice"] for r in rows if r["label"] == "mean"}
    for name, spec in inits.items():
        if not is_selftrain(spec):
            continue
        teacher = spec["selftrain"]
        for n in sorted({k[2] for k in mean if k[0] == name}):
            folds = sorted(f for (i, f, m) in mean if i == name and m == n and (teacher, f, n) in mean)
            if not folds:
                continue
            d = np.array([mean[(name, f, n)] - mean[(teacher, f, n)] for f in folds])
            spread = f" ± {d.std(ddof=1):.3f}" if len(d) > 1 else ""
            by_fold = ", ".join(f"{f}: {x:+.3f}" for f, x in zip(folds, d, strict=True))
            lines.append(f"- {name} vs its teacher {teacher}, {n} case{'s' if n != 1 else ''}: Δ {d.mean():+.3f}"
                         f"{spread} ({int((d > 0).sum())}/{len(d)} folds won; by fold {by_fold})")
    return ("\n**Self-training against its teacher** (paired by fold):\n" + "\n".join(lines) + "\n") if lines else ""
