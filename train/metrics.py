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


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else None
