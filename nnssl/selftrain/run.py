"""Self-training rounds: the teacher predicts, the derived dataset is written, the student trains (stock nnU-Net).

:func:`selftrain` takes a :class:`SelfTrainRequest` (``nnssl_selftrain`` parses into one; the benchmark builds one
per fold). Each round is resumable: a finished derived dataset (its record matches) is reused, a student fold that
has nnU-Net's ``validation/summary.json`` is finished, an interrupted one resumes with ``--c``. Round r > 1's teacher
is round r-1's student.

The student's default init is random with nnU-Net's recipe (``nnsslScratchTrainer``): the noisy-student recipe
trains a new student rather than continuing the teacher (Xie et al., CVPR 2020), it works for any teacher (a pool
model, a fine-tune of any method) and keeps the student's gain separable from the init's. ``--student-trainer``
takes any other trainer, e.g. the teacher's own fine-tune trainer to start from the same pretrained init.
"""

import dataclasses
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from nnssl.io import atomic_save_json, load_json
from nnssl.selftrain import derived

#: voxels whose top teacher probability is below this are ignored by the student (documentation/selftraining.md
#: gives the measurement behind it)
DEFAULT_THRESHOLD = 0.9
DEFAULT_STUDENT = "nnsslScratchTrainer"
STUDENT_FOLD = 0


@dataclass(frozen=True)
class SelfTrainRequest:
    """What one self-training run needs; everything the student's result depends on is recorded from it.

    Attributes:
        target: the target dataset id (nnUNet_raw, preprocessed with ``plans``).
        configuration: nnU-Net configuration of teacher and student.
        fold: a fold of the target's ``splits_final.json``: its training cases are the labelled ones, its validation
            cases score the student (and never reach its training set).
        teacher: a trained nnU-Net model folder (``.../<Trainer>__<Plans>__<configuration>``) with the same plans.
        teacher_fold: the teacher's fold folder (``"0"``, ``"all"``).
        unlabelled_folder: unlabelled images in nnU-Net's imagesTr naming (``-u``).
        unlabelled_cases: or: cases of the target's own imagesTr to use without their labels (the benchmark).
        plans: the target's plans identifier (the student's dataset gets that plans file).
        threshold: pseudo-label confidence threshold (voxels below it get the ignore label).
        rounds: rounds of self-training (the student of round r teaches round r + 1).
        student_trainer: the student's nnU-Net trainer class.
        student_id: dataset id of the derived dataset (default: an existing one of this run, else the first free
            id in 800..899).
        results: nnUNet_results for the student (default ``$nnUNet_results``).
        schedule: ``$nnSSL_FINETUNE_SCHEDULE`` for the student ("" keeps the trainer's).
        pretrained: ``$nnSSL_PRETRAINED`` for a fine-tune student trainer (None: its plans' record).
        device: nnU-Net's ``-device``.
    """

    target: int
    configuration: str
    fold: int
    teacher: str
    teacher_fold: str = "0"
    unlabelled_folder: str | None = None
    unlabelled_cases: tuple[str, ...] = ()
    plans: str = "nnsslPlans"
    threshold: float = DEFAULT_THRESHOLD
    rounds: int = 1
    student_trainer: str = DEFAULT_STUDENT
    student_id: int | None = None
    results: str | None = None
    schedule: str = ""
    pretrained: str | None = None
    device: str = "cuda"

    def __post_init__(self):
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1] (a probability), got {self.threshold}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if (self.unlabelled_folder is None) == (not self.unlabelled_cases):
            raise ValueError("give the unlabelled images either as a folder (-u DIR) or as cases of the target, "
                             "not both and not neither")
        if self.teacher_fold != "all" and not str(self.teacher_fold).isdigit():
            raise ValueError(f"teacher fold must be a number or 'all', got {self.teacher_fold!r}")
        if self.student_id is not None and self.student_id not in derived.ID_RANGE:
            raise ValueError(f"--student-id must be in 800..899 (nnssl's range for derived datasets), got "
                             f"{self.student_id}")
        if self.schedule:
            from nnssl.methods.registry import finetune_trainer_class

            try:
                finetune_trainer_class(self.student_trainer).schedule.with_overrides(self.schedule)
            except ValueError as e:
                raise ValueError(f"--student-schedule {self.schedule!r} for the student {self.student_trainer}: {e}"
                                 " (the schedule applies to nnssl's fine-tune and scratch trainers)") from None


def teacher_checkpoint(folder: str, fold: str) -> str:
    """The teacher's ``checkpoint_final.pth``.

    Raises:
        ValueError: when the teacher has not finished, naming the file.
    """
    path = os.path.join(folder, f"fold_{fold}", "checkpoint_final.pth")
    if not os.path.isfile(path):
        raise ValueError(f"teacher {folder} fold {fold} has no checkpoint_final.pth ({path}); train it to the end "
                         "first, or give another --teacher / --teacher-fold")
    return path


def _tool(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def _env(request: SelfTrainRequest, results: str) -> dict:
    from nnssl.trainer_location import trainer_dir

    env = {**os.environ, "nnUNet_results": results,
           "nnUNet_extTrainer": os.pathsep.join(p for p in (os.environ.get("nnUNet_extTrainer"), trainer_dir()) if p)}
    for key, value in (("nnSSL_FINETUNE_SCHEDULE", request.schedule), ("nnSSL_PRETRAINED", request.pretrained)):
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    return env


def _run(cmd: list[str], log_file: str, env: dict) -> None:
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    with open(log_file, "a") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(cmd[0])} failed; see {log_file}")


def predict_teacher(teacher: str, fold: str, unlabelled: dict[str, list[str]], ending: str, out: str, device: str,
                    env: dict, log_file: str) -> None:
    """The teacher's segmentations and probabilities of the unlabelled images (``nnUNetv2_predict_from_modelfolder
    --save_probabilities``); inputs are links, the images are never touched."""
    inputs = out + "_input"
    shutil.rmtree(inputs, ignore_errors=True)
    os.makedirs(inputs)
    for case, files in unlabelled.items():
        for ch, f in enumerate(files):
            os.symlink(os.path.abspath(f), os.path.join(inputs, f"{case}_{ch:04d}{ending}"))
    _run([_tool("nnUNetv2_predict_from_modelfolder"), "-i", inputs, "-o", out, "-m", teacher, "-f", fold,
          "--save_probabilities", "-device", device, "-npp", "1", "-nps", "1", "--c"], log_file, env)
    shutil.rmtree(inputs, ignore_errors=True)


def selftrain(request: SelfTrainRequest) -> dict:
    """Run every round; returns {"student": model folder, "fold", "summary": nnU-Net's validation summary path,
    "rounds": [per-round records]}.

    Raises:
        ValueError: a bad request, a leak of a validation case, an unfinished teacher (before any work).
    """
    from nnssl.planning.datasets import check_environment, resolve_dataset

    check_environment()
    target_name = resolve_dataset(request.target)
    raw_target = os.path.join(os.environ["nnUNet_raw"], target_name)
    pre_target = os.path.join(os.environ["nnUNet_preprocessed"], target_name)
    plans_file = os.path.join(pre_target, f"{request.plans}.json")
    if not os.path.isfile(plans_file) or request.configuration not in load_json(plans_file)["configurations"]:
        raise ValueError(f"{target_name} has no {request.plans} {request.configuration} plan ({plans_file}); the "
                         "student uses the target's plans")
    splits_file = os.path.join(pre_target, "splits_final.json")
    splits = load_json(splits_file) if os.path.isfile(splits_file) else []
    if not 0 <= request.fold < len(splits):
        raise ValueError(f"fold {request.fold} is not in {splits_file} ({len(splits)} folds); train a fold of the "
                         "target first (nnUNetv2_train writes the split)")
    dataset_json = load_json(os.path.join(raw_target, "dataset.json"))
    labelled, val = sorted(splits[request.fold]["train"]), sorted(splits[request.fold]["val"])
    if request.unlabelled_folder:
        unlabelled = derived.unlabelled_from_folder(request.unlabelled_folder, dataset_json)
    else:
        unlabelled = {c: derived.case_images(raw_target, c, dataset_json) for c in request.unlabelled_cases}
    derived.check_no_leak(val, labelled, unlabelled, raw_target, dataset_json)
    results = os.path.abspath(request.results or os.environ["nnUNet_results"])
    teacher, teacher_fold = os.path.abspath(request.teacher), str(request.teacher_fold)
    teacher_checkpoint(teacher, teacher_fold)
    rounds = []
    for r in range(1, request.rounds + 1):
        record = _round(request, r, target_name, raw_target, plans_file, dataset_json, labelled, val, unlabelled,
                        teacher, teacher_fold, results)
        rounds.append(record)
        teacher, teacher_fold = record["student"], str(STUDENT_FOLD)
    return {"student": teacher, "fold": STUDENT_FOLD, "rounds": rounds,
            "summary": os.path.join(teacher, f"fold_{STUDENT_FOLD}", "validation", "summary.json")}


def _round(request: SelfTrainRequest, r: int, target_name: str, raw_target: str, plans_file: str,
           dataset_json: dict, labelled: list[str], val: list[str], unlabelled: dict[str, list[str]], teacher: str,
           teacher_fold: str, results: str) -> dict:
    """One round: derived dataset (reused when finished), student training (resumed); returns its record."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from nnssl import checkpoint_format

    ckpt = teacher_checkpoint(teacher, teacher_fold)
    key = {"target": target_name, "configuration": request.configuration, "plans": request.plans,
           "fold": request.fold, "labelled": labelled, "val": val, "unlabelled": sorted(unlabelled),
           "unlabelled_sha256": {c: [derived.file_sha256(f) for f in fs] for c, fs in sorted(unlabelled.items())},
           "teacher": {"folder": teacher, "fold": teacher_fold, "checkpoint_sha256": checkpoint_format.sha256(ckpt)},
           "threshold": request.threshold, "round": r}
    dataset_id, name, done = derived.find_dataset(key, request.student_id)
    env = _env(request, results)
    log_file = os.path.join(results, name, "selftrain.log")
    print(f"nnssl_selftrain: round {r}: teacher {teacher} fold {teacher_fold} -> {name} "
          f"({len(labelled)} labelled, {len(unlabelled)} pseudo-labelled, {len(val)} validation cases)", flush=True)
    if not done:
        raw_record = os.path.join(os.environ["nnUNet_raw"], name, derived.RECORD)
        if not (os.path.isfile(raw_record) and load_json(raw_record).get("key") == key):
            predictions = os.path.join(results, name, f"teacher_predictions_round{r}")
            predict_teacher(teacher, teacher_fold, unlabelled, dataset_json["file_ending"], predictions,
                            request.device, env, log_file)
            plans = PlansManager(plans_file)
            labels = plans.get_label_manager(dataset_json)
            rw = plans.image_reader_writer_class()
            derived.write_raw(name, key, raw_target, dataset_json, unlabelled, lambda out: derived.write_pseudo_labels(
                predictions, sorted(unlabelled), out, request.threshold, rw, dataset_json["labels"],
                list(labels.all_labels), dataset_json["file_ending"]))
            shutil.rmtree(predictions, ignore_errors=True)
        derived.preprocess(name, key, plans_file, request.configuration)
    student = os.path.join(results, name, f"{request.student_trainer}__{request.plans}__{request.configuration}")
    fold_dir = os.path.join(student, f"fold_{STUDENT_FOLD}")
    if not os.path.isfile(os.path.join(fold_dir, "validation", "summary.json")):
        cmd = [_tool("nnUNetv2_train"), str(dataset_id), request.configuration, str(STUDENT_FOLD), "-tr",
               request.student_trainer, "-p", request.plans, "-device", request.device]
        if os.path.isdir(fold_dir) and any(f.startswith("checkpoint") for f in os.listdir(fold_dir)):
            cmd.append("--c")
        _run(cmd, log_file, env)
    stats = load_json(os.path.join(os.environ["nnUNet_raw"], name, derived.RECORD)).get("pseudo_labels")
    record = {"key": key, "dataset": name, "student": student, "student_trainer": request.student_trainer,
              "schedule": request.schedule or None, "pretrained": request.pretrained, "pseudo_labels": stats,
              "request": dataclasses.asdict(request)}
    atomic_save_json(record, os.path.join(fold_dir, derived.RECORD))
    return record
