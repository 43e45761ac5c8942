"""The AsymFusion network: shared encoder with fusion, shared decoder, learned ensemble."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from amf_edge.config import MODALITIES, ModelConfig
from amf_edge.errors import AmfEdgeError
from amf_edge.models.decoder import build_decoder
from amf_edge.models.encoder import ResNetEncoder
from amf_edge.models.fusion import depth_presence, ensemble

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
        present = depth_presence(depth, self.config.depth_gate)
        features = self.encoder({m: inputs[m] for m in modalities}, present)
        # The decoder is shared and has no BatchNorm, so one pass over both modalities stacked on the
        # batch axis computes exactly the two per-modality passes, with half the kernel launches.
        stacked = [torch.cat([f[m] for m in modalities]) for f in features]
        heads = dict(zip(modalities, self.decoder(stacked).split(rgb.shape[0])))
        # Detached: the ensemble loss trains only alpha, never the branches (as in the official code).
        weights = torch.softmax(self.alpha, dim=0)
        heads["ensemble"] = ensemble({m: heads[m].detach() for m in modalities}, weights, present)
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


# Where the argmax happens: on logits upsampled to the full input (1, the official protocol), to half of it
# (2), or on the network's own stride-4 logits (4); the labels are then repeated (nearest-neighbour) to the
# input size. Upsampling K class maps is memory-bound work that grows with K; repeating one label map is not.
OUTPUT_STRIDES = (1, 2, 4)
# Measured (docs/benchmarks.md, "Output stride"): at stride 4 asymfusion-r18 at 480×640 runs 11 % (FP32) and 23 %
# (INT8-CPU) faster with the default outputs than at stride 1, for 0.76 mIoU in the coarsest case (120×160 inputs).
DEFAULT_OUTPUT_STRIDE = 4


def scores_at_stride(logits: torch.Tensor, size: tuple[int, int], stride: int) -> torch.Tensor:
    """Stride-4 logits → the logits the argmax sees at `stride` of the input `size` (H, W)."""
    if stride not in OUTPUT_STRIDES:
        raise AmfEdgeError(f"output stride {stride}: expected one of {', '.join(map(str, OUTPUT_STRIDES))}")
    if stride == 4:
        return logits
    h, w = size
    return upsample_logits(logits, (-(-h // stride), -(-w // stride)))


def to_input_size(values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """N×1×h×w labels (or confidences) at a stride → N×H×W by nearest neighbour (no resize at full size).

    Four dimensions in (argmax/amax with keepdim): no Unsqueeze in the graph, which ONNX Runtime's quantizer's
    shape inference cannot follow here."""
    if tuple(values.shape[-2:]) != tuple(size):
        dtype = values.dtype
        # float: TensorRT resizes floats everywhere; class ids up to 255 are exact in float32
        values = F.interpolate(values.float(), size=size, mode="nearest").to(dtype)
    return values[:, 0]


def labels_from_logits(logits: torch.Tensor, size: tuple[int, int], stride: int = 1) -> torch.Tensor:
    """Class ids N×H×W (int64) from stride-4 logits, the argmax taken at `stride` (see OUTPUT_STRIDES)."""
    return to_input_size(scores_at_stride(logits, size, stride).argmax(1, keepdim=True), size)
