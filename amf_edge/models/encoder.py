"""ResNet encoder shared by the modalities, with private BatchNorm and AsymFusion blocks.

Convolutions are `PerModality(shared=True)` (one weight set for RGB and depth) and BatchNorms
`PerModality(shared=False)` (one per modality), so the paper's "shared network, private BN" and its
ablations (separate encoders, shared BN) are a matter of configuration. Module names follow
torchvision's ResNet (`conv1`, `layer3.5.bn2`, `downsample.0`), with the modality (or "shared") as
the last path element, which keeps ImageNet and official-checkpoint loading a simple key mapping.
"""

from __future__ import annotations

import torch
from torch import nn

from amf_edge.config import STAGE_WIDTHS, ModelConfig
from amf_edge.models.fusion import Presence, ShuffleShift
from amf_edge.models.modal import Features, PerModality, relu


def modal_conv(cfg: ModelConfig, cin: int, cout: int, kernel: int, stride: int = 1) -> PerModality:
    return PerModality(
        lambda: nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        cfg.modalities,
        shared=cfg.encoder == "shared",
    )


def modal_bn(cfg: ModelConfig, channels: int) -> PerModality:
    return PerModality(lambda: nn.BatchNorm2d(channels), cfg.modalities, shared=cfg.batchnorm == "shared")


def make_downsample(cfg: ModelConfig, cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(modal_conv(cfg, cin, cout, 1, stride), modal_bn(cfg, cout))


class Bottleneck(nn.Module):
    """1×1 → 3×3 (stride here, as torchvision) → 1×1, with fusion around the 3×3 conv (official)."""

    expansion = 4

    def __init__(self, cfg: ModelConfig, cin: int, width: int, stride: int, fusion: ShuffleShift | None):
        super().__init__()
        cout = width * self.expansion
        self.conv1, self.bn1 = modal_conv(cfg, cin, width, 1), modal_bn(cfg, width)
        self.conv2, self.bn2 = modal_conv(cfg, width, width, 3, stride), modal_bn(cfg, width)
        self.conv3, self.bn3 = modal_conv(cfg, width, cout, 1), modal_bn(cfg, cout)
        self.downsample = make_downsample(cfg, cin, cout, stride)
        self.fusion = fusion

    def _middle(self, a: Features) -> Features:
        return relu(self.bn2(self.conv2(a)))

    def forward(self, x: Features, present: Presence | None = None) -> Features:
        a = relu(self.bn1(self.conv1(x)))
        b = self.fusion(a, self._middle, present) if self.fusion is not None else self._middle(a)
        c = self.bn3(self.conv3(b))
        identity = x if self.downsample is None else self.downsample(x)
        return {m: torch.relu(c[m] + identity[m]) for m in c}


class BasicBlock(nn.Module):
    """3×3 → 3×3 with fusion around the second conv (ours; the official code has no BasicBlock fusion).

    Placement, by analogy with the Bottleneck: shuffle and shift capture act on ReLU(BN1(conv1(x))),
    the features entering the block's last weight layer; shift-add and the shuffle back act on
    BN2(conv2(·)) *before* the residual add. Keeping the exchange inside the residual branch leaves each
    modality's identity path its own (exchanging after the add would overwrite a branch's skip
    connection with the other modality's features), and the block still ends in ReLU(branch + identity).
    There is no ReLU between BN2 and the add in a BasicBlock, so the shifted (non-negative) head of the
    other modality is added to pre-activation features, where the add can still change the sign.
    """

    expansion = 1

    def __init__(self, cfg: ModelConfig, cin: int, width: int, stride: int, fusion: ShuffleShift | None):
        super().__init__()
        self.conv1, self.bn1 = modal_conv(cfg, cin, width, 3, stride), modal_bn(cfg, width)
        self.conv2, self.bn2 = modal_conv(cfg, width, width, 3), modal_bn(cfg, width)
        self.downsample = make_downsample(cfg, cin, width, stride)
        self.fusion = fusion

    def _middle(self, a: Features) -> Features:
        return self.bn2(self.conv2(a))

    def forward(self, x: Features, present: Presence | None = None) -> Features:
        a = relu(self.bn1(self.conv1(x)))
        b = self.fusion(a, self._middle, present) if self.fusion is not None else self._middle(a)
        identity = x if self.downsample is None else self.downsample(x)
        return {m: torch.relu(b[m] + identity[m]) for m in b}


BLOCKS = {"bottleneck": Bottleneck, "basic": BasicBlock}


class ResNetEncoder(nn.Module):
    """Stem + 4 stages at strides 4, 8, 16, 32; the last block of every fusing stage fuses."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        block = BLOCKS[cfg.block]
        self.conv1, self.bn1 = modal_conv(cfg, 3, 64, 7, stride=2), modal_bn(cfg, 64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = 64
        for stage, (width, n) in enumerate(zip(STAGE_WIDTHS, cfg.blocks_per_stage), start=1):
            blocks = []
            for i in range(n):
                fuse = cfg.fuses(stage) and i == n - 1 and i > 0
                fusion = (ShuffleShift(width, shuffle="shuffle" in cfg.fusion, shift="shift" in cfg.fusion,
                                       align=cfg.fusion_align) if fuse else None)
                stride = 2 if stage > 1 and i == 0 else 1
                blocks.append(block(cfg, cin, width, stride, fusion))
                cin = width * block.expansion
            self.add_module(f"layer{stage}", nn.Sequential(*blocks))
        self.out_channels = tuple(w * block.expansion for w in STAGE_WIDTHS)

    @property
    def stages(self) -> list[nn.Sequential]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def forward(self, x: Features, present: Presence | None = None) -> list[Features]:
        """Stem inputs N×3×H×W per modality → the 4 stage outputs, finest first; `present` gates the fusion
        (amf_edge.models.fusion)."""
        x = relu(self.bn1(self.conv1(x)))
        x = {m: self.maxpool(t) for m, t in x.items()}
        features = []
        for stage in self.stages:
            for block in stage:
                x = block(x, present)
            features.append(x)
        return features

    def fusion_positions(self) -> list[tuple[str, ShuffleShift]]:
        return [(name, m) for name, m in self.named_modules() if isinstance(m, ShuffleShift)]

    def depth_stem(self) -> nn.Conv2d:
        """The depth stem as a 1-channel conv, for deployment.

        Training feeds depth replicated to 3 channels into the 3-channel stem (the official recipe,
        which keeps ImageNet initialisation meaningful). A conv over 3 identical channels equals a
        1-channel conv whose weights are summed over the input channels: 3× less stem input work.
        """
        conv = self.conv1.module_for("depth")  # the shared stem, or the depth encoder's own
        folded = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=False)
        with torch.no_grad():
            folded.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
        return folded.to(conv.weight.device)
