"""bench/experiments/reference.py: the plain ResNet-18 yardstick of docs/benchmarks.md, made, quantized and
timed at a tiny size, and its section's verdicts on known numbers."""

from __future__ import annotations

import pytest

from experiments import reference

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def test_the_plain_net_gives_stride_32_logits_or_full_resolution_labels():
    rgb = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        logits = reference.plain_resnet18("logits")(rgb)
        labels = reference.plain_resnet18("labels")(rgb)
    assert logits.shape == (1, reference.NUM_CLASSES, 2, 3)
    assert labels.shape == (1, 64, 96) and labels.dtype == torch.uint8


def test_measure_makes_fp32_and_int8_cpu_models_and_times_them(tmp_path):
    result = reference.measure(64, 64, tmp_path, iters=2, rounds=2, warmup_s=0)
    assert set(result["p50_ms"]) == {f"{p}-{h}" for p in ("fp32", "int8-cpu") for h in reference.HEADS}
    assert all(v > 0 for v in result["p50_ms"].values()) and result["flops"] > 0
    int8 = onnx.load(str(tmp_path / "resnet18-64x64" / "int8-cpu-labels.onnx"))
    zero_points = {i.name: i for i in int8.graph.initializer if i.name.endswith("zero_point")}
    quantized = [n for n in int8.graph.node if n.op_type == "QuantizeLinear"]
    # the INT8-CPU scheme: uint8 activations (ONNX Runtime's U8S8 kernels) ...
    assert quantized and all(zero_points[n.input[2]].data_type == onnx.TensorProto.UINT8 for n in quantized)
    # ... and the upsampling and argmax after the last Conv left in float, as convert/quantize.py leaves them
    after = [n.op_type for n in int8.graph.node][[n.op_type for n in int8.graph.node].index("Resize"):]
    assert "Resize" in after and "ArgMax" in after and "QuantizeLinear" not in after


def _sizes(logits_ratio: float, labels_ratio: float) -> list[dict]:
    return [{"height": 240, "width": 320, "flops": 5e9,
             "p50_ms": {"fp32-logits": 10.0, "int8-cpu-logits": 10.0 * logits_ratio,
                        "fp32-labels": 20.0, "int8-cpu-labels": 20.0 * labels_ratio}}]


def test_section_reports_ratios_efficiencies_and_verdicts_from_the_numbers():
    ours = [{"name": "asymfusion-r18", "height": 240, "width": 320, "fp32_ms": 50.0, "int8_ms": 30.0,
             "compute_efficiency": 0.6}]
    text = "\n".join(reference.section(_sizes(0.45, 0.55), ours, peak_gflops=500.0, int8_gemm_gops=4000.0,
                                       conv_int8_gops=800.0))
    # 5 GFLOP in 10 ms = 500 GFLOP/s: efficiency 1.000 at a 500 GFLOP/s peak; in 20 ms, 0.500
    assert "| 240×320 | 10.00 | 4.50 | 0.450 | 1.000 |" in text and "| 20.00 | 11.00 | 0.550 | 0.500 |" in text
    assert "| asymfusion-r18 | 240×320 | 50.00 | 30.00 | 0.600 | 0.600 |" in text
    assert "misses the INT8 target (0.450) and reaches the compute-efficiency target (1.000)" in text
    # ours against the plain net with the same full-resolution labels: 0.600 − 0.550 and 0.600 − 0.500
    assert "by +0.050 and +0.100 (asymfusion-r18, 240×320)." in text
    assert "800 GOP/s, 0.20 of it: ONNX Runtime's convolution kernels" in text and "8.0× the FP32 peak" in text
    fast = "\n".join(reference.section(_sizes(0.30, 0.40), [], peak_gflops=500.0, int8_gemm_gops=4000.0,
                                       conv_int8_gops=3000.0))
    assert "reaches the INT8 target (0.300)" in fast
    assert "0.75 of it" in fast and "bound the INT8 gain" not in fast  # no verdict the numbers do not carry
