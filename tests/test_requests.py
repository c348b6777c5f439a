"""The typed requests under nnssl_pretrain and nnssl_benchmark: frozen, resolved once, and equal to what their
command lines parse to (so the record of a run repeats it)."""

import dataclasses

import pytest

from nnssl.benchmark.request import DEFAULT_FRACTIONS, BenchmarkRequest
from nnssl.errors import UsageError
from nnssl.pretrain_options import parse_request
from nnssl.pretrain_request import PRESETS, PretrainRequest


def test_a_pretrain_request_is_frozen_and_its_schedule_resolved_once():
    request = parse_request(["-d", "101", "102", "-t", "200", "--schedule", "cpu", "--epochs", "3", "-device", "cpu"])
    assert isinstance(request, PretrainRequest) and request.datasets == (101, 102)
    assert (request.schedule.epochs, request.schedule.iterations) == (3, PRESETS["cpu"][1])
    assert request.schedule.lr == 5e-4  # MixCL's cpu learning rate comes with the preset
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.method = "regression"
    with pytest.raises(TypeError):
        request.options["label_weight"] = 2.0  # the method options are read-only too
    assert request.name == "mixcl" and request.method_options().label_weight == request.options["label_weight"]
    # the same run asked for in other words is the same request
    assert parse_request(["-t", "200", "-d", "101", "102", "--epochs=3", "--schedule", "cpu", "-device", "cpu"]) \
        == request
    assert dataclasses.replace(request, device="cuda") != request


def test_a_usage_error_is_an_exception_in_the_library_not_an_exit():
    with pytest.raises(UsageError, match="--allow-unlabelled is an option of -m mixcl"):
        parse_request(["-d", "1", "-m", "supervised", "--allow-unlabelled"])
    with pytest.raises(UsageError, match="did you mean --schedule"):
        parse_request(["-d", "1", "--schedul", "cpu"])
    with pytest.raises(UsageError, match="--seed"):
        parse_request(["-d", "1", "--seed", "-1"])


def test_a_benchmark_request_round_trips_through_its_command_line():
    from nnssl.cli.benchmark import parse_request as parse_benchmark

    request = BenchmarkRequest(target=602, out="/r", configuration="2d", init=("a=/x.pth", "p=pool_direct:601"),
                               cases=(1, 2), scratch=("scratch",), folds=(0, 2), schedule=(30, 50, 5), device="cpu",
                               runs="/runs", variant=("a=headsFirst",), schedule_override=("a=fresh_lr=1e-3",),
                               seed=3, import_report=("/old:scratch",))
    assert parse_benchmark(request.argv()) == request
    assert parse_benchmark(dataclasses.replace(request, report_only=True).argv()).report_only
    plain = BenchmarkRequest(target=1, out="/r", device="cpu")
    assert plain.fractions == DEFAULT_FRACTIONS and parse_benchmark(plain.argv()) == plain
    with pytest.raises(ValueError, match="--schedule"):
        BenchmarkRequest(target=1, out="/r", schedule=(1, 0, 1))


def test_a_protocol_resolves_to_requests_without_the_command_layer(monkeypatch):
    """The runner builds both requests from the protocol; the command-line entry points are never called."""
    from nnssl.benchmark import protocol as protocols
    from nnssl.benchmark.protocol_requests import benchmark_request
    from nnssl.cli import benchmark, pretrain

    monkeypatch.setattr(pretrain, "main", lambda *a: pytest.fail("nnssl_pretrain's entry point was called"))
    monkeypatch.setattr(benchmark, "main", lambda *a: pytest.fail("nnssl_benchmark's entry point was called"))
    p = protocols.load("s4_matched_heads_1case")
    for run in p.pretrain.values():
        request = run.request(p.target, "cpu")
        assert request.run_name == run.name and request.continue_training and request.device == "cpu"
        assert request.target == p.target.dataset and request.configuration == p.target.configuration
    grid = benchmark_request(p, "/out", "/work", "cpu", {}, folds=[1])
    assert grid.folds == (1,) and grid.cases == tuple(p.finetune.cases) and grid.runs.startswith("/work/")
    assert {i.split("=", 1)[0] for i in grid.init} == set(p.inits)
