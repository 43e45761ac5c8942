"""Typed model configuration (numpy-only: the runtime reads it from model metadata without torch).

A `ModelConfig` fully determines the network's structure. It is saved with every checkpoint, ONNX file
and engine bundle, so an artifact can always be traced back to the exact architecture that made it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from amf_edge.errors import AmfEdgeError

MODALITIES: tuple[str, ...] = ("rgb", "depth")
"""Modality order: the ensemble weight `alpha[i]` belongs to `MODALITIES[i]`."""

BACKBONES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    # name: (block type, blocks per stage)
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)
"""Bottleneck (or BasicBlock) width C of stages 1-4: the channels that shuffle and shift act on."""

FUSIONS = ("shuffle+shift", "shuffle", "shift", "none")
ENCODERS = ("shared", "separate")
BATCHNORMS = ("private", "shared")
DECODERS = ("refinenet", "light-refinenet")
FUSION_ALIGNS = (1, 8)


def _choice(field_name: str, value: object, valid: tuple) -> None:
    if value not in valid:
        raise AmfEdgeError(f"model config {field_name}={value!r} is not valid; "
                           f"choose one of: {', '.join(map(str, valid))}")


@dataclass(frozen=True)
class ModelConfig:
    """Structure of an AsymFusion network.

    Attributes:
        backbone: ResNet depth, a key of `BACKBONES`.
        decoder: "refinenet" (the official 3×3 RefineNet with RCUs) or "light-refinenet" (1×1, no RCU).
        num_classes: output classes.
        fusion: which parameter-free cross-modal exchange fuses the branches: "shuffle+shift" (the
            paper), "shuffle" or "shift" alone, or "none" (shared network with private BN only).
        encoder: "shared" convolution weights for both modalities (the paper) or "separate" encoders.
        batchnorm: "private" BN per modality (the paper) or one "shared" BN.
        fusion_stages: ResNet stages (1-4) whose last block fuses; the paper fuses all four.
        decoder_width: channels of the light decoder (ignored by "refinenet", whose widths are fixed).
        dropout: dropout probability on the two coarsest encoder maps and before the classifier.
        modalities: the input branches: both (AsymFusion) or one, for the single-modality baselines
            of the ablation ("rgb" or "depth" alone: a plain ResNet + decoder, no fusion).
        fusion_align: 1 splits each fused block's channels as the paper (g = C // 5); 8 puts the shift
            groups' boundaries on multiples of 8 and so the shuffle's (s = 4g) on multiples of 32
            (amf_edge.models.fusion.split_channels).
        depth_gate: 0 (the paper) fuses every sample; above 0, a sample with less than this share of its depth
            pixels measured fuses nothing into the RGB branch, which then runs as a plain RGB network
            (amf_edge.models.fusion, `present`), and its ensemble is the RGB head. Meant for training with depth
            dropout (data.depth_dropout): the RGB head then learns to segment alone, and the runtime's depth
            fallback gets that head.
    """

    backbone: str
    decoder: str
    num_classes: int
    fusion: str = "shuffle+shift"
    encoder: str = "shared"
    batchnorm: str = "private"
    fusion_stages: tuple[int, ...] = (1, 2, 3, 4)
    decoder_width: int = 128
    dropout: float = 0.5
    modalities: tuple[str, ...] = MODALITIES
    fusion_align: int = 1
    depth_gate: float = 0.0

    def __post_init__(self) -> None:
        _choice("backbone", self.backbone, tuple(BACKBONES))
        _choice("decoder", self.decoder, DECODERS)
        _choice("fusion", self.fusion, FUSIONS)
        _choice("encoder", self.encoder, ENCODERS)
        _choice("batchnorm", self.batchnorm, BATCHNORMS)
        if not isinstance(self.num_classes, int) or not 1 <= self.num_classes <= 254:
            raise AmfEdgeError(
                f"model config num_classes={self.num_classes!r}; expected an integer from 1 to 254 "
                "(labels are uint8 and 255 means 'ignore')"
            )
        stages = tuple(self.fusion_stages)
        if any(s not in (1, 2, 3, 4) for s in stages) or len(set(stages)) != len(stages):
            raise AmfEdgeError(
                f"model config fusion_stages={self.fusion_stages!r}; "
                "expected distinct stages from 1 to 4, e.g. (1, 2, 3, 4)"
            )
        object.__setattr__(self, "fusion_stages", tuple(sorted(stages)))
        modalities = tuple(self.modalities)
        if not modalities or any(m not in MODALITIES for m in modalities) or len(set(modalities)) != len(modalities):
            raise AmfEdgeError(
                f"model config modalities={self.modalities!r}; expected 'rgb', 'depth' or both, e.g. ('rgb', 'depth')"
            )
        object.__setattr__(self, "modalities", tuple(m for m in MODALITIES if m in modalities))
        if not 0 <= self.depth_gate <= 1:
            raise AmfEdgeError(f"model config depth_gate={self.depth_gate!r}; expected a share of depth pixels from 0 "
                               "(off, the paper) to 1, e.g. 0.4")
        if self.depth_gate and (len(self.modalities) == 1 or self.fusion == "none"):
            raise AmfEdgeError(f"model config depth_gate={self.depth_gate}: it gates the fusion of depth into RGB, but "
                               "this model fuses nothing; set depth_gate to 0")
        if len(self.modalities) == 1 and self.fusion != "none":
            raise AmfEdgeError(
                f"a single-modality model ({self.modalities[0]} only) has nothing to fuse, but fusion={self.fusion!r}; "
                "set fusion to 'none'"
            )
        _choice("fusion_align", self.fusion_align, FUSION_ALIGNS)
        if self.decoder_width < 8:
            raise AmfEdgeError(f"model config decoder_width={self.decoder_width}; expected at least 8 channels")
        if not 0.0 <= self.dropout < 1.0:
            raise AmfEdgeError(f"model config dropout={self.dropout}; expected a probability in [0, 1)")

    @property
    def block(self) -> str:
        return BACKBONES[self.backbone][0]

    @property
    def blocks_per_stage(self) -> tuple[int, int, int, int]:
        return BACKBONES[self.backbone][1]

    def fuses(self, stage: int) -> bool:
        return self.fusion != "none" and stage in self.fusion_stages

    def replace(self, **changes) -> ModelConfig:
        """A copy with some fields changed; unknown field names are an error."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise AmfEdgeError(
                f"unknown model config field(s) {', '.join(sorted(unknown))}; valid fields: "
                + ", ".join(f.name for f in dataclasses.fields(self))
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["fusion_stages"] = list(self.fusion_stages)
        d["modalities"] = list(self.modalities)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        for key in ("fusion_stages", "modalities"):
            if key in d:
                d[key] = tuple(d[key])
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - valid
        if unknown:
            raise AmfEdgeError(
                f"model config has unknown field(s) {', '.join(sorted(unknown))}; it was probably written by a "
                "newer amf-edge: upgrade amf-edge to read it"
            )
        return cls(**d)
