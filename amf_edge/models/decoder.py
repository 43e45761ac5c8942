"""RefineNet decoders, shared by the modalities (no BatchNorm, so one module serves both).

`refinenet` is the official decoder (DrSleep's RefineNet port as AsymFusion uses it): 3×3 convs,
residual conv units (RCU) and 4-stage chained residual pooling (CRP), 75.6 M parameters for a
2048-channel ResNet. `light-refinenet` is our edge decoder in the spirit of Light-Weight RefineNet
(Nekrasov et al., BMVC 2018): the same data flow with 1×1 convs, no RCUs and one uniform width.
Both predict at stride 4; upsampling to the input size is left to the caller.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from amf_edge.config import ModelConfig


def _conv(cin: int, cout: int, kernel: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias)


class ResidualConvUnit(nn.Module):
    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.conv_a = _conv(channels, channels, kernel, bias=True)
        self.conv_b = _conv(channels, channels, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The official code applies an in-place ReLU to the tensor it keeps as the residual, so its skip
        # carries ReLU(x), not x as in the RefineNet paper. We reproduce that on purpose: imported
        # official weights then compute exactly the function they were trained as.
        x = torch.relu(x)
        return x + self.conv_b(torch.relu(self.conv_a(x)))


class ChainedResidualPool(nn.Module):
    def __init__(self, channels: int, kernel: int, stages: int = 4):
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=5, stride=1, padding=2)
        self.convs = nn.ModuleList(_conv(channels, channels, kernel) for _ in range(stages))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = x
        for conv in self.convs:
            top = conv(self.pool(top))
            x = x + top
        return x


def _rcu_chain(channels: int, blocks: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(*(ResidualConvUnit(channels, kernel) for _ in range(blocks)))


class RefinePath(nn.Module):
    """One refinement level: reduce an encoder map, merge the coarser level, pool and refine."""

    def __init__(self, cin: int, width: int, cout: int | None, *, takes_coarser: bool, kernel: int,
                 rcu: tuple[int, int]):
        super().__init__()
        self.reduce = _conv(cin, width, kernel)
        self.adapt = _rcu_chain(width, rcu[0], kernel)
        self.merge = _conv(width, width, kernel) if takes_coarser else None
        self.pool = ChainedResidualPool(width, kernel)
        self.refine = _rcu_chain(width, rcu[1], kernel)
        self.out = _conv(width, cout, kernel) if cout is not None else None

    def forward(self, x: torch.Tensor, coarser: torch.Tensor | None = None) -> torch.Tensor:
        x = self.adapt(self.reduce(x))
        if self.merge is not None:
            up = F.interpolate(coarser, size=x.shape[-2:], mode="bilinear", align_corners=True)
            x = self.merge(x) + up
        x = self.refine(self.pool(torch.relu(x)))
        return x if self.out is None else self.out(x)


class RefineNetDecoder(nn.Module):
    """Four `RefinePath`s from the coarsest encoder map to the finest, then a 3×3 classifier.

    Args:
        in_channels: encoder channels, finest (stride 4) first.
        widths: path widths, finest first; each path's output conv maps to the next finer width.
        kernel: 3 for RefineNet, 1 for the light-weight variant.
        rcu: RCU blocks before and after the pooling in each path.
    """

    def __init__(self, in_channels: tuple[int, ...], widths: tuple[int, ...], num_classes: int, *,
                 kernel: int, rcu: tuple[int, int], dropout: float):
        super().__init__()
        coarse_first = list(zip(reversed(in_channels), reversed(widths)))
        self.paths = nn.ModuleList(
            RefinePath(cin, width, coarse_first[i + 1][1] if i + 1 < len(coarse_first) else None,
                       takes_coarser=i > 0, kernel=kernel, rcu=rcu)
            for i, (cin, width) in enumerate(coarse_first)
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = _conv(widths[0], num_classes, 3, bias=True)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Encoder maps (finest first) → logits at the finest map's resolution (stride 4)."""
        *rest, l3, l4 = features
        # Dropout on the two coarsest maps and before the classifier, as the official decoder does.
        x = None
        for path, f in zip(self.paths, [self.dropout(l4), self.dropout(l3), *reversed(rest)]):
            x = path(f, x)
        return self.classifier(self.dropout(x))


def build_decoder(cfg: ModelConfig, in_channels: tuple[int, ...]) -> RefineNetDecoder:
    if cfg.decoder == "refinenet":
        # The official widths: 512 on the stride-32 path, 256 elsewhere.
        return RefineNetDecoder(in_channels, (256, 256, 256, 512), cfg.num_classes, kernel=3, rcu=(2, 3),
                                dropout=cfg.dropout)
    width = cfg.decoder_width
    return RefineNetDecoder(in_channels, (width,) * 4, cfg.num_classes, kernel=1, rcu=(0, 0), dropout=cfg.dropout)
