"""``nnssl_selftrain``: a teacher labels the target's unlabelled images, a student trains on them (stock nnU-Net).

Example (the teacher is fold 0 of a fine-tune of target 200; the student is scored on fold 0's validation cases)::

    nnssl_selftrain -d 200 -c 3d_fullres -f 0 -tr MixCLFinetuneTrainer_nnUNetSchedule -u /data/unlabelled

The work is ``nnssl/selftrain/run.py``; ``documentation/selftraining.md`` says what is written where.
"""

import argparse
import os
import sys

from nnssl.arguments import OneDefaultFormatter, SuggestingArgumentParser, add_device_argument, resolve_device
from nnssl.methods.method import finite_float
from nnssl.selftrain.run import DEFAULT_STUDENT, DEFAULT_THRESHOLD, SelfTrainRequest, selftrain


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = SuggestingArgumentParser(prog="nnssl_selftrain", formatter_class=OneDefaultFormatter, allow_abbrev=False,
                                 description="Self-training: a finished nnU-Net model (the teacher) predicts the "
                                             "unlabelled images, unsure voxels become the ignore label, and a student "
                                             "trains on the fold's labelled cases plus the pseudo-labelled ones.")
    p.add_argument("-d", "--dataset", type=int, required=True, help="target dataset id")
    p.add_argument("-c", "--configuration", default="3d_fullres", help="nnU-Net configuration")
    p.add_argument("-f", "--fold", type=int, required=True,
                   help="fold of the target's splits_final.json: its training cases are the labelled ones, its "
                        "validation cases score the student")
    p.add_argument("-p", "--plans", default="nnsslPlans", help="the target's plans identifier")
    teacher = p.add_mutually_exclusive_group(required=True)
    teacher.add_argument("-tr", "--teacher-trainer", default=None,
                         help="the teacher is this trainer's model of the target under $nnUNet_results")
    teacher.add_argument("--teacher", default=None, metavar="MODEL_FOLDER",
                         help="the teacher is this nnU-Net model folder (<Trainer>__<Plans>__<configuration>), e.g. a "
                              "pool model trained with the target's plans")
    p.add_argument("--teacher-fold", default=None, help="the teacher's fold (default: -f; 'all' for fold_all)")
    p.add_argument("-u", "--unlabelled", required=True, metavar="DIR",
                   help="unlabelled images in nnU-Net's imagesTr naming (CASE_0000.nii.gz, ...)")
    p.add_argument("--threshold", type=finite_float, default=DEFAULT_THRESHOLD,
                   help="voxels whose top teacher probability is below this get the ignore label")
    p.add_argument("--rounds", type=positive_int, default=1, help="rounds; each student teaches the next round")
    p.add_argument("--student-trainer", default=DEFAULT_STUDENT,
                   help="the student's trainer (default: random init with nnU-Net's recipe)")
    p.add_argument("--student-schedule", default="", metavar="KEY=VALUE[,...]",
                   help="the student's schedule, as $nnSSL_FINETUNE_SCHEDULE takes it (e.g. fresh_lr=1e-3, or "
                        "epochs=30,iterations=50,val_iterations=5); recorded in the student's nnssl_finetune.json")
    p.add_argument("--student-id", type=int, default=None, help="dataset id of the derived dataset (800..899; "
                   "default: this run's existing one, else the first free)")
    add_device_argument(p)
    return p


def request_from_args(args: argparse.Namespace) -> SelfTrainRequest:
    """The typed request of a parsed command line."""
    teacher = args.teacher
    if teacher is None:
        from nnssl.planning.datasets import resolve_dataset

        name = resolve_dataset(args.dataset)
        teacher = os.path.join(os.environ["nnUNet_results"], name,
                               f"{args.teacher_trainer}__{args.plans}__{args.configuration}")
    return SelfTrainRequest(target=args.dataset, configuration=args.configuration, fold=args.fold, teacher=teacher,
                            teacher_fold=args.teacher_fold or str(args.fold), unlabelled_folder=args.unlabelled,
                            plans=args.plans, threshold=args.threshold, rounds=args.rounds,
                            student_trainer=args.student_trainer, schedule=args.student_schedule,
                            student_id=args.student_id,
                            device=resolve_device(args.device))


def main(argv=None) -> int:
    """Entry point of ``nnssl_selftrain``."""
    args = build_parser().parse_args(argv)
    try:
        from nnssl.planning.datasets import check_environment

        check_environment()
        result = selftrain(request_from_args(args))
    except (ValueError, OSError, RuntimeError) as e:
        print(f"nnssl_selftrain: error: {e}", file=sys.stderr)
        return 2
    print(f"nnssl_selftrain: student {result['student']} fold {result['fold']}; validation Dice in {result['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
