"""Which layers cost most accuracy when quantized, and how many to keep in float to stay within budget.

1. Score FP32 and the fully quantized variant on labelled validation data (ensemble mIoU).
2. If the drop exceeds the budget, rank the body's Convs: quantize everything except one Conv and
   measure how much of FP32's labels that recovers on a few probe frames (one variant per Conv; the
   calibration ranges come from the cache, so each costs a quantizer pass and a few inferences).
3. Keep the 1, 2, 4, ... most sensitive Convs in float until the drop is within budget.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from amf_edge.calibset import CalibrationSet
from amf_edge.convert.quantize import QuantizeOptions, make_variant, name_nodes, split_body
from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.metrics import score_predictions
from amf_edge.onnxrt import OnnxPredictor


def miou(path: Path, dataset, num_classes: int, limit: int | None) -> float:
    """Ensemble mIoU of an exported model, counted at the data's resolution."""
    return score_predictions(OnnxPredictor(path), dataset, num_classes, limit=limit)["heads"]["ensemble"]["miou"]


def find_kept_layers(src: Path, out: Path, options: QuantizeOptions, calib: CalibrationSet, cache: Path, val,
                     *, max_drop: float, limit: int | None = None, probe: int = 8, progress: bool = False) -> dict:
    """Quantize `src` into `out`, keeping the fewest most-sensitive Convs in float so the ensemble mIoU
    on `val` drops by at most `max_drop` points. Returns the report (scores, ranking, kept layers)."""
    onnx = require_module("onnx")
    k = val.labels.num_classes
    base = 100 * miou(src, val, k, limit)
    make_variant(src, out, options, calib=calib, cache=cache)
    scores = {0: 100 * miou(out, val, k, limit)}
    report = {"fp32_miou": base, "max_drop": max_drop, "steps": [{"kept": 0, "miou": scores[0]}], "ranking": []}
    if base - scores[0] <= max_drop:
        return {**report, "kept": [], "miou": scores[0]}
    model = onnx.load(str(src))
    name_nodes(model)
    convs = split_body(model).convs
    probes = [val[i] for i in range(min(probe, len(val)))]
    reference = [OnnxPredictor(src)(s)["ensemble"] for s in probes]
    trial = out.with_name(out.name + ".trial.onnx")
    recovered = {}
    for conv in _bar(convs, progress, "sensitivity"):
        make_variant(src, trial, replace(options, keep=(conv,)), calib=calib, cache=cache)
        predict = OnnxPredictor(trial)
        recovered[conv] = float(np.mean([(predict(s)["ensemble"] == r).mean() for s, r in zip(probes, reference)]))
    trial.unlink(missing_ok=True)
    ranking = sorted(convs, key=lambda c: -recovered[c])
    report["ranking"] = [{"node": c, "label_agreement_when_kept": recovered[c]} for c in ranking]
    n = 1
    while True:
        n = min(n, len(ranking))
        make_variant(src, out, replace(options, keep=tuple(ranking[:n])), calib=calib, cache=cache)
        scores[n] = 100 * miou(out, val, k, limit)
        report["steps"].append({"kept": n, "miou": scores[n]})
        if base - scores[n] <= max_drop:
            return {**report, "kept": ranking[:n], "miou": scores[n]}
        if n == len(ranking):
            raise AmfEdgeError(f"even with all {n} Convs in float the mIoU drops {base - scores[n]:.2f} points "
                               f"(budget {max_drop}); the loss is outside the Convs: use fp16, or calibrate on "
                               "frames closer to the deployment (`amf-edge calib collect`)")
        n *= 2


def _bar(items, progress: bool, desc: str):
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="layer")
