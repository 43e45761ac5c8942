"""PyTorch reference backend: an amf-edge checkpoint (.pt) run unexported, for comparing against the
ONNX and TensorRT artifacts and for trying a freshly trained model without exporting it.

It takes the same inputs and gives the same outputs as the exported graph (`amf_edge.convert.export`'s
Deployable): labels uint8 1×H×W at input resolution (by default with the RGB head's, labels_rgb, for the depth
fallback), and on request labels_depth, logits float32 1×K×H/4×W/4, confidence float32 1×H×W and overlay
uint8 1×H×W×3 in the model's channel order; the argmax at the export's default output stride. The normalisation is
`PreprocessSpec`'s and the labels `labels_from_logits`'s, the functions training and the export use. The network is the
unfolded model; BN folding changes logits by ≤ 1e-4 (tests/test_fold.py).

This is the one runtime module that imports torch and amf_edge's torch layer, and only lazily: the
rest of the runtime runs on images without PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amf_edge.contract import HEAD_OUTPUTS, OUTPUTS, ModelContract, default_outputs
from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.runtime.backends.base import SynchronousBackend

# the exported graph's blend (amf_edge.convert.export.OVERLAY_ALPHA), which the runtime cannot import
OVERLAY_ALPHA = 0.5


class TorchBackend(SynchronousBackend):
    name = "torch"

    def __init__(self, path: str | Path, *, device: str = "auto", threads: int | None = None,
                 outputs: tuple[str, ...] | None = None):
        torch = require_module("torch", "the PyTorch reference backend")
        # lazy: the torch layer loads only for this backend
        from amf_edge.checkpoint import load_checkpoint
        from amf_edge.models import DEFAULT_OUTPUT_STRIDE, labels_from_logits, scores_at_stride, to_input_size

        if outputs is not None:
            unknown = [n for n in outputs if n not in OUTPUTS]
            if unknown or "labels" not in outputs:
                raise AmfEdgeError(f"outputs {list(outputs)}: expected labels plus any of {', '.join(OUTPUTS[1:])}")
        self.torch, self.path = torch, Path(path)
        # the export's default output stride, so that a checkpoint and its default export give the same labels
        self.stride = DEFAULT_OUTPUT_STRIDE
        self._scores, self._labels, self._to_size = scores_at_stride, labels_from_logits, to_input_size
        self.device = torch.device(_device(torch, device))
        if threads is not None:
            torch.set_num_threads(threads)  # process-wide in PyTorch: the reference backend owns the process
        ckpt = load_checkpoint(self.path, map_location=self.device)
        self.model, self.spec = ckpt.model.eval(), ckpt.preprocess
        modalities = ckpt.config.modalities
        if outputs is None:  # the export's default
            outputs = default_outputs(modalities)
        absent = [n for n in outputs if n in HEAD_OUTPUTS and HEAD_OUTPUTS[n] not in modalities]
        if absent:
            raise AmfEdgeError(f"outputs {list(outputs)}: {self.path} has only the {', '.join(modalities)} head(s)")
        self.palette = torch.tensor(ckpt.labels.palette, dtype=torch.float32, device=self.device)
        if self.spec.channel_order == "BGR":
            self.palette = self.palette.flip(-1)  # overlays are in the frame's channel order, as in the graph
        contract = ModelContract(
            height=None, width=None,  # a checkpoint takes any frame size
            channel_order=self.spec.channel_order,
            outputs=tuple(n for n in OUTPUTS if n in outputs),
            labels=ckpt.labels,
            precision="fp32",
            metadata={"preset": ckpt.meta.get("preset", ""), "model_config": ckpt.config.to_dict(),
                      "labels": ckpt.labels.to_dict(), "preprocess": self.spec.to_dict(),
                      "depth_dropout": ckpt.meta.get("train_config", {}).get("data", {}).get("depth_dropout"),
                      "input_contract": {"output_stride": self.stride}},
        )
        super().__init__(contract)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch, wanted = self.torch, self.contract.outputs
        frame, depth_m = inputs["rgb"], inputs["depth"]
        rgb, depth = (torch.from_numpy(a).to(self.device) for a in self.spec(frame, depth_m))
        with torch.inference_mode():
            heads = self.model.forward_heads(rgb, depth)
            logits, size = heads["ensemble"], frame.shape[1:3]
            scores = self._scores(logits, size, self.stride)
            labels = self._to_size(scores.argmax(1, keepdim=True), size)
            results = {"labels": labels.to(torch.uint8)}
            for name, head in HEAD_OUTPUTS.items():
                if name in wanted:
                    results[name] = self._labels(heads[head], size, self.stride).to(torch.uint8)
            if "logits" in wanted:
                results["logits"] = logits
            if "confidence" in wanted:
                results["confidence"] = self._to_size(torch.softmax(scores, dim=1).topk(1, dim=1).values, size)
            if "overlay" in wanted:
                image = torch.from_numpy(frame).to(self.device).float()
                blended = (1 - OVERLAY_ALPHA) * image + OVERLAY_ALPHA * self.palette[labels]
                results["overlay"] = (blended + 0.5).clamp(0, 255).to(torch.uint8)
        return {n: results[n].cpu().numpy() for n in wanted}

    @property
    def device_memory_bytes(self) -> int | None:
        """The most GPU memory PyTorch has held for this process so far (weights and activations); None on the CPU."""
        if self.device.type != "cuda":
            return None
        return int(self.torch.cuda.max_memory_allocated(self.device))

    def describe(self) -> dict:
        return {**super().describe(), "model": str(self.path), "device": str(self.device),
                "threads": self.torch.get_num_threads(), "torch": str(self.torch.__version__)}

    def close(self) -> None:
        self.model = None


def _device(torch, device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AmfEdgeError(f"--device {device}: this PyTorch sees no CUDA GPU (torch {torch.__version__}); "
                           "use --device cpu")
    return device
