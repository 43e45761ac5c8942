"""Per-modality application of a module: one instance shared by all modalities, or one each.

Features flow through the encoder as dicts keyed by modality ("rgb", "depth"). `PerModality` is how
the paper's design and its ablations are expressed as data instead of code: the shared convolutions
are `PerModality(conv, shared=True)`, the private BatchNorms `PerModality(bn, shared=False)`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Features = dict[str, torch.Tensor]

SHARED = "shared"


class PerModality(nn.ModuleDict):
    """Applies a module to each modality's tensor.

    With `shared=True` it holds one module under the key "shared" (one set of weights used for every
    modality); otherwise one module per modality under the modality's name. State-dict keys read
    accordingly, e.g. `conv1.shared.weight` and `bn1.rgb.running_mean`.
    """

    def __init__(self, make: Callable[[], nn.Module], modalities: tuple[str, ...], *, shared: bool):
        super().__init__({SHARED: make()} if shared else {m: make() for m in modalities})

    @property
    def is_shared(self) -> bool:
        return SHARED in self

    def module_for(self, modality: str) -> nn.Module:
        return self[SHARED] if self.is_shared else self[modality]

    def forward(self, x: Features) -> Features:
        return {m: self.module_for(m)(t) for m, t in x.items()}


def relu(x: Features) -> Features:
    return {m: torch.relu(t) for m, t in x.items()}
