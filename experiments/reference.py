"""A plain ResNet-18 segmentation net on this CPU, as a yardstick for asymfusion's numbers.

Issue 7's targets assume that a plain ResNet-18 segmentation net reaches them here. This times one with
everything amf-edge uses (the same ResNet-18 encoder, ONNX export and cleanup, the INT8-CPU quantization
scheme, the runtime's ONNX Runtime session settings), in two forms:

  logits  the encoder and a 1×1 classifier, stride-32 logits out: convolutions and little else;
  labels  the same, upsampled to the input size and argmaxed in the graph, as every amf-edge model is.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

HEADS = ("logits", "labels")
NUM_CLASSES = 40


def plain_resnet18(head: str):
    """ResNet-18 (amf-edge's encoder, RGB only) + 1×1 classifier; `head` as in the module docstring."""
    import torch
    import torch.nn.functional as F

    from amf_edge.config import ModelConfig
    from amf_edge.models.encoder import ResNetEncoder

    class PlainResNet18(torch.nn.Module):
        def __init__(self):
            super().__init__()
            config = ModelConfig(backbone="resnet18", decoder="light-refinenet", num_classes=NUM_CLASSES,
                                 modalities=("rgb",), fusion="none")
            self.encoder = ResNetEncoder(config)
            self.classifier = torch.nn.Conv2d(self.encoder.out_channels[-1], NUM_CLASSES, 1)

        def forward(self, rgb):
            logits = self.classifier(self.encoder({"rgb": rgb})[-1]["rgb"])
            if head == "logits":
                return logits
            return F.interpolate(logits, size=rgb.shape[-2:], mode="bilinear").argmax(1).to(torch.uint8)

    return PlainResNet18().eval()


def make_models(height: int, width: int, work: Path) -> dict[str, Path]:
    """fp32-HEAD.onnx and int8-cpu-HEAD.onnx for each head: made once, reused while the files exist."""
    import onnx
    import onnxslim
    import torch
    from onnxruntime import quantization as q

    from amf_edge.convert.quantize import name_nodes, ort_settings, split_body

    folder = work / f"resnet18-{height}x{width}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    # Latency does not depend on the weights' or ranges' values: random calibration inputs will do.
    frames = [rng.standard_normal((1, 3, height, width), dtype=np.float32) for _ in range(4)]
    paths = {}
    for head in HEADS:
        fp32, int8 = folder / f"fp32-{head}.onnx", folder / f"int8-cpu-{head}.onnx"
        if not fp32.exists():
            torch.manual_seed(0)
            program = torch.onnx.export(plain_resnet18(head), (torch.from_numpy(frames[0]),), dynamo=True,
                                        opset_version=18, external_data=False, input_names=["rgb"])
            onnx.save(onnxslim.slim(program.model_proto), str(fp32))
        if not int8.exists():
            pre = folder / f"pre-{head}.onnx"
            model = onnx.load(str(fp32))
            name_nodes(model)
            outside = split_body(model).outside  # the upsampling and argmax stay float, as in every amf-edge model
            onnx.save(model, str(pre))
            q.quant_pre_process(str(pre), str(pre), skip_optimization=True)
            q.quantize_static(str(pre), str(int8), _Reader(q, frames), **ort_settings(q, "int8-cpu"),
                              nodes_to_exclude=outside)
            pre.unlink()
        paths[f"fp32-{head}"], paths[f"int8-cpu-{head}"] = fp32, int8
    return paths


def _Reader(q, frames: list[np.ndarray]):
    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.frames = iter(frames)

        def get_next(self):
            frame = next(self.frames, None)
            return None if frame is None else {"rgb": frame}

    return Reader()


def time_models(paths: dict[str, Path], iters: int, rounds: int, warmup_s: float,
                feed: dict[str, np.ndarray] | None = None) -> dict[str, list[float]]:
    """Milliseconds per inference, the models taking turns (as `amf-edge bench`), runtime session settings.
    `feed`: the inputs (default: a float `rgb` of the first model's input shape, the plain net's)."""
    import onnxruntime as ort

    from amf_edge.bench.measure import interleave
    from amf_edge.runtime.backends.ort import session_options

    sessions = {k: ort.InferenceSession(str(p), session_options(ort), providers=["CPUExecutionProvider"])
                for k, p in paths.items()}
    if feed is None:
        shape = sessions[next(iter(sessions))].get_inputs()[0].shape
        feed = {"rgb": np.random.default_rng(1).standard_normal(shape, dtype=np.float32)}
    for s in sessions.values():
        end = time.perf_counter() + warmup_s
        while True:
            s.run(None, feed)
            if time.perf_counter() >= end:
                break
    times: dict[str, list[float]] = {k: [] for k in sessions}

    def turn(k: str, count: int, done: int) -> None:
        sessions[k].run(None, feed)  # one untimed inference per turn, as the bench does
        for _ in range(count):
            start = time.perf_counter()
            sessions[k].run(None, feed)
            times[k].append((time.perf_counter() - start) * 1e3)

    interleave(list(sessions), iters, rounds, turn, what="timing")
    return times


def measure(height: int, width: int, work: Path, iters: int, rounds: int, warmup_s: float) -> dict:
    """p50 per model (ms) and the encoder's GFLOPs at this size (PyTorch's counter, the 1×1 head included)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from amf_edge.bench.stats import summarize

    paths = make_models(height, width, work)
    times = time_models(paths, iters, rounds, warmup_s)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        plain_resnet18("logits")(torch.zeros(1, 3, height, width))
    return {"height": height, "width": width, "flops": counter.get_total_flops(),
            "p50_ms": {k: summarize(v)["p50"] for k, v in times.items()}}


def section(sizes: list[dict], ours: list[dict], peak_gflops: float, int8_gemm_gops: float,
            conv_int8_gops: float | None) -> list[str]:
    """docs/benchmarks.md's yardstick table: the plain net per size (`measure`'s results) and head, then
    `ours` (dicts with name, height, width, fp32_ms, int8_ms, compute_efficiency) for comparison, and what
    follows from them. `int8_gemm_gops` is ONNX Runtime's INT8 matrix-product peak
    (experiments.cpu.matmul_peak)."""
    def row(name, height, width, fp32_ms, int8_ms, efficiency):
        eff = "–" if efficiency is None else f"{efficiency:.3f}"
        return f"| {name} | {height}×{width} | {fp32_ms:.2f} | {int8_ms:.2f} | {int8_ms / fp32_ms:.3f} | {eff} |"

    lines = ["### A plain ResNet-18 on this CPU", "",
             "The targets assume a plain ResNet-18 segmentation net reaches them here. "
             "`bench/experiments/reference.py` times one with everything amf-edge uses (the same encoder, export, "
             "INT8-CPU scheme and ONNX Runtime settings; the models taking turns; p50):", "",
             "| model | input | FP32 p50 ms | INT8-CPU p50 ms | INT8-CPU ÷ FP32 (≤ 0.35) | "
             "FP32 compute eff. (≥ 0.8) |",
             "|---|---|---|---|---|---|"]
    ratios, efficiency = {h: [] for h in HEADS}, {h: [] for h in HEADS}
    for size in sizes:
        for head, label in (("logits", "ResNet-18 + 1×1 classifier, stride-32 logits"),
                            ("labels", "the same, upsampled and argmaxed to full-resolution labels")):
            fp32, int8 = size["p50_ms"][f"fp32-{head}"], size["p50_ms"][f"int8-cpu-{head}"]
            ratios[head].append(int8 / fp32)
            efficiency[head].append(size["flops"] / fp32 / 1e6 / peak_gflops)
            lines.append(row(label, size["height"], size["width"], fp32, int8, efficiency[head][-1]))
    lines += [row(o["name"], o["height"], o["width"], o["fp32_ms"], o["int8_ms"], o["compute_efficiency"])
              for o in ours]
    lines += ["", f"- The plain net with stride-32 logits, convolutions and little else, "
              f"{_verdict(ratios['logits'], lambda r: r <= 0.35)} the INT8 target ({_span(ratios['logits'])}) and "
              f"{_verdict(efficiency['logits'], lambda e: e >= 0.8)} the compute-efficiency target "
              f"({_span(efficiency['logits'])}). Upsampling and argmaxing to full-resolution labels, which every "
              f"amf-edge model does in its graph, makes that {_span(ratios['labels'])} and "
              f"{_span(efficiency['labels'])}."]
    measured = [(size["height"], size["width"]) for size in sizes]
    changes = []
    for o in ours:
        if (o["height"], o["width"]) in measured:
            i = measured.index((o["height"], o["width"]))
            ours_eff = o["compute_efficiency"]
            eff = "–" if ours_eff is None else f"{ours_eff - efficiency['labels'][i]:+.3f}"
            changes.append(f"{o['int8_ms'] / o['fp32_ms'] - ratios['labels'][i]:+.3f} and {eff} "
                           f"({o['name']}, {o['height']}×{o['width']})")
    if changes:
        lines.append("- Against that plain net with the same full-resolution output, asymfusion's fusion and decoder "
                     "change INT8-CPU ÷ FP32 and the compute efficiency by " + "; ".join(changes) + ".")
    gemm = f"- ONNX Runtime's own INT8 matrix product (MatMulInteger, uint8 × int8, 2048²) reaches " \
           f"{int8_gemm_gops:.0f} GOP/s here, {int8_gemm_gops / peak_gflops:.1f}× the FP32 peak"
    if conv_int8_gops:
        share = conv_int8_gops / int8_gemm_gops
        gemm += f"; asymfusion-r18's INT8 convolutions (QLinearConv, profiled below) run at {conv_int8_gops:.0f} " \
                f"GOP/s, {share:.2f} of it"
        if share < 0.5:
            gemm += ": ONNX Runtime's convolution kernels, not the quantization, bound the INT8 gain"
    return lines + [gemm + "."]


def _verdict(values: list[float], ok) -> str:
    hits = sum(map(ok, values))
    return "reaches" if hits == len(values) else "misses" if hits == 0 else "only partly reaches"


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.3f}" if f"{low:.3f}" == f"{high:.3f}" else f"{low:.3f}–{high:.3f}"
