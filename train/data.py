"""From dataset samples to training batches: joint transforms, the preprocessing contract, tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from amf_edge.datasets import Dataset
from amf_edge.depth_holes import remove_depth
from amf_edge.preprocess import PreprocessSpec
from amf_edge.sample import RGBDSample


def holes(rng: np.random.Generator) -> float:
    """The share of a frame's depth that regional dropout removes in blobs."""
    return rng.uniform(0.2, 0.9)


@dataclass(frozen=True)
class DepthDropout:
    """Remove depth from a sample with probability `p`: the whole frame (a share `whole` of those hit) or 20-90 %
    of it in blobs. AsymFusion's fusion carries depth features into the RGB branch, so without this the RGB head
    collapses when depth goes dark too; trained with it, the network, and the ensemble weights, learn to do
    without."""

    p: float = 0.0
    whole: float = 0.5
    paired: bool = False  # add the sample without depth beside the intact one instead of replacing it
    both: bool = False  # paired: a sample hit brings two copies, one without any depth and one with holes

    def __call__(self, sample: RGBDSample, rng: np.random.Generator) -> RGBDSample:
        if not self.hit(rng):
            return sample
        fraction = 1.0 if rng.random() < self.whole else holes(rng)
        return remove_depth(sample, fraction, rng)

    def hit(self, rng: np.random.Generator) -> bool:
        return bool(self.p) and rng.random() < self.p  # p = 0 draws nothing: the augmentation stream stays as it was

    def copies(self, sample: RGBDSample, rng: np.random.Generator) -> list[RGBDSample]:
        """Paired dropout: the sample and, if hit, its copy without depth, or with `both` its two copies (so the
        RGB-alone network trains on every frame hit and the fused network on its holes too, at 1.5 times the
        batch for p = 1)."""
        if not self.both:
            dropped = self(sample, rng)
            return [sample] if dropped is sample else [sample, dropped]
        if not self.hit(rng):
            return [sample]
        return [sample, remove_depth(sample, 1.0, rng), remove_depth(sample, holes(rng), rng)]


class TrainingSet(torch.utils.data.Dataset):
    """Augmented, normalised samples; augmentation is a function of (seed, epoch, index), so it is
    reproducible whatever the number of DataLoader workers or processes."""

    def __init__(self, dataset: Dataset, transform, spec: PreprocessSpec, seed: int,
                 depth_dropout: DepthDropout = DepthDropout()):
        self.dataset, self.transform, self.spec, self.seed = dataset, transform, spec, seed
        self.depth_dropout = depth_dropout
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        """(rgb, depth, label) tensors; with paired depth dropout, a list of such triples: the intact sample and
        its copies without depth, if hit (`collate_pairs` makes one batch of them)."""
        rng = np.random.default_rng((self.seed, self.epoch, index))
        sample = self.transform(self.dataset[index], rng)
        if self.depth_dropout.paired:
            return [self.tensors(s) for s in self.depth_dropout.copies(sample, rng)]
        return self.tensors(self.depth_dropout(sample, rng))

    def tensors(self, sample: RGBDSample) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rgb, depth = self.spec(sample.rgb, sample.depth_m())
        return torch.from_numpy(rgb[0]), torch.from_numpy(depth[0]), torch.from_numpy(sample.label.astype(np.int64))


def collate_pairs(items: list[list[tuple]]) -> list[torch.Tensor]:
    """One batch of every sample of paired depth dropout: its intact triple and, if hit, its copies without depth;
    then `origin`, for each row the row of its intact sample (its own for an intact one), which distillation from
    the intact frame to its copies needs (data.depth_dropout_distill)."""
    rows = [triple for item in items for triple in item]
    starts = np.cumsum([0] + [len(item) for item in items[:-1]])
    origin = torch.tensor([start for start, item in zip(starts, items) for _ in item], dtype=torch.int64)
    return [*torch.utils.data.default_collate(rows), origin]


def make_loader(data: TrainingSet, *, batch_size: int, workers: int, seed: int, rank: int, world_size: int):
    sampler = torch.utils.data.DistributedSampler(data, world_size, rank, shuffle=True, seed=seed, drop_last=True)
    return torch.utils.data.DataLoader(
        data, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=True,
        pin_memory=torch.cuda.is_available(), persistent_workers=False,
        collate_fn=collate_pairs if data.depth_dropout.paired else None,
    )
