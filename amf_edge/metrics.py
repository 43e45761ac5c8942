"""Segmentation metrics from a confusion matrix (numpy), as the official evaluation computes them."""

from __future__ import annotations

import numpy as np


def confusion_matrix(prediction: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """K×K counts, rows = ground truth, columns = prediction, over pixels with target < K (255 = ignore)."""
    valid = target < num_classes
    index = target[valid].astype(np.int64) * num_classes + prediction[valid].astype(np.int64)
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores(confusion: np.ndarray) -> dict:
    """Pixel accuracy, mean (per-class) accuracy, mIoU and per-class IoU, as fractions.

    A class that is neither in the ground truth nor predicted has IoU 0/0: it is None (NaN) and left
    out of the means, as the official `getScores` does with nanmean.
    """
    confusion = confusion.astype(np.float64)
    tp = np.diag(confusion)
    gt, pred = confusion.sum(1), confusion.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = tp / gt
        iou = tp / (gt + pred - tp)
    total = confusion.sum()
    return {
        "pixel_acc": float(tp.sum() / total) if total else None,
        "mean_acc": _nanmean(accuracy),
        "miou": _nanmean(iou),
        "iou": [None if np.isnan(v) else float(v) for v in iou],
    }


def score_predictions(predict, dataset, num_classes: int, *, limit: int | None = None, progress: str | None = None,
                      on_prediction=None) -> dict:
    """Scores per head of any predictor: `predict(sample) -> {head: uint8 labels at the sample's size}`.

    Shared by checkpoints (PyTorch), exported models (ONNX Runtime) and the quantizer's sensitivity pass,
    so every number in a comparison comes from the same counting. `on_prediction(i, sample, labels)`
    sees every prediction (e.g. to save pictures); `progress` names a tqdm bar.
    """
    count = len(dataset) if limit is None else min(limit, len(dataset))
    indices = range(count)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=progress, unit="img")
    confusion: dict[str, np.ndarray] = {}
    for i in indices:
        sample = dataset[i]
        predictions = predict(sample)
        for head, labels in predictions.items():
            c = confusion.setdefault(head, np.zeros((num_classes, num_classes), np.int64))
            c += confusion_matrix(labels, sample.label, num_classes)
        if on_prediction is not None:
            on_prediction(i, sample, predictions)
    return {"images": count, "heads": {head: {**scores(c), "confusion": c.tolist()} for head, c in confusion.items()}}


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else None
