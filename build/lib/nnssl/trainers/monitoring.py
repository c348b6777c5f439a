"""What a pretraining shows while it runs: per-term logs, encoder movement, gradient balance, the NaN guard,
the epoch summary and the plots (``loss_terms.png``, ``progress.png``)."""

import math
import os
from time import time

import numpy as np
import torch

from nnssl.checkpoint import unwrap
from nnssl.io import atomic_save_json, atomic_torch_save
from nnssl.plotting import plot_loss_terms, plot_progress
from nnssl.trainers.diagnostics import encoder_stage, relative_movement, term_gradient_norms

INITIAL_WEIGHTS = "initial_encoder_weights.pth"
MOVEMENT_FILE = "weight_movement.json"


def terms_to_floats(terms: dict) -> dict[str, float]:
    """Loss terms as Python floats with one device-to-host copy (not one sync per term)."""
    names = list(terms)
    device = next((v.device for v in terms.values() if isinstance(v, torch.Tensor)), None)
    values = torch.stack([torch.as_tensor(terms[k], device=device).detach().float().reshape(())
                          for k in names]).tolist()
    return dict(zip(names, values, strict=True))


class MonitoringMixin:
    """Logging, diagnostics and plots of an ``SSLTrainerBase`` (needs its ``term_log``, ``movement_log``,
    ``_theta0``, ``_best_val``)."""

    def initial_encoder_weights(self) -> dict[str, torch.Tensor]:
        """theta_0 of the encoder: saved at the first start, read back when a run is continued."""
        path = os.path.join(self.output_folder, INITIAL_WEIGHTS)
        if os.path.isfile(path):
            return torch.load(path, map_location="cpu", weights_only=True)
        weights = {k: v.detach().cpu().clone() for k, v in unwrap(self.network).backbone.state_dict().items()
                   if encoder_stage(k) is not None}
        if self.local_rank == 0:
            atomic_torch_save(weights, path)
        return weights

    def log_weight_movement(self) -> dict[str, float]:
        """Per encoder stage ||theta - theta_0|| / ||theta_0||, logged and written to weight_movement.json."""
        if self._theta0 is None:
            return {}
        movement = relative_movement(self._theta0, unwrap(self.network).backbone.state_dict())
        self.movement_log.append({"epoch": self.current_epoch, **movement})
        self.print_to_log_file("encoder movement |theta - theta0| / |theta0|: "
                               + ", ".join(f"{k} {v:.3g}" for k, v in movement.items()))
        if self.local_rank == 0:
            atomic_save_json(self.movement_log, os.path.join(self.output_folder, MOVEMENT_FILE))
        return movement

    def probe_gradients(self, terms: dict) -> dict:
        """Gradient norm of each weighted term on the encoder; lets the model rebalance its weights."""
        model = unwrap(self.network)
        params = [p for p in model.backbone.encoder.parameters() if p.requires_grad]
        if not params or not model.balance_terms:
            return terms
        norms = term_gradient_norms(terms, model.balance_terms, params)
        if self.is_ddp:  # every rank must use the same weights
            names = sorted(norms)
            t = torch.tensor([norms[n] for n in names], device=self.device)
            torch.distributed.all_reduce(t)
            norms = {n: float(v) / torch.distributed.get_world_size() for n, v in zip(names, t, strict=True)}
        if model.rebalance(norms):
            terms = {**terms, "loss": model.combine(terms)}
        for name, value in norms.items():
            self.term_log["train"][f"grad_{name}"].append(value)
        for name, value in model.term_weights().items():
            self.term_log["train"][f"weight_{name}"].append(value)
        return terms

    def check_finite(self, terms: dict) -> None:
        """Stop before a non-finite loss reaches the weights (and every later checkpoint).

        Raises:
            FloatingPointError: naming the term, the epoch and iteration, and the last good checkpoint.
        """
        if bool(torch.isfinite(terms["loss"].detach()).all()):
            return  # diagnostics such as pos_sim may be NaN (no pair of a kind) without harm
        bad = {k: float(v) for k, v in terms.items() if not math.isfinite(float(v))}
        good = [f for f in ("checkpoint_best.pth", "checkpoint_latest.pth")
                if os.path.isfile(os.path.join(self.output_folder, f))]
        raise FloatingPointError(
            f"nnssl: loss term(s) {bad} not finite at epoch {self.current_epoch}, iteration {self._iteration}; "
            f"nothing non-finite was saved. Last good checkpoint: "
            f"{os.path.join(self.output_folder, good[0]) if good else 'none'}. Lower --lr, or check the input "
            f"images for inf/NaN or extreme values")

    def _log_terms(self, split: str, outputs: list[dict]) -> float:
        means = {k: float(np.mean([o[k] for o in outputs])) for k in outputs[0]} if outputs else {}
        if self.is_ddp:
            gathered = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, means)
            means = {k: float(np.mean([g[k] for g in gathered])) for k in means}
        for k, v in means.items():
            self.term_log[split][k].append(v)
        return means.get("loss", float("nan"))

    def on_epoch_end(self):
        self.logger.log("epoch_end_timestamps", time(), self.current_epoch)
        self.log_weight_movement()
        for split in ("train", "val"):
            terms = {k: round(v[-1], 4) for k, v in self.term_log[split].items() if v}
            if terms:
                self.print_to_log_file(f"{split} terms: {terms}")
        start = self.logger.get_value("epoch_start_timestamps", step=-1)
        self.print_to_log_file(f"Epoch time: {self.logger.get_value('epoch_end_timestamps', step=-1) - start:.2f} s")
        if (self.current_epoch + 1) % self.save_every == 0 and self.current_epoch != self.num_epochs - 1:
            self.save_checkpoint(os.path.join(self.output_folder, "checkpoint_latest.pth"))
        val = self.term_log["val"]["loss"][-1] if self.term_log["val"]["loss"] else None
        if self.is_new_best(val):
            self._best_val = val
            self.save_checkpoint(os.path.join(self.output_folder, "checkpoint_best.pth"))
        if self.local_rank == 0:
            title = f"{self.method} pretraining" + (f", run {self.run_name}" if self.run_name != self.method else "")
            plot_loss_terms(self.term_log, os.path.join(self.output_folder, "loss_terms.png"),
                            title=f"{title}: every loss term")
            plot_progress(self.logger.get_checkpoint(), os.path.join(self.output_folder, "progress.png"), title=title)
        self.current_epoch += 1

    def is_new_best(self, val: float | None) -> bool:
        """Whether a validation loss beats the best so far; NaN and inf never do (never "best")."""
        return val is not None and math.isfinite(val) and (self._best_val is None or val < self._best_val)
