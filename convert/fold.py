"""Per-modality BatchNorm folding into deployable graph layouts (eval mode only).

Each modality's BN folds into its own copy of the shared convolution:
    W_m = W · γ_m/σ_m,   b_m = β_m − μ_m · γ_m/σ_m,   σ_m = sqrt(var_m + eps).
How the modalities then flow through the encoder is the layout:
  split    one folded conv per modality; the modalities never share a tensor;
  batched  the modalities stacked on the batch axis [M·N, C, H, W]: the shared (unfolded) conv runs once,
           then a per-modality scale and bias (the folded BN) — one GEMM per layer, weights stored once;
  grouped  the modalities stacked on the channel axis [N, M·C, H, W]: one grouped conv (groups = M)
           with the per-modality folded weights — one kernel per layer, BN fully folded.
The decoder has no BN and is shared, so every layout runs it once over the modalities stacked on the
batch axis. All layouts compute the eval-mode AsymFusion function; tests check it for every preset.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from amf_edge.errors import AmfEdgeError
from amf_edge.models import AsymFusion
from amf_edge.models.encoder import BasicBlock, Bottleneck
from amf_edge.models.fusion import (
    Presence,
    add_shifted,
    channel_shuffle,
    depth_presence,
    ensemble,
    shifted_heads,
    split_channels,
)
from amf_edge.models.modal import Features, PerModality

LAYOUTS = ("split", "batched", "grouped")


class FoldedConv(nn.Module):
    """A conv + BN pair of the encoder, folded per modality, stored the way its layout runs it.

    `convs` and `bns` hold one module per modality; a shared conv appears once per modality (the same
    object), which is what the batched layout needs.
    """

    def __init__(self, convs: list[nn.Conv2d], bns: list[nn.BatchNorm2d], layout: str):
        super().__init__()
        ref = convs[0]
        self.stride, self.padding, self.layout, self.groups = ref.stride, ref.padding, layout, len(convs)
        scales, shifts, weights = [], [], []
        for c, b in zip(convs, bns):
            scale = b.weight / torch.sqrt(b.running_var + b.eps)
            scales.append(scale)
            shifts.append(b.bias - b.running_mean * scale)
            weights.append(c.weight * scale[:, None, None, None])
        with torch.no_grad():
            if layout == "batched":
                if any(c is not ref for c in convs):
                    raise AmfEdgeError("layout 'batched' runs one shared conv over both modalities, but this model has "
                                       "separate encoders; export it with --layout split or grouped")
                self.weight = nn.Parameter(ref.weight.detach().clone(), requires_grad=False)
                # [M, 1, C, 1, 1] to broadcast over the modality-major view [M, N, C, H, W]
                self.scale = nn.Parameter(torch.stack(scales)[:, None, :, None, None].detach(), requires_grad=False)
                self.bias = nn.Parameter(torch.stack(shifts)[:, None, :, None, None].detach(), requires_grad=False)
            elif layout == "grouped":
                self.weight = nn.Parameter(torch.cat(weights).detach(), requires_grad=False)
                self.bias = nn.Parameter(torch.cat(shifts).detach(), requires_grad=False)
            else:
                self.weight = nn.ParameterList([nn.Parameter(w.detach(), requires_grad=False) for w in weights])
                self.bias = nn.ParameterList([nn.Parameter(s.detach(), requires_grad=False) for s in shifts])

    def forward(self, x):
        if self.layout == "split":
            return [F.conv2d(t, w, b, self.stride, self.padding) for t, w, b in zip(x, self.weight, self.bias)]
        if self.layout == "grouped":
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, groups=self.groups)
        y = F.conv2d(x, self.weight, None, self.stride, self.padding)
        m, c, h, w = self.scale.shape[0], y.shape[1], y.shape[2], y.shape[3]
        return (y.reshape(m, -1, c, h, w) * self.scale + self.bias).reshape(-1, c, h, w)


class Layout:
    """How the modalities are arranged in the encoder's tensors, and the ops that depend on it."""

    def __init__(self, name: str, modalities: tuple[str, ...]):
        if name not in LAYOUTS:
            raise AmfEdgeError(f"unknown layout {name!r}; choose one of: {', '.join(LAYOUTS)}")
        self.name, self.modalities, self.m = name, modalities, len(modalities)

    def stack(self, per_modality: list[torch.Tensor]):
        if self.name == "split":
            return list(per_modality)
        return torch.cat(per_modality, dim=0 if self.name == "batched" else 1)

    def unstack(self, x) -> list[torch.Tensor]:
        if self.name == "split":
            return list(x)
        return unstack(x, self.m, dim=0 if self.name == "batched" else 1)

    def features(self, x) -> Features:
        return dict(zip(self.modalities, self.unstack(x)))

    def from_features(self, features: Features):
        return self.stack([features[m] for m in self.modalities])

    def apply(self, fn, x):
        """An op that treats samples and channels alike (ReLU, max-pool) in any layout."""
        return [fn(t) for t in x] if self.name == "split" else fn(x)

    def add(self, x, y):
        return [a + b for a, b in zip(x, y)] if self.name == "split" else x + y

    def batched(self, x) -> torch.Tensor:
        """Modalities stacked on the batch axis, the decoder's input."""
        return x if self.name == "batched" else torch.cat(self.unstack(x), dim=0)

    def shuffle(self, x, channels: int, align: int = 1, present: Presence | None = None):
        """Swap the tail channels [s, C) between the two modalities (amf_edge.models.fusion.channel_shuffle)."""
        if self.name != "grouped":
            return self.from_features(channel_shuffle(self.features(x), align, present))
        # One Gather of the channels in their new order: unstacking, slicing and stacking again copied every
        # channel three times
        _, s = split_channels(channels, align)
        c = channels
        order = [*range(s), *range(c + s, 2 * c), *range(c, c + s), *range(s, c)]
        shuffled = torch.index_select(x, 1, torch.tensor(order, device=x.device))
        if not present:
            return shuffled
        # a receiver keeps its own tail where the other modality is absent: one Where over the channels
        tail = (torch.arange(c, device=x.device) >= s).view(1, c, 1, 1)
        absent = {m: ~p for m, p in present.items()}
        never = torch.zeros_like(next(iter(absent.values())))
        a, b = self.modalities
        keeps_own = torch.cat([tail & absent.get(b, never), tail & absent.get(a, never)], dim=1)
        return torch.where(keeps_own, x, shuffled)

    def shift_add(self, x, source, channels: int, align: int = 1, present: Presence | None = None):
        """Add the other modality's pixel-shifted head channels of `source` to the head channels of `x`."""
        shifted = shifted_heads(self.features(source), align, present)
        return self.from_features(add_shifted(self.features(x), shifted, align))


class FoldedBlock(nn.Module):
    """A Bottleneck or BasicBlock with folded BN, computing the same function in a given layout."""

    def __init__(self, block: Bottleneck | BasicBlock, modalities: tuple[str, ...], layout: Layout):
        super().__init__()
        self.layout, self.bottleneck = layout, isinstance(block, Bottleneck)
        def fold(conv: PerModality, bn: PerModality) -> FoldedConv:
            return FoldedConv([conv.module_for(m) for m in modalities], [bn.module_for(m) for m in modalities],
                              layout.name)

        self.conv1, self.conv2 = fold(block.conv1, block.bn1), fold(block.conv2, block.bn2)
        self.conv3 = fold(block.conv3, block.bn3) if self.bottleneck else None
        self.downsample = fold(block.downsample[0], block.downsample[1]) if block.downsample is not None else None
        self.fusion = block.fusion
        self.width = block.conv2.module_for(modalities[0]).out_channels

    def forward(self, x, present: Presence | None = None):
        L, relu = self.layout, torch.relu
        a = L.apply(relu, self.conv1(x))
        align = self.fusion.align if self.fusion is not None else 1
        shuffles = self.fusion is not None and self.fusion.shuffle
        fused_input = L.shuffle(a, self.width, align, present) if shuffles else a
        b = self.conv2(fused_input)
        if self.bottleneck:
            b = L.apply(relu, b)
        if self.fusion is not None:
            if self.fusion.shift:
                b = L.shift_add(b, a, self.width, align, present)
            if self.fusion.shuffle:
                b = L.shuffle(b, self.width, align, present)
        c = self.conv3(b) if self.bottleneck else b
        identity = x if self.downsample is None else self.downsample(x)
        return L.apply(relu, L.add(c, identity))


class FoldedAsymFusion(nn.Module):
    """The eval-mode AsymFusion network with BN folded, in one of the layouts; same interface."""

    def __init__(self, model: AsymFusion, layout: str = "grouped"):
        super().__init__()
        model = copy.deepcopy(model).eval()
        cfg = model.config
        self.config, self.modalities = cfg, cfg.modalities
        self.layout = Layout(layout, cfg.modalities)
        enc = model.encoder
        # The stem stays per modality: depth enters with one channel (its 3-channel stem summed).
        self.stems = nn.ModuleList(
            FoldedConv([enc.depth_stem() if m == "depth" else enc.conv1.module_for(m)], [enc.bn1.module_for(m)],
                       "split")
            for m in cfg.modalities
        )
        self.maxpool = enc.maxpool
        self.stages = nn.ModuleList(
            nn.Sequential(*(FoldedBlock(block, cfg.modalities, self.layout) for block in stage)) for stage in enc.stages
        )
        self.decoder = model.decoder
        self.register_buffer("ensemble_weights", torch.softmax(model.alpha.detach(), dim=0))

    @property
    def heads(self) -> tuple[str, ...]:
        return (*self.modalities, "ensemble")

    def forward_heads(self, rgb: torch.Tensor, depth: torch.Tensor) -> dict[str, torch.Tensor]:
        inputs = {"rgb": rgb, "depth": depth}
        # Stacked after the max-pool, where the maps are a quarter of the stems' size: stacking the stems' outputs
        # was the largest copy in the graph (4 % of r18's time at 480×640 in ONNX Runtime)
        x = self.layout.stack([self.maxpool(torch.relu(stem([inputs[m]])[0]))
                               for stem, m in zip(self.stems, self.modalities)])
        present = depth_presence(depth, self.config.depth_gate)
        features = []
        for stage in self.stages:
            for block in stage:
                x = block(x, present)
            features.append(self.layout.batched(x))
        logits = unstack(self.decoder(features), len(self.modalities), dim=0)
        heads = dict(zip(self.modalities, logits))
        heads["ensemble"] = ensemble(heads, self.ensemble_weights, present)
        return heads

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.forward_heads(rgb, depth)["ensemble"]


def unstack(x: torch.Tensor, m: int, dim: int) -> list[torch.Tensor]:
    """`x.chunk(m, dim)` written so a symbolic batch size stays symbolic in a dynamic export (chunk's
    size arithmetic makes torch.export specialise N)."""
    return list(x.unflatten(dim, (m, -1)).unbind(dim))


def fold(model: AsymFusion, layout: str = "grouped") -> FoldedAsymFusion:
    """`model` (eval mode) with every BN folded, in `layout`."""
    return FoldedAsymFusion(model, layout).eval()
