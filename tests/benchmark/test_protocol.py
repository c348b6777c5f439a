"""Benchmark protocols: parsing with clear errors, the dry run, and a real run that resumes after a kill."""

import os
import signal
import subprocess
import sys
import time

import pytest

from nnssl.benchmark import protocol as protocols
from nnssl.benchmark.protocol_requests import benchmark_argv
from tests.conftest import tree_digest

GOOD = {
    "name": "tiny", "question": "does a tiny regression init run?",
    "target": {"dataset": 200, "configuration": "3d_fullres"},
    "pretrain": {"reg_proto": {"method": "regression", "datasets": [101, 102, 103], "schedule": "smoke",
                              "epochs": 1, "flags": ["--iterations", "1", "--val-iterations", "1"]}},
    "init": {"reg_proto_nnunet": {"run": "reg_proto", "variant": "nnUNetSchedule"}},
    "finetune": {"schedule": [1, 2, 1], "cases": [1], "folds": [0], "scratch": ["scratch"]},
}


def toml(data: dict) -> str:
    """A minimal TOML writer for the test protocols (tables one level deep, or two for pretrain/init)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if not isinstance(v, dict):
            continue
        if all(isinstance(x, dict) for x in v.values()) and v:
            for name, table in v.items():
                lines += [f"[{k}.{name}]", *(f"{a} = {value(b)}" for a, b in table.items())]
        else:
            lines += [f"[{k}]", *(f"{a} = {value(b)}" for a, b in v.items())]
    return "\n".join(lines) + "\n"


def edited(**changes) -> dict:
    import copy

    data = copy.deepcopy(GOOD)
    for path, v in changes.items():
        node, *keys = path.split("__")
        target = data
        for key in [node, *keys][:-1]:
            target = target[key]
        if v is None:
            target.pop([node, *keys][-1])
        else:
            target[[node, *keys][-1]] = v
    return data


def test_a_good_protocol_parses_and_round_trips_through_toml(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(toml(GOOD))
    p = protocols.load(str(path))
    assert p.pretrain["reg_proto"].argv(p.target, "cpu") == [
        "-d", "101", "102", "103", "-t", "200", "-c", "3d_fullres", "-p", "nnsslPlans", "-device", "cpu",
        "-m", "regression", "--schedule", "smoke", "--epochs", "1", "--iterations", "1", "--val-iterations", "1",
        "--run-name", "reg_proto", "--continue"]
    assert p.inits["reg_proto_nnunet"].variant == "nnUNetSchedule"
    assert p.finetune.runs_folder == "lowlabel_runs_2"


@pytest.mark.parametrize(("change", "match"), [
    ({"colour": "blue"}, r"unknown key\(s\) \['colour'\] in the protocol"),
    ({"finetune__epochs": 3}, r"unknown key\(s\) \['epochs'\] in \[finetune\]"),
    ({"init__reg_proto_nnunet__varient": "x"}, r"\['varient'\] in \[init.reg_proto_nnunet\]"),
    ({"question": None}, r"missing \['question'\]"),
    ({"target__dataset": None}, r"\[target\] needs dataset"),
    ({"pretrain__reg_proto__method": None}, r"\[pretrain.reg_proto\] needs method"),
    ({"finetune__cases": [0]}, r"cases = \[0\] must hold integers >= 1"),
    ({"finetune__cases": []}, "needs cases"),
    ({"finetune__schedule": [1, 2]}, r"must be \[epochs, iterations, validation iterations\]"),
    ({"target__dataset": "602"}, r"\[target\].dataset = '602' must be an int"),
    ({"init__reg_proto_nnunet__checkpoint": "/x.pth"}, "needs exactly one of"),
    ({"init__reg_proto_nnunet": {"pool_direct": 101}}, "name a pool_direct init pool_direct"),
    ({"pretrain__reg_proto__flags": ["--run-name", "other"]}, "the protocol sets them"),
    ({"finetune__scratch": ["scrach"]}, r"scratch \['scrach'\]"),
    ({"report": "../../outside"}, r"report '../../outside' is not a safe name"),
    ({"finetune__runs": "a/b"}, r"\[finetune\] runs 'a/b' is not a safe name"),
    ({"init__st": {"selftrain": "nobody"}}, r"selftrain = 'nobody': the teacher must be trained in this protocol"),
    ({"init__st": {"selftrain": "scratch", "variant": "headsFirst"}}, "self-training student"),
    ({"init__st": {"selftrain": "scratch", "threshold": 1.5}}, r"threshold belongs to a selftrain init"),
    ({"init__st": {"selftrain": "scratch", "student": "nobody"}}, r"student = 'nobody': .* here: reg_proto_nnunet"),
    ({"init__reg_proto_nnunet__student": "reg_proto_nnunet"}, r"a selftrain init's student names an init"),
])
def test_bad_protocols_are_refused_naming_the_key(tmp_path, change, match):
    path = tmp_path / "p.toml"
    path.write_text(toml(edited(**change)))
    with pytest.raises(ValueError, match=match):
        protocols.load(str(path))


def test_unsafe_init_and_pretrain_keys_are_refused():
    data = edited()
    data["init"]["..evil"] = data["init"].pop("reg_proto_nnunet")
    with pytest.raises(ValueError, match=r"\[init...evil\] '..evil' is not a safe name"):
        protocols.parse(data, "p.toml")
    data = edited()
    data["pretrain"]["a b"] = data["pretrain"].pop("reg_proto")
    with pytest.raises(ValueError, match=r"'a b' is not a safe name"):
        protocols.parse(data, "p.toml")


def test_a_selftrain_init_after_its_teacher_gives_the_benchmark_spec():
    from nnssl.benchmark.protocol_requests import init_spec

    p = protocols.parse(edited(init__st={"selftrain": "reg_proto_nnunet", "threshold": 0.8}), "p.toml")
    assert init_spec(p.inits["st"], {}) == "st=selftrain:reg_proto_nnunet:0.8"
    assert init_spec(protocols.parse(edited(init__st={"selftrain": "scratch"}), "p.toml").inits["st"], {}) == \
        "st=selftrain:scratch"
    # a student fine-tuned like an earlier init: the threshold's place stays (empty: the default)
    p = protocols.parse(edited(init__st={"selftrain": "scratch", "student": "reg_proto_nnunet"}), "p.toml")
    assert init_spec(p.inits["st"], {}) == "st=selftrain:scratch::reg_proto_nnunet"
    p = protocols.parse(edited(init__st={"selftrain": "scratch", "threshold": 0.7, "student": "reg_proto_nnunet"}),
                        "p.toml")
    assert init_spec(p.inits["st"], {}) == "st=selftrain:scratch:0.7:reg_proto_nnunet"


def test_not_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ValueError, match="not valid TOML"):
        protocols.load(str(bad))
    with pytest.raises(ValueError, match="no such file"):
        protocols.load(str(tmp_path / "nope.toml"))


def test_every_committed_protocol_parses():
    folder = os.path.join(protocols.repository_folder("benchmarks"), "protocols")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".toml"))
    assert names
    for name in names:
        p = protocols.load(os.path.join(folder, name))
        assert p.report, name
        for report in p.finetune.imports:  # every imported report is committed
            protocols.resolve_report(report)
        for init in p.inits.values():  # every init names a run of its own protocol (a fresh workdir can run it)
            assert init.pool_direct is not None or init.selftrain is not None or init.run in p.pretrain, (
                name, init.name)


def test_data_checks_label_count_and_unrecorded_run(pool_env, tmp_path):
    p = protocols.parse(edited(finetune__cases=[9]), "p.toml")
    with pytest.raises(ValueError, match=r"cases \[9\]: the smallest training set of Dataset200_\w+'s folds has 4"):
        protocols.check_against_data(p, "Dataset200_SynthOrganLesion", {})
    p = protocols.parse(edited(init__reg_proto_nnunet__run="never_ran"), "p.toml")
    with pytest.raises(ValueError, match=r"run 'never_ran' is neither a \[pretrain.\*\] run of this protocol nor "
                                         r"recorded"):
        protocols.check_against_data(p, "Dataset200_SynthOrganLesion", {"other": "/x.pth"})


def test_dry_run_lists_commands_and_writes_nothing(pool_env, tmp_path, capsys):
    from nnssl.cli import benchmark

    path = tmp_path / "p.toml"
    path.write_text(toml(GOOD))
    before = {k: tree_digest(pool_env["env"][k]) for k in ("nnUNet_raw", "nnUNet_preprocessed")}
    out = tmp_path / "report"
    assert benchmark.main(["run", str(path), "--out", str(out), "-device", "cpu", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "[to run] nnssl_pretrain -d 101 102 103 -t 200" in text and "--run-name reg_proto --continue" in text
    assert "[to run] scratch fold 0 1 case(s): env -u nnSSL_PRETRAINED" in text
    assert "nnSSL_FINETUNE_SCHEDULE=1,2,1" in text and "-tr nnsslScratchTrainer" in text
    assert "reg_proto_nnunet fold 0 1 case(s): (after pretraining reg_proto)" in text
    assert "then: nnssl_benchmark -t 200 -c 3d_fullres" in text
    assert not out.exists()
    assert {k: tree_digest(pool_env["env"][k]) for k in before} == before


def test_the_grid_command_is_the_scripts_for_a_committed_experiment():
    """Equivalence: the label-decoder protocol resolves to the nnssl_benchmark command that produced its report
    (scripts/hippocampus_lowlabel.sh STAGE=label_decoder, recorded in benchmark.json), up to the workdir."""
    import shlex

    from nnssl.io import load_json

    bench = protocols.repository_folder("benchmarks")
    p = protocols.load(os.path.join(bench, "protocols", "1case_1500it_label_decoder.toml"))
    recorded = shlex.split(load_json(os.path.join(bench, p.report, "benchmark.json"))["command"])[1:]
    work = "/work/bench"  # the script's workdir of that session
    checkpoint = recorded[recorded.index("--init") + 1].split("=", 1)[1]
    ours = benchmark_argv(p, recorded[recorded.index("--out") + 1], work, "cpu",
                          {p.inits[n].run: checkpoint for n in p.inits}, report_only=True)

    def options(argv):  # option -> values, order-free; repository paths compared by their last two parts
        out, key = {}, None
        for a in argv:
            if a.startswith("-") and not a.lstrip("-").replace(".", "").isdigit():
                key = a
                out.setdefault(key, [])
            else:
                out[key].append("/".join(a.split("/")[-2:]) if "/" in a else a)
        return {k: sorted(v) for k, v in out.items()}

    theirs, mine = options(recorded), options(ours)
    mine.pop("-p")  # the script relied on the default plans identifier
    assert mine == theirs


@pytest.mark.slow
def test_a_smoke_protocol_runs_resumes_after_a_kill_and_records_itself(pool_env, tmp_path):
    """2 inits (scratch, a regression init), 1 fold, 1 case: killed during fine-tuning, then run again."""
    from nnssl.benchmark.report import read_csv
    from nnssl.io import load_json

    path = tmp_path / "p.toml"
    path.write_text(toml(GOOD))
    results = tmp_path / "work" / "results"
    env = {**os.environ, "nnUNet_results": str(results)}
    out = tmp_path / "report"
    cmd = [os.path.join(os.path.dirname(sys.executable), "nnssl_benchmark"), "run", str(path), "--out", str(out),
           "-device", "cpu"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    runs = tmp_path / "work" / "lowlabel_runs_2"
    deadline = time.time() + 600
    while time.time() < deadline and not list(runs.glob("*/fold_*.log")):  # the first fine-tune has started
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        time.sleep(1)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (checkpoint,) = results.glob("Dataset*_nnsslPool_101_102_103/RegressionPretrainer__nnsslPlans_reg_proto__*/"
                                 "fold_all/checkpoint_final.pth")
    pretrained_at = checkpoint.stat().st_mtime
    assert not (out / "results.csv").exists()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "pretraining reg_proto already done" in done.stdout
    assert checkpoint.stat().st_mtime == pretrained_at  # not pretrained again
    rows = read_csv(str(out / "results.csv"))
    assert {r["init"] for r in rows} == {"scratch", "reg_proto_nnunet"}
    assert {r["fold"] for r in rows} == {0}
    assert (out / "protocol.toml").read_text() == path.read_text()
    record = load_json(str(out / "protocol.resolved.json"))
    assert record["resolved"]["inits"]["reg_proto_nnunet"] == str(checkpoint)
    assert record["versions"]["nnssl"] and "nnssl_pretrain" in record["resolved"]["pretrain"]["reg_proto"]["command"]
    # the dry run now says everything is done
    listing = subprocess.run([*cmd, "--dry-run"], env=env, capture_output=True, text=True, timeout=300).stdout
    assert "[to run]" not in listing and listing.count("[done]") == 3


@pytest.fixture
def unplanned_env(tmp_path, monkeypatch):
    """A fresh work folder: the synthetic pool and target in nnUNet_raw, nothing planned."""
    from nnssl.data.synthetic import write_demo_pool

    for sub in ("raw", "preprocessed", "results"):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(f"nnUNet_{sub}", str(tmp_path / sub))
    monkeypatch.setenv("nnUNet_def_n_proc", "1")
    monkeypatch.delenv("nnUNet_n_proc_DA", raising=False)
    write_demo_pool(str(tmp_path / "raw"), num_cases=2, target_cases=4, shape=(24, 32, 24))
    return tmp_path


SCRATCH_ONLY = {"name": "fresh", "question": "scratch only, nothing pretrained",
                "target": {"dataset": 200, "configuration": "3d_fullres"},
                "finetune": {"schedule": [1, 2, 1], "cases": [1], "folds": [0], "scratch": ["scratch"]}}


def test_a_protocol_without_pretraining_on_an_unplanned_target_is_refused_naming_the_fix(unplanned_env, capsys):
    from nnssl.cli import benchmark

    path = unplanned_env / "p.toml"
    path.write_text(toml(SCRATCH_ONLY))
    assert benchmark.main(["run", str(path), "--out", str(unplanned_env / "r"), "-device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "no nnsslPlans 3d_fullres plan for Dataset200_" in err and "[target] plans_from" in err
    assert "nnssl_pretrain -d <pool ids> -t 200 -c 3d_fullres --plan-only" in err
    assert not os.listdir(unplanned_env / "preprocessed") and not (unplanned_env / "r").exists()


def test_a_protocol_plans_its_target_and_pool_before_fine_tuning(unplanned_env, capsys, monkeypatch):
    """[target] plans_from and pool: the dry run lists the planning command, the run plans the target and the pool
    with the frozen plan (both get the configuration) before the first fine-tune, and a second run plans nothing."""
    from nnssl.benchmark import run_protocol
    from nnssl.cli import benchmark
    from nnssl.io import load_json

    data = {**SCRATCH_ONLY, "target": {**SCRATCH_ONLY["target"], "plans_from": "demo_synthetic_3d", "pool": [101]}}
    path = unplanned_env / "p.toml"
    path.write_text(toml(data))
    args = ["run", str(path), "--out", str(unplanned_env / "r"), "-device", "cpu"]
    assert benchmark.main([*args, "--dry-run"]) == 0
    planning = ("nnssl_pretrain --plans-from demo_synthetic_3d -d 101 -t 200 -c 3d_fullres -p nnsslPlans -device cpu "
                "--plan-only")
    assert f"[to run] {planning}" in capsys.readouterr().out
    assert not os.listdir(unplanned_env / "preprocessed")

    class Reached(Exception):
        pass

    def train(*_):
        for name in ("Dataset200_SynthOrganLesion", "Dataset101_SynthBlobs"):
            plans = load_json(str(unplanned_env / "preprocessed" / name / "nnsslPlans.json"))
            assert "3d_fullres" in plans["configurations"], name
        raise Reached

    monkeypatch.setattr(run_protocol, "_train", train)
    with pytest.raises(Reached):
        benchmark.main(args)
    assert planning in capsys.readouterr().out
    with pytest.raises(Reached):
        benchmark.main(args)
    assert "--plan-only" not in capsys.readouterr().out  # planned already: nothing to do


def test_bad_target_pool_is_refused():
    bad = {**SCRATCH_ONLY, "target": {**SCRATCH_ONLY["target"], "pool": [0]}}
    with pytest.raises(ValueError, match=r"\[target\] pool = \[0\] must hold integers >= 1"):
        protocols.parse(bad, "p.toml")
    bad = {**SCRATCH_ONLY, "target": {**SCRATCH_ONLY["target"], "plans_from": 3}}
    with pytest.raises(ValueError, match=r"\[target\].plans_from = 3 must be a str"):
        protocols.parse(bad, "p.toml")
