"""AsymFusion's parameter-free, asymmetric, bidirectional fusion: channel shuffle and pixel shift.

For a block of width C, with g = C // 5 and s = 4g (paper §3, official `ShiftShuffle`):
- channel shuffle: each modality keeps its own head channels [0, s) and takes the other modality's
  tail channels [s, C) at the same indices; a second shuffle after the middle conv swaps them back;
- pixel shift: the head [0, s) of each modality's pre-conv features, in 4 groups of g channels moved
  down, right, left and up by one pixel with zero fill, is added to the *other* modality's
  post-conv features.
Both are asymmetric, F(x_rgb, x_d) != F(x_d, x_rgb): a branch keeps its own head and imports the
other's tail and shifted head, so the two branches never receive identical fused features.

`present` (ours, ModelConfig.depth_gate): per sample, whether a modality's input is there at all (N×1×1×1 bool,
keyed by modality; a modality without a key always is). A branch imports nothing from an absent modality: it keeps
its own tail and adds no shifted head, so on a frame whose depth failed the RGB branch is a plain RGB network
instead of one whose every fused block gives a fifth of its channels to a blank sensor. (The shuffle back then
hands the absent modality's branch the other's tail: it imports more, not less.)

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

Presence = dict[str, torch.Tensor]  # modality → N×1×1×1 bool, see `present` above

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


def channel_shuffle(x: Features, align: int = 1, present: Presence | None = None) -> Features:
    """Swap the tail channels [s, C) between the two modalities; its own inverse. A branch keeps its own tail
    where the other modality is absent (`present`)."""
    a, b = x
    _, s = split_channels(x[a].shape[1], align)

    def tail(receiver: str, source: str) -> torch.Tensor:
        imported = x[source][:, s:]
        if present and source in present:
            imported = torch.where(present[source], imported, x[receiver][:, s:])
        return imported

    return {a: torch.cat([x[a][:, :s], tail(a, b)], dim=1), b: torch.cat([x[b][:, :s], tail(b, a)], dim=1)}


def depth_presence(depth: torch.Tensor, gate: float) -> Presence | None:
    """`present` for a depth gate (ModelConfig.depth_gate): depth is there in a sample where at least a share `gate`
    of its pixels hold a measurement (0 = none); None, everything fuses, without a gate."""
    if not gate:
        return None
    return {"depth": (depth > 0).float().mean(dim=(1, 2, 3), keepdim=True) >= gate}


def ensemble(heads: Features, weights: torch.Tensor, present: Presence | None = None) -> torch.Tensor:
    """The learned ensemble: the modality heads weighted by `weights` (softmax of alpha); a sample without a
    modality (`present`) gets the other modality's head alone, since the absent one's head has nothing to go on."""
    fused = sum(w * heads[m] for w, m in zip(weights, heads))
    for m, p in (present or {}).items():
        (other,) = (n for n in heads if n != m)
        fused = torch.where(p, fused, heads[other])
    return fused


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


def shifted_heads(a: Features, align: int = 1, present: Presence | None = None) -> Features:
    """Each modality's pixel-shifted head (`pixel_shift`); an absent modality's is zero: it adds nothing."""
    shifted = {m: pixel_shift(t, align) for m, t in a.items()}
    for m, p in (present or {}).items():
        shifted[m] = torch.where(p, shifted[m], 0.0)
    return shifted


def add_shifted(b: Features, shifted: Features, align: int = 1) -> Features:
    """Add the *other* modality's shifted head to each modality's head channels [0, s)."""
    m0, m1 = b
    other = {m0: m1, m1: m0}
    _, s = split_channels(b[m0].shape[1], align)
    return {m: torch.cat([t[:, :s] + shifted[other[m]], t[:, s:]], dim=1) for m, t in b.items()}


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

    def forward(self, a: Features, middle: Callable[[Features], Features], present: Presence | None = None) -> Features:
        a, shifted = self.before(a, present)
        return self.after(middle(a), shifted, present)

    def before(self, a: Features, present: Presence | None = None) -> tuple[Features, Features | None]:
        shifted = shifted_heads(a, self.align, present) if self.shift else None
        return (channel_shuffle(a, self.align, present) if self.shuffle else a), shifted

    def after(self, b: Features, shifted: Features | None, present: Presence | None = None) -> Features:
        if shifted is not None:
            b = add_shifted(b, shifted, self.align)
        return channel_shuffle(b, self.align, present) if self.shuffle else b
