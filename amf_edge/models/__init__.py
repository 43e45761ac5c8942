"""PyTorch models. Importing this package imports torch; the runtime never does."""

from __future__ import annotations

from amf_edge.models.network import (
    DEFAULT_OUTPUT_STRIDE,
    HEADS,
    OUTPUT_STRIDES,
    AsymFusion,
    labels_from_logits,
    scores_at_stride,
    to_input_size,
    upsample_logits,
)
from amf_edge.presets import get_preset

__all__ = ["DEFAULT_OUTPUT_STRIDE", "HEADS", "OUTPUT_STRIDES", "AsymFusion", "build_model", "labels_from_logits",
           "scores_at_stride", "to_input_size", "upsample_logits"]


def build_model(name: str, *, num_classes: int, **overrides) -> AsymFusion:
    """Build a preset by name, e.g. `build_model("asymfusion-r18", num_classes=40, fusion="shuffle")`.

    Keyword overrides change `ModelConfig` fields (the ablation switches); an unknown preset or field
    raises `AmfEdgeError` listing the valid ones.
    """
    return AsymFusion(get_preset(name, num_classes=num_classes, **overrides))
