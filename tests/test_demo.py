"""The demo a newcomer runs first: seeded, both inits learn both classes, and the printout says what it shows.

Runs ``nnssl_demo`` as the README's first command does (a few minutes on a CPU). ``.ci/run`` runs the demo
itself first (README command 1) and points ``NNSSL_DEMO_OUTPUT`` at its folder, so this test checks that run
instead of repeating it.
"""

import json
import os

import pytest

#: every label of both inits, on validation and test: learned classes score 0.94-0.97 in the seeded demo runs
#: (documentation/how_to_use.md#the-demo); a class that does not take off scores 0.000
FLOOR = 0.85


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    given = os.environ.get("NNSSL_DEMO_OUTPUT")
    if given:
        log = os.path.join(given, "demo_stdout.txt")
        return given, open(log).read() if os.path.isfile(log) else None
    from contextlib import redirect_stdout
    from io import StringIO

    from nnssl.cli import demo

    out = str(tmp_path_factory.mktemp("demo"))
    printed = StringIO()
    with redirect_stdout(printed):
        assert demo.main(["--out", out, "--device", "cpu"]) == 0
    return out, printed.getvalue()


@pytest.mark.slow
def test_the_seeded_demo_learns_every_class_with_both_inits(demo_run):
    out, printed = demo_run
    with open(os.path.join(out, "demo_results.json")) as f:
        report = json.load(f)
    assert report["seed"] == 0 and "seed 0" in report["budget"]
    for init in ("scratch", "mixcl"):
        for split in ("validation", "test"):
            scores = report["results"][init][split]
            assert min(scores["1"], scores["2"]) >= FLOOR, (init, split, scores)
    # both fine-tunes ran with the demo's seed and recorded it
    records = [os.path.join(folder, "nnssl_finetune.json") for folder, _, files in os.walk(os.path.join(out, "results"))
               if "nnssl_finetune.json" in files]
    assert len(records) == 2
    for path in records:
        with open(path) as f:
            assert json.load(f)["seed"] == 0, path
    if printed is not None:
        assert "what it shows:" in printed and "cannot show whether pretraining helps" in printed
        assert "missed" not in printed


def test_the_printout_names_a_missed_class_in_words():
    from nnssl.cli.demo_report import verdict

    report = {"results": {"scratch": {"validation": {"1": 0.95, "2": 0.96, "mean": 0.955}},
                          "mixcl": {"validation": {"1": 0.94, "2": 0.0, "mean": 0.47}}}}
    lines = verdict(report)
    assert lines[0].startswith("  what it shows:")
    (note,) = lines[1:]
    assert "mixcl init missed the lesion (Dice 0.000) on the validation cases" in note
