"""AsymFusion's parameter-free, asymmetric, bidirectional fusion: channel shuffle and pixel shift.

For a block of width C, with g = C // 5 and s = 4g (paper §3, official `ShiftShuffle`):
- channel shuffle: each modality keeps its own head channels [0, s) and takes the other modality's
  tail channels [s, C) at the same indices; a second shuffle after the middle conv swaps them back;
- pixel shift: the head [0, s) of each modality's pre-conv features, in 4 groups of g channels moved
  down, right, left and up by one pixel with zero fill, is added to the *other* modality's
  post-conv features.
Both are asymmetric, F(x_rgb, x_d) != F(x_d, x_rgb): a branch keeps its own head and imports the
other's tail and shifted head, so the two branches never receive identical fused features.

`align` (ModelConfig.fusion_align: 8) moves the boundaries to multiples of 8 channels: g = C/5 rounded to the
nearest multiple of 8 that leaves a tail, so the head s = 4g ends on a multiple of 32. The official split
(align 1) cuts BasicBlock widths at odd offsets (g = 25 and 51 at C = 128 and 256); on GPUs, slices and
concatenations at such offsets become real copies instead of views, and tensor-core kernels want channel
counts in multiples of 8.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from amf_edge.models.modal import Features

# (dy, dx) per shift group: output pixel (i, j) of group k takes input pixel (i + dy, j + dx),
# so the content of the groups moves down, right, left and up.
SHIFTS = ((-1, 0), (0, -1), (0, 1), (1, 0))


def split_channels(channels: int, align: int = 1) -> tuple[int, int]:
    """(g, s): the shift-group size and the number of head channels, s = 4g; the tail is [s, C)."""
    if align == 1:
        g = channels // 5  # the official split
    else:
        g = max(align, round(channels / 5 / align) * align)
        while g > align and 4 * g >= channels:  # keep a tail to shuffle
            g -= align
    return g, 4 * g


def channel_shuffle(x: Features, align: int = 1) -> Features:
    """Swap the tail channels [s, C) between the two modalities; its own inverse."""
    a, b = x
    _, s = split_channels(x[a].shape[1], align)
    return {
        a: torch.cat([x[a][:, :s], x[b][:, s:]], dim=1),
        b: torch.cat([x[b][:, :s], x[a][:, s:]], dim=1),
    }


def pixel_shift(x: torch.Tensor, align: int = 1) -> torch.Tensor:
    """The head channels [0, s) of `x`, 4 groups each moved by one pixel with zero fill (N×s×H×W)."""
    g, s = split_channels(x.shape[1], align)
    h, w = x.shape[-2:]
    padded = F.pad(x[:, :s], (1, 1, 1, 1))
    groups = [
        padded[:, k * g : (k + 1) * g, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        for k, (dy, dx) in enumerate(SHIFTS)
    ]
    return torch.cat(groups, dim=1)


class ShuffleShift(nn.Module):
    """The fusion wrapped around a block's middle convolution: `fusion(a, middle)`.

    `before(a)` runs on the features entering the middle conv and returns them shuffled together with
    each modality's shifted head (or None); `after(b, shifted)` runs on the middle conv's output, adds
    the *other* modality's shifted head to the head channels and shuffles back.
    """

    def __init__(self, channels: int, *, shuffle: bool, shift: bool, align: int = 1):
        super().__init__()
        g, s = split_channels(channels, align)
        if g == 0 or s >= channels:
            raise ValueError(f"pixel shift needs at least 5 channels (and {5 * align} with align {align}), "
                             f"got {channels}")
        self.channels, self.shuffle, self.shift, self.align = channels, shuffle, shift, align

    def extra_repr(self) -> str:
        g, s = split_channels(self.channels, self.align)
        return f"channels={self.channels}, tail=[{s}, {self.channels}), shuffle={self.shuffle}, shift={self.shift}"

    def forward(self, a: Features, middle: Callable[[Features], Features]) -> Features:
        a, shifted = self.before(a)
        return self.after(middle(a), shifted)

    def before(self, a: Features) -> tuple[Features, Features | None]:
        shifted = {m: pixel_shift(t, self.align) for m, t in a.items()} if self.shift else None
        return (channel_shuffle(a, self.align) if self.shuffle else a), shifted

    def after(self, b: Features, shifted: Features | None) -> Features:
        if shifted is not None:
            _, s = split_channels(self.channels, self.align)
            m0, m1 = b
            other = {m0: m1, m1: m0}
            b = {m: torch.cat([t[:, :s] + shifted[other[m]], t[:, s:]], dim=1) for m, t in b.items()}
        return channel_shuffle(b, self.align) if self.shuffle else b
