"""The training loop: readable top to bottom (nanoGPT-style), every piece an importable function.

One iteration: augmented batch → three heads → sum of their cross-entropies (as the official code:
the ensemble loss trains only alpha, since its logits are detached) → SGD/AdamW step.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from amf_edge.checkpoint import load_checkpoint, read_payload, save_checkpoint
from amf_edge.datasets import open_dataset
from amf_edge.errors import AmfEdgeError
from amf_edge.interop import load_imagenet_resnet
from amf_edge.labels import IGNORE_INDEX
from amf_edge.models import AsymFusion, upsample_logits
from amf_edge.models.fusion import Presence, depth_presence
from amf_edge.preprocess import PreprocessSpec
from amf_edge.train import distributed
from amf_edge.train.config import Stage, TrainConfig, dump_config
from amf_edge.train.data import DepthDropout, TrainingSet, make_loader
from amf_edge.train.evaluate import evaluate, format_scores
from amf_edge.train.logger import RunLogger
from amf_edge.transforms import get_train_transform

# Resuming must not change what is being trained; these settings only change how it runs.
RESUMABLE_CHANGES = {"data.workers", "device", "eval_every", "log_every"}


class Heads(nn.Module):
    """`forward` returning all heads, so DistributedDataParallel sees the call it has to synchronise."""

    def __init__(self, model: AsymFusion):
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model.forward_heads(rgb, depth)


def segmentation_loss(heads: dict[str, torch.Tensor], label: torch.Tensor,
                      present: Presence | None = None) -> torch.Tensor:
    """Sum over heads of the cross-entropy of the upsampled logits, 255 ignored; a modality's head learns nothing
    from the samples where `present` marks that modality absent (data.depth_dropout_mask_head)."""
    size = label.shape[-2:]
    total = 0
    for name, logits in heads.items():
        logits = upsample_logits(logits.float(), size)
        if present and name in present:
            target = label.masked_fill(~present[name][:, 0], IGNORE_INDEX)  # N×1×1×1 → N×1×1 over N×H×W
            # Summed and divided by the pixels left: `mean` would be 0/0 on a batch with no depth at all.
            counted = (target != IGNORE_INDEX).sum().clamp(min=1)
            total = total + F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX, reduction="sum") / counted
        else:
            total = total + F.cross_entropy(logits, label, ignore_index=IGNORE_INDEX)
    return total


def distillation_loss(heads: dict[str, torch.Tensor], origin: torch.Tensor) -> torch.Tensor:
    """Mean over the copies' pixels (at the heads' stride; copies without depth or with holes) of KL(intact
    ensemble || copy's RGB head): the fallback head learns what the fused network predicts on the same frame.
    `origin` maps each row to its intact sample's row (train/data.collate_pairs); the intact rows themselves add
    nothing. Temperature 1."""
    copies = origin != torch.arange(len(origin), device=origin.device)
    if not copies.any():
        return heads["rgb"].sum() * 0  # keeps the graph (and DDP's gradient hooks) whole on a batch without copies
    teacher = heads["ensemble"][origin[copies]].detach().float().log_softmax(1)
    student = heads["rgb"][copies].float().log_softmax(1)
    return F.kl_div(student, teacher, reduction="none", log_target=True).sum(1).mean()


def param_groups(model: AsymFusion, stage: Stage) -> list[dict]:
    """Encoder at lr_encoder; decoder and the ensemble weights at lr_decoder (the official split)."""
    encoder = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    return [{"params": encoder, "lr": stage.lr_encoder, "base_lr": stage.lr_encoder},
            {"params": rest, "lr": stage.lr_decoder, "base_lr": stage.lr_decoder}]


def make_optimizer(model: AsymFusion, config: TrainConfig, stage: Stage) -> torch.optim.Optimizer:
    o = config.optim
    if o.optimizer == "sgd":
        return torch.optim.SGD(param_groups(model, stage), momentum=o.momentum, weight_decay=o.weight_decay)
    return torch.optim.AdamW(param_groups(model, stage), weight_decay=o.weight_decay)


def stage_of(config: TrainConfig, epoch: int) -> tuple[int, Stage]:
    start = 0
    for index, stage in enumerate(config.optim.stages):
        if epoch < start + stage.epochs:
            return index, stage
        start += stage.epochs
    raise ValueError(f"epoch {epoch} is past the schedule")


def set_learning_rate(optimizer: torch.optim.Optimizer, config: TrainConfig, iteration: int, total: int) -> None:
    if config.optim.schedule != "poly":
        return
    factor = (1 - iteration / total) ** config.optim.poly_power
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:  # the official recipe: running statistics stay (ImageNet's), only gamma/beta learn
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(config: TrainConfig, out_dir: Path, *, resume: bool = False, progress: bool = True,
          stop_after: int | None = None) -> dict:
    """Train, evaluating on the validation split; returns the best validation result.

    `stop_after` ends the run after that many epochs of the schedule, as an interruption would (last.pt
    written, `resume=True` continues it); the schedule itself still spans all of `config.epochs`.
    """
    ctx = distributed.init(config.device)
    try:
        return _train(config, Path(out_dir), ctx, resume=resume, progress=progress and ctx.is_main,
                      stop_after=stop_after)
    finally:
        distributed.shutdown(ctx)


def _train(config: TrainConfig, out_dir: Path, ctx: distributed.Context, *, resume: bool, progress: bool,
           stop_after: int | None) -> dict:
    seed_everything(config.seed + ctx.rank)
    train_data = open_dataset(config.data.train, "train")
    val_data = open_dataset(config.data.val or config.data.train, "val")
    if val_data.labels != train_data.labels:
        raise AmfEdgeError(f"training data has label set {train_data.labels.name!r} but validation data "
                           f"{val_data.labels.name!r}; both must use the same classes")
    labels, spec = train_data.labels, PreprocessSpec()
    model = AsymFusion(config.model.build_config(labels.num_classes))
    if config.model.pretrained:
        load_imagenet_resnet(model, config.model.pretrained)
    if config.model.init:
        _start_from(model, config.model.init, labels)
    state = _resume_state(config, out_dir, model) if resume else None
    model.to(ctx.device)
    net = _wrap(model, config, ctx)

    transform = get_train_transform(config.data.transform, config.data.height, config.data.width)
    dropout = DepthDropout(config.data.depth_dropout, config.data.depth_dropout_whole, config.data.depth_dropout_paired,
                           config.data.depth_dropout_both)
    data = TrainingSet(train_data, transform, spec, config.seed, dropout)
    loader = make_loader(data, batch_size=config.data.batch_size, workers=config.data.workers,
                         seed=config.seed, rank=ctx.rank, world_size=ctx.world_size)
    if len(loader) == 0:
        raise AmfEdgeError(f"{len(train_data)} training samples over {ctx.world_size} process(es) make no batch of "
                           f"{config.data.batch_size}; lower data.batch_size or use more data")
    amp = config.amp and ctx.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    total_iters = config.epochs * len(loader)
    start_epoch, best, optimizer = 0, {"miou": -1.0, "epoch": None, "result": None}, None
    if state:
        start_epoch, best = state["epoch"] + 1, state["best"]
        optimizer = make_optimizer(model, config, stage_of(config, state["epoch"])[1])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"], ctx)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(dump_config(config))
        print(f"training {config.model.preset} on {train_data!r} ({len(train_data)} samples, "
              f"{labels.num_classes} classes), {ctx.world_size} process(es) on {ctx.device}, "
              f"{'AMP' if amp else 'float32'}, {config.epochs} epochs, "
              + (f"starting from {config.model.init}" if config.model.init else
                 f"{'ImageNet' if config.model.pretrained else 'untrained'} encoder") + " with "
              f"{'frozen' if config.model.freeze_bn else 'trainable'} BN"
              + (f", depth dropout {config.data.depth_dropout:g}{_dropout_kind(config)}" if config.data.depth_dropout
                 else "")
              + (f", fusion gated below {config.model.depth_gate:g} valid depth" if config.model.depth_gate else ""))
    logger = RunLogger(out_dir, ctx.is_main)
    meta = {"preset": config.model.preset, "train_config": config.to_dict()}
    try:
        for epoch in range(start_epoch, config.epochs if stop_after is None else min(stop_after, config.epochs)):
            index, stage = stage_of(config, epoch)
            # A stage's first epoch gets a fresh optimiser (its LRs, no momentum), as the official code; also
            # when a resumed run starts there: the saved optimiser belongs to the previous stage.
            if epoch == 0 or stage_of(config, epoch - 1)[0] != index:
                optimizer = make_optimizer(model, config, stage)
            data.epoch = epoch
            loader.sampler.set_epoch(epoch)
            set_train_mode(model, config.model.freeze_bn)
            _train_epoch(net, model, loader, optimizer, scaler, config, ctx, logger, epoch, total_iters, amp, progress)
            _check_replicas(model, ctx)
            result = None
            if ctx.is_main and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs):
                pictures = Pictures(labels)
                result = evaluate(model, val_data, spec, protocol=config.data.eval_protocol, device=ctx.device,
                                  on_prediction=pictures)
                miou = result["heads"]["ensemble"]["miou"] or 0.0
                step = (epoch + 1) * len(loader)
                logger.log(step, {f"miou_{h}": s["miou"] for h, s in result["heads"].items()}, kind="val")
                for head, s in result["heads"].items():
                    logger.log_classes(step, head, labels.names, s["iou"])
                for i, picture in enumerate(pictures.images):
                    logger.log_image(step, f"val/prediction_{i}", picture)
                print(f"epoch {epoch + 1}/{config.epochs}\n{format_scores(result)}")
                if miou > best["miou"]:
                    best = {"miou": miou, "epoch": epoch + 1, "result": _summary(result)}
                    save_checkpoint(out_dir / "best.pt", model, labels=labels, preprocess=spec,
                                    meta={**meta, "epoch": epoch + 1, "val": best["result"]})
            rng = _rng_state(ctx)  # on every process: a collective under DDP
            if ctx.is_main:
                train_state = {"epoch": epoch, "best": best, "optimizer": optimizer.state_dict(),
                               "scaler": scaler.state_dict(), "rng": rng}
                save_checkpoint(out_dir / "last.pt", model, labels=labels, preprocess=spec,
                                meta={**meta, "epoch": epoch + 1}, train_state=train_state)
            ctx.barrier()
    finally:
        logger.close()
    return best


def _dropout_kind(config: TrainConfig) -> str:
    """The depth dropout switches that are on, as the start line shows them: e.g. " (paired, both copies)"."""
    d = config.data
    kind = [word for word, on in (("paired", d.depth_dropout_paired), ("both copies", d.depth_dropout_both),
                                  ("depth head masked", d.depth_dropout_mask_head),
                                  (f"distilled at {d.depth_dropout_distill:g}", d.depth_dropout_distill)) if on]
    return f" ({', '.join(kind)})" if kind else ""


def _train_epoch(net, model, loader, optimizer, scaler, config, ctx, logger, epoch, total_iters, amp, progress) -> None:
    iterator = loader
    if progress:
        from tqdm import tqdm

        iterator = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
    window_start, window_images = time.perf_counter(), 0
    for i, (rgb, depth, label, *origin) in enumerate(iterator):  # origin: with paired dropout (collate_pairs)
        iteration = epoch * len(loader) + i
        set_learning_rate(optimizer, config, iteration, total_iters)
        rgb, depth, label = (t.to(ctx.device, non_blocking=True) for t in (rgb, depth, label))
        with torch.autocast(ctx.device.type, dtype=torch.float16, enabled=amp):
            present = depth_presence(depth, model.config.depth_gate) if config.data.depth_dropout_mask_head else None
            heads = net(rgb, depth)
            loss = segmentation_loss(heads, label, present)
            if config.data.depth_dropout_distill:
                loss = loss + config.data.depth_dropout_distill * distillation_loss(heads, origin[0].to(ctx.device))
        if not math.isfinite(loss.item()):
            raise AmfEdgeError(f"the loss became {loss.item()} at epoch {epoch + 1}, iteration {i}; lower the learning "
                               "rates or enable optim.grad_clip")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.optim.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        window_images += rgb.shape[0] * ctx.world_size
        if (i + 1) % config.log_every == 0 or i + 1 == len(loader):
            rate = window_images / (time.perf_counter() - window_start)
            values = {"loss": loss.item(), "lr_encoder": optimizer.param_groups[0]["lr"],
                      "lr_decoder": optimizer.param_groups[1]["lr"], "images_per_s": rate}
            logger.log(iteration + 1, values, kind="train")
            if progress:
                iterator.set_postfix(loss=f"{values['loss']:.3f}", lr=f"{values['lr_decoder']:.2e}",
                                     img_s=f"{rate:.1f}")
            window_start, window_images = time.perf_counter(), 0


class Pictures:
    """The first `count` validation predictions as pictures for TensorBoard: the image, the ground truth, then each
    head's labels (ensemble first) over the image; the same scenes every evaluation, so the tab shows progress."""

    def __init__(self, labels, count: int = 4):
        self.label_set, self.count, self.images = labels, count, []

    def __call__(self, index: int, sample, predictions: dict[str, np.ndarray]) -> None:
        from amf_edge.visualize import mosaic, overlay

        if index >= self.count:
            return
        heads = sorted(predictions, key=lambda h: h != "ensemble")
        truth = overlay(sample.rgb, sample.label, self.label_set, alpha=1.0) if sample.label is not None else None
        self.images.append(mosaic(sample.rgb, *([truth] if truth is not None else []),
                                  *(overlay(sample.rgb, predictions[h], self.label_set) for h in heads)))


def _wrap(model: AsymFusion, config: TrainConfig, ctx: distributed.Context) -> nn.Module:
    net: nn.Module = Heads(model)
    if not ctx.distributed:
        return net
    if config.model.sync_bn and not config.model.freeze_bn:
        if ctx.device.type != "cuda":
            raise AmfEdgeError("model.sync_bn with trainable BN needs CUDA (PyTorch's SyncBatchNorm does not sync on "
                               "the CPU); on the CPU set model.sync_bn=false to let each process normalise with its "
                               "own batch statistics (rank 0's running statistics are saved), or freeze BN: "
                               "model.freeze_bn=true with model.pretrained=PATH")
        # Converted in place inside each PerModality dict: one SyncBatchNorm per modality.
        nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return torch.nn.parallel.DistributedDataParallel(
        net, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)


def _rng_state(ctx: distributed.Context) -> dict:
    """Dropout draws from torch's generator: restoring it makes a resumed run repeat the uninterrupted one.

    Each process has its own stream (seeded seed + rank), so under DDP all of them are kept ("ranks"); the
    top-level keys are rank 0's, as in single-process checkpoints.
    """
    state = {"torch": torch.get_rng_state()}
    if ctx.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(ctx.device)
    if not ctx.distributed:
        return state
    ranks: list = [None] * ctx.world_size
    torch.distributed.all_gather_object(ranks, state)
    return {**ranks[0], "ranks": ranks}


def _set_rng_state(state: dict, ctx: distributed.Context) -> None:
    ranks = state.get("ranks")
    if ranks is not None and len(ranks) == ctx.world_size:  # another process count repeats nothing exactly anyway
        state = ranks[ctx.rank]
    torch.set_rng_state(state["torch"])
    if ctx.device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], ctx.device)


def _check_replicas(model: AsymFusion, ctx: distributed.Context) -> None:
    """DDP keeps the parameters of the replicas identical (the same averaged gradients, the same steps); verify it.

    Parameters only: buffers may differ legitimately. Trainable BN without SyncBatchNorm updates each replica's
    running statistics with its own batches (DDP broadcasts rank 0's before each forward; rank 0's are saved).
    """
    if not ctx.distributed:
        return
    checksums = torch.stack([p.detach().double().sum() for p in model.parameters()]).to(ctx.device)
    gathered = [torch.zeros_like(checksums) for _ in range(ctx.world_size)]
    torch.distributed.all_gather(gathered, checksums)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError("DDP replicas diverged: the parameter checksums differ between processes "
                           f"(their sums: {[g.sum().item() for g in gathered]})")


def _start_from(model: AsymFusion, path: str, labels) -> None:
    """`model.init`: the weights of a checkpoint of the same network and classes."""
    ckpt = load_checkpoint(path)
    theirs, ours = ckpt.model.config.to_dict(), model.config.to_dict()
    # the depth gate is a rule on the input, not weights: a model trained without it may be fine-tuned with it
    differ = ", ".join(f"{k} {theirs.get(k)!r} (recipe: {ours.get(k)!r})" for k in sorted(set(theirs) | set(ours))
                       if theirs.get(k) != ours.get(k) and k != "depth_gate")
    if differ:
        raise AmfEdgeError(f"model.init={path} is another network: {differ}; set the recipe's model section to match "
                           "it (its config.yaml beside it says how it was trained)")
    if ckpt.labels != labels:
        raise AmfEdgeError(f"model.init={path} predicts {ckpt.labels.name!r} ({ckpt.labels.num_classes} classes), "
                           f"the training data {labels.name!r} ({labels.num_classes}); start from a model of the "
                           "same classes")
    model.load_state_dict(ckpt.model.state_dict())


def _resume_state(config: TrainConfig, out_dir: Path, model: AsymFusion) -> dict:
    path = out_dir / "last.pt"
    payload = read_payload(path)
    if "train_state" not in payload:
        raise AmfEdgeError(f"{path} has no training state to resume from; it is a final checkpoint")
    saved = _flatten(payload["meta"]["train_config"])
    now = _flatten(config.to_dict())
    changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in RESUMABLE_CHANGES)
    if changed:
        raise AmfEdgeError(f"cannot resume {path}: the config changed in {', '.join(changed)}; resume with the saved "
                           f"{out_dir / 'config.yaml'} or start a new run in another --out folder")
    model.load_state_dict(payload["state_dict"])
    return payload["train_state"]


def _flatten(d, prefix: str = "") -> dict:
    if isinstance(d, dict):
        return {k: v for key, value in d.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    if isinstance(d, list):
        return ({k: v for i, value in enumerate(d) for k, v in _flatten(value, f"{prefix}{i}.").items()}
                or {prefix[:-1]: []})
    return {prefix[:-1]: d}


def _summary(result: dict) -> dict:
    return {head: {k: s[k] for k in ("pixel_acc", "mean_acc", "miou")} for head, s in result["heads"].items()}
