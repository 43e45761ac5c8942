"""Named model presets (numpy-only): a small registry from a name to a `ModelConfig`.

`asymfusion-r50/r101/r152` are the official architecture (Bottleneck ResNet + 3×3 RefineNet);
`asymfusion-r18/r34` are our edge presets (BasicBlock ResNet + light-weight RefineNet decoder, fusion
boundaries on multiples of 8 channels).
"""

from __future__ import annotations

from amf_edge.config import ModelConfig
from amf_edge.errors import AmfEdgeError

_PRESETS: dict[str, dict] = {}


def register_preset(name: str, **fields) -> None:
    if name in _PRESETS:
        raise ValueError(f"preset {name!r} is registered twice")
    _PRESETS[name] = fields


def preset_names() -> list[str]:
    return sorted(_PRESETS, key=lambda n: (len(n), n))


def get_preset(name: str, *, num_classes: int, **overrides) -> ModelConfig:
    """The config of preset `name` for `num_classes` classes, with optional field overrides (ablations)."""
    try:
        fields = _PRESETS[name]
    except KeyError:
        raise AmfEdgeError(f"unknown preset {name!r}; valid presets: {', '.join(preset_names())}") from None
    return ModelConfig(**fields, num_classes=num_classes).replace(**overrides)


for _depth in (50, 101, 152):
    register_preset(f"asymfusion-r{_depth}", backbone=f"resnet{_depth}", decoder="refinenet")
# The edge presets split the fused channels on multiples of 8 (fusion_align): no worse on the synthetic ablation
# budget (docs/results/fusion-align.md), and GPU slices and concatenations stay aligned.
for _depth in (18, 34):
    register_preset(f"asymfusion-r{_depth}", backbone=f"resnet{_depth}", decoder="light-refinenet", decoder_width=128,
                    fusion_align=8)
