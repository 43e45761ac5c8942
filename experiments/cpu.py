"""docs/benchmarks.md's inference section, measured on this machine by one command:

    python -m experiments.cpu                      (about 20 minutes on 2 cores)

For each preset and input size it makes the models (an untrained checkpoint with a fixed seed: latency
does not depend on the weights' values; FP32 ONNX exports in every layout; the INT8-CPU variant calibrated
on calib_data/), runs `amf-edge bench` on them (the PyTorch checkpoint first, so ratios are against eager
PyTorch), measures this CPU's matrix-product peak, and rewrites the part of docs/benchmarks.md between
the BEGIN/END markers. The bench reports stay in --work (report.json, report.md, plots per configuration).
A plain ResNet-18 segmentation net, timed the same way (bench/experiments/reference.py), is the yardstick
the targets are set by.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from amf_edge.contract import DEFAULT_OUTPUTS
from amf_edge.convert.export import DEFAULT_OUTPUT_STRIDE
from amf_edge.errors import AmfEdgeError
from experiments import reference

BEGIN, END = "<!-- bench:cpu:begin -->", "<!-- bench:cpu:end -->"
ESANET = {"params_m": 31.2, "gflops": 34.9, "input": "480×640"}  # ESANet R34-NBt1D, its README
LAYOUTS = ("grouped", "split", "batched")  # grouped first: `amf-edge export`'s default
CALIB = Path("calib_data/synthetic-240x320")
TARGETS = {"ort_vs_eager": 0.6, "int8_vs_fp32": 0.35, "compute_efficiency": 0.8, "pipeline_efficiency": 0.95}
LIVE_CONFIG, LIVE_FPS, LIVE_TARGET = ("asymfusion-r18", 480, 640), 30.0, 1.3  # e2e p50 ≤ 1.3 × backend p50


def make_models(preset: str, height: int, width: int, work: Path) -> list[Path]:
    """checkpoint, FP32 ONNX per layout, INT8-CPU: made once, reused while the files exist."""
    import torch

    from amf_edge import load_checkpoint
    from amf_edge.calibset import CalibrationSet
    from amf_edge.checkpoint import save_checkpoint
    from amf_edge.convert.export import export_onnx
    from amf_edge.convert.quantize import QuantizeOptions, make_variant
    from amf_edge.files import file_sha256
    from amf_edge.labels import get_labels
    from amf_edge.models import build_model
    from amf_edge.preprocess import PreprocessSpec

    folder = work / f"{preset}-{height}x{width}"
    ckpt_path = folder / f"{preset}.pt"
    labels = get_labels("nyudv2")
    if not ckpt_path.exists():
        torch.manual_seed(0)
        save_checkpoint(ckpt_path, build_model(preset, num_classes=labels.num_classes), labels=labels,
                        preprocess=PreprocessSpec(), meta={"preset": preset, "note": "untrained, for latency only"})
    ckpt, sha = load_checkpoint(ckpt_path), file_sha256(ckpt_path)
    paths = [ckpt_path]
    for layout in LAYOUTS:
        out = folder / f"fp32-{layout}.onnx"
        if not out.exists():
            export_onnx(ckpt, sha, out, height=height, width=width, layout=layout)
        paths.append(out)
    int8 = folder / "int8-cpu.onnx"
    if not int8.exists():
        make_variant(paths[1], int8, QuantizeOptions("int8-cpu", method="minmax"), calib=CalibrationSet.open(CALIB),
                     cache=folder / "int8-cpu.calib.json")
    return [*paths, int8]


def matmul_peak(threads: int | None, size: int = 2048, repeats: int = 10) -> dict:
    """FP32 GFLOP/s of a large matrix product: ONNX Runtime's MatMul (the library that runs the convolutions,
    same threads), numpy's BLAS and PyTorch's; the peak is the largest, so efficiencies are not flattered.
    Also ONNX Runtime's INT8 product (MatMulInteger, uint8 × int8: the INT8-CPU scheme's operand types), in
    GOP/s: the ceiling its INT8 convolutions could approach."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    def session(graph):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def square(name: str, kind: int):
        return helper.make_tensor_value_info(name, kind, [size, size])

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    a8, b8 = rng.integers(0, 256, (size, size), dtype=np.uint8), rng.integers(-127, 128, (size, size), dtype=np.int8)
    fp32 = session(helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
                                     [square("a", TensorProto.FLOAT), square("b", TensorProto.FLOAT)],
                                     [square("c", TensorProto.FLOAT)]))
    # b is a constant, as a convolution's weights are: ONNX Runtime packs it once
    int8 = session(helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["c"])], "matmul_integer",
                                     [square("a", TensorProto.UINT8)], [square("c", TensorProto.INT32)],
                                     initializer=[numpy_helper.from_array(b8, "b")]))
    flop = 2 * size**3

    def best(fn) -> float:
        # the fastest run: a peak is what the CPU can do, and a shared machine only ever slows it down
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return flop / min(times) / 1e9

    import torch

    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    found = {"onnxruntime_gflops": best(lambda: fp32.run(None, {"a": a, "b": b})),
             "numpy_gflops": best(lambda: a @ b), "torch_gflops": best(lambda: ta @ tb)}
    return {"size": size, **{k: round(v, 1) for k, v in found.items()}, "peak_gflops": round(max(found.values()), 1),
            "onnxruntime_int8_gops": round(best(lambda: int8.run(None, {"a": a8})), 1)}


def op_profile(model: Path, iterations: int = 10) -> dict:
    """Where ONNX Runtime spends one inference, by operator type (its profiler, with the runtime's session
    settings), on the runtime's threads and on one, and the latency with its threads spinning between
    operators, which the runtime turns off."""
    import onnxruntime as ort

    from amf_edge.contract import ModelContract, read_metadata
    from amf_edge.runtime.backends.ort import session_options
    from amf_edge.runtime.sources.synthetic import SyntheticSource

    c = ModelContract.from_metadata(read_metadata(model))  # the metadata alone: no session to load
    inputs = c.inputs(next(iter(SyntheticSource(f"synthetic://?n=1&height={c.height}&width={c.width}"))).sample)

    def session(spinning: bool = True, profiling: bool = False, threads: int | None = None):
        options = session_options(ort, threads, spinning=spinning)
        if profiling:
            options.enable_profiling = True
            options.profile_file_prefix = f"{model.with_suffix('')}-profile-{threads or 'all'}"
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def p50(s) -> float:
        s.run(None, inputs)
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            s.run(None, inputs)
            times.append((time.perf_counter() - start) * 1e3)
        return round(float(np.median(times)), 2)

    def by_op(s) -> dict[str, float]:
        for _ in range(iterations):
            s.run(None, inputs)
        found: dict[str, float] = {}
        for e in json.loads(Path(s.end_profiling()).read_text()):
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                found[e["args"]["op_name"]] = found.get(e["args"]["op_name"], 0.0) + e["dur"] / 1e3 / iterations
        return {k: round(v, 2) for k, v in sorted(found.items(), key=lambda kv: -kv[1])}

    result = {"p50_ms": p50(session()), "p50_ms_without_spinning": p50(session(spinning=False)),
              "p50_ms_1thread": p50(session(threads=1))}
    result["ops_ms"] = by_op(session(profiling=True))
    # one thread against the runtime's: the operators ONNX Runtime runs on one thread whatever it is given
    result["ops_ms_1thread"] = by_op(session(profiling=True, threads=1))
    result["conv_share"] = round(sum(v for k, v in result["ops_ms"].items() if "Conv" in k)
                                 / sum(result["ops_ms"].values()), 3)
    return result


def bench(models: list[Path], report_dir: Path, iters: int, rounds: int, warmup_s: float,
          rate: float | None = None) -> dict:
    """`amf-edge bench` itself, so the docs hold what users get from the command. `rate`: paced like a camera
    (live policy, the bench's default) instead of saturation."""
    from amf_edge.cli.main import main

    # saturation: these tables compare throughputs (pipeline efficiency), which a paced source would cap
    pacing = ["--saturation"] if rate is None else ["--rate", f"{rate:g}"]
    args = ["bench", *map(str, models), "--iters", str(iters), "--rounds", str(rounds), "--warmup-s", str(warmup_s),
            *pacing, "--report", str(report_dir)]
    print("amf-edge " + " ".join(args), flush=True)
    if main(args) != 0:
        raise AmfEdgeError(f"amf-edge bench failed for {report_dir}")
    return json.loads((report_dir / "report.json").read_text())


def configuration(preset: str, height: int, width: int, report: dict, peak: dict) -> dict:
    from amf_edge.models.profile import profile
    from amf_edge.presets import get_preset

    cost = profile(get_preset(preset, num_classes=40), height, width)
    by_kind = {}
    for m in report["models"]:
        kind = "eager" if m["format"] == "checkpoint" else f"{m['precision']}-{m['layout']}"
        fps = m["backend_only"]["throughput_fps"]
        # FP32 arithmetic against the FP32 peak; an INT8 model's multiply-adds are another kind of work
        achieved = cost.flops * fps / 1e9 if fps and m["precision"] == "fp32" else None
        by_kind[kind] = {
            "model": m,
            "gflops_per_s": round(achieved, 1) if achieved else None,
            "compute_efficiency": round(achieved / peak["peak_gflops"], 3) if achieved else None,
        }
    return {"preset": preset, "height": height, "width": width, "params": cost.params["total"], "flops": cost.flops,
            "models": by_kind, "report": report}


def _f(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def _kind_label(kind: str) -> str:
    return ("PyTorch eager" if kind == "eager"
            else f"ONNX Runtime {kind.replace('-', ' ').replace('fp32', 'FP32').replace('int8 cpu', 'INT8-CPU')}")


def render(configs: list[dict], peak: dict, profiles: dict, env: dict, command: str,
           ref: list[dict] | None = None, live: dict | None = None) -> str:
    host = env["host"]
    soft = env["software"]
    lines = [
        BEGIN,
        "## Inference latency on this CPU",
        "",
        "```",
        command,
        "```",
        "",
        f"Measured on {host['cpu']}, {host['cores_usable']} usable cores, ONNX Runtime {soft.get('onnxruntime')}, "
        f"PyTorch {soft.get('torch')}, Python {soft.get('python')}; no GPU. Untrained weights with a fixed seed "
        "(latency does not depend on their values), 40 classes (NYUv2), `amf-edge export`'s default outputs and "
        f"output stride ({', '.join(DEFAULT_OUTPUTS)}; argmax in the graph at stride {DEFAULT_OUTPUT_STRIDE}). "
        "Each table is one `amf-edge bench` run: the models took turns, so ratios within a table hold on this "
        "shared machine; absolute numbers move ±10–20 % between runs. Latency is the median (p50) of back-to-back "
        "inferences; end to end runs the `amf-edge run` pipeline on the same frames in saturation (`--saturation`: "
        "lossless, frames as fast as they are taken), since throughput is what these tables compare. Pipeline "
        "efficiency is end-to-end over backend-only throughput (each model's pipeline turn right after its "
        "backend-only turn, so the two see the same machine); backend busy is the share of the pipeline runs' own "
        "time the backend was at work (1 − it is what capture, preprocessing, queues and sinks cost).",
        "",
        f"Matrix-product peak of this CPU (FP32, {peak['size']}² × {peak['size']}², fastest of 10, before and after "
        f"the runs): ONNX Runtime {peak['onnxruntime_gflops']}, numpy {peak['numpy_gflops']}, PyTorch "
        f"{peak['torch_gflops']} GFLOP/s. Compute efficiency below is the model's FLOPs per second over "
        f"{peak['peak_gflops']} GFLOP/s. e2e p50 is capture to output in saturation, so it includes waiting in the "
        "pipeline's queues (4 frames): a queue, not a slow model; `amf-edge bench` without `--saturation` paces "
        "the frames at the source's rate, as a camera would.",
        "",
    ]
    for c in configs:
        lines += [f"### {c['preset']}, {c['height']}×{c['width']}", "",
                  "| model | p50 ms | p90 ms | p99 ms | jitter ms | FPS | × eager | GFLOP/s | compute eff. | e2e FPS | "
                  "pipeline eff. | backend busy | e2e p50 ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for kind, k in c["models"].items():
            m = k["model"]
            lat, e2e = m["backend_only"]["latency_ms"], m["end_to_end"] or {}
            lines.append(
                f"| {_kind_label(kind)} | {_f(lat['p50'])} | {_f(lat['p90'])} | {_f(lat['p99'])} | "
                f"{_f(lat['jitter'])} | {_f(m['backend_only']['throughput_fps'])} | "
                f"{_f(m['ratios']['backend_only_p50'], 3)} | "
                f"{_f(k['gflops_per_s'], 1)} | {_f(k['compute_efficiency'], 3)} | {_f(e2e.get('throughput_fps'))} | "
                f"{_f(e2e.get('pipeline_efficiency'), 3)} | {_f(e2e.get('backend_busy'), 3)} | "
                f"{_f((e2e.get('latency_ms') or {}).get('p50'))} |")
        lines.append("")
    lines += targets_table(configs) + [""] + host_class_notes(env)
    if live:
        lines += live_section(live) + [""]
    if ref:
        lines += reference_section(ref, configs, profiles, peak) + [""]
    lines += profile_section(profiles, configs[0]["flops"], peak["peak_gflops"]) + [""] + cost_table(configs) + [END]
    return "\n".join(lines)


def host_class_notes(env: dict) -> list[str]:
    """Which host class the figures come from: ONNX Runtime's int8 kernels differ with and without VNNI."""
    from amf_edge.runtime.backends.ort import saturating_int8_host

    if not saturating_int8_host():
        return [f"Host class: x86-64 with VNNI ({env['host']['cpu']}): ONNX Runtime's int8 convolutions accumulate in "
                "32 bits at full speed, so INT8-CPU / FP32 above is the VNNI figure.", ""]
    return [f"Host class: x86-64 without VNNI ({env['host']['cpu']}): ONNX Runtime's fast int8 kernels saturate here "
            "(3.3 mIoU lost on a trained r18), so the runtime runs INT8-CPU on its exact 32-bit path "
            "(`session.x64quantprecision`, runtime/backends/ort.py), which the INT8-CPU rows above measure. Both FP32 "
            "and exact INT8-CPU are within 1 mIoU of each other (docs/results/precision.md): the faster of the two "
            "rows is this host's scheme.", ""]


def live_section(report: dict) -> list[str]:
    """End to end at a camera's pace (live: the newest frame wins) against the backend alone, per model."""
    lines = [f"### Live at {LIVE_FPS:g} FPS ({LIVE_CONFIG[0]}, {LIVE_CONFIG[1]}×{LIVE_CONFIG[2]})", "",
             f"`amf-edge bench` paced at {LIVE_FPS:g} FPS, live policy (its default): e2e p50 is capture to output "
             "with a camera's frames, so a model slower than the camera shows as dropped frames, not as a queue.", "",
             f"| model | backend p50 ms | e2e p50 ms | e2e ÷ backend (≤ {LIVE_TARGET}) | frames dropped |",
             "|---|---|---|---|---|"]
    for m in report["models"]:
        alone = m["backend_only"]["latency_ms"]["p50"]
        e2e = m["end_to_end"] or {}
        p50 = (e2e.get("latency_ms") or {}).get("p50")
        share = p50 / alone if p50 and alone else None
        ok = "✔" if share is not None and share <= LIVE_TARGET else "✘"
        kind = f"{m['precision']}-{m.get('layout') or 'grouped'}"
        lines.append(f"| {_kind_label(kind)} | {_f(alone)} | {_f(p50)} | {_f(share, 3)} {ok} | "
                     f"{e2e.get('dropped', '–')} |")
    return lines


def reference_section(ref: list[dict], configs: list[dict], profiles: dict, peak: dict) -> list[str]:
    """The plain ResNet-18 beside asymfusion-r18 (bench/experiments/reference.py)."""
    ours = [{"name": c["preset"], "height": c["height"], "width": c["width"],
             "fp32_ms": c["models"]["fp32-grouped"]["model"]["backend_only"]["latency_ms"]["p50"],
             "int8_ms": c["models"]["int8-cpu-grouped"]["model"]["backend_only"]["latency_ms"]["p50"],
             "compute_efficiency": c["models"]["fp32-grouped"]["compute_efficiency"]}
            for c in configs if c["preset"] == "asymfusion-r18"]
    conv_ms = sum(v for op, v in profiles["int8-cpu"]["ops_ms"].items() if "Conv" in op)
    conv_gops = configs[0]["flops"] / conv_ms / 1e6 if configs[0]["preset"] == "asymfusion-r18" else None
    return reference.section(ref, ours, peak["peak_gflops"], peak["onnxruntime_int8_gops"], conv_gops)


def target_values(c: dict) -> dict:
    ms = {k: v["model"]["backend_only"]["latency_ms"]["p50"] for k, v in c["models"].items()}
    fp32 = c["models"]["fp32-grouped"]
    int8 = c["models"]["int8-cpu-grouped"]
    return {
        "ort_vs_eager": round(ms["fp32-grouped"] / ms["eager"], 3),
        "int8_vs_fp32": round(ms["int8-cpu-grouped"] / ms["fp32-grouped"], 3),
        "compute_efficiency": fp32["compute_efficiency"],
        "pipeline_efficiency": min((v["model"]["end_to_end"] or {}).get("pipeline_efficiency") or 0.0
                                   for v in (fp32, int8)),
        "backend_busy": min((v["model"]["end_to_end"] or {}).get("backend_busy") or 0.0 for v in (fp32, int8)),
    }


def targets_table(configs: list[dict]) -> list[str]:
    lines = ["### Targets", "",
             "| preset | input | ORT FP32 / eager (≤ 0.6) | INT8-CPU / FP32 (≤ 0.35) | FP32 compute eff. (≥ 0.8) | "
             "pipeline eff., worse of FP32 and INT8-CPU (≥ 0.95) |",
             "|---|---|---|---|---|---|"]
    for c in configs:
        v = target_values(c)
        cells = []
        for key, limit in TARGETS.items():
            ok = v[key] is not None and (v[key] <= limit if key.endswith(("eager", "fp32")) else v[key] >= limit)
            busy = f" (backend busy {_f(v['backend_busy'], 3)})" if key == "pipeline_efficiency" else ""
            cells.append(f"{_f(v[key], 3)} {'✔' if ok else '✘'}{busy}")
        lines.append(f"| {c['preset']} | {c['height']}×{c['width']} | " + " | ".join(cells) + " |")
    notes = pipeline_notes(configs)
    return lines + ([""] + notes if notes else [])


def pipeline_notes(configs: list[dict]) -> list[str]:
    """Why a pipeline efficiency is below target: the pipeline's own cost, or the backend running slower in
    the pipeline's turns than in its backend-only turns."""
    notes = []
    for c in configs:
        for kind in ("fp32-grouped", "int8-cpu-grouped"):
            m = c["models"][kind]["model"]
            e2e = m["end_to_end"]
            if e2e is None or (e2e["pipeline_efficiency"] or 0) >= TARGETS["pipeline_efficiency"]:
                continue
            stages = e2e["stages_ms"]
            in_backend = sum((stages[s] or {}).get("mean", 0.0) for s in ("upload", "inference", "download"))
            alone = m["backend_only"]["latency_ms"]["mean"]
            notes.append(
                f"- {c['preset']} {c['height']}×{c['width']} {_kind_label(kind)}: pipeline efficiency "
                f"{e2e['pipeline_efficiency']:.3f}, but the backend was busy {e2e['backend_busy']:.1%} of the "
                f"pipeline's time, and one inference took {in_backend:.1f} ms there against {alone:.1f} ms in its "
                f"backend-only turns ({in_backend / alone - 1:+.1%}): the machine was slower during those turns; the "
                f"pipeline's own cost (capture, preprocessing, queues, sinks) is {1 - e2e['backend_busy']:.1%} "
                f"of its time.")
    return notes


def profile_section(profiles: dict, flops: int, peak: float) -> list[str]:
    """Where the time goes, from ONNX Runtime's profiler: the numbers behind the INT8 and efficiency targets."""
    fp32, int8 = profiles["fp32-grouped"], profiles["int8-cpu"]
    ops = list(dict.fromkeys([*list(fp32["ops_ms"])[:8], *list(int8["ops_ms"])[:10]]))
    one = int8.get("ops_ms_1thread", {})  # (measurements before it existed have none)

    def speedup(op: str) -> float | None:
        return one[op] / int8["ops_ms"][op] if one.get(op) and int8["ops_ms"].get(op) else None

    lines = [f"### Where the time goes ({profiles['config']}, ONNX Runtime's profiler, mean of 10 inferences)", "",
             "| operator (after ONNX Runtime's fusions) | FP32 ms | INT8-CPU ms | INT8-CPU ms, 1 thread | "
             "INT8-CPU speed-up of the 2nd thread |", "|---|---|---|---|---|"]
    lines += [f"| {op} | {_f(fp32['ops_ms'].get(op))} | {_f(int8['ops_ms'].get(op))} | {_f(one.get(op))} | "
              f"{_f(speedup(op))} |" for op in ops]
    total = {k: sum(p["ops_ms"].values()) for k, p in (("fp32", fp32), ("int8", int8))}
    conv = {k: sum(v for op, v in p["ops_ms"].items() if "Conv" in op) for k, p in (("fp32", fp32), ("int8", int8))}
    rest = {k: total[k] - conv[k] for k in total}
    lines.append(f"| all operators | {_f(total['fp32'])} | {_f(total['int8'])} | {_f(sum(one.values()) or None)} | "
                 f"{_f(sum(one.values()) / total['int8'] if one else None)} |")
    serial = [op for op in int8["ops_ms"] if "Conv" not in op and (speedup(op) or 2.0) < 1.2]
    serial_ms = sum(int8["ops_ms"][op] for op in serial)
    budget = TARGETS["int8_vs_fp32"] * total["fp32"]  # INT8-CPU time the target allows, in profiler ms
    conv_gflops = flops / (conv["fp32"] / 1e3) / 1e9
    lines += [
        "",
        f"- **INT8-CPU vs FP32:** the convolutions run {conv['fp32'] / conv['int8']:.1f}× faster in INT8 "
        f"({_f(conv['fp32'], 1)} → {_f(conv['int8'], 1)} ms), but everything else does not shrink "
        f"({_f(rest['fp32'], 1)} → {_f(rest['int8'], 1)} ms): the decoder's chained max-pools, the resizes, "
        "the additions and concatenations of the fusion and the full-resolution argmax are memory-bound. The "
        f"target allows {_f(budget, 1)} ms; the other operators alone take {_f(rest['int8'], 1)}, so the "
        f"convolutions would have to fit in {_f(max(budget - rest['int8'], 0), 1)} ms, "
        f"{conv['int8'] / max(budget - rest['int8'], 1e-9):.0f}× faster than they run. The target needs a cheaper "
        "decoder and head as well as faster INT8 convolutions, not a better quantizer.",
        *([f"- **One thread or two:** {', '.join(serial[:6])} take {_f(serial_ms, 1)} ms of INT8-CPU's "
           f"{_f(total['int8'], 1)} and run no faster on the second thread (speed-up under 1.2 above), while "
           "the convolutions and the FP32 model do. So "
           f"INT8-CPU ÷ FP32 is {int8['p50_ms_1thread'] / fp32['p50_ms_1thread']:.3f} on one thread "
           f"({_f(int8['p50_ms_1thread'])} and {_f(fp32['p50_ms_1thread'])} ms) and "
           f"{int8['p50_ms'] / fp32['p50_ms']:.3f} on two: ONNX Runtime's uint8 operators other than the "
           "convolutions, not the quantization, keep INT8-CPU from the target on this host."]
          if one and "p50_ms_1thread" in int8 else []),
        f"- **Compute efficiency:** the convolutions alone reach {conv_gflops:.0f} GFLOP/s "
        f"({conv_gflops / peak:.2f} of the peak; all but a few percent of the model's FLOPs are theirs), but they "
        f"are {fp32['conv_share']:.0%} of the FP32 time: the rest moves memory and does almost no arithmetic, which "
        f"puts the whole model near {conv_gflops / peak * fp32['conv_share']:.2f} of the peak.",
        *([f"- **Spin-waiting:** the runtime lets ONNX Runtime's threads spin between operators (its default; "
           f"runtime/backends/ort.py). Without it the backend-only p50 would be {_f(fp32['p50_ms_without_spinning'])} "
           f"instead of {_f(fp32['p50_ms'])} ms (FP32) and {_f(int8['p50_ms_without_spinning'])} instead of "
           f"{_f(int8['p50_ms'])} ms (INT8-CPU). Spinning threads were feared to take the cores from capture and "
           "sinks; below, they do not."] if "p50_ms_without_spinning" in fp32 else []),
    ]
    return lines


def cost_table(configs: list[dict]) -> list[str]:
    lines = ["### Size and cost", "",
             "| model | input | params | GFLOPs (multiply and add counted apart) | GMACs |", "|---|---|---|---|---|"]
    seen = set()
    for c in configs:
        key = (c["preset"], c["height"], c["width"])
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"| {c['preset']} | {c['height']}×{c['width']} | {c['params'] / 1e6:.1f} M | "
                     f"{c['flops'] / 1e9:.1f} | {c['flops'] / 2e9:.1f} |")
    lines.append(f"| ESANet R34-NBt1D (published) | {ESANET['input']} | {ESANET['params_m']} M | "
                 f"{ESANET['gflops']} | – |")
    lines += ["", "ESANet's README does not say whether its 34.9 counts multiply-adds once (MACs) or twice (FLOPs); "
              "ours are counted by PyTorch's FlopCounterMode (2 per multiply-add), with MACs beside them. Either way "
              "asymfusion-r18 has about a third of ESANet's parameters, and at 480×640 costs 0.8× (if ESANet counts "
              "MACs) to 1.7× (if FLOPs) its compute."]
    return lines


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    if not (h.isdigit() and w.isdigit()):
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 240x320, got {text!r}")
    return int(h), int(w)


def _iters(at_240x320: int, height: int, width: int) -> int:
    return max(8, round(at_240x320 * 240 * 320 / (height * width)))


def measure(args) -> dict:
    """Make the models, bench every configuration, profile the first, and the peak before and after."""
    peak = matmul_peak(None)
    print(f"matrix-product peak: {peak}", flush=True)
    measured = {"peak": peak, "profiles": {}, "reports": []}
    for preset in args.presets:
        for height, width in args.sizes:
            models = make_models(preset, height, width, args.work)
            iters = _iters(args.iters, height, width)
            folder = args.work / f"{preset}-{height}x{width}" / "report"
            bench(models, folder, iters, args.rounds, args.warmup_s)
            measured["reports"].append({"preset": preset, "height": height, "width": width, "path": str(folder)})
            if not measured["profiles"]:  # the first configuration explains the rest: where the time goes
                measured["profiles"] = {"config": f"{preset}, {height}×{width}",
                                        **{m.stem: op_profile(m) for m in models
                                           if m.stem in ("fp32-grouped", "int8-cpu")}}
    # the live target: end to end at a camera's pace against the backend alone (asymfusion-r18, 480×640)
    models = make_models(*LIVE_CONFIG, args.work)
    live = args.work / "{}-{}x{}".format(*LIVE_CONFIG) / "report-live"
    bench([m for m in models if m.stem in ("fp32-grouped", "int8-cpu")], live, _iters(args.iters, *LIVE_CONFIG[1:]),
          args.rounds, args.warmup_s, rate=LIVE_FPS)
    measured["live"] = str(live)
    measured["reference"] = [reference.measure(height, width, args.work, _iters(args.iters, height, width),
                                               args.rounds, args.warmup_s) for height, width in args.sizes]
    again = matmul_peak(None)  # once more after the runs: the better of the two counts
    measured["peak"] = max(peak, again, key=lambda p: p["peak_gflops"])
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["asymfusion-r18", "asymfusion-r34"])
    parser.add_argument("--sizes", nargs="+", type=_size, default=[(240, 320), (480, 640)], metavar="HxW")
    parser.add_argument("--iters", type=int, default=30, help="timed iterations per model at 240×320 (÷4 at 4× pixels)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--work", type=Path, default=Path("runs/bench-cpu"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--reuse", action="store_true", help="re-render from the last run's measurements in --work")
    args = parser.parse_args(argv)
    from amf_edge.bench.environment import collect_environment

    saved = args.work / "measurements.json"
    if args.reuse:
        measured = json.loads(saved.read_text())
    else:
        measured = measure(args)
        saved.write_text(json.dumps(measured, indent=1))
    peak, profiles = measured["peak"], measured["profiles"]
    configs = [configuration(r["preset"], r["height"], r["width"],
                             json.loads((Path(r["path"]) / "report.json").read_text()), peak)
               for r in measured["reports"]]
    command = measured.setdefault("command", "python -m experiments.cpu " + " ".join(
        sys.argv[1:] if argv is None else argv).replace("--reuse", "").strip())
    live = json.loads((Path(measured["live"]) / "report.json").read_text()) if measured.get("live") else None
    write_section(args.out, render(configs, peak, profiles, collect_environment(), command.strip(),
                                   measured.get("reference"), live))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
