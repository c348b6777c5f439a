"""Fine-tuning schedule: warm-up shape, poly decay, per-group peaks, freezing, overrides."""

import numpy as np
import pytest

from nnssl.trainers.finetune_presets import FROZEN_ENCODER_WARMUP, LINEAR_PROBE, NNUNET_DEFAULT, PRETRAINED, WARMUP
from nnssl.trainers.finetune_schedule import FinetuneSchedule


def lrs(resolved, group):
    return np.array([resolved.lr(group, t) for t in range(resolved.total_steps)])


def test_nnunet_default_is_poly_from_the_first_step():
    r = NNUNET_DEFAULT.resolve(1000, 250)
    assert r.warmup_steps == 0 and r.freeze_epochs == 0
    assert r.lr("fresh", 0) == pytest.approx(1e-2)
    t = 400 * 250
    assert r.lr("fresh", t) == pytest.approx(1e-2 * (1 - t / r.total_steps) ** 0.9)
    assert r.lr("transferred", t) == r.lr("fresh", t)  # no separate peak


@pytest.mark.parametrize(("epochs", "iterations"), [(1000, 250), (20, 50), (12, 50), (2, 5)])
def test_warmup_is_linear_over_five_percent_of_steps_then_monotone_poly(epochs, iterations):
    r = PRETRAINED.resolve(epochs, iterations)
    assert r.warmup_steps == max(1, round(0.05 * epochs * iterations))
    for group, peak in (("transferred", 1e-3), ("fresh", 1e-2)):
        curve = lrs(r, group)
        w = r.warmup_steps
        np.testing.assert_allclose(curve[:w], peak * np.arange(1, w + 1) / w)  # linear, reaches the peak
        assert curve[w - 1] == pytest.approx(peak)
        assert np.all(np.diff(curve[w - 1:]) <= 1e-15)  # then never increases
        assert curve[-1] < 0.1 * peak or r.total_steps - w < 10


def test_warmup_happens_within_the_first_epoch_of_a_short_budget():
    """5 % of 20 x 50 steps is 50 steps: an epoch-wise warm-up would skip it, a step-wise one does not."""
    r = WARMUP.resolve(20, 50)
    assert r.warmup_steps == 50
    assert r.lr("fresh", 0) == pytest.approx(1e-2 / 50)
    assert r.lr("fresh", 24) == pytest.approx(1e-2 * 25 / 50)


def test_frozen_encoder_warmup_freezes_then_warms_up_the_transferred_group():
    r = FROZEN_ENCODER_WARMUP.resolve(20, 50)
    assert r.freeze_epochs == 1
    assert all(r.frozen("transferred", e) for e in range(1))
    assert not r.frozen("transferred", 1) and not r.frozen("fresh", 0)
    curve = lrs(r, "transferred")
    assert np.all(curve[:50] == 0)  # frozen: no update at all
    assert curve[50] == pytest.approx(1e-3 / r.warmup_steps)  # its own warm-up starts on release
    assert curve[50 + r.warmup_steps - 1] == pytest.approx(1e-3)
    assert lrs(r, "fresh")[0] > 0  # the new parts train from the first step


def test_linear_probe_never_trains_transferred_weights():
    r = LINEAR_PROBE.resolve(10, 5)
    assert all(r.frozen("transferred", e) for e in range(10))
    assert np.all(lrs(r, "transferred") == 0)
    assert "linear probe" in r.describe()


def test_describe_names_schedule_peaks_and_frozen_parts():
    text = FROZEN_ENCODER_WARMUP.resolve(20, 50).describe()
    assert "frozenEncoderWarmup" in text and "warm-up over 50 steps" in text
    assert "transferred 0.001" in text and "frozen for the first 1 epochs" in text


def test_freeze_scope_delays_only_the_scoped_group_and_is_validated():
    r = LINEAR_PROBE.with_overrides("freeze_scope=encoder").resolve(10, 5)
    assert np.all(lrs(r, "transferred") == 0)  # the encoder: frozen throughout
    assert lrs(r, "transferred_unfrozen")[r.warmup_steps - 1] == pytest.approx(1e-3)  # a transferred decoder: trains
    assert not r.frozen("transferred_unfrozen", 0)
    with pytest.raises(ValueError, match="freeze_scope must be one of transferred, encoder, got 'decoder'"):
        PRETRAINED.with_overrides("freeze_scope=decoder")


def test_l2sp_is_parsed_validated_and_named_in_the_log():
    s = PRETRAINED.with_overrides("l2sp=1e-3,freeze_scope=encoder")
    assert (s.l2sp, PRETRAINED.l2sp) == (1e-3, 0.0)
    text = s.resolve(10, 5).describe()
    assert "L2-SP 0.001: transferred encoder weights pulled toward their pretrained values" in text
    assert "L2-SP" not in PRETRAINED.resolve(10, 5).describe()
    with pytest.raises(ValueError, match="l2sp must be >= 0"):
        PRETRAINED.with_overrides("l2sp=-0.1")


def test_overrides_key_value_and_legacy_forms():
    s = PRETRAINED.with_overrides("epochs=20,iterations=50,val_iterations=5,pretrained_lr=3e-3,freeze_fraction=0.1")
    assert (s.epochs, s.iterations, s.val_iterations, s.pretrained_lr, s.freeze_fraction) == (20, 50, 5, 3e-3, 0.1)
    assert s.name == PRETRAINED.name
    legacy = PRETRAINED.with_overrides("6,50,5")
    assert (legacy.epochs, legacy.iterations, legacy.val_iterations) == (6, 50, 5)
    assert PRETRAINED.with_overrides("linear_probe=true").linear_probe
    assert PRETRAINED.with_overrides("") == PRETRAINED


@pytest.mark.parametrize(("text", "match"), [
    ("epochs=0", "epochs"), ("warmup=0.1", "unknown key 'warmup'"), ("pretrained_lr=abc", "pretrained_lr"),
    ("6,50", "epochs,iterations,val_iterations"), ("freeze_fraction=1.5", "freeze_fraction"),
    ("linear_probe=maybe", "linear_probe"), ("fresh_lr=-1", "learning rates"),
])
def test_bad_overrides_name_the_value(text, match):
    with pytest.raises(ValueError, match=match):
        PRETRAINED.with_overrides(text)


def test_schedule_fields_validated():
    with pytest.raises(ValueError, match="warmup_fraction"):
        FinetuneSchedule(warmup_fraction=1.0)


def test_heads_first_trains_only_the_fresh_group_warming_it_up_then_rewarms_everything():
    """``_headsFirst`` at 30 x 50 steps: R = 150 steps (10 %), W = 150: the fresh group (output layers) warms up
    linearly to its peak over [0, R); the transferred group is 0 there; from R every group follows the same warm-up
    over W and poly decay to the end."""
    from nnssl.trainers.finetune_presets import HEADS_FIRST

    r = HEADS_FIRST.resolve(30, 50)
    release, w, total, peak = 150, 150, 1500, 1e-2
    assert (r.release_step, r.warmup_steps, r.freeze_epochs) == (release, w, 3)
    for t in (0, 17, 75, 149):
        assert r.lr("fresh", t) == pytest.approx(peak * (t + 1) / release)
        assert r.lr("transferred", t) == 0.0
    for t in (150, 151, 299):
        assert r.lr("fresh", t) == pytest.approx(peak * (t - release + 1) / w) == r.lr("transferred", t)
    for t in (300, 700, 1499):
        expected = peak * (1 - (t - release - w) / (total - release - w)) ** 0.9
        assert r.lr("fresh", t) == pytest.approx(expected) == r.lr("transferred", t)
    assert r.frozen("transferred", 2) and not r.frozen("transferred", 3)
    assert "warms up to its peak" in r.describe()


def test_decoder_first_is_a_sawtooth_for_the_decoder_and_then_a_warm_up_of_everything():
    from nnssl.trainers.finetune_presets import DECODER_FIRST

    r = DECODER_FIRST.resolve(30, 50)
    release, w, total, peak = 300, 75, 1500, 1e-2
    assert (r.release_step, r.warmup_steps) == (release, w)
    for group in ("fresh", "transferred_unfrozen"):  # a fresh or a transferred decoder: same curve
        assert r.lr(group, 10) == pytest.approx(peak * 11 / w)
        assert r.lr(group, 200) == pytest.approx(peak * (1 - (200 - w) / (release - w)) ** 0.9)
        assert r.lr(group, release - 1) < 1e-4  # decayed to (almost) zero before the release
        assert r.lr(group, release) == pytest.approx(peak / w) == r.lr("transferred", release)
        assert r.lr(group, 1000) == pytest.approx(peak * (1 - (1000 - release - w) / (total - release - w)) ** 0.9)
    assert all(r.lr("transferred", t) == 0.0 for t in range(release))
    assert DECODER_FIRST.freeze_scope == "encoder"


def test_a_first_phase_needs_a_freeze():
    with pytest.raises(ValueError, match="first_phase 'warmup' needs freeze_fraction > 0"):
        FinetuneSchedule(first_phase="warmup")
    with pytest.raises(ValueError, match="first_phase must be one of"):
        FinetuneSchedule(freeze_fraction=0.1, first_phase="zigzag")
    assert FinetuneSchedule().with_overrides("freeze_fraction=0.2,first_phase=sawtooth").first_phase == "sawtooth"
