"""A trained classifier: weights, input normalisation, config; save / load as one small file."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modeling.engine.errors import DimensionMismatchError, ModelFileError
from modeling.engine.trainer.calibration import IDENTITY, Calibration
from modeling.engine.trainer.config import TrainConfig

FILE_FORMAT = "agile-labeling/mlp/2"
#: Older files still load: format 1 had no calibration and no head choice (an MLP).
READABLE_FORMATS = ("agile-labeling/mlp/1", FILE_FORMAT)
#: ``(weight (out, in), bias (out,))`` per Linear layer, in order.
Layers = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A linear head or an MLP over ``input_dim``-wide embeddings.

    ``mean``/``std`` (input_dim,) standardise features before the first layer;
    ``layers`` holds ``(weight (out, in), bias (out,))`` float32 tensors in order, ReLU
    between them, one output logit (a linear head is one layer). ``calibration`` maps
    that logit to the calibrated one (Platt scaling and the pool prior), and
    :meth:`folded_layers` folds it, with the standardisation, into the weights.
    ``loss_history`` is the mean training loss (BCE, nats) of each MLP epoch run (empty
    for a linear head). ``selection`` says which head and strength cross-validation
    chose and with what held-out losses (JSON-friendly, for the model card).
    """

    config: TrainConfig
    input_dim: int
    mean: torch.Tensor
    std: torch.Tensor
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    loss_history: tuple[float, ...] = field(default=())
    calibration: Calibration = IDENTITY
    selection: dict[str, Any] = field(default_factory=dict)

    @property
    def head(self) -> str:
        """``"linear"`` (one layer) or ``"mlp"``."""
        return "linear" if len(self.layers) == 1 else "mlp"

    @property
    def epochs_run(self) -> int:
        """How many epochs the training loop ran (differs from config with early stop)."""
        return len(self.loss_history)

    def hidden(self, features: np.ndarray) -> np.ndarray:
        """The last hidden layer (n, h) float32 for feature rows (n, d) (fp32, no dropout):
        the representation the output layer reads. A model without hidden layers returns
        the standardised input."""
        x = torch.from_numpy(np.ascontiguousarray(self._check(features), dtype=np.float32))
        with torch.inference_mode():
            if len(self.layers) == 1:
                return ((x - self.mean) / self.std).numpy()
            return hidden_activations(x, self.folded_layers()[:-1]).numpy()

    def folded_layers(self) -> Layers:
        """Layers with the input standardisation folded into the first one and the
        calibration into the last (they may be the same layer).

        ``W (x - m) / s + b == (W / s) x + (b - (W / s) m)``: scoring then reads raw
        features with no extra pass over them; ``a (W h + b) + c == (a W) h + (a b + c)``.
        """
        (w0, b0), *rest = self.layers
        w_folded = w0 / self.std
        b_folded = b0 - w_folded @ self.mean
        layers = [(w_folded, b_folded), *rest]
        w_out, b_out = layers[-1]
        layers[-1] = self.calibration.fold(w_out, b_out)
        return layers

    def predict_logits(self, features: np.ndarray) -> np.ndarray:
        """Logits (n,) float32 for ``features`` (n, input_dim), fp32, in one pass."""
        x = torch.from_numpy(np.ascontiguousarray(self._check(features), dtype=np.float32))
        with torch.inference_mode():
            return forward_layers(x, self.folded_layers()).numpy()

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Probabilities (n,) float32 in [0, 1] for ``features`` (n, input_dim)."""
        logits = torch.from_numpy(self.predict_logits(features))
        return torch.sigmoid(logits).numpy()

    def save(self, path: Path) -> None:
        """Write weights, normalisation, config and loss history to ``path`` (torch.save)."""
        payload: dict[str, Any] = {
            "format": FILE_FORMAT,
            "config": self.config.to_dict(),
            "input_dim": self.input_dim,
            "mean": self.mean,
            "std": self.std,
            "layers": [[w, b] for w, b in self.layers],
            "loss_history": list(self.loss_history),
            "calibration": {
                "scale": self.calibration.scale,
                "shift": self.calibration.shift,
                "prior": self.calibration.prior,
            },
            "selection": self.selection,
        }
        torch.save(payload, Path(path))

    @classmethod
    def load(cls, path: Path) -> TrainedModel:
        """Read a file written by :meth:`save` (tensors only; no pickled code is run)."""
        try:
            payload = torch.load(Path(path), weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise ModelFileError(f"cannot read model file {path}: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
            raise ModelFileError(f"{path} is not a {FILE_FORMAT} model file")
        cal = payload.get("calibration", {"scale": 1.0, "shift": 0.0, "prior": None})
        return cls(
            config=TrainConfig.from_dict(payload["config"]),
            input_dim=int(payload["input_dim"]),
            mean=payload["mean"],
            std=payload["std"],
            layers=tuple((w, b) for w, b in payload["layers"]),
            loss_history=tuple(float(v) for v in payload["loss_history"]),
            calibration=Calibration(
                float(cal["scale"]), float(cal["shift"]), None if cal["prior"] is None else float(cal["prior"])
            ),
            selection=dict(payload.get("selection", {})),
        )

    def _check(self, features: np.ndarray) -> np.ndarray:
        if features.ndim != 2 or features.shape[1] != self.input_dim:
            raise DimensionMismatchError(f"model expects (n, {self.input_dim}) features, got {features.shape}")
        return features

    def __repr__(self) -> str:
        last = f"{self.loss_history[-1]:.4f}" if self.loss_history else "n/a"
        shape = "linear" if self.head == "linear" else f"mlp {self.config.hidden}"
        return (
            f"TrainedModel(input_dim={self.input_dim}, head={shape}, epochs_run={self.epochs_run}, "
            f"final_loss={last}, calibration={self.calibration}, seed={self.config.seed})"
        )


def hidden_activations(x: torch.Tensor, hidden: Layers) -> torch.Tensor:
    """The ReLU outputs of ``hidden`` layers on ``x`` (n, in), in x's dtype."""
    for w, b in hidden:
        x = torch.relu_(torch.addmm(b.to(x.dtype), x, w.to(x.dtype).T))
    return x


def forward_layers(x: torch.Tensor, layers: Layers) -> torch.Tensor:
    """Evaluate ReLU MLP ``layers`` on ``x`` (n, in) in x's dtype; returns logits (n,)."""
    *hidden, (w, b) = layers
    h = hidden_activations(x, hidden)
    return torch.addmm(b.to(h.dtype), h, w.to(h.dtype).T)[:, 0]
