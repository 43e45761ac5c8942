"""Typed training configuration: YAML recipes in train/configs/, `key=value` overrides on the command line.

The resolved config is saved beside every run (config.yaml) and inside every checkpoint, so a result
can always be traced to the exact recipe that produced it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from amf_edge.config import ModelConfig
from amf_edge.errors import AmfEdgeError
from amf_edge.presets import get_preset


@dataclass
class ModelSection:
    """The network: a preset plus optional ablation switches (None keeps the preset's value)."""

    preset: str = "asymfusion-r18"
    fusion: str | None = None
    encoder: str | None = None
    batchnorm: str | None = None
    fusion_stages: tuple[int, ...] | None = None
    modalities: tuple[str, ...] | None = None
    fusion_align: int | None = None
    depth_gate: float | None = None  # ModelConfig.depth_gate; use with data.depth_dropout
    pretrained: str | None = None  # a torchvision ImageNet ResNet state dict (local file)
    # An amf-edge checkpoint (.pt) of the same network to start from: fine-tuning (e.g. with depth dropout) a
    # trained model. Its weights only; the optimiser and schedule start afresh (--resume continues a run).
    init: str | None = None
    # True, the official recipe: BN in eval mode, only its affine parameters train, so it normalises with
    # ImageNet's running statistics and needs `pretrained`. None: True exactly when `pretrained` is set.
    freeze_bn: bool | None = None
    sync_bn: bool = True  # with DDP and trainable BN: one SyncBatchNorm per modality (CUDA only)

    def build_config(self, num_classes: int) -> ModelConfig:
        switches = ("fusion", "encoder", "batchnorm", "fusion_stages", "modalities", "fusion_align", "depth_gate")
        return get_preset(self.preset, num_classes=num_classes,
                          **{k: getattr(self, k) for k in switches if getattr(self, k) is not None})


@dataclass
class DataSection:
    train: str = "synthetic://?seed=0&n=200&height=240&width=320"
    val: str | None = None  # default: the "val" split of `train`
    transform: str = "fast"  # "fast" or "official-nyudv2"
    height: int = 240  # training crop
    width: int = 320
    batch_size: int = 8  # per process
    workers: int = 2
    eval_protocol: str = "fast"  # "fast" (bilinear) or "official" (bicubic on logits, full resolution)
    # Depth dropout: the probability per sample that depth is removed, so the shared network learns to segment
    # from RGB alone when the sensor fails (train/data.py). Of the samples hit, `depth_dropout_whole` lose the
    # whole frame, the others 20-90 % of it in blobs (amf_edge/depth_holes.py).
    depth_dropout: float = 0.0
    depth_dropout_whole: float = 0.5
    # Paired: a sample hit keeps its intact copy in the batch and the copy without depth is added beside it (the
    # batch grows by about depth_dropout), so the fused network still trains on every sample with its depth.
    depth_dropout_paired: bool = False
    # Both: with pairing, a sample hit brings two copies, one without any depth and one with holes (instead of one,
    # whole-frame with probability depth_dropout_whole): the RGB-alone network then trains on every sample hit.
    depth_dropout_both: bool = False
    # The depth head's loss skips the samples whose depth the gate (model.depth_gate) finds absent, where the
    # ensemble ignores that head anyway. Measured, it lowers the fallback without depth by 0.8-1.5 points: that loss
    # trains the shared convolutions on RGB, which the RGB head gains from (docs/results/depth-failure.md). Off by
    # default; kept so that the measurement can be repeated.
    depth_dropout_mask_head: bool = False
    # Weight of a distillation term: with pairing, each copy's RGB head (the runtime's fallback) also learns the
    # intact frame's ensemble (KL divergence of the softmax, teacher detached), so that without depth it imitates
    # the fused prediction, not only the labels. Measured at 1.0 on three seeds, it raises the fallback without
    # depth by 0.7-1.0 points and lowers the intact score by 0.7 (docs/results/depth-failure.md). 0: off.
    depth_dropout_distill: float = 0.0


@dataclass
class Stage:
    epochs: int
    lr_encoder: float
    lr_decoder: float  # also the learning rate of the ensemble weights alpha, as in the official code


@dataclass
class OptimSection:
    optimizer: str = "sgd"  # "sgd" or "adamw"
    # "stages": constant LRs per stage, optimiser re-created (momentum reset) at each stage, as the
    # official three-stage recipe; "poly" and "constant" use exactly one stage for epochs and base LRs.
    schedule: str = "stages"
    stages: list[Stage] = field(default_factory=lambda: [Stage(100, 5e-4, 3e-3), Stage(100, 2.5e-4, 1.5e-3),
                                                         Stage(100, 1e-4, 7e-4)])
    momentum: float = 0.9
    weight_decay: float = 1e-5
    poly_power: float = 0.9
    grad_clip: float | None = None  # max gradient norm; None disables clipping


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    seed: int = 42
    amp: bool = True  # mixed precision on CUDA (float16 autocast + gradient scaling); CPU trains in float32
    device: str = "auto"  # "auto", "cpu" or "cuda"
    eval_every: int = 1  # epochs
    log_every: int = 10  # iterations

    def __post_init__(self) -> None:
        model = self.model
        if model.init and model.pretrained:
            raise AmfEdgeError(f"model.init={model.init} already holds trained encoder weights; "
                               f"model.pretrained={model.pretrained} would be overwritten by them: set one of the two")
        if model.freeze_bn is None:
            model.freeze_bn = bool(model.pretrained)
        elif model.freeze_bn and not model.pretrained:  # fresh statistics (mean 0, var 1) would normalise nothing
            raise AmfEdgeError("model.freeze_bn=true needs ImageNet weights: set model.pretrained=PATH to a "
                               "torchvision ImageNet ResNet state dict (frozen BN keeps its running statistics), "
                               "or model.freeze_bn=false to train BN from scratch")
        _one_of("optim.optimizer", self.optim.optimizer, ("sgd", "adamw"))
        _one_of("optim.schedule", self.optim.schedule, ("stages", "poly", "constant"))
        _one_of("data.eval_protocol", self.data.eval_protocol, ("fast", "official"))
        _one_of("device", self.device, ("auto", "cpu", "cuda"))
        if not self.optim.stages or any(s.epochs < 1 for s in self.optim.stages):
            raise AmfEdgeError("optim.stages must list at least one stage, each with epochs >= 1")
        if self.optim.schedule != "stages" and len(self.optim.stages) != 1:
            raise AmfEdgeError(
                f"optim.schedule={self.optim.schedule!r} takes exactly one stage (its epochs and base LRs), "
                f"got {len(self.optim.stages)}; use schedule=stages for several"
            )
        for name in ("batch_size", "height", "width"):
            if getattr(self.data, name) < 1:
                raise AmfEdgeError(f"data.{name} must be positive, got {getattr(self.data, name)}")
        for name in ("depth_dropout", "depth_dropout_whole"):
            if not 0 <= getattr(self.data, name) <= 1:
                raise AmfEdgeError(f"data.{name} is a probability in [0, 1], got {getattr(self.data, name)}")
        if self.data.depth_dropout and self.model.modalities is not None and "depth" not in self.model.modalities:
            raise AmfEdgeError(f"data.depth_dropout={self.data.depth_dropout} but the model has no depth input "
                               f"(model.modalities={list(self.model.modalities)}); set data.depth_dropout=0")
        if self.data.depth_dropout_paired and not self.data.depth_dropout:
            raise AmfEdgeError("data.depth_dropout_paired=true pairs the samples that depth dropout hits, but "
                               "data.depth_dropout is 0; set it too, e.g. data.depth_dropout=0.5")
        if self.data.depth_dropout_both and not self.data.depth_dropout_paired:
            raise AmfEdgeError("data.depth_dropout_both=true adds two copies without depth beside the intact sample, "
                               "which only paired dropout keeps; set data.depth_dropout_paired=true too")
        if self.data.depth_dropout_mask_head and not (self.data.depth_dropout and self.model.depth_gate):
            raise AmfEdgeError("data.depth_dropout_mask_head=true masks the depth head where the depth gate finds no "
                               f"depth, but data.depth_dropout={self.data.depth_dropout} and model.depth_gate="
                               f"{self.model.depth_gate}; set both, e.g. data.depth_dropout=1.0 model.depth_gate=0.1")
        if self.data.depth_dropout_distill < 0 or (self.data.depth_dropout_distill
                                                    and not self.data.depth_dropout_paired):
            raise AmfEdgeError(f"data.depth_dropout_distill={self.data.depth_dropout_distill} is the weight of the "
                               "distillation from each intact frame to its copies without depth: a number >= 0, and "
                               "only paired dropout keeps both in the batch; set data.depth_dropout=1.0 "
                               "data.depth_dropout_paired=true, or data.depth_dropout_distill=0")
        if self.eval_every < 1 or self.log_every < 1:
            raise AmfEdgeError("eval_every and log_every must be at least 1")

    @property
    def epochs(self) -> int:
        return sum(s.epochs for s in self.optim.stages)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return _build(cls, data, "")


RECIPES = Path(__file__).parent / "configs"


def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file: a path, or the name of one in train/configs/ (e.g. "synthetic-r18")."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    named = RECIPES / f"{name_or_path}.yaml"
    if named.is_file():
        return named
    names = ", ".join(sorted(p.stem for p in RECIPES.glob("*.yaml")))
    raise AmfEdgeError(f"config {name_or_path} is neither a file nor a recipe name; recipes: {names}")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """A recipe (a file or a name in train/configs/, or the defaults) with `section.key=value` overrides."""
    yaml = _yaml()
    data: dict = {}
    if path is not None:
        path = recipe_path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise AmfEdgeError(f"config {path} is not valid YAML ({' '.join(str(e).split())})") from None
        if not isinstance(data, dict) or not data:
            # an empty file must not quietly train the defaults (300 epochs on the default data)
            got = "is empty" if data is None or data == {} else f"holds a {type(data).__name__}"
            raise AmfEdgeError(f"config {path} {got}; a recipe is a YAML mapping of sections: model (preset, ...), "
                               "data (train, height, width, batch_size, ...), optim (stages of epochs and learning "
                               "rates, ...), as in train/configs/synthetic-r18.yaml")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise AmfEdgeError(f"override {item!r}: expected key=value, e.g. optim.stages.0.lr_decoder=0.001")
        _set(data, key.split("."), yaml.safe_load(value) if value else None, item)
    return TrainConfig.from_dict(data)


def dump_config(config: TrainConfig) -> str:
    return _yaml().safe_dump(config.to_dict(), sort_keys=False)


def _yaml():
    from amf_edge.lazy import require_module

    return require_module("yaml", "training recipes are YAML")


def _set(data: dict, keys: list[str], value, item: str) -> None:
    node = data
    for i, key in enumerate(keys[:-1]):
        nxt = node[int(key)] if isinstance(node, list) and key.isdigit() and int(key) < len(node) else None
        if isinstance(node, dict):
            nxt = node.setdefault(key, {} if not keys[i + 1].isdigit() else _default_list(keys[: i + 1]))
        if nxt is None:
            raise AmfEdgeError(f"override {item!r}: {'.'.join(keys[: i + 1])} does not exist")
        node = nxt
    last = keys[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise AmfEdgeError(f"override {item!r}: index {last} is out of range ({len(node)} entries)")
        node[int(last)] = value
    else:
        node[last] = value


def _default_list(keys: list[str]) -> list:
    """The default value of a list field (e.g. optim.stages), so `optim.stages.0.epochs=2` edits it."""
    node = TrainConfig().to_dict()
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, list) else []


def _one_of(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise AmfEdgeError(f"{name}={value!r} is not valid; choose one of: {', '.join(valid)}")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls, data, path: str):
    """Build dataclass `cls` from plain data, coercing to the annotated types; unknown keys are errors."""
    if not isinstance(data, dict):
        raise AmfEdgeError(f"config {path or 'root'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"section {path!r}" if path else "the config"
        raise AmfEdgeError(f"unknown key(s) {', '.join(unknown)} in {where}; valid keys: {', '.join(sorted(names))}")
    return cls(**{k: _coerce(hints[k], v, f"{path}.{k}".lstrip(".")) for k, v in data.items()})


def _coerce(tp, value, path: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (tp,) = [a for a in args if a is not type(None)]
        return _coerce(tp, value, path)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise AmfEdgeError(f"config {path}: expected a list, got {value!r}")
        items = [_coerce(args[0], v, f"{path}.{i}") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            raise ValueError
        if tp is float and isinstance(value, str):  # YAML 1.1 reads 5e-4 (no dot) as a string
            return float(value)
        if tp in (int, float) and isinstance(value, bool):
            raise ValueError
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return tp(value) if tp in (int, float) else _str(value)
    except (TypeError, ValueError):
        raise AmfEdgeError(f"config {path}: expected {tp.__name__}, got {value!r}") from None


def _str(value) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value
