"""Depth fallback: keep segmenting when the depth sensor fails (sunlight, glass, range limits, a loose cable).

AsymFusion has a head per modality beside the ensemble. A model trained with depth dropout (`data.depth_dropout`)
segments from RGB alone with its RGB head, which the export hands out as `labels_rgb`. Per frame the runtime
measures the share of pixels with a depth measurement (after invalid values became 0: amf_edge.sample); below
`enter` it hands the RGB head's labels on as `labels`, and it returns to the ensemble once the share has stayed
above `leave` for `settle` frames. The gap and the wait are the hysteresis: a sensor flickering around one
threshold would make the labels flicker between heads. A model with a depth gate (ModelConfig.depth_gate) enters
at its gate, where its RGB branch stops fusing depth. docs/results/depth-failure.md has the measurements the
thresholds come from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amf_edge.contract import ModelContract
from amf_edge.errors import AmfEdgeError

MODES = ("auto", "off")
RGB_LABELS = "labels_rgb"
FALLBACK_NOTE = "depth lost: RGB head only"  # drawn on the overlay of every frame on fallback
# Outputs that describe the ensemble's labels: wrong beside the RGB head's, so they are left out on fallback
# (sinks then draw the overlay from the labels they get).
ENSEMBLE_ONLY = ("confidence", "overlay", "logits")


@dataclass(frozen=True)
class FallbackPolicy:
    enter: float = 0.4  # fall back below this share of valid depth pixels
    leave: float = 0.6  # go back to the ensemble above this share ...
    settle: int = 5  # ... held for this many frames in a row

    def __post_init__(self) -> None:
        if not 0 <= self.enter <= self.leave <= 1 or self.settle < 1:
            raise AmfEdgeError(f"depth fallback thresholds: expected 0 ≤ enter ≤ leave ≤ 1 and settle ≥ 1, got {self}")

    @classmethod
    def for_gate(cls, gate: float) -> FallbackPolicy:
        """The default policy for a model whose depth gate is `gate` (ModelConfig.depth_gate; 0: none). A gated model
        falls back where its gate closes: from there on its RGB branch runs without depth, so the RGB head's labels
        are an RGB network's, while above it the ensemble uses what depth is left."""
        if not gate:
            return cls()
        return cls(enter=gate, leave=max(cls.leave, min(1.0, gate + 0.2)))


def valid_depth_share(depth_m: np.ndarray) -> float:
    """The share of pixels with a measurement in a depth map in metres (0 = none)."""
    return float(np.count_nonzero(depth_m)) / max(1, depth_m.size)


class DepthFallback:
    """Decides frame by frame which head's labels the runtime hands out; counts what it did.

    `mode` "off" always hands out the ensemble; "auto" falls back where the model has the RGB head's labels.
    Frames whose depth failed are counted either way, so a summary says when a fallback would have been needed.
    """

    def __init__(self, mode: str, contract: ModelContract, policy: FallbackPolicy | None = None):
        if mode not in MODES:
            raise AmfEdgeError(f"--depth-fallback {mode!r}: expected one of {', '.join(MODES)}")
        gate = (contract.metadata.get("model_config") or {}).get("depth_gate") or 0.0
        self.mode, self.policy = mode, policy or FallbackPolicy.for_gate(gate)
        self.available = RGB_LABELS in contract.outputs
        self.enabled = mode == "auto" and self.available
        # a model trained without depth dropout has an RGB head that fails without depth too (the summary says so)
        self.trained_for_it = bool(contract.metadata.get("depth_dropout"))
        self.active = False
        self._good = 0  # frames in a row above `leave` while active
        self.failed_frames = self.fallback_frames = self.switches = 0

    def update(self, depth_m: np.ndarray) -> bool:
        """Take one frame's model depth (metres); whether its labels come from the RGB head."""
        share = valid_depth_share(depth_m)
        failed = share < self.policy.enter
        self.failed_frames += failed
        if not self.enabled:
            return False
        if not self.active and failed:
            self.active, self._good = True, 0
            self.switches += 1
        elif self.active:
            self._good = self._good + 1 if share > self.policy.leave else 0
            if self._good >= self.policy.settle:
                self.active = False
                self.switches += 1
        self.fallback_frames += self.active
        return self.active

    @staticmethod
    def apply(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One frame's outputs with the RGB head's labels as `labels` (and nothing that describes the ensemble)."""
        chosen = {k: v for k, v in outputs.items() if k not in ENSEMBLE_ONLY}
        chosen["labels"] = outputs[RGB_LABELS]
        return chosen

    def stats(self) -> dict:
        return {"mode": self.mode, "available": self.available, "enter": self.policy.enter,
                "leave": self.policy.leave, "depth_failed_frames": self.failed_frames,
                "fallback_frames": self.fallback_frames, "switches": self.switches,
                "trained_with_depth_dropout": self.trained_for_it}


def describe(stats: dict) -> str | None:
    """A line for the run's summary, or None when depth never failed."""
    if not stats.get("depth_failed_frames"):
        return None
    failed = stats["depth_failed_frames"]
    head = f"depth failed on {failed} frames (under {stats['enter']:.0%} of pixels valid)"
    if stats["mode"] == "off":
        return f"{head}; --depth-fallback off: the ensemble's labels throughout"
    if not stats["available"]:
        return (f"warning: {head}, and the model has no {RGB_LABELS} output to fall back to: export it again "
                "(amf-edge export's default outputs include it)")
    line = f"{head}: {stats['fallback_frames']} frames on the RGB head's labels ({stats['switches']} switches)"
    if not stats["trained_with_depth_dropout"]:
        line += ("; warning: the model was not trained with depth dropout, so its RGB head does no better without "
                 "depth (train with data.depth_dropout, docs/results/depth-failure.md)")
    return line
