"""Evaluate a model on a dataset: confusion matrices and scores for every head.

Protocols:
  official: the official AsymFusion evaluation: each image at full resolution, one scale, logits
            upsampled with OpenCV bicubic interpolation, argmax;
  fast:     the same inputs, logits upsampled bilinearly on the model's device (no host round trip).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from amf_edge.datasets import Dataset
from amf_edge.metrics import score_predictions
from amf_edge.models import AsymFusion, upsample_logits
from amf_edge.preprocess import PreprocessSpec
from amf_edge.sample import RGBDSample

PROTOCOLS = ("official", "fast")


@torch.no_grad()
def evaluate(model: AsymFusion, dataset: Dataset, spec: PreprocessSpec, *, protocol: str = "fast",
             device: torch.device | str = "cpu", limit: int | None = None, progress: bool = False,
             on_prediction: Callable[[int, RGBDSample, dict[str, np.ndarray]], None] | None = None) -> dict:
    """Scores per head ({"rgb", "depth", "ensemble"} or a single-modality model's heads).

    `on_prediction(i, sample, labels_per_head)` sees every prediction (e.g. to save pictures).
    """
    was_training = model.training
    model.eval()
    try:
        result = score_predictions(lambda sample: predict(model, sample, spec, protocol=protocol, device=device),
                                   dataset, model.config.num_classes, limit=limit,
                                   progress=f"eval ({protocol})" if progress else None, on_prediction=on_prediction)
    finally:
        model.train(was_training)
    return {"protocol": protocol, **result}


def predict(model: AsymFusion, sample: RGBDSample, spec: PreprocessSpec, *, protocol: str,
            device) -> dict[str, np.ndarray]:
    """uint8 label maps at the sample's resolution, per head."""
    rgb, depth = (torch.from_numpy(a).to(device) for a in spec(sample.rgb, sample.depth_m()))
    heads = model.forward_heads(rgb, depth)
    h, w = sample.size
    if protocol == "fast":
        return {name: upsample_logits(logits.float(), (h, w)).argmax(1)[0].to(torch.uint8).cpu().numpy()
                for name, logits in heads.items()}
    if protocol == "official":
        from amf_edge.lazy import require_module

        cv2 = require_module("cv2", "the official protocol upsamples with OpenCV")
        out = {}
        for name, logits in heads.items():
            chw = logits[0].float().cpu().numpy()
            hwc = cv2.resize(np.ascontiguousarray(chw.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_CUBIC)
            out[name] = hwc.reshape(h, w, -1).argmax(2).astype(np.uint8)
        return out
    from amf_edge.errors import AmfEdgeError

    raise AmfEdgeError(f"unknown evaluation protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}")


def format_scores(result: dict, class_names: tuple[str, ...] | None = None) -> str:
    """A small table: one row per head."""
    lines = [f"{'head':<10} {'pixel acc':>9} {'mean acc':>9} {'mIoU':>7}   "
             f"({result['images']} images, {result['protocol']} protocol)"]
    for head, s in result["heads"].items():
        lines.append(f"{head:<10} {_pct(s['pixel_acc']):>9} {_pct(s['mean_acc']):>9} {_pct(s['miou']):>7}")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"
