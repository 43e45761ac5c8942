"""Command-line argument groups shared by the commands of every stage, defined once (argparse only)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from amf_edge.config import BATCHNORMS, ENCODERS, FUSIONS, ModelConfig
from amf_edge.presets import get_preset, preset_names


def add_model_args(parser: argparse.ArgumentParser, *, preset_positional: bool = False) -> None:
    """A preset, the number of classes and the ablation switches."""
    group = parser.add_argument_group("model")
    if preset_positional:
        group.add_argument("preset", metavar="PRESET", help=f"model preset: {', '.join(preset_names())}")
    else:
        group.add_argument("--preset", required=True, help=f"model preset: {', '.join(preset_names())}")
    group.add_argument("--classes", type=int, required=True, metavar="N", help="number of classes")
    group.add_argument("--fusion", choices=FUSIONS, help="ablation: cross-modal fusion (default: shuffle+shift)")
    group.add_argument("--encoder", choices=ENCODERS,
                       help="ablation: shared or separate encoder convs (default: shared)")
    group.add_argument("--batchnorm", choices=BATCHNORMS, help="ablation: private or shared BN (default: private)")
    group.add_argument("--fusion-stages", type=_stages, metavar="S,S,...",
                       help="ablation: stages whose last block fuses (default: 1,2,3,4)")
    group.add_argument("--modalities", type=_modalities, metavar="M[,M]",
                       help="ablation: rgb or depth alone gives a single-modality baseline (needs --fusion none); "
                            "default: rgb,depth")


def model_config_from_args(args: argparse.Namespace) -> ModelConfig:
    overrides = {
        k: getattr(args, k) for k in ("fusion", "encoder", "batchnorm", "fusion_stages", "modalities")
        if getattr(args, k) is not None
    }
    return get_preset(args.preset, num_classes=args.classes, **overrides)


def _stages(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated stage numbers like 1,2,3,4, got {text!r}") from None


def _modalities(text: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",") if m.strip())


def bounded(kind: type, low: float, expected: str, *, strict: bool = False) -> Callable[[str], Any]:
    """An argparse type: `kind(text)` at least `low` (above it with `strict`), else the error
    "expected <expected>, got '<text>'"."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not (value > low if strict else value >= low):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_size = bounded(int, 16, "a size in pixels of at least 16")
