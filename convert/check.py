"""Does a model compute what its source computes? `amf-edge check` and `amf-edge build --check`.

Both models run on the same frames through Polygraphy's runners and `Comparator` (convert/check_runners.py:
TensorRT for engine bundles, ONNX Runtime for ONNX files, quantized graphs in exact arithmetic), and the
outputs are compared as a segmentation user reads them:

- label agreement: the share of pixels whose class is the same on both sides, over all frames;
- class IoU agreement: per class, the IoU of the two sides' masks of that class, averaged over the classes
  either side predicts (a class that is rare but flipped shows here, not in the pixel share);
- logits: Polygraphy's comparison of the ensemble logits, frame by frame (max and mean |Δ|; its verdict for
  a tolerance on the mean |Δ| of `max_logit_error` × the reference's mean |logit|), where both sides give them;
- layer-wise (ONNX pairs, Polygraphy's marking of intermediate outputs): every Conv's output on both sides,
  matched by module path, as mean |Δ| over mean |reference|; the first Conv in graph order beyond
  `max_layer_error` is named: errors propagate downstream, so the first divergent Conv is where it went wrong;
- the frames that agree least; the mIoU of each side where the frames have ground truth.

Below a threshold the check fails; thresholds depend on the lower precision of the two (`THRESHOLDS`: a
correct fp16 or int8 variant of the tiny test models passes with margin, a Conv with perturbed weights fails).

Torch-free: it runs where the engine runs (Jetson: runtime + polygraphy + tensorrt).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from amf_edge.convert.check_runners import CONV, LABELS, LOGITS, Side, open_side, runner_for
from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.metrics import confusion_matrix, scores
from amf_edge.sample import RGBDSample
from amf_edge.transforms import resize_sample

LAYERWISE_FRAMES = 4  # every Conv's output is marked: a few frames say where two graphs part


@dataclass(frozen=True)
class Thresholds:
    min_label_agreement: float  # % of pixels with the same class
    min_iou_agreement: float  # % mean over classes of the IoU between the two sides' masks
    max_logit_error: float  # mean |Δ| of the logits over mean |logit| of the reference, on any frame
    max_layer_error: float  # the same ratio for each Conv's output (ONNX pairs)


# By the lower precision of the pair. The label floors come from the tiny untrained test models
# (tests/convert/test_check.py), whose small logit margins let int8 flip labels a trained model keeps: int8 94.9 %
# labels equal there, 99.6 % on the trained r18 (README: Verify). A correct int8 Conv stays below 0.19 relative
# error (trained r18), a perturbed one goes above 0.8.
THRESHOLDS = {
    "fp32": Thresholds(99.9, 99.5, 1e-3, 1e-3),
    "fp16": Thresholds(99.0, 97.0, 0.02, 0.02),
    "int8": Thresholds(90.0, 70.0, 0.25, 0.5),
    "int8-cpu": Thresholds(90.0, 70.0, 0.25, 0.5),
}
_ORDER = ("fp32", "fp16", "int8", "int8-cpu")  # later = lower precision


def default_thresholds(precision_a: str, precision_b: str) -> Thresholds:
    lower = max(precision_a, precision_b, key=lambda p: _ORDER.index(p) if p in _ORDER else len(_ORDER))
    return THRESHOLDS.get(lower, THRESHOLDS["int8"])


def _arithmetic(side: Side) -> str:
    """The precision a side computes in. TensorRT runs an FP32 network's convolutions in TF32 on Ampere and newer
    GPUs by default (10-bit mantissa products, like fp16), so an fp32 engine is held to fp16's thresholds."""
    return "fp16" if side.kind == "engine" and side.precision == "fp32" else side.precision


@dataclass
class CheckResult:
    model: str
    against: str
    against_sha256: str
    frames: int
    frames_from: str
    precision: tuple[str, str]
    label_agreement: float  # %
    iou_agreement: float  # %
    class_iou: dict[str, float | None]  # class name → % IoU between the sides' masks
    worst_frames: list[tuple[int, float]]  # (frame index, % labels equal), least agreeing first
    logits: dict[str, Any] | None  # {"max_abs", "mean_abs", "relative", "passed"}; None: a side has no logits
    miou: dict[str, float | None] | None  # side → % mIoU against ground truth
    thresholds: Thresholds
    layers: dict[str, Any] | None = None  # {"first": name or None, "errors": [(name, relative error)]}
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def summary(self) -> str:
        t = self.thresholds
        line = (f"{self.model} vs {self.against} on {self.frames} {self.frames_from} frames: "
                f"{self.label_agreement:.1f} % labels equal (min {t.min_label_agreement:g} %), class IoU agreement "
                f"{self.iou_agreement:.1f} % (min {t.min_iou_agreement:g} %)")
        if self.logits is not None:
            line += (f", logits max |Δ| {self.logits['max_abs']:.3g}, mean |Δ| {100 * self.logits['relative']:.2f} % "
                     f"of |logit| (max {100 * t.max_logit_error:g} %)")
        if self.passed:
            return line + ": agree"
        first = (self.layers or {}).get("first")
        return line + ": DISAGREE" + (f", first diverging Conv {first}" if first else "")

    def details(self, classes: int = 5) -> list[str]:
        lines = []
        if self.miou is not None:
            lines.append("mIoU on ground truth: " + ", ".join(
                f"{side} {v:.2f} %" if v is not None else f"{side} n/a" for side, v in self.miou.items()))
        if self.logits is None:
            lines.append("logits: not compared (a side gives labels only)")
        worst = sorted((v, k) for k, v in self.class_iou.items() if v is not None)[:classes]
        if worst:
            lines.append("least agreeing classes: " + ", ".join(f"{k} {v:.1f} %" for v, k in worst))
        lines.append("least agreeing frames: " + ", ".join(f"#{i} {v:.1f} %" for i, v in self.worst_frames))
        if self.layers is not None and self.layers["errors"]:
            name, error = max(self.layers["errors"], key=lambda t: t[1])
            lines.append(f"Convs compared: {len(self.layers['errors'])}, largest relative error {error:.3g} ({name}, "
                         f"max {self.thresholds.max_layer_error:g})")
        lines += [f"below threshold: {f}" for f in self.failures]
        return lines


def check_models(model: str | Path, against: str | Path, samples: Iterable[RGBDSample], *, frames_from: str,
                 limit: int | None = None, overrides: dict | None = None, layers: bool = True) -> CheckResult:
    """Run `model` and `against` on the same frames and compare; see the module docstring.

    Args:
        model, against: .onnx files or .engine bundles with the same input contract and classes.
        samples: sensor-level frames (labels optional), resized to the models' input size here.
        frames_from: what the frames are, for the report ("calib_data/synthetic-240x320").
        limit: at most this many frames.
        overrides: {Thresholds field: value} replacing the defaults of the precision pair.
        layers: compare every Conv's output too (ONNX pairs only; engines give their outputs only).

    Raises:
        AmfEdgeError: a file that is no amf-edge model, models with different contracts, no frames.
    """
    a, b = open_side(model), open_side(against)
    _check_same_contract(a, b)
    thresholds = replace(default_thresholds(_arithmetic(a), _arithmetic(b)), **(overrides or {}))
    feeds, truth = _feeds(a, samples, limit)
    names = [n for n in (LABELS, LOGITS) if n in a.tensors and n in b.tensors]
    ra, rb = _run(a, b, names, feeds)
    labels_a, labels_b = ra[LABELS], rb[LABELS]
    agreement = [100.0 * float(np.mean(x == y)) for x, y in zip(labels_a, labels_b)]
    classes = list(a.contract.labels.names)
    confusion = sum(confusion_matrix(x, y, len(classes)) for x, y in zip(labels_a, labels_b))
    class_iou = {n: (None if v is None else 100.0 * v) for n, v in zip(classes, scores(confusion)["iou"])}
    present = [v for v in class_iou.values() if v is not None]
    result = CheckResult(
        model=a.name, against=b.name, against_sha256=b.sha256, frames=len(feeds), frames_from=frames_from,
        precision=(a.precision, b.precision), label_agreement=float(np.mean(agreement)),
        iou_agreement=float(np.mean(present)) if present else 100.0, class_iou=class_iou,
        worst_frames=sorted(enumerate(agreement), key=lambda t: t[1])[:3],
        logits=_compare_logits(ra[LOGITS], rb[LOGITS], thresholds.max_logit_error) if LOGITS in names else None,
        miou=_miou(labels_a, labels_b, truth, len(classes), a.name, b.name), thresholds=thresholds)
    if layers and a.kind == b.kind == "onnx":
        result.layers = _layerwise(a, b, feeds[:LAYERWISE_FRAMES], thresholds.max_layer_error)
    result.failures = _failures(result)
    return result


def _check_same_contract(a: Side, b: Side) -> None:
    ca, cb = a.contract, b.contract
    problems = []
    if (ca.height, ca.width) != (cb.height, cb.width):
        problems.append(f"input {ca.height}×{ca.width} vs {cb.height}×{cb.width}")
    if ca.channel_order != cb.channel_order:
        problems.append(f"channel order {ca.channel_order} vs {cb.channel_order}")
    if list(ca.labels.names) != list(cb.labels.names):
        problems.append(f"{len(ca.labels.names)} vs {len(cb.labels.names)} classes")
    if ca.dynamic or cb.dynamic:
        problems.append("symbolic input sizes (`export --dynamic`): export both at the camera's size")
    if problems:
        raise AmfEdgeError(f"{a.name} and {b.name} do not take and give the same things ({'; '.join(problems)}); "
                           "compare a variant or engine with the export it was made from")


def _feeds(side: Side, samples: Iterable[RGBDSample], limit: int | None):
    c = side.contract
    feeds, truth = [], []
    for sample in samples:
        if limit is not None and len(feeds) >= limit:
            break
        if sample.size != (c.height, c.width):
            sample = resize_sample(sample, c.height, c.width)
        feeds.append(c.inputs(sample))
        truth.append(sample.label)
    if hasattr(samples, "close"):  # a generator over a camera or recording: release it now, not at GC
        samples.close()
    if not feeds:
        raise AmfEdgeError("no frames to compare on: the frame source yielded none; check --frames/--source/--data")
    return feeds, truth if all(t is not None for t in truth) else None


@contextlib.contextmanager
def _quiet_polygraphy():
    """Polygraphy logs every activation and each failing frame as an error; the check prints its own report."""
    logger = require_module("polygraphy.logger", "comparing models with Polygraphy").G_LOGGER
    with logger.verbosity(logger.CRITICAL):
        yield


def _run(a: Side, b: Side, outputs: list[str], feeds: list[dict]) -> tuple[dict, dict]:
    """Both sides through Polygraphy's Comparator; per side {canonical name: [array per frame]}."""
    comparator = require_module("polygraphy.comparator", "comparing models with Polygraphy")
    with _quiet_polygraphy():
        runners = [runner_for(a, "model", outputs), runner_for(b, "against", outputs)]
        results = comparator.Comparator.run(runners, data_loader=feeds)
    out = []
    for side, (_, iterations) in zip((a, b), results):
        canonical = {tensor: name for name, tensor in side.tensors.items() if name in outputs}
        per: dict[str, list] = {name: [] for name in outputs}
        for iteration in iterations:
            for tensor, value in iteration.items():
                if tensor in canonical:
                    per[canonical[tensor]].append(np.asarray(value))
        missing = [n for n, v in per.items() if len(v) != len(feeds)]
        if missing:
            raise AmfEdgeError(f"{side.name} gave no {', '.join(missing)}; expected a model from `amf-edge export`")
        out.append(per)
    return out[0], out[1]


def _compare_logits(model: list[np.ndarray], against: list[np.ndarray], max_error: float) -> dict[str, Any]:
    """Polygraphy's simple comparison of the logits, frame by frame, on the mean |Δ|, with a tolerance relative
    to the reference's scale (an untrained model's logits are a hundred times smaller than a trained one's)."""
    comparator = require_module("polygraphy.comparator", "comparing models with Polygraphy")
    scale = float(np.mean([np.mean(np.abs(v.astype(np.float64))) for v in against])) or 1.0
    run = comparator.RunResults()
    for name, values in (("model", model), ("against", against)):
        run.append((name, [comparator.IterationResult({LOGITS: np.asarray(v, np.float32)}, runner_name=name)
                           for v in values]))
    make = getattr(comparator, "SimpleCompareFunc", None) or comparator.CompareFunc.simple
    with _quiet_polygraphy():
        accuracy = comparator.Comparator.compare_accuracy(
            run, compare_func=make(atol=max_error * scale, rtol=0.0, check_error_stat="mean"))
    # Polygraphy ≥ 0.53 returns one AccuracyResult per compare function, older versions the result itself
    result = accuracy if hasattr(accuracy, "keys") else accuracy[0]
    frames = [iteration[LOGITS] for iteration in next(iter(result.values()))]
    mean_abs = float(np.mean([f.mean_absdiff for f in frames]))
    return {"max_abs": float(max(f.max_absdiff for f in frames)), "mean_abs": mean_abs,
            "relative": mean_abs / scale, "passed": all(bool(f) for f in frames)}


def _miou(labels_a, labels_b, truth, k: int, name_a: str, name_b: str) -> dict[str, float | None] | None:
    if truth is None:
        return None
    out = {}
    for name, labels in ((name_a, labels_a), (name_b, labels_b)):
        value = scores(sum(confusion_matrix(x[0], t, k) for x, t in zip(labels, truth)))["miou"]
        out[name] = None if value is None else 100.0 * value
    return out


def _layerwise(a: Side, b: Side, feeds: list[dict], max_error: float) -> dict[str, Any]:
    """Mark every Conv both graphs have (by module path): relative error of each, in the reference's graph order."""
    common = [name for name in b.convs if name in a.convs]
    if not common:
        return {"first": None, "errors": []}
    outputs = [CONV + name for name in common]
    ra, rb = _run(a, b, outputs, feeds)
    errors = []
    for name in outputs:
        x = np.stack(ra[name]).astype(np.float64)
        y = np.stack(rb[name]).astype(np.float64)
        errors.append((name[len(CONV):], float(np.mean(np.abs(x - y)) / (np.mean(np.abs(y)) or 1.0))))
    return {"first": next((n for n, e in errors if e > max_error), None), "errors": errors}


def _failures(r: CheckResult) -> list[str]:
    t, out = r.thresholds, []
    if r.label_agreement < t.min_label_agreement:
        out.append(f"labels equal {r.label_agreement:.2f} % < {t.min_label_agreement:g} % (--min-label-agreement)")
    if r.iou_agreement < t.min_iou_agreement:
        out.append(f"class IoU agreement {r.iou_agreement:.2f} % < {t.min_iou_agreement:g} % (--min-iou-agreement)")
    if r.logits is not None and not r.logits["passed"]:
        out.append(f"logits mean |Δ| {100 * r.logits['relative']:.2f} % of |logit| on average, above "
                   f"{100 * t.max_logit_error:g} % on some frame (--max-logit-error)")
    if r.layers is not None and r.layers["first"] is not None:
        error = dict(r.layers["errors"])[r.layers["first"]]
        out.append(f"first diverging Conv: {r.layers['first']} (relative error {error:.3g} > {t.max_layer_error:g}; "
                   "--max-layer-error)")
    return out


def record_check(engine_path: str | Path, result: CheckResult) -> None:
    """Write the result into the engine bundle's sidecar, where `amf-edge run` reads it when it loads the engine."""
    from amf_edge import __version__
    from amf_edge.bundle import read_bundle, write_bundle

    bundle = read_bundle(engine_path)
    bundle.check = {**result.to_dict(), "amf_edge": __version__}
    write_bundle(bundle)
