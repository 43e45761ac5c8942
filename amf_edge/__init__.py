"""amf-edge: AsymFusion RGB-D semantic segmentation from training to edge GPUs.

The numpy-only core (config, errors, labels, preprocess, presets, sample, synthetic) imports without
torch; `load_checkpoint` and `amf_edge.models` import torch when first used.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load_checkpoint"]


def load_checkpoint(path, map_location="cpu"):
    """Load an amf-edge checkpoint: the model in eval mode with its config, labels and preprocessing.

    See `amf_edge.checkpoint.load_checkpoint`; imported lazily so `import amf_edge` needs no torch.
    """
    from amf_edge.checkpoint import load_checkpoint as _load

    return _load(path, map_location)
