"""The pretraining plots show the data they were given: one panel per term, one line per split, labelled axes."""

import pytest

from nnssl import plotting


@pytest.fixture
def captured(monkeypatch):
    figures = []

    def keep(fig, path, dpi=100, layout=True):
        figures.append(fig)

    monkeypatch.setattr(plotting, "save_figure", keep)
    return figures


def test_loss_terms_panels_lines_labels_and_notes(captured, tmp_path):
    log = {"train": {"loss": [3.0, 2.0, 1.5], "label": [1.6, 0.9, 0.5], "weight_label": [0.01, 86.0, 41.0],
                     "grad_identity": [2.0]},
           "val": {"loss": [2.5, 1.8, 1.4], "label": [1.2, 0.7, 0.4]}}
    drawn = plotting.plot_loss_terms(log, str(tmp_path / "t.png"), title="mixcl pretraining: every loss term")
    (fig,) = captured
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert set(panels) == {"loss", "label", "weight_label", "grad_identity"}
    for term, ax in panels.items():
        lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
        assert lines == {split: log[split][term] for split in ("train", "val") if term in log[split]}
        assert lines == drawn[term]
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
    assert panels["weight_label"].get_ylabel() == "term weight"
    assert panels["loss"].get_ylabel() == "loss"
    assert any(t.get_text() == "1 epoch so far" for t in panels["grad_identity"].texts)
    captions = " ".join(t.get_text() for t in fig.texts)
    assert "alpha" in captions and "--label-grad-ratio" in captions  # why weight_label is not 0.01
    assert fig._suptitle.get_text() == "mixcl pretraining: every loss term"


def test_progress_shows_loss_learning_rate_and_epoch_time(captured, tmp_path):
    logging = {"train_losses": [5.0, 4.0], "val_losses": [4.5, 3.9], "lrs": [1e-2, 5e-3],
               "epoch_start_timestamps": [0.0, 12.0], "epoch_end_timestamps": [10.0, 25.0]}
    drawn = plotting.plot_progress(logging, str(tmp_path / "progress.png"), title="supervised pretraining")
    (fig,) = captured
    loss_ax, lr_ax, time_ax = fig.axes
    assert {line.get_label(): list(line.get_ydata()) for line in loss_ax.get_lines()} == \
        {"train loss": [5.0, 4.0], "val loss": [4.5, 3.9]}
    assert list(lr_ax.get_lines()[0].get_ydata()) == [1e-2, 5e-3]
    assert list(time_ax.get_lines()[0].get_ydata()) == [10.0, 13.0] == drawn["epoch time (s)"]
    assert [a.get_ylabel() for a in fig.axes] == ["total loss", "learning rate", "epoch time (s)"]
    assert plotting.plot_progress({"train_losses": []}, str(tmp_path / "none.png")) == {}


def test_the_files_hold_the_drawn_figure(tmp_path):
    """The PNG read back is an image of the figure: its size, and coloured lines on a white page (not blank)."""
    import matplotlib.image
    import numpy as np

    plotting.plot_loss_terms({"train": {"loss": [1.0, 0.5, 0.2]}, "val": {"loss": [1.1, 0.7, 0.4]}},
                             str(tmp_path / "t.png"))
    plotting.plot_progress({"train_losses": [1.0, 0.6], "val_losses": [1.0, 0.8], "lrs": [1e-3, 5e-4],
                            "epoch_start_timestamps": [0.0, 1.0], "epoch_end_timestamps": [1.0, 2.5]},
                           str(tmp_path / "p.png"))
    for name in ("t.png", "p.png"):
        img = matplotlib.image.imread(str(tmp_path / name))[..., :3]
        assert img.ndim == 3 and min(img.shape[:2]) >= 200, img.shape
        white = (img > 0.95).all(axis=-1).mean()
        coloured = (img.max(axis=-1) - img.min(axis=-1) > 0.3).mean()  # saturated pixels: the plotted lines
        assert 0.5 < white < 0.995 and coloured > 1e-4, (name, white, coloured)
    t, p = (matplotlib.image.imread(str(tmp_path / n)) for n in ("t.png", "p.png"))
    assert t.shape != p.shape or not np.array_equal(t, p)  # two different figures, not one image twice
