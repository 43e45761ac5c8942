"""Run logs on the main process: metrics.csv, TensorBoard events (scalars, per-class IoU, prediction pictures)."""

from __future__ import annotations

import csv
from pathlib import Path


class RunLogger:
    """Appends scalar rows to out/metrics.csv and out/tensorboard/; other ranks get a silent logger."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.enabled = enabled
        self._csv_path = out_dir / "metrics.csv"
        self._writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(out_dir / "tensorboard"))

    def log(self, step: int, values: dict[str, float], *, kind: str) -> None:
        """One row: `kind` ("train" or "val"), the global step and named scalars."""
        if not self.enabled:
            return
        for name, value in values.items():
            if value is not None:
                self._writer.add_scalar(f"{kind}/{name}", value, step)
        new = not self._csv_path.exists()
        with open(self._csv_path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["kind", "step", "name", "value"])
            writer.writerows([kind, step, name, value] for name, value in values.items())

    def log_classes(self, step: int, head: str, class_names: tuple[str, ...], iou: list[float | None]) -> None:
        """Per-class IoU of one head after an evaluation (TensorBoard only: metrics.csv keeps the means)."""
        if not self.enabled:
            return
        for name, value in zip(class_names, iou):
            if value is not None:  # a class neither present nor predicted has no IoU
                self._writer.add_scalar(f"val_iou_{head}/{name}", value, step)

    def log_image(self, step: int, tag: str, image) -> None:
        """One RGB uint8 H×W×3 picture (TensorBoard's Images tab)."""
        if self.enabled:
            self._writer.add_image(tag, image, step, dataformats="HWC")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
