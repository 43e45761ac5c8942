"""Calibration sets (format, validation, diversity selection), calibration caches and `amf-edge calib`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from amf_edge import calibset
from amf_edge.calibset import (
    SYNTHETIC_LICENCE,
    CalibrationSet,
    SourceFrame,
    frame_feature,
    select_diverse,
    write_calibration_set,
)
from amf_edge.cli.main import main
from amf_edge.contract import ModelContract
from amf_edge.convert import calib_cache
from amf_edge.convert.calib_cache import cache_key, check_cache, read_cache, write_cache
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.preprocess import PREPROCESS_VERSION
from amf_edge.sample import RGBDSample
from amf_edge.synthetic import render_scene
from amf_edge.transforms import resize_sample

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "calib_data" / "synthetic-240x320"
SHA_A, SHA_B = "a" * 64, "b" * 64
TINY = "synthetic://?seed=5&n=6&height=32&width=40"


def scenes(n: int, h: int = 24, w: int = 32) -> list[RGBDSample]:
    return [render_scene(100 + i, h, w) for i in range(n)]


def write(path: Path, samples: list[RGBDSample], **selection) -> CalibrationSet:
    frames = [SourceFrame(s, 10 + i, 0.5 * i if i else None) for i, s in enumerate(samples)]
    return write_calibration_set(path, frames, source="synthetic://?seed=1", licence="CC0-1.0",
                                 selection={"method": "test", "stride": 1, **selection})


@pytest.fixture(scope="module")
def three() -> list[RGBDSample]:
    samples = scenes(3)
    # one frame without intrinsics, as a recording that does not know them gives
    samples[2] = RGBDSample(samples[2].rgb, samples[2].depth, samples[2].depth_unit)
    return samples


# --- the format ----------------------------------------------------------------------------------------------


def test_manifest_round_trip(tmp_path, three):
    calib = write(tmp_path / "set", three)
    again = CalibrationSet.open(tmp_path / "set")
    m = again.manifest
    assert (m["format"], m["format_version"], m["name"]) == ("amf-edge-calibset", 1, "set")
    assert (m["source"], m["licence"]) == ("synthetic://?seed=1", "CC0-1.0")
    assert m["preprocess_version"] == PREPROCESS_VERSION and m["depth_unit"] == three[0].depth_unit
    assert m["selection"] == {"method": "test", "stride": 1, "n": 3} and m["created"].endswith("Z")
    assert [(f["source_index"], f["timestamp_s"]) for f in m["frames"]] == [(10, None), (11, 0.5), (12, 1.0)]
    assert len(again) == 3 and again.content_sha256 == calib.content_sha256
    for stored, original in zip(again.samples(), three):
        assert np.array_equal(stored.rgb, original.rgb) and np.array_equal(stored.depth, original.depth)
        assert stored.depth_unit == original.depth_unit and stored.label is None
        assert stored.intrinsics == original.intrinsics
    assert sorted(p.name for p in (tmp_path / "set" / "frames").iterdir())[:2] == ["000000_depth.png", "000000_rgb.png"]


def test_batches_are_what_the_runtime_feeds(tmp_path, three):
    calib = write(tmp_path / "set", three)
    bgr = ModelContract(16, 20, "BGR", ("labels",), LabelSet.generic(2))
    for batch, sample in zip(calib.batches(bgr), three):
        expected = bgr.inputs(resize_sample(sample, 16, 20))
        assert batch["rgb"].shape == (1, 16, 20, 3) and batch["depth"].dtype == np.float32
        assert all(np.array_equal(batch[k], expected[k]) for k in ("rgb", "depth"))
    first = next(calib.batches((16, 20)))
    assert np.array_equal(first["rgb"][..., ::-1], next(calib.batches(bgr))["rgb"])  # the size form is RGB
    with pytest.raises(AmfEdgeError, match="contradicts"):
        next(calib.batches(bgr, channel_order="RGB"))
    with pytest.raises(AmfEdgeError, match=r"\(height, width\)"):
        next(calib.batches(16))


def damage(path: Path, how: str) -> None:
    manifest = path / "manifest.json"
    if how == "pixel":
        frame = path / "frames" / "000001_rgb.png"
        from amf_edge.calibset import _write_png
        from amf_edge.datasets import read_rgb

        rgb = read_rgb(frame)
        rgb[0, 0] ^= 1
        _write_png(frame, rgb)
    elif how == "missing":
        (path / "frames" / "000002_depth.png").unlink()
    elif how == "no manifest":
        manifest.unlink()
    elif how == "corrupt":
        manifest.write_text(manifest.read_text()[:-20])
    else:  # a manifest key changed
        key, value = how.split("=")
        m = json.loads(manifest.read_text())
        m[key] = json.loads(value)
        manifest.write_text(json.dumps(m))


@pytest.mark.parametrize("how, message", [
    ("pixel", "was changed after it was written"),
    ("depth_unit=0.0002", "was changed after it was written"),  # the unit changes every depth input
    ("missing", "1 frame files are missing (000002_depth.png)"),
    ("no manifest", "has no manifest.json"),
    ("corrupt", "is not valid JSON"),
    ("format_version=2", "has format_version 2, but this amf-edge"),
    ("format=\"other\"", "is not an amf-edge calibration set manifest"),
])
def test_a_changed_or_broken_set_is_refused_with_the_way_to_recreate_it(tmp_path, three, how, message):
    write(tmp_path / "set", three)
    CalibrationSet.open(tmp_path / "set")
    damage(tmp_path / "set", how)
    with pytest.raises(AmfEdgeError, match="amf-edge calib collect") as e:
        CalibrationSet.open(tmp_path / "set")
    assert message in str(e.value)


def test_frames_resized_under_another_preprocess_version_are_refused(tmp_path, three, monkeypatch):
    write(tmp_path / "resized", three, resize=[24, 32])
    write(tmp_path / "raw", three, resize=None)
    monkeypatch.setattr(calibset, "PREPROCESS_VERSION", PREPROCESS_VERSION + 1)
    with pytest.raises(AmfEdgeError, match="resized under preprocess_version"):
        CalibrationSet.open(tmp_path / "resized")
    CalibrationSet.open(tmp_path / "raw")  # sensor-level frames do not depend on the conversion


# --- calibration caches --------------------------------------------------------------------------------------


def test_the_cache_returns_its_payload_only_for_the_same_key(tmp_path, three, monkeypatch):
    calib, cache = write(tmp_path / "set", three), tmp_path / "model.calib.json"
    key = cache_key(SHA_A, calib, "minmax", {"symmetric": True})
    assert key["preprocess_version"] == PREPROCESS_VERSION and key["calib_content_sha256"] == calib.content_sha256
    assert check_cache(cache, key) is False
    write_cache(cache, key, {"ranges": {"conv1": [np.float32(-1.5), 2.25], "logits": np.array([0.0, 4.0])}})
    assert check_cache(cache, key) is True
    assert read_cache(cache, key) == {"ranges": {"conv1": [-1.5, 2.25], "logits": [0.0, 4.0]}}
    stale = [cache_key(SHA_B, calib, "minmax", {"symmetric": True}),      # another model
             cache_key(SHA_A, calib, "entropy", {"symmetric": True}),     # another method
             cache_key(SHA_A, calib, "minmax", {"symmetric": False})]     # other settings
    monkeypatch.setattr(calib_cache, "PREPROCESS_VERSION", PREPROCESS_VERSION + 1)
    stale.append(cache_key(SHA_A, calib, "minmax", {"symmetric": True}))  # another input conversion
    for other in stale:
        with pytest.raises(AmfEdgeError, match=r"stale calibration cache .*; delete .* or rerun with --recalibrate"):
            read_cache(cache, other)
    changed = f"preprocess_version: cache has {PREPROCESS_VERSION}, this run {PREPROCESS_VERSION + 1}"
    with pytest.raises(AmfEdgeError, match=changed):
        check_cache(cache, stale[-1])


def test_a_cache_of_another_calibration_set_is_stale(tmp_path, three):
    a, b = write(tmp_path / "a", three), write(tmp_path / "b", three[:2])
    write_cache(tmp_path / "c.json", cache_key(SHA_A, a, "minmax"), {})
    with pytest.raises(AmfEdgeError, match="calib_content_sha256"):
        check_cache(tmp_path / "c.json", cache_key(SHA_A, b, "minmax"))


def test_bad_cache_inputs(tmp_path, three):
    calib = write(tmp_path / "set", three)
    with pytest.raises(AmfEdgeError, match="64 lowercase hex"):
        cache_key("abc", calib, "minmax")
    key = cache_key(SHA_A, calib, "minmax")
    with pytest.raises(AmfEdgeError, match="without NaN"):
        write_cache(tmp_path / "nan.json", key, {"ranges": {"x": [float("nan"), 1.0]}})
    with pytest.raises(AmfEdgeError, match="does not exist"):
        read_cache(tmp_path / "missing.json", key)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(AmfEdgeError, match="not valid JSON"):
        check_cache(tmp_path / "broken.json", key)


# --- diversity selection -------------------------------------------------------------------------------------


def test_farthest_point_selection_covers_the_distinct_frames_first():
    # A static camera: long runs of near-identical frames (sensor noise only) of four distinct views.
    views, rng = scenes(4, 48, 64), np.random.default_rng(0)
    runs = [0] * 12 + [1] * 2 + [2] * 9 + [3] * 1 + [0] * 6
    frames = []
    for v in runs:
        s = views[v]
        noisy = np.clip(s.rgb.astype(np.int16) + rng.integers(-3, 4, s.rgb.shape), 0, 255).astype(np.uint8)
        frames.append(RGBDSample(noisy, s.depth, s.depth_unit))
    features = np.stack([frame_feature(f) for f in frames])
    assert features.shape == (len(runs), 64 + 13)
    assert np.allclose(np.linalg.norm(features, axis=1), 1.0)
    for seed in range(5):
        chosen = select_diverse(features, 4, seed)
        assert sorted(runs[i] for i in chosen) == [0, 1, 2, 3], (seed, chosen)
        assert select_diverse(features, 4, seed) == chosen  # deterministic given the seed
    longer = select_diverse(features, 7, seed=1)
    assert len(set(longer)) == 7 and {runs[i] for i in longer[:4]} == {0, 1, 2, 3}
    with pytest.raises(AmfEdgeError, match="cannot choose 31 frames from 30 candidates"):
        select_diverse(features, 31)


# --- the command line ----------------------------------------------------------------------------------------


def test_collect_and_show_end_to_end(tmp_path, capsys):
    out = tmp_path / "calib_data" / "tiny"
    assert main(["calib", "collect", "--source", TINY, "--n", "3", "--stride", "2", "-o", str(out)]) == 0
    calib = CalibrationSet.open(out)
    m = calib.manifest
    assert len(calib) == 3 and m["licence"] == SYNTHETIC_LICENCE and m["split"] == "train"
    assert sorted(f["source_index"] for f in m["frames"]) == [0, 2, 4]  # every candidate of stride 2
    assert m["selection"]["candidates"] == 3 and m["selection"]["method"] == "farthest-point"
    capsys.readouterr()
    assert main(["calib", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "3 frames, 32×40" in shown and "amf-edge calib collect --source" in shown
    assert main(["calib", "show", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["content_sha256"] == calib.content_sha256
    # --force replaces the set, and the same arguments give the same frames
    assert main(["calib", "collect", "--source", TINY, "--n", "3", "--stride", "2", "-o", str(out), "--force"]) == 0
    assert CalibrationSet.open(out).content_sha256 == calib.content_sha256


def test_collect_from_a_runtime_source_resizes_and_keeps_timestamps(tmp_path, capsys):
    out = tmp_path / "stream"
    args = ["calib", "collect", "--source", TINY, "--reader", "source", "--n", "2", "--max-frames", "4",
            "--height", "24", "--width", "32", "-o", str(out)]
    assert main([*args, "--licence", "CC0-1.0"]) == 1  # synthetic frames carry the generator's licence
    assert "leave --licence out" in capsys.readouterr().err
    assert main(args) == 0
    calib = CalibrationSet.open(out)
    assert calib.manifest["selection"]["resize"] == [24, 32] and calib.manifest["selection"]["candidates"] == 4
    assert all(f["timestamp_s"] is not None and (f["height"], f["width"]) == (24, 32) for f in calib.manifest["frames"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream"]  # the staging folder is gone


@pytest.mark.parametrize("args, message", [
    (["--n", "7"], "--n 7 is more than the frames available: 'synthetic://?seed=5&n=6&height=32&width=40' (train) "
                   "has 6 frames, 6 candidates with --stride 1; ask for --n 6 or fewer"),
    (["--n", "4", "--stride", "2"], "ask for --n 3 or fewer, or lower --stride"),
    (["--n", "0"], "--n must be at least 1"),
    (["--n", "2", "--source", "ftp://host/x"], "unknown source URI 'ftp://host/x'; calib collect reads datasets"),
    (["--n", "2", "--source", "nyudv2"], "unknown source URI"),
    (["--n", "2", "--height", "32"], "give --height and --width together"),
    (["--n", "2", "--reader", "source", "--split", "val"], "--split applies to datasets only"),
    (["--n", "2", "--source", "nyudv2:///data/nyu", "--reader", "source"], "nyudv2:// is not a source scheme"),
    (["--n", "2", "--existing"], "already exists and is not empty"),
])
def test_bad_collect_inputs_exit_1_with_a_message(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    if "--existing" in args:
        args = [a for a in args if a != "--existing"]
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    argv = ["calib", "collect", "--source", TINY, *args, "-o", str(out)]
    if args.count("--source"):  # the case gives its own source
        argv = ["calib", "collect", *args, "-o", str(out)]
    assert main(argv) == 1
    assert message in capsys.readouterr().err
    if out.exists():
        assert sorted(p.name for p in out.iterdir()) in ([], ["notes.txt"])  # nothing was written


def test_force_keeps_foreign_files_out_of_harm(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "frames").mkdir(parents=True)
    (out / "frames" / "holiday.jpg").write_bytes(b"x")
    assert main(["calib", "collect", "--source", TINY, "--n", "1", "-o", str(out), "--force"]) == 1
    assert "holiday.jpg" in capsys.readouterr().err and (out / "frames" / "holiday.jpg").exists()


def test_show_of_a_missing_set_exits_1(tmp_path, capsys):
    assert main(["calib", "show", str(tmp_path / "nope")]) == 1
    assert "does not exist; recreate it with `amf-edge calib collect" in capsys.readouterr().err


# --- the committed set ---------------------------------------------------------------------------------------


def test_the_committed_synthetic_set_opens_and_validates():
    calib = CalibrationSet.open(COMMITTED)
    m = calib.manifest
    assert len(calib) == 16 and m["licence"] == SYNTHETIC_LICENCE and "seed=777" in m["source"]
    assert m["preprocess_version"] == PREPROCESS_VERSION and m["selection"]["resize"] is None
    assert {(f["height"], f["width"]) for f in m["frames"]} == {(240, 320)}
    assert len({f["source_index"] for f in m["frames"]}) == 16
    assert sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file()) < 5_000_000
    batch = next(calib.batches((240, 320)))
    assert batch["rgb"].shape == (1, 240, 320, 3) and float(batch["depth"].max()) > 0
