"""amf-edge checkpoints: weights plus everything needed to use them (config, labels, preprocessing).

A checkpoint is a plain dict of tensors and JSON-like values, so it loads with
`torch.load(weights_only=True)`: opening a checkpoint never runs code from the file.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch

from amf_edge import __version__
from amf_edge.config import ModelConfig
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.models import AsymFusion
from amf_edge.preprocess import PreprocessSpec

FORMAT = "amf-edge-checkpoint"
FORMAT_VERSION = 1
# What torch.load raises for a file that is not a PyTorch file at all: the unpickler reads junk bytes as
# opcodes, and they fail in whatever way they happen to (a junk file's KeyError is its memo lookup).
LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, IndexError, TypeError)


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode) and what it was trained with."""

    model: AsymFusion
    labels: LabelSet
    preprocess: PreprocessSpec
    meta: dict = field(default_factory=dict)

    @property
    def config(self) -> ModelConfig:
        return self.model.config


def save_checkpoint(path: str | os.PathLike, model: AsymFusion, *, labels: LabelSet,
                    preprocess: PreprocessSpec, meta: dict | None = None, train_state: dict | None = None) -> Path:
    """Write `model` with its config, labels and preprocessing; atomic, so a crash never leaves half a file.

    `train_state` (optimizer state, epoch, ...) makes a checkpoint resumable; it must hold only
    tensors and plain values, like everything else in the file.
    """
    if labels.num_classes != model.config.num_classes:
        raise AmfEdgeError(
            f"label set {labels.name!r} has {labels.num_classes} classes but the model predicts "
            f"{model.config.num_classes}; pass labels with one name per model class"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "labels": labels.to_dict(),
        "preprocess": preprocess.to_dict(),
        "meta": {"amf_edge_version": __version__, "torch_version": str(torch.__version__), **(meta or {})},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    if train_state is not None:
        payload["train_state"] = train_state
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk (or Ctrl-C) mid-write leaves neither half a file nor a .tmp
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load an amf-edge checkpoint; the model comes back in eval mode on `map_location`."""
    payload = read_payload(path, map_location)
    try:
        model = AsymFusion(ModelConfig.from_dict(payload["model_config"]))
    except (KeyError, TypeError, ValueError) as e:
        raise AmfEdgeError(f"{path}: its model config is broken ({type(e).__name__}: {e}); the file was changed "
                           "after amf-edge wrote it: train or import it again") from None
    _check_weights(path, model, payload.get("state_dict"))
    model.load_state_dict(payload["state_dict"])
    model.to(map_location).eval()
    return Checkpoint(
        model=model,
        labels=LabelSet.from_dict(payload["labels"]),
        preprocess=PreprocessSpec.from_dict(payload["preprocess"]),
        meta=payload.get("meta", {}),
    )


def _check_weights(path: str | os.PathLike, model: AsymFusion, state: object) -> None:
    """Raise AmfEdgeError, in one line, unless `state` has exactly the model's keys and shapes (torch's own
    error is a traceback listing every key)."""
    c = model.config
    what = f"the model its config describes ({c.backbone}, {c.num_classes} classes)"
    if not isinstance(state, dict):
        raise AmfEdgeError(f"{path} holds no weights (state_dict is {type(state).__name__}); expected a file written "
                           "by amf-edge train or import-reference")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(getattr(state[k], 'shape', ()))} instead of {tuple(v.shape)}"
             for k, v in expected.items() if k in state and tuple(getattr(state[k], "shape", ())) != tuple(v.shape)]
    problems = [f"{len(found)} {kind} (e.g. {', '.join(found[:2])})"
                for kind, found in (("missing", missing), ("unexpected", unexpected), ("with another shape", wrong))
                if found]
    if problems:
        raise AmfEdgeError(f"{path}: its weights do not fit {what}: {'; '.join(problems)}; the file was changed after "
                           "amf-edge wrote it, or written by another tool: train or import it again")


def unpickling_reason(error: Exception) -> str:
    """The informative line of a `torch.load(weights_only=True)` failure (which global was refused)."""
    if not isinstance(error, (pickle.UnpicklingError, RuntimeError)):
        return f"it does not parse as a PyTorch file: {type(error).__name__} {error}"  # junk, or cut off (EOFError)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = next((line for line in lines if "GLOBAL" in line), lines[0] if lines else type(error).__name__)
    return line.split(". Please use")[0]  # torch goes on to suggest allow-listing it: not for us to advise


def read_payload(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """The raw checkpoint dict, validated as an amf-edge checkpoint (for resuming training)."""
    path = Path(path)
    if not path.is_file():
        raise AmfEdgeError(f"checkpoint {path} does not exist; "
                           "expected a file written by amf-edge train or import-reference")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except LOAD_ERRORS as e:
        raise AmfEdgeError(
            f"{path} is not a loadable amf-edge checkpoint ({unpickling_reason(e)}); "
            "files from other tools are converted with `amf-edge import-reference`"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        hint = (
            "it looks like a checkpoint of the official AsymFusion code: convert it with "
            "`amf-edge import-reference FILE --preset asymfusion-r101 --classes 40 -o ckpt.pt`"
            if isinstance(payload, dict) and ("segmenter" in payload or any(".bn_0." in str(k) for k in payload))
            else "expected a file written by `amf-edge train` or `amf-edge import-reference`"
        )
        raise AmfEdgeError(f"{path} is not an amf-edge checkpoint; {hint}")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise AmfEdgeError(
            f"{path} has checkpoint format {payload['format_version']}, newer than this amf-edge reads "
            f"({FORMAT_VERSION}); upgrade amf-edge"
        )
    return payload
