"""Frame sources by URI: tum://, folder://, bag:// (.bag written with rosbags, .db3 recorded by librealsense)
and realsense:// driven by a software camera. Fixtures are written by the tests, 64×48 and a few frames."""

from __future__ import annotations

import itertools
import logging
import re
import sys
import threading
import time

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.sources import SCHEMES, open_source

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

cv2 = pytest.importorskip("cv2")

H, W = 48, 64
T = 1 / 30


def rgb_image(value: int) -> np.ndarray:
    """Uniform colour (value, 2·value mod 256, 7) in RGB order: the R channel identifies the frame."""
    image = np.empty((H, W, 3), np.uint8)
    image[...] = (value, (2 * value) % 256, 7)
    return image


def depth_image(value: int) -> np.ndarray:
    depth = np.full((H, W), value, np.uint16)
    depth[0, 0] = 0  # "no measurement" must survive
    return depth


def write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = image[..., ::-1] if image.ndim == 3 else image
    assert cv2.imwrite(str(path), np.ascontiguousarray(bgr))


# --- tum:// -------------------------------------------------------------------------------------------------


def make_tum(root, color_times, depth_times, header=True):
    """A TUM sequence: colour frame i has R = 10 + i, depth frame j is 2000 + j counts."""
    lines = {"rgb": ["# color images", "# file: 'test'", "# timestamp filename"] if header else [], "depth": []}
    streams = (("rgb", color_times, lambda i: rgb_image(10 + i)),
               ("depth", depth_times, lambda j: depth_image(2000 + j)))
    for name, times, image in streams:
        for i, t in enumerate(times):
            rel = f"{name}/{t:.6f}.png"
            write_png(root / rel, image(i))
            lines[name].append(f"{t:.6f} {rel}")
    (root / "rgb.txt").write_text("\n".join(lines["rgb"]) + "\n")
    (root / "depth.txt").write_text("\n".join(lines["depth"]) + "\n")
    return root


def test_tum_pairs_by_timestamp_like_associate_py(tmp_path):
    color = [1305031102.175304 + i * T for i in range(6)]
    depth = [t + 0.004 for i, t in enumerate(color) if i != 2]  # depth of colour frame 2 missing
    depth.append(color[-1] + 0.5)  # a depth frame nothing pairs with
    with open_source(f"tum://{make_tum(tmp_path, color, depth)}") as source:
        frames = list(source)
        stats = source.stats()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.timestamp_s for f in frames] == [pytest.approx(color[i], abs=1e-6) for i in (0, 1, 3, 4, 5)]
    assert [int(f.sample.rgb[5, 5, 0]) for f in frames] == [10, 11, 13, 14, 15]
    assert [int(f.sample.depth[5, 5]) for f in frames] == [2000, 2001, 2002, 2003, 2004]
    first = frames[0].sample
    assert first.depth[0, 0] == 0 and first.depth_unit == pytest.approx(0.0002) and first.intrinsics is None
    assert tuple(first.rgb[5, 5]) == (10, 20, 7)  # RGB order, not OpenCV's BGR
    assert stats["matched"] == 5 and stats["unmatched_color"] == 1 and stats["unmatched_depth"] == 1
    assert stats["max_skew_s"] == pytest.approx(0.004, abs=1e-5) and stats["frames"] == 5


def test_tum_max_dt_intrinsics_and_depth_unit_options(tmp_path):
    color = [10 + i * T for i in range(3)]
    depth = [10.0, 10 + T + 0.015, 10 + 2 * T + 0.004]
    root = make_tum(tmp_path, color, depth, header=False)
    with open_source(f"tum://{root}?max_dt=0.01&fx=525&fy=525&cx=319.5&cy=239.5&depth_unit=0.001") as source:
        frames = list(source)
        assert source.stats()["unmatched_color"] == 1
    assert [f.index for f in frames] == [0, 1] and [int(f.sample.rgb[1, 1, 0]) for f in frames] == [10, 12]
    k = frames[0].sample.intrinsics
    assert (k.fx, k.fy, k.cx, k.cy) == (525, 525, 319.5, 239.5)
    assert frames[0].sample.depth_unit == 0.001


def test_tum_resize_scales_colour_depth_and_intrinsics(tmp_path):
    root = make_tum(tmp_path, [1.0], [1.0])
    # a sharp vertical edge in depth: nearest-neighbour keeps only the two original values
    depth = depth_image(1000)
    depth[:, W // 2:] = 3000
    write_png(root / "depth/1.000000.png", depth)
    with open_source(f"tum://{root}?width=32&height=24&fx=50&fy=50&cx=31.5&cy=23.5") as source:
        [frame] = list(source)
    s = frame.sample
    assert s.rgb.shape == (24, 32, 3) and s.depth.shape == (24, 32) and s.depth.dtype == np.uint16
    assert set(np.unique(s.depth)) <= {0, 1000, 3000}
    assert (s.depth[:, :16] == 1000).mean() > 0.9 and (s.depth[:, 16:] == 3000).all()
    assert tuple(s.rgb[10, 10]) == (10, 20, 7)
    k = s.intrinsics
    assert (k.fx, k.fy, k.cx, k.cy) == pytest.approx((25, 25, 15.5, 11.5))  # pixel centres map to centres


@pytest.mark.parametrize("uri_tail, message", [
    ("/nowhere", "does not exist; a TUM RGB-D sequence folder holds rgb.txt and depth.txt"),
    ("?fx=500", "missing fy, cx, cy"),
    ("?max_dt=-1", "option 'max_dt' must be a pairing tolerance"),
    ("?speed=2", "unknown option 'speed'; valid options: width, height, loop, resize, max_dt, depth_unit, fx"),
    ("?width=32", "give both width and height"),
    ("?max_dt=0.01&max_dt=0.02", "given twice"),
])
def test_tum_option_and_path_errors(tmp_path, uri_tail, message):
    root = make_tum(tmp_path / "seq", [1.0], [1.0])
    uri = f"tum://{tmp_path}{uri_tail}" if uri_tail.startswith("/") else f"tum://{root}{uri_tail}"
    with pytest.raises(AmfEdgeError, match=message):
        open_source(uri)


def test_tum_file_errors_name_the_file_and_line(tmp_path):
    root = make_tum(tmp_path, [1.0, 2.0], [1.0, 2.0])
    (root / "depth.txt").unlink()
    with pytest.raises(AmfEdgeError, match="depth.txt does not exist"):
        open_source(f"tum://{root}")
    (root / "depth.txt").write_text("# ok\n1.0 depth/1.000000.png\nbroken-line\n")
    with pytest.raises(AmfEdgeError, match=r"depth.txt:3: expected 'timestamp filename'"):
        open_source(f"tum://{root}")
    (root / "depth.txt").write_text("1.0 depth/1.000000.png\n2.0 depth/missing.png\n")
    with pytest.raises(AmfEdgeError, match="1 listed image.*missing.png"):
        open_source(f"tum://{root}")
    (root / "depth.txt").write_text("5.0 depth/1.000000.png\n")
    with pytest.raises(AmfEdgeError, match="closer than max_dt=0.02"):
        open_source(f"tum://{root}")


# --- folder:// ---------------------------------------------------------------------------------------------


def make_folder(root, stems, *, only_rgb=(), only_depth=()):
    for i, stem in enumerate(stems):
        write_png(root / "rgb" / f"{stem}.png", rgb_image(20 + i))
        write_png(root / "depth" / f"{stem}.png", depth_image(500 + i))
    for stem in only_rgb:
        write_png(root / "rgb" / f"{stem}.png", rgb_image(1))
    for stem in only_depth:
        write_png(root / "depth" / f"{stem}.png", depth_image(1))
    return root


def test_folder_pairs_by_stem_and_counts_missing_partners(tmp_path, caplog):
    root = make_folder(tmp_path, ["000002", "000001", "000003"], only_rgb=["000004"], only_depth=["000000", "000009"])
    with caplog.at_level(logging.WARNING, logger="amf_edge.runtime.sources.folder"):
        source = open_source(f"folder://{root}?fps=10")
    assert "skipping 1 frame(s) with a rgb/ image but none in depth/: 000004" in caplog.text
    assert "skipping 2 frame(s) with a depth/ image but none in rgb/: 000000, 000009" in caplog.text
    with source:
        frames = list(source)
        stats = source.stats()
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.timestamp_s for f in frames] == pytest.approx([0.0, 0.1, 0.2])
    assert [int(f.sample.rgb[3, 3, 0]) for f in frames] == [21, 20, 22]  # sorted stems: 000001, 000002, 000003
    assert [int(f.sample.depth[3, 3]) for f in frames] == [501, 500, 502]
    assert frames[0].sample.depth_unit == 0.001 and frames[0].sample.depth[0, 0] == 0
    assert (stats["matched"], stats["unmatched_color"], stats["unmatched_depth"], stats["frames"]) == (3, 1, 2, 3)


def test_folder_timestamps_file_and_depth_unit(tmp_path):
    root = make_folder(tmp_path, ["a", "b"])
    (root / "timestamps.txt").write_text("# stem seconds\na 100.5\nb 100.533\n")
    with open_source(f"folder://{root}?depth_unit=0.0002") as source:
        frames = list(source)
    assert [f.timestamp_s for f in frames] == [100.5, 100.533]
    assert frames[1].sample.depth_unit == 0.0002


def test_folder_timestamps_must_follow_the_stem_order_and_cover_every_frame(tmp_path):
    root = make_folder(tmp_path, ["a", "b"])
    (root / "timestamps.txt").write_text("a 2.0\nb 1.0\n")
    with pytest.raises(AmfEdgeError, match="frame 'b' .* is not later than 'a'"):
        open_source(f"folder://{root}")
    (root / "timestamps.txt").write_text("a 1.0\n")
    with pytest.raises(AmfEdgeError, match="no time for frame.*b"):
        open_source(f"folder://{root}")
    (root / "timestamps.txt").write_text("a 1.0\nb 2.0\nc 3.0\n")
    with pytest.raises(AmfEdgeError, match="timestamps.txt:3: no image .* 'c'"):
        open_source(f"folder://{root}")


def test_folder_depth_unit_from_dataset_yaml_must_agree_with_the_uri(tmp_path):
    pytest.importorskip("yaml")
    root = make_folder(tmp_path, ["a"])
    (root / "dataset.yaml").write_text("classes: [wall, floor]\ndepth_unit: 0.0002\n")
    with open_source(f"folder://{root}") as source:
        assert next(iter(source)).sample.depth_unit == 0.0002
    with pytest.raises(AmfEdgeError, match="says depth_unit=0.001 but .*dataset.yaml says 0.0002"):
        open_source(f"folder://{root}?depth_unit=0.001")


def test_folder_errors(tmp_path):
    with pytest.raises(AmfEdgeError, match=r"nothere does not exist; a frame folder holds rgb/<stem>.png"):
        open_source(f"folder://{tmp_path / 'nothere'}")
    make_folder(tmp_path / "x", [], only_rgb=["a"], only_depth=["b"])
    with pytest.raises(AmfEdgeError, match=r"no stem has both a colour and a depth image \(1 in rgb/, 1 in depth/\)"):
        open_source(f"folder://{tmp_path / 'x'}")
    root = make_folder(tmp_path / "y", ["a"])
    write_png(root / "rgb" / "a.jpg", rgb_image(3))
    with pytest.raises(AmfEdgeError, match="two images for frame 'a'"):
        open_source(f"folder://{root}")
    root = make_folder(tmp_path / "z", ["a"])
    write_png(root / "depth" / "a.png", np.zeros((H, W), np.uint8))
    with pytest.raises(AmfEdgeError, match="expected a single-channel 16-bit PNG"):
        list(open_source(f"folder://{root}"))


def test_folder_loop_continues_indices_and_time(tmp_path):
    root = make_folder(tmp_path, ["a", "b"])
    with open_source(f"folder://{root}?loop=1&fps=10&width=32&height=24") as source:
        frames = list(itertools.islice(source, 5))
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.timestamp_s for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert [int(f.sample.rgb[2, 2, 0]) for f in frames] == [20, 21, 20, 21, 20]
    assert frames[0].sample.size == (24, 32)


# --- bag:// ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsbag():
    pytest.importorskip("pyrealsense2")
    pytest.importorskip("rosbags")
    import rsbag

    return rsbag


def test_bag_plays_a_librealsense_2_56_style_bag_frame_by_frame(tmp_path, rsbag):
    color, depth = rsbag.pattern_pairs(5, H, W, start_s=2.0)
    k = (50, 51, 31.5, 23.5)
    path = rsbag.write_rs_bag(tmp_path / "five.bag", color, depth, depth_unit=0.001, color_intrinsics=k,
                              depth_intrinsics=k)
    with open_source(f"bag://{path}") as source:
        assert source.live is False
        frames = list(source)
        stats = source.stats()
    assert [f.index for f in frames] == [1, 2, 3, 4, 5]
    assert [f.timestamp_s for f in frames] == pytest.approx([2.0 + i * T for i in range(5)], abs=1e-6)
    for f, c, d in zip(frames, color, depth):
        np.testing.assert_array_equal(f.sample.rgb, c.image)
        # Same geometry for both cameras, so alignment only resamples; its float32 rounding leaves a few
        # holes (0) at these focal lengths, and every other pixel keeps its value.
        holes = (f.sample.depth == 0) & (d.image != 0)
        assert holes.mean() < 0.1
        np.testing.assert_array_equal(f.sample.depth[~holes], d.image[~holes])
        assert f.sample.depth_unit == 0.001
        k = f.sample.intrinsics
        assert (k.fx, k.fy, k.cx, k.cy) == pytest.approx((50, 51, 31.5, 23.5))
    assert stats["matched"] == 5 and stats["duplicates"] == 0 and stats["frames"] == 5
    assert stats["timestamp_domain"] == "hardware_clock" and stats["max_dt_s"] == pytest.approx(0.5 * T)


def test_bag_bgr_colour_comes_out_rgb(tmp_path, rsbag):
    color, depth = rsbag.pattern_pairs(2, H, W)
    for c in color:
        c.image = np.ascontiguousarray(c.image[..., ::-1])
    path = rsbag.write_rs_bag(tmp_path / "bgr.bag", color, depth, color_encoding="bgr8")
    with open_source(f"bag://{path}") as source:
        frames = list(source)
    assert tuple(frames[1].sample.rgb[5, 5]) == (20, 100, 200)
    np.testing.assert_array_equal(frames[1].sample.depth, depth[1].image)  # default intrinsics: no holes at all


def test_bag_a_dropped_depth_frame_is_counted_and_its_colour_skipped(tmp_path, rsbag):
    color, depth = rsbag.pattern_pairs(6, H, W)
    depth = [d for d in depth if d.number != 4]
    color[2].timestamp_s += 0.005  # jitter within the tolerance still pairs
    path = rsbag.write_rs_bag(tmp_path / "drop.bag", color, depth)
    with open_source(f"bag://{path}") as source:
        frames = list(source)
        stats = source.stats()
    assert [f.index for f in frames] == [1, 2, 3, 5, 6]
    assert [int(f.sample.depth[9, 9]) for f in frames] == [1001, 1002, 1003, 1005, 1006]
    assert (stats["matched"], stats["unmatched_color"], stats["unmatched_depth"]) == (5, 1, 0)
    assert stats["max_skew_s"] == pytest.approx(0.005, abs=1e-5)


def test_bag_resize_loop_and_realtime(tmp_path, rsbag):
    color, depth = rsbag.pattern_pairs(3, H, W)
    path = rsbag.write_rs_bag(tmp_path / "three.bag", color, depth)
    with open_source(f"bag://{path}?width=32&height=24&loop=1") as source:
        frames = list(itertools.islice(source, 7))
        assert source.stats()["matched"] == 7
    assert [f.index for f in frames] == [1, 2, 3, 4, 5, 6, 7]
    assert np.diff([f.timestamp_s for f in frames]) == pytest.approx([T] * 6, abs=1e-6)
    assert [int(f.sample.depth[5, 5]) for f in frames] == [1001, 1002, 1003, 1001, 1002, 1003, 1001]
    assert frames[0].sample.size == (24, 32)
    assert frames[0].sample.intrinsics.fx == pytest.approx(0.8 * W / 2)
    with open_source(f"bag://{path}?realtime=1") as source:
        assert source.live is True
        indices = [f.index for f in source]
        stats = source.stats()
    # Real-time playback may drop frames for a slow reader; whatever comes is in order and accounted for.
    assert indices == sorted(set(indices)) and set(indices) <= {1, 2, 3}
    assert stats["matched"] == len(indices)
    assert 2 * stats["matched"] + stats["dropped"] + stats["unmatched_color"] + stats["unmatched_depth"] == 6


def test_bag_streams_that_never_pair_are_an_error_not_silence(tmp_path, rsbag):
    color, depth = rsbag.pattern_pairs(40, H, W)
    path = rsbag.write_rs_bag(tmp_path / "clocks.bag", color, depth, depth_clock_offset_s=1000.0)
    with pytest.raises(AmfEdgeError, match=r"no two closer than max_dt=0.0167 s .*hardware_clock.*not on one clock"):
        list(open_source(f"bag://{path}"))


def test_bag_stops_cleanly_when_closed_early(tmp_path, rsbag):
    color, depth = rsbag.pattern_pairs(40, H, W)
    path = rsbag.write_rs_bag(tmp_path / "forty.bag", color, depth)
    start = time.monotonic()
    with open_source(f"bag://{path}") as source:
        for frame in source:
            if frame.index == 3:
                break
    assert frame.index == 3 and time.monotonic() - start < 5


def test_bag_errors(tmp_path, rsbag):
    with pytest.raises(AmfEdgeError, match=r"nothing.db3 does not exist; expected a RealSense recording"):
        open_source(f"bag://{tmp_path / 'nothing.db3'}")
    (tmp_path / "video.mp4").write_bytes(b"x")
    with pytest.raises(AmfEdgeError, match=r"is not a .bag or .db3 file"):
        open_source(f"bag://{tmp_path / 'video.mp4'}")
    (tmp_path / "junk.bag").write_bytes(b"not a bag at all" * 10)
    with pytest.raises(AmfEdgeError, match="librealsense cannot play .*junk.bag"):
        open_source(f"bag://{tmp_path / 'junk.bag'}")
    color, depth = rsbag.pattern_pairs(1, H, W)
    with pytest.raises(AmfEdgeError, match="unknown option 'fps'"):
        open_source(f"bag://{rsbag.write_rs_bag(tmp_path / 'one.bag', color, depth)}?fps=30")


def test_db3_playback_dedupes_the_stale_framesets_librealsense_emits(tmp_path, rsbag):
    import pyrealsense2 as rs

    from amf_edge.runtime.sync import StreamSynchronizer

    path = rsbag.record_db3(tmp_path / "rec.db3", 6, H, W, every_s=0.05)
    def pipeline_framesets():
        pipe, config = rs.pipeline(), rs.config()
        config.enable_device_from_file(str(path), repeat_playback=False)
        pipe.start(config).get_device().as_playback().set_real_time(False)
        framesets = []
        while True:
            ok, fs = pipe.try_wait_for_frames(500)
            if not ok:
                break
            framesets.append((fs.get_color_frame(), fs.get_depth_frame()))
        pipe.stop()
        return framesets

    # What rs.pipeline makes of this file: each new frame paired with the other stream's previous one.
    # It plays the first frames in real time before set_real_time(False) takes hold and may lose several
    # of them on a busy machine: try again rather than test too little.
    for _ in range(5):
        framesets = pipeline_framesets()
        if len(framesets) >= 5:
            break
    numbers = [(c.get_frame_number(), d.get_frame_number()) for c, d in framesets]
    assert any(c != d for c, d in numbers), numbers  # stale partial framesets are there
    sync = StreamSynchronizer(0.5 * T)
    pairs = []
    for c, d in framesets:
        pairs += sync.push("color", c.get_frame_number(), c.get_timestamp() / 1000, c)
        pairs += sync.push("depth", d.get_frame_number(), d.get_timestamp() / 1000, d)
    kept = [(c.number, d.number) for c, d in pairs]
    # One pair per frame number and none mixed up. rs.pipeline often loses the first frames while it starts
    # its sensors with the file already playing (the reason bag:// does not use it), so the pairs start late.
    assert len(kept) >= 3 and kept == [(k, k) for k in range(kept[0][0], 7)], numbers
    assert sync.stats.duplicates == 2 * len(framesets) - 2 * len(kept)

    # bag:// itself: one frame per recorded pair, every time.
    for _ in range(3):
        with open_source(f"bag://{path}") as source:
            assert [f.index for f in source] == [1, 2, 3, 4, 5, 6]
            assert source.stats()["duplicates"] == 0


# --- realsense:// ---------------------------------------------------------------------------------------------


def test_realsense_source_streams_a_camera(rsbag):
    from amf_edge.runtime.sources.realsense import RealSenseSource

    cam = rsbag.SoftwareCamera(H, W, depth_unit=0.00025)
    color, depth = rsbag.pattern_pairs(8, H, W)
    with RealSenseSource(f"realsense://?width={W}&height={H}&fps=30", device=cam.device) as source:
        assert source.live is True

        def feed():
            time.sleep(0.2)
            for c, d in zip(color, depth):
                cam.push(d, "depth")
                cam.push(c, "color")
                time.sleep(0.02)

        threading.Thread(target=feed, daemon=True).start()
        frames = list(itertools.islice(source, 8))
        stats = source.stats()
    assert [f.index for f in frames] == list(range(1, 9))
    assert [int(f.sample.depth[7, 7]) for f in frames] == list(range(1001, 1009))
    assert frames[0].sample.depth_unit == 0.00025
    assert tuple(frames[3].sample.rgb[7, 7]) == (40, 100, 200)
    k = frames[0].sample.intrinsics
    assert (k.fx, k.fy, k.cx, k.cy) == pytest.approx(cam.intrinsics)
    assert stats["matched"] == 8 and stats["timestamp_domain"] == "hardware_clock"


def test_realsense_source_errors(rsbag):
    from amf_edge.runtime.realsense import RealSenseReader, choose_streams
    from amf_edge.runtime.sources.realsense import RealSenseSource

    cam = rsbag.SoftwareCamera(H, W)
    expected = (r"no depth stream \(z16\) at 640×480@30 and no color stream .*offers: "
                r"color rgb8 64×48@30, depth z16 64×48@30")
    with pytest.raises(AmfEdgeError, match=expected):
        RealSenseSource("realsense://", device=cam.device)
    depth, color = choose_streams(cam.device)
    reader = RealSenseReader(cam.device, depth, color, live=True, timeout_s=0.3, what="camera X")
    with pytest.raises(AmfEdgeError, match=r"no frame from camera X for 0\.6 s"):  # twice the timeout for the first
        next(reader.frames())


def test_realsense_schemes_without_pyrealsense2_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyrealsense2", None)  # importing it now fails, as where it is not installed
    (tmp_path / "x.bag").write_bytes(b"x")
    for uri in ("realsense://", f"bag://{tmp_path / 'x.bag'}"):
        with pytest.raises(AmfEdgeError, match=re.escape('pip install "amf-edge[realsense]"')):
            open_source(uri)


def test_realsense_without_a_camera_lists_what_is_connected():
    rs = pytest.importorskip("pyrealsense2")
    if len(rs.context().query_devices()):
        pytest.skip("a RealSense camera is connected")
    with pytest.raises(AmfEdgeError, match="no RealSense camera is connected.*Connected devices: none"):
        open_source("realsense://")
    with pytest.raises(AmfEdgeError, match="unknown option 'exposure'"):
        open_source("realsense://?exposure=3")


@pytest.mark.camera
def test_realsense_camera_streams_aligned_frames():
    with open_source("realsense://?width=640&height=480&fps=30") as source:
        frames = list(itertools.islice(source, 10))
        stats = source.stats()
    assert all(f.sample.size == (480, 640) and f.sample.intrinsics is not None for f in frames)
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert 0 < frames[0].sample.depth_unit < 0.01 and stats["matched"] >= 10


def test_every_scheme_is_registered_and_unknown_ones_list_them():
    assert {"synthetic", "realsense", "bag", "tum", "folder"} <= set(SCHEMES)
    with pytest.raises(AmfEdgeError, match="realsense://, bag://, tum://, folder://"):
        open_source("kinect://0")


def test_synthetic_source_paced_like_a_camera():
    """`fps` makes the synthetic source a camera: frames at that rate, live by default; without it, a recording."""
    import time

    from amf_edge.runtime.sources.synthetic import SyntheticSource

    recording = SyntheticSource("synthetic://?n=3&height=24&width=32")
    assert recording.fps is None and not recording.live
    camera = SyntheticSource("synthetic://?n=6&height=24&width=32&fps=20")
    assert camera.fps == 20 and camera.live
    start = time.perf_counter()
    frames = list(camera)
    elapsed = time.perf_counter() - start
    assert elapsed >= 5 / 20  # frame 5 is due 0.25 s after frame 0: paced, never early
    assert [f.timestamp_s for f in frames] == [i / 20 for i in range(6)]
    assert all(f.received_s - start >= i / 20 for i, f in enumerate(frames))  # each at its time or later
    with pytest.raises(AmfEdgeError, match="fps.*frames per second"):
        SyntheticSource("synthetic://?n=3&fps=0")
