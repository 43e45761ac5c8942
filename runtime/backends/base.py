"""The interface every inference backend implements (ONNX Runtime, TensorRT, PyTorch).

A backend owns one model. It takes model inputs as the contract defines them (`ModelContract.inputs`:
rgb uint8 1×H×W×3, depth float32 1×H×W metres) and returns the model's outputs by name as host numpy
arrays. `submit`/`collect` split one inference so a pipelined caller can upload frame N+1 while frame N
computes; backends without asynchrony run in `submit` and return in `collect`. At most one inference is
in flight per backend: `submit` twice without `collect` is an error.
"""

from __future__ import annotations

import abc

import numpy as np

from amf_edge.contract import ModelContract


class Backend(abc.ABC):
    name: str = "?"

    def __init__(self, contract: ModelContract):
        self.contract = contract

    @abc.abstractmethod
    def submit(self, inputs: dict[str, np.ndarray]) -> None:
        """Start one inference on {"rgb": ..., "depth": ...}."""

    @abc.abstractmethod
    def collect(self) -> dict[str, np.ndarray]:
        """Wait for the inference started by `submit` and return its outputs by name."""

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.submit(inputs)
        return self.collect()

    def device_timing_ms(self) -> dict[str, float] | None:
        """Device-measured {"upload", "compute", "download", "latency"} milliseconds of the inference
        `collect` last returned (latency: upload start to download end); None for backends that run on
        the host (no copies to measure)."""
        return None

    @property
    def device_memory_bytes(self) -> int | None:
        """GPU memory this backend holds (engine, buffers, activations); None for backends on the host."""
        return None

    def describe(self) -> dict:
        """What ran: backend, device, provider, precision (for summaries and benchmark reports)."""
        return {"backend": self.name, "precision": self.contract.precision}

    def close(self) -> None:
        """Release sessions, device memory and streams."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SynchronousBackend(Backend):
    """A backend that computes on the calling thread (ONNX Runtime on the CPU, PyTorch): `submit` runs
    the inference and `collect` hands back its outputs, keeping the one-in-flight contract."""

    def __init__(self, contract: ModelContract):
        super().__init__(contract)
        self._outputs: dict[str, np.ndarray] | None = None

    @abc.abstractmethod
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One inference, start to finish."""

    def submit(self, inputs: dict[str, np.ndarray]) -> None:
        if self._outputs is not None:
            raise RuntimeError("submit called twice without collect")  # a caller bug, not a user error
        self._outputs = self.run(inputs)

    def collect(self) -> dict[str, np.ndarray]:
        if self._outputs is None:
            raise RuntimeError("collect called without submit")
        outputs, self._outputs = self._outputs, None
        return outputs
