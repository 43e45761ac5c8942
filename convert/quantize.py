"""FP32 ONNX → FP16, INT8 (Q/DQ, TensorRT's scheme) and INT8-CPU variants, decided in the graph.

TensorRT 11 builds strongly typed networks only: precision comes from the ONNX file, not builder flags.
So every variant is an ONNX file that ONNX Runtime checks on the CPU before any TensorRT sees it:

  fp16      the network body in float16; pre-processing, the ensemble, upsampling, argmax, softmax and
            the overlay stay float32 (they decide labels and confidences), I/O types unchanged;
  int8      Q/DQ before every body Conv: symmetric int8 activations per tensor, symmetric int8 weights
            per output channel (TensorRT's explicit-quantization scheme; zero points are 0);
  int8-cpu  uint8 asymmetric activations on every body op ONNX Runtime quantizes: the flavour its x86
            kernels run fast (symmetric int8 Q/DQ runs slower than FP32 there). Not for TensorRT.

"Body" is every node on a path from one Conv to another; everything outside it is the sensor-level pre- and
post-processing, which stays float32 in every variant.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from amf_edge.calibset import CalibrationSet
from amf_edge.contract import ModelContract, encode_metadata, read_metadata
from amf_edge.convert.calib_cache import cache_key, check_cache, read_cache, write_cache
from amf_edge.convert.lint import check_tensorrt_parsable
from amf_edge.errors import AmfEdgeError
from amf_edge.files import file_sha256, replacing
from amf_edge.lazy import require_module

PRECISIONS = ("fp16", "int8", "int8-cpu")
METHODS = ("entropy", "percentile", "minmax")
INT8_OPS = ("Conv",)  # the weighted layers; TensorRT fuses their bias, ReLU and residual Add into them
QUANTIZERS = ("ort", "modelopt")  # ONNX Runtime's quantize_static, or NVIDIA ModelOpt in its own environment
MODELOPT_METHODS = {"minmax": "max", "entropy": "entropy"}  # our method names → ModelOpt's calibration_method


@dataclass(frozen=True)
class QuantizeOptions:
    precision: str
    # minmax measured best in exact arithmetic on a trained r18 (docs/results/precision.md): entropy's thresholds
    # clip the residual stream (over 11 mIoU points lost), percentile's agree less with FP32
    method: str = "minmax"
    percentile: float = 99.99
    keep: tuple[str, ...] = ()  # body nodes kept in float32 (the sensitivity pass's answer)
    quantizer: str = "ort"  # "modelopt": int8 only, made by modelopt_driver.py in .venv-modelopt

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise AmfEdgeError(f"precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.method not in METHODS:
            raise AmfEdgeError(f"calibration method {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.quantizer not in QUANTIZERS:
            raise AmfEdgeError(f"quantizer {self.quantizer!r}: choose one of {', '.join(QUANTIZERS)}")
        if self.quantizer == "modelopt" and self.precision != "int8":
            raise AmfEdgeError(f"--quantizer modelopt makes --precision int8 (TensorRT's Q/DQ) only; make "
                               f"{self.precision} with --quantizer ort")
        if self.quantizer == "modelopt" and self.method not in MODELOPT_METHODS:
            raise AmfEdgeError(f"--quantizer modelopt calibrates with --method {' or '.join(MODELOPT_METHODS)} "
                               f"(ModelOpt's max and entropy), not {self.method}")
        if not 90 <= self.percentile < 100:
            raise AmfEdgeError(f"--percentile {self.percentile}: expected a value in [90, 100), e.g. 99.99")


@dataclass
class Body:
    """Node names of one graph: those outside the network body (pre- and post-processing), its Convs, and its
    residual Adds (one input straight from a Conv, the Add TensorRT fuses into that Conv; or, in a ResNet block
    that downsamples, the Add of conv2 and the downsample Conv, whose downsample side is the residual)."""

    outside: list[str] = field(default_factory=list)
    convs: list[str] = field(default_factory=list)
    residual_adds: list[str] = field(default_factory=list)


def name_nodes(model) -> None:
    """Give every node a unique name: ONNX Runtime's quantizer and the fp16 converter select nodes by name."""
    seen = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)


def split_body(model) -> Body:
    """The body is every node on a path from one Conv to another: a node with no Conv upstream is pre-processing
    (which the export may place after a branch's first Conv: the modalities' stems come one after the other), one
    with no Conv downstream is post-processing. Exported graphs are topologically ordered."""
    nodes = list(model.graph.node)
    if not any(n.op_type == "Conv" for n in nodes):
        raise AmfEdgeError("the model has no Conv node; is it an amf-edge export?")
    after_conv: set[str] = set()  # tensors with a Conv upstream (a Conv's own outputs included)
    for n in nodes:
        if n.op_type == "Conv" or any(x in after_conv for x in n.input):
            after_conv.update(n.output)
    before_conv: set[str] = set()  # tensors with a Conv downstream (a Conv's own inputs included)
    for n in reversed(nodes):
        if n.op_type == "Conv" or any(x in before_conv for x in n.output):
            before_conv.update(n.input)
    conv_outputs = {n.output[0] for n in nodes if n.op_type == "Conv"}
    downsample_outputs = {n.output[0] for n in nodes if n.op_type == "Conv" and _is_downsample(n)}
    body = Body()
    for node in nodes:
        if node.op_type == "Conv":
            body.convs.append(node.name)
        elif not (any(x in after_conv for x in node.input) and any(x in before_conv for x in node.output)):
            body.outside.append(node.name)
        elif node.op_type == "Add" and (sum(x in conv_outputs for x in node.input) == 1
                                         or any(x in downsample_outputs for x in node.input)):
            body.residual_adds.append(node.name)
    return body


def _is_downsample(conv) -> bool:
    return ".downsample" in conv.name  # the export names Convs by module (convert/export.py)


def to_fp16(model, keep: tuple[str, ...] = ()):
    """Body in float16 (except `keep`); ONNX Runtime's converter inserts the Casts at the boundaries."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnxslim = require_module("onnxslim")
    body = split_body(model)
    with _quiet("onnxruntime.transformers"):
        half = convert_float_to_float16(model, keep_io_types=True, op_block_list=[],
                                        node_block_list=[*body.outside, *keep])
    _drop_round_trips(half)
    # The converter appends its boundary Casts at the end of the node list; onnxslim sorts the graph again
    # and removes the no-op Casts left by _drop_round_trips.
    return onnxslim.slim(half)


def _drop_round_trips(model) -> None:
    """Undo the converter's float32 → float16 → float32 Casts on the outputs of float32 nodes.

    It casts every blocked node's output to float16 and back, which would round the ensemble logits,
    the upsampled scores before argmax, the softmax and the overlay to float16: exactly what the block
    list is meant to keep in float32. Each such pair becomes one no-op Cast (float32 → float32).
    """
    onnx = require_module("onnx")
    f16, f32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    to = {n.name: onnx.helper.get_attribute_value(n.attribute[0]) for n in model.graph.node if n.op_type == "Cast"}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in model.graph.output}
    dropped = []
    for node in model.graph.node:
        users = consumers.get(node.output[0], []) if node.op_type == "Cast" else []
        if (to.get(node.name) == f16 and users and node.output[0] not in outputs
                and all(u.op_type == "Cast" and to[u.name] == f32 for u in users)):
            for user in users:
                user.input[0] = node.input[0]
            dropped.append(node)
    for node in dropped:
        model.graph.node.remove(node)


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over a calibration set, fed as the runtime feeds."""

    def __init__(self, calib: CalibrationSet, contract: ModelContract, progress: bool = False):
        self.calib, self.contract, self.progress = calib, contract, progress
        self.rewind()

    def get_next(self):
        return next(self._batches, None)

    def rewind(self) -> None:
        self._batches = iter(self.calib.batches(self.contract))
        if self.progress:  # one inference per frame: the long part of quantizing
            from tqdm import tqdm

            self._batches = iter(tqdm(self._batches, total=len(self.calib), desc="calibrating", unit="frame",
                                      leave=False))

    def __len__(self) -> int:
        return len(self.calib)


def quantize_int8(src: Path, out: Path, options: QuantizeOptions, calib: CalibrationSet, contract: ModelContract,
                  cache: Path, progress: bool = False) -> dict:
    """Static Q/DQ quantization of `src` into `out`; calibration ranges come from (or go to) `cache`."""
    onnx = require_module("onnx")
    q = require_module("onnxruntime.quantization", "INT8 quantization")
    cpu = options.precision == "int8-cpu"
    model = onnx.load(str(src))
    name_nodes(model)
    body = split_body(model)
    # int8 (TensorRT): the inputs of weighted layers, and the residual input of each Add that follows a Conv.
    # ONNX Runtime quantizes both inputs of an Add; the Conv side's pair is taken out again (_conv_side_to_float).
    op_types = None if cpu else [*INT8_OPS, "Add"]
    # Adds left float: those without a Conv input, and those whose Conv is kept in float (no int8 to fuse with)
    kept_outputs = {n.output[0] for n in model.graph.node if n.name in options.keep}
    plain_adds = [] if cpu else [n.name for n in model.graph.node if n.op_type == "Add" and (
        n.name not in body.residual_adds or any(x in kept_outputs for x in n.input))]
    settings = ort_settings(q, options.precision)
    key = cache_key(file_sha256(src), calib, options.method,
                    {"op_types": op_types or "all", "calibrator": CALIBRATOR_VERSION,
                     "percentile": options.percentile if options.method == "percentile" else None})
    hit = check_cache(cache, key)
    with tempfile.TemporaryDirectory(prefix="amf-edge-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        onnx.save(model, str(pre))
        # skip_optimization keeps the graph in plain opset 18 (the optimiser adds com.microsoft domains that
        # TensorRT cannot parse); shape inference is all the quantizer needs.
        with _quiet("root"):
            q.quant_pre_process(str(pre), str(pre), skip_optimization=True)
        ort_cache = Path(tmp) / "ranges.json"
        if hit:
            ort_cache.write_text(json.dumps(read_cache(cache, key)["ort_tensors_data"]))
        else:
            ranges = calibrate(q, pre, _Reader(calib, contract, progress), options, op_types, sensor_tensors(model),
                               Path(tmp))
            q.calibrate.save_tensors_data(ranges, ort_cache)
        with _quiet("root"):
            q.quantize_static(
                str(pre), str(out), None, **settings,
                op_types_to_quantize=op_types, nodes_to_exclude=[*body.outside, *plain_adds, *options.keep],
                calibrate_method=_method(q, options.method), calibration_cache_path=str(ort_cache))
        if not cpu:
            quantized = onnx.load(str(out))
            _conv_side_to_float(quantized)
            onnx.save(quantized, str(out))
        if not hit:
            write_cache(cache, key, {"ort_tensors_data": json.loads(ort_cache.read_text())})
    return {"calibration": {"set": calib.name, "content_sha256": calib.content_sha256, "frames": len(calib),
                            "method": options.method, "cache": str(cache), "reused": hit}}


# Our calibrators' settings: TensorRT's entropy calibration searches thresholds over a 2048-bin histogram from 128
# quantized bins up. (ONNX Runtime's default of 128 bins for entropy leaves one candidate, the maximum, so entropy
# equalled minmax.) Bump CALIBRATOR_VERSION when they change: it keys the calibration cache.
HISTOGRAM_BINS, QUANTIZED_BINS = 2048, 128
CALIBRATOR_VERSION = 2


def calibrate(q, model_path: Path, reader, options: QuantizeOptions, op_types: list[str] | None,
              full_range: set[str], tmp: Path):
    """Ranges of the tensors to quantize (onnxruntime.quantization's TensorsData), by `options.method`.

    The tensors in `full_range` (the network's inputs as the first Convs see them: normalised RGB, depth in
    model units) keep their whole calibrated range whatever the method: clipping depth at a fraction of its
    range turns every farther pixel into the same value (ModelOpt's entropy clipped it at 3.65 m).
    """
    extra = {"entropy": {"num_bins": HISTOGRAM_BINS, "num_quantized_bins": QUANTIZED_BINS},
             "percentile": {"num_bins": HISTOGRAM_BINS, "percentile": options.percentile, "symmetric": True},
             "minmax": {}}[options.method]
    with _quiet("root"), contextlib.redirect_stdout(None):  # the calibrators print their progress
        calibrator = q.create_calibrator(model_path, op_types, augmented_model_path=str(tmp / "augmented.onnx"),
                                         calibrate_method=_method(q, options.method), extra_options=extra)
        calibrator.collect_data(reader)
        ranges = calibrator.compute_data()
    histograms = getattr(calibrator.collector, "histogram_dict", None) if options.method != "minmax" else None
    for name in full_range & set(ranges.keys()) if histograms is not None else ():
        lowest, highest = histograms[name][2:4]  # the histogram collectors keep each tensor's true min and max
        ranges[name] = q.calibrate.TensorData(lowest=np.float32(lowest), highest=np.float32(highest))
    return ranges


def sensor_tensors(model) -> set[str]:
    """The activations of the Convs that see the network's inputs directly (after the in-graph preprocessing,
    with no Conv between them and the inputs)."""
    before_convs = {i.name for i in model.graph.input}
    for node in model.graph.node:  # topologically ordered
        if node.op_type != "Conv" and any(x in before_convs for x in node.input):
            before_convs.update(node.output)
    return {n.input[0] for n in model.graph.node if n.op_type == "Conv" and n.input[0] in before_convs}


def _conv_side_to_float(model) -> None:
    """Feed each Add the Conv output itself where ONNX Runtime put a Q/DQ pair between them.

    TensorRT fuses Conv + residual Add (+ ReLU) when the Add's other input arrives quantized; a Q/DQ pair on
    the Conv's own output would end the Conv in int8 and leave the Add unfused. Where both inputs are Convs (a
    block that downsamples), the downsample Conv's side is the residual and keeps its pair. Pairs left without
    consumers go.
    """
    producer = {o: n for n in model.graph.node for o in n.output}

    def quantized_conv(name: str):  # (the Q node, the Conv) when `name` is DQ(Q(Conv output)), else None
        dq = producer.get(name)
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        source = producer.get(q.input[0]) if q is not None and q.op_type == "QuantizeLinear" else None
        return (q, source) if source is not None and source.op_type == "Conv" else None

    for add in (n for n in model.graph.node if n.op_type == "Add"):
        sides = [quantized_conv(name) for name in add.input]
        two_convs = all(sides)
        for i, side in enumerate(sides):
            if side is not None and not (two_convs and _is_downsample(side[1])):
                add.input[i] = side[0].input[0]
    used = {x for n in model.graph.node for x in n.input} | {o.name for o in model.graph.output}
    for op in ("DequantizeLinear", "QuantizeLinear"):  # a DQ's removal can leave its Q unused
        for node in [n for n in model.graph.node if n.op_type == op and n.output[0] not in used]:
            model.graph.node.remove(node)
        used = {x for n in model.graph.node for x in n.input} | {o.name for o in model.graph.output}
    keep = {x for n in model.graph.node for x in n.input}
    for init in [t for t in model.graph.initializer if t.name not in keep]:
        model.graph.initializer.remove(init)


def make_variant(src: str | Path, out: str | Path, options: QuantizeOptions, *, calib: CalibrationSet | None = None,
                 cache: str | Path | None = None, progress: bool = False) -> Path:
    """Write the `options.precision` variant of the FP32 amf-edge export `src` to `out`, with its metadata;
    `progress` shows a bar while the calibration frames run."""
    onnx = require_module("onnx")
    src, out = Path(src), Path(out)
    meta = read_metadata(src)
    if meta.get("precision", "fp32") != "fp32":
        raise AmfEdgeError(f"{src} is already a {meta['precision']} model; quantize the FP32 export "
                           "(`amf-edge export CKPT -o model.onnx`)")
    out.parent.mkdir(parents=True, exist_ok=True)
    # the variant is written under a hidden name and renamed when whole: a failure (a full disk) leaves no half file
    with replacing(out, f"{options.precision} model") as tmp:
        info: dict = {}
        if options.precision == "fp16":
            model = onnx.load(str(src))
            name_nodes(model)
            model = to_fp16(model, options.keep)
        else:
            if calib is None:
                raise AmfEdgeError(f"{options.precision} needs a calibration set: pass --calib calib_data/NAME "
                                   "(make one with `amf-edge calib collect`)")
            if options.quantizer == "modelopt":  # calibrates on every run: no calibration cache
                info = quantize_modelopt(src, tmp, options, calib, ModelContract.from_metadata(meta))
            else:
                cache = Path(cache) if cache else out.with_name(out.name + ".calib.json")
                info = quantize_int8(src, tmp, options, calib, ModelContract.from_metadata(meta), cache, progress)
            model = onnx.load(str(tmp))
        del model.metadata_props[:]
        meta.update(precision=options.precision, quantization={**asdict(options), "keep": list(options.keep), **info},
                    source_sha256=file_sha256(src))
        for key, value in encode_metadata(meta).items():
            model.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(model)
        if options.precision != "int8-cpu":  # int8-cpu is ONNX Runtime's flavour (uint8 Q/DQ); TensorRT never sees it
            check_tensorrt_parsable(model, out)
        onnx.save(model, str(tmp))
    return out


def modelopt_python() -> Path:
    """The Python of the ModelOpt environment: $AMF_EDGE_MODELOPT_PYTHON, else the checkout's .venv-modelopt."""
    configured = os.environ.get("AMF_EDGE_MODELOPT_PYTHON")
    python = Path(configured) if configured else Path(__file__).resolve().parents[1] / ".venv-modelopt/bin/python"
    if not python.is_file():
        raise AmfEdgeError(f"--quantizer modelopt runs in its own environment, and {python} does not exist: "
                           "`make modelopt` creates .venv-modelopt in the amf-edge checkout (ModelOpt pins its own "
                           "onnx and onnxruntime-gpu, so it is never installed beside amf-edge), or set "
                           "AMF_EDGE_MODELOPT_PYTHON to the Python of an environment with nvidia-modelopt[onnx]")
    return python


def quantize_modelopt(src: Path, out: Path, options: QuantizeOptions, calib: CalibrationSet,
                      contract: ModelContract) -> dict:
    """INT8 Q/DQ of `src` into `out` by NVIDIA ModelOpt (modelopt_driver.py, run in its own environment), calibrated
    on the calibration set's frames as the runtime feeds them. Where Q/DQ go inside the body is ModelOpt's choice;
    the pre- and post-processing (outside the body) and `options.keep` stay float32."""
    onnx = require_module("onnx")
    python = modelopt_python()
    model = onnx.load(str(src))
    name_nodes(model)
    excluded = [*split_body(model).outside, *options.keep]
    feeds = list(calib.batches(contract))
    shapes = {name: {f[name].shape[1:] for f in feeds} for name in feeds[0]}
    if any(len(s) > 1 for s in shapes.values()):
        raise AmfEdgeError(f"{calib.name}: frames of several sizes ({shapes}); ModelOpt calibrates on one stacked "
                           "array per input: export the model at a fixed size (--height/--width)")
    with tempfile.TemporaryDirectory(prefix="amf-edge-modelopt-") as tmp:
        named, data, report = Path(tmp) / "named.onnx", Path(tmp) / "calib.npz", Path(tmp) / "info.json"
        onnx.save(model, str(named))
        np.savez(data, **{name: np.concatenate([f[name] for f in feeds]) for name in feeds[0]})
        command = [str(python), "-I", str(Path(__file__).with_name("modelopt_driver.py")), str(named),
                   "--calib", str(data), "--method", MODELOPT_METHODS[options.method], "-o", str(out),
                   "--info", str(report), *(f"--exclude={name}" for name in excluded)]
        done = subprocess.run(command, capture_output=True, text=True)
        versions = json.loads(report.read_text()) if report.is_file() else {}
        if done.returncode != 0 or "error" in versions:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            why = versions.get("error") or (lines[-1] if lines else f"exit status {done.returncode}")
            raise AmfEdgeError(f"ModelOpt could not quantize {src}: {why}")
    _check_io(onnx, model, onnx.load(str(out)), out)
    return {"calibration": {"set": calib.name, "content_sha256": calib.content_sha256, "frames": len(calib),
                            "method": options.method, "modelopt_method": MODELOPT_METHODS[options.method],
                            "cache": None, "reused": False},  # ModelOpt calibrates on every run
            "modelopt_version": versions.get("modelopt"),
            "modelopt_env": {"onnx": versions.get("onnx"), "onnxruntime": versions.get("onnxruntime")}}


def _check_io(onnx, before, after, path: Path) -> None:
    """The contract's inputs and outputs: same names, element types and shapes."""
    def io(model):
        return [(v.name, v.type.tensor_type.elem_type, str(v.type.tensor_type.shape))
                for v in (*model.graph.input, *model.graph.output)]
    if io(before) != io(after):
        raise AmfEdgeError(f"{path}: the quantizer changed the model's inputs or outputs: {io(before)} → {io(after)}")


def ort_settings(q, precision: str) -> dict:
    """quantize_static's scheme for `precision` (q: onnxruntime.quantization): Q/DQ, int8 weights per output
    channel, symmetric; activations int8 symmetric for TensorRT, uint8 asymmetric for ONNX Runtime's x86
    kernels (the U8S8 path)."""
    cpu = precision == "int8-cpu"
    extra = {"ActivationSymmetric": not cpu, "WeightSymmetric": True}
    if not cpu:
        # TensorRT's parser dequantizes int8 only (no int32 biases: they stay float, TensorRT folds them into its
        # int8 kernels), and Q/DQ belong on the inputs of weighted layers, not on their outputs, so that
        # Conv + bias + residual Add + ReLU fuse into one kernel.
        extra.update(QuantizeBias=False, OpTypesToExcludeOutputQuantization=["Conv", "Add"])
    return {"quant_format": q.QuantFormat.QDQ, "per_channel": True,
            "activation_type": q.QuantType.QUInt8 if cpu else q.QuantType.QInt8, "weight_type": q.QuantType.QInt8,
            "extra_options": extra}


def _method(q, name: str):
    return {"entropy": q.CalibrationMethod.Entropy, "percentile": q.CalibrationMethod.Percentile,
            "minmax": q.CalibrationMethod.MinMax}[name]


@contextlib.contextmanager
def _quiet(logger_name: str):
    """ONNX Runtime's quantization tools log advice meant for other workflows (pre-processing hints,
    per-node notes) at WARNING; keep the user's terminal for our own messages."""
    logger = logging.getLogger(None if logger_name == "root" else logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
