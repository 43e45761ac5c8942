"""Model size and cost without allocating weights: parameters and FLOPs on the meta device."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from amf_edge.config import ModelConfig
from amf_edge.models.fusion import split_channels
from amf_edge.models.network import AsymFusion


@dataclass
class Profile:
    config: ModelConfig
    height: int
    width: int
    params: dict[str, int]
    flops: int
    output_size: tuple[int, int]
    fusion: list[dict]

    def to_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "input": {"height": self.height, "width": self.width},
            "output": {"height": self.output_size[0], "width": self.output_size[1], "stride": 4},
            "params": self.params,
            "params_m": {k: round(v / 1e6, 2) for k, v in self.params.items()},
            "gflops": round(self.flops / 1e9, 2),
            "gmacs": round(self.flops / 2e9, 2),
            "fusion": self.fusion,
        }


def count_params(config: ModelConfig) -> dict[str, int]:
    with torch.device("meta"):
        model = AsymFusion(config)
    return _param_groups(model)


def _param_groups(model: AsymFusion) -> dict[str, int]:
    groups = {"encoder_conv": 0, "encoder_bn": 0, "decoder": 0, "ensemble": 0}
    bn_types = (torch.nn.BatchNorm2d,)
    for module_name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if not own:
            continue
        if module_name.startswith("encoder."):
            groups["encoder_bn" if isinstance(module, bn_types) else "encoder_conv"] += own
        elif module_name.startswith("decoder."):
            groups["decoder"] += own
    groups["ensemble"] = model.alpha.numel()
    groups["total"] = sum(groups.values())
    return groups


def profile(config: ModelConfig, height: int, width: int) -> Profile:
    """Parameters (also for separate encoders), FLOPs of one RGB-D frame, and the fusion positions."""
    with torch.device("meta"):
        model = AsymFusion(config).eval()
        with FlopCounterMode(display=False) as counter:
            out = model(torch.empty(1, 3, height, width), torch.empty(1, 1, height, width))
    params = _param_groups(model)
    if config.encoder == "shared" and len(config.modalities) > 1:
        params["total_with_separate_encoders"] = count_params(config.replace(encoder="separate"))["total"]
    fusion = []
    for name, block in model.encoder.fusion_positions():
        g, s = split_channels(block.channels, block.align)
        fusion.append({
            "block": "encoder." + name.removesuffix(".fusion"),
            "channels": block.channels, "shift_group": g, "head": [0, s], "tail": [s, block.channels],
            "shuffle": block.shuffle, "shift": block.shift,
        })
    return Profile(config, height, width, params, counter.get_total_flops(), tuple(out.shape[-2:]), fusion)
