"""Weights from elsewhere: official AsymFusion checkpoints and torchvision ImageNet ResNets.

Both are key mappings onto our module names plus strict checks, so a wrong file or a wrong preset is
an error that names what differs, never a half-loaded model.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from amf_edge.checkpoint import LOAD_ERRORS, unpickling_reason
from amf_edge.config import BACKBONES, MODALITIES
from amf_edge.errors import AmfEdgeError
from amf_edge.models import AsymFusion

# Official name → ours. The official code wraps every shared module as `X.module` and keeps the private
# BNs as `X.bn_0` (rgb) / `X.bn_1` (depth); its decoder levels k = 1..4 run from stride 32 to stride 4,
# which is the order of our `decoder.paths`.
_DECODER_RULES = [
    (r"p_ims1d2_outl(\d)_dimred\.module\.", lambda m: f"decoder.paths.{int(m[1]) - 1}.reduce."),
    (r"adapt_stage(\d)_b\.0\.(\d)_conv\.module\.",
     lambda m: f"decoder.paths.{int(m[1]) - 1}.adapt.{int(m[2]) - 1}.conv_a."),
    (r"adapt_stage(\d)_b\.0\.(\d)_conv_relu_varout_dimred\.module\.",
     lambda m: f"decoder.paths.{int(m[1]) - 1}.adapt.{int(m[2]) - 1}.conv_b."),
    (r"adapt_stage(\d)_b2_joint_varout_dimred\.module\.", lambda m: f"decoder.paths.{int(m[1]) - 1}.merge."),
    (r"mflow_conv_g(\d)_pool\.0\.(\d)_outvar_dimred\.module\.",
     lambda m: f"decoder.paths.{int(m[1]) - 1}.pool.convs.{int(m[2]) - 1}."),
    (r"mflow_conv_g(\d)_b\.0\.(\d)_conv\.module\.",
     lambda m: f"decoder.paths.{int(m[1]) - 1}.refine.{int(m[2]) - 1}.conv_a."),
    (r"mflow_conv_g(\d)_b\.0\.(\d)_conv_relu_varout_dimred\.module\.",
     lambda m: f"decoder.paths.{int(m[1]) - 1}.refine.{int(m[2]) - 1}.conv_b."),
    (r"mflow_conv_g(\d)_b3_joint_varout_dimred\.module\.", lambda m: f"decoder.paths.{int(m[1]) - 1}.out."),
    (r"clf_conv\.module\.", lambda m: "decoder.classifier."),
]
_ENCODER_PREFIX = re.compile(r"(conv1|bn1|layer\d)\.")
_MODALITY_OF_BN = {f"bn_{i}": m for i, m in enumerate(MODALITIES)}

def official_key_to_ours(key: str) -> str:
    """Map one official AsymFusion state-dict key (without DataParallel's `module.` prefix) to ours."""
    if key == "alpha":
        return key
    for pattern, repl in _DECODER_RULES:
        m = re.match(pattern, key)
        if m:
            return repl(m) + key[m.end():]
    if _ENCODER_PREFIX.match(key):
        parts = ["shared" if p == "module" else _MODALITY_OF_BN.get(p, p) for p in key.split(".")]
        return "encoder." + ".".join(parts)
    raise AmfEdgeError(f"unexpected key {key!r} in the official checkpoint; "
                       "is this an AsymFusion RefineNet state dict?")


def read_official_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model state dict from a file saved by the official code, with keys as its model names them.

    Accepts the official `Saver` files ({"segmenter": DataParallel state dict, "best_val", ...}) and
    bare state dicts, with or without DataParallel's `module.` prefix.
    """
    payload = _torch_load(path, allow_numpy_scalars=True)
    if isinstance(payload, dict) and "segmenter" in payload:
        payload = payload["segmenter"]
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise AmfEdgeError(
            f"{path}: expected an official AsymFusion checkpoint (a dict with a 'segmenter' state dict, or a "
            "state dict of tensors), got something else"
        )
    return {k.removeprefix("module."): v for k, v in payload.items()}


def load_official_state_dict(model: AsymFusion, official: dict[str, torch.Tensor]) -> None:
    """Load official weights into `model` (strict: every key and shape must match)."""
    state = {official_key_to_ours(k): v for k, v in official.items()}
    _check_shapes_and_keys(model, state, source="the official checkpoint", hint=_official_hint(official, model))
    model.load_state_dict(state, strict=True)


def _official_hint(official: dict[str, torch.Tensor], model: AsymFusion) -> str:
    depth = _resnet_depth({official_key_to_ours(k) for k in official if k != "alpha"}, prefix="encoder.")
    classes = official.get("clf_conv.module.weight")
    hints = []
    if depth and f"resnet{depth}" != model.config.backbone:
        hints.append(f"the checkpoint is a ResNet-{depth}: use --preset asymfusion-r{depth}")
    if classes is not None and classes.shape[0] != model.config.num_classes:
        hints.append(f"it predicts {classes.shape[0]} classes: use --classes {classes.shape[0]}")
    return "; ".join(hints) or "check --preset and --classes"


def load_imagenet_resnet(model: AsymFusion, path: str | os.PathLike) -> None:
    """Initialise the encoder from a torchvision-format ImageNet ResNet state dict (a local file).

    As the official code does, every BN copy (rgb and depth) starts from the same ImageNet BN, and
    with separate encoders both conv copies start from the same ImageNet conv. `fc.*` is ignored;
    `num_batches_tracked`, absent from older torchvision files, keeps its initial value.
    """
    source = _torch_load(path, allow_numpy_scalars=False)
    if isinstance(source, dict) and isinstance(source.get("state_dict"), dict):
        source = source["state_dict"]
    if not isinstance(source, dict):
        raise AmfEdgeError(f"{path}: expected a torchvision ResNet state dict, got {type(source).__name__}")
    ours = {k: v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    mapped, missing = {}, []
    for key in ours:
        tv_key = _torchvision_key(key)
        if tv_key in source:
            mapped[key] = source[tv_key]
        elif not key.endswith("num_batches_tracked"):
            missing.append(tv_key)
    used = {_torchvision_key(k) for k in ours}
    extra = sorted(k for k in source if k not in used and not k.startswith("fc."))
    if missing or extra:
        depth = _resnet_depth(set(source), prefix="")
        found = f"the file looks like a ResNet-{depth}" if depth else "the file does not look like a torchvision ResNet"
        raise AmfEdgeError(
            f"{path} does not fit the {model.config.backbone} encoder: {len(missing)} weights missing "
            f"(e.g. {', '.join(missing[:3]) or '-'}), {len(extra)} unexpected (e.g. {', '.join(extra[:3]) or '-'}); "
            f"{found}. Pass the ImageNet weights of the same depth as the preset"
        )
    _check_shapes_and_keys(model, mapped, source=str(path), hint="use ImageNet weights of the preset's ResNet depth",
                           partial=True)
    model.load_state_dict(mapped, strict=False)


def _torchvision_key(our_key: str) -> str:
    parts = our_key.removeprefix("encoder.").split(".")
    return ".".join(p for p in parts if p not in ("shared", *MODALITIES))


def _resnet_depth(keys: set[str], prefix: str) -> int | None:
    """The torchvision ResNet depth whose block counts and block type these keys have, if any."""
    counts = tuple(
        len({k.split(".")[1] for k in (kk.removeprefix(prefix) for kk in keys) if k.startswith(f"layer{s}.")})
        for s in range(1, 5)
    )
    bottleneck = any(".conv3." in k for k in keys)
    for name, (block, blocks) in BACKBONES.items():
        if blocks == counts and (block == "bottleneck") == bottleneck:
            return int(name.removeprefix("resnet"))
    return None


def _check_shapes_and_keys(model, state, *, source: str, hint: str, partial: bool = False) -> None:
    expected = model.state_dict()
    missing = [] if partial else sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
             for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        details = "; ".join(
            f"{label}: {', '.join(items[:3])}{' …' if len(items) > 3 else ''} ({len(items)})"
            for label, items in (("missing", missing), ("unexpected", unexpected),
                                 ("shape mismatch (file vs model)", wrong))
            if items
        )
        raise AmfEdgeError(f"{source} does not match {model.config.backbone} with {model.config.num_classes} classes: "
                           f"{details}. Hint: {hint}")


def _torch_load(path: str | os.PathLike, *, allow_numpy_scalars: bool):
    path = Path(path)
    if not path.is_file():
        raise AmfEdgeError(f"{path} does not exist")
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals() if allow_numpy_scalars else []):
            return torch.load(path, map_location="cpu", weights_only=True)
    except LOAD_ERRORS as e:
        raise AmfEdgeError(
            f"{path} cannot be loaded safely (weights_only=True): {unpickling_reason(e)}; expected a PyTorch "
            "file holding tensors and plain values"
        ) from None


def _numpy_scalar_globals() -> list:
    """What unpickling a numpy scalar needs (the official `Saver` stores `best_val` as one).

    Allowing exactly these keeps `weights_only=True`: no other code from the file can run. Files from
    numpy 1.x name the scalar constructor `numpy.core.multiarray.scalar`, numpy 2 `numpy._core...`.
    """
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar
    allowed = [(scalar, f"{mod}.multiarray.scalar") for mod in ("numpy.core", "numpy._core")] + [np.dtype]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 pickles dtypes by their class
    if dtypes is not None:
        allowed += [getattr(dtypes, name) for name in ("Float64DType", "Float32DType", "Int64DType", "Int32DType")]
    return allowed


def import_official_checkpoint(path: str | os.PathLike, preset: str, num_classes: int) -> AsymFusion:
    """Build `preset` and load a checkpoint of the official code into it (eval mode)."""
    from amf_edge.models import build_model

    model = build_model(preset, num_classes=num_classes)
    if model.config.decoder != "refinenet" or model.config.block != "bottleneck":
        raise AmfEdgeError(
            f"preset {preset!r} has no official counterpart (the official code builds only ResNet-50/101/152 "
            "with the RefineNet decoder); use asymfusion-r50, asymfusion-r101 or asymfusion-r152"
        )
    load_official_state_dict(model, read_official_state_dict(path))
    return model.eval()
