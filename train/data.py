"""From dataset samples to training batches: joint transforms, the preprocessing contract, tensors."""

from __future__ import annotations

import numpy as np
import torch

from amf_edge.datasets import Dataset
from amf_edge.preprocess import PreprocessSpec


class TrainingSet(torch.utils.data.Dataset):
    """Augmented, normalised samples; augmentation is a function of (seed, epoch, index), so it is
    reproducible whatever the number of DataLoader workers or processes."""

    def __init__(self, dataset: Dataset, transform, spec: PreprocessSpec, seed: int):
        self.dataset, self.transform, self.spec, self.seed = dataset, transform, spec, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        sample = self.transform(self.dataset[index], rng)
        rgb, depth = self.spec(sample.rgb, sample.depth_m())
        return torch.from_numpy(rgb[0]), torch.from_numpy(depth[0]), torch.from_numpy(sample.label.astype(np.int64))


def make_loader(data: TrainingSet, *, batch_size: int, workers: int, seed: int, rank: int, world_size: int):
    sampler = torch.utils.data.DistributedSampler(data, world_size, rank, shuffle=True, seed=seed, drop_last=True)
    return torch.utils.data.DataLoader(
        data, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=True,
        pin_memory=torch.cuda.is_available(), persistent_workers=False,
    )
