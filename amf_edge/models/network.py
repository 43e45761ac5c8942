"""The AsymFusion network: shared encoder with fusion, shared decoder, learned ensemble."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from amf_edge.config import MODALITIES, ModelConfig
from amf_edge.errors import AmfEdgeError
from amf_edge.models.decoder import build_decoder
from amf_edge.models.encoder import ResNetEncoder

HEADS = (*MODALITIES, "ensemble")


class AsymFusion(nn.Module):
    """AsymFusion (Wang et al., ACM MM 2020) for RGB-D semantic segmentation.

    Inputs are preprocessed float tensors (see `amf_edge.preprocess.PreprocessSpec`): rgb N×3×H×W,
    ImageNet-normalised, and depth N×1×H×W in model units. Outputs are logits at stride 4,
    N×K×⌈H/4⌉×⌈W/4⌉; `upsample_logits` resizes them to the input size.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = ResNetEncoder(config)
        self.decoder = build_decoder(config, self.encoder.out_channels)
        # Ensemble weights over the modality heads, softmax-normalised; ones as in the official code.
        self.alpha = nn.Parameter(torch.ones(len(config.modalities)))

    @property
    def heads(self) -> tuple[str, ...]:
        """Names of the outputs of `forward_heads`: each modality's head, then "ensemble"."""
        return (*self.config.modalities, "ensemble")

    def forward_heads(self, rgb: torch.Tensor, depth: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits of each modality's head ("rgb", "depth") and their learned "ensemble".

        A single-modality model ignores the other input and returns its head and an "ensemble" equal
        to it, so every model has the same interface.
        """
        check_inputs(rgb, depth)
        modalities = self.config.modalities
        # The official recipe replicates depth to 3 channels and feeds it to the shared RGB stem.
        inputs = {"rgb": rgb, "depth": depth.expand(-1, 3, -1, -1)}
        features = self.encoder({m: inputs[m] for m in modalities})
        # The decoder is shared and has no BatchNorm, so one pass over both modalities stacked on the
        # batch axis computes exactly the two per-modality passes, with half the kernel launches.
        stacked = [torch.cat([f[m] for m in modalities]) for f in features]
        heads = dict(zip(modalities, self.decoder(stacked).split(rgb.shape[0])))
        # Detached: the ensemble loss trains only alpha, never the branches (as in the official code).
        weights = torch.softmax(self.alpha, dim=0)
        heads["ensemble"] = sum(weights[i] * heads[m].detach() for i, m in enumerate(modalities))
        return heads

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Ensemble logits at stride 4 (the model's fused prediction)."""
        return self.forward_heads(rgb, depth)["ensemble"]


def check_inputs(rgb: torch.Tensor, depth: torch.Tensor) -> None:
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise AmfEdgeError(f"rgb: expected N×3×H×W, got {tuple(rgb.shape)}")
    if depth.ndim != 4 or depth.shape[1] != 1:
        raise AmfEdgeError(f"depth: expected N×1×H×W (one channel, model units), got {tuple(depth.shape)}")
    if rgb.shape[0] != depth.shape[0] or rgb.shape[2:] != depth.shape[2:]:
        raise AmfEdgeError(
            f"rgb is {tuple(rgb.shape)} but depth is {tuple(depth.shape)}; batch size, height and width "
            "must match (align depth to the colour camera)"
        )


def upsample_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of stride-4 logits to `size` (H, W), as the official training loss does."""
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
