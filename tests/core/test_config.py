import numpy as np
import pytest

from amf_edge.config import ModelConfig
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet, get_labels, voc_colormap
from amf_edge.preprocess import PreprocessSpec
from amf_edge.presets import get_preset, preset_names
from amf_edge.sample import RGBDSample

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too


@pytest.mark.parametrize("name", preset_names())
def test_configs_round_trip_through_plain_dicts(name):
    cfg = get_preset(name, num_classes=40, fusion="shift", fusion_stages=(4, 2))
    assert cfg.fusion_stages == (2, 4)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("field, value, message", [
    ("fusion", "concat", "choose one of: shuffle\\+shift, shuffle, shift, none"),
    ("encoder", "twin", "shared, separate"),
    ("batchnorm", "group", "private, shared"),
    ("fusion_stages", (0, 5), "distinct stages from 1 to 4"),
    ("num_classes", 255, "from 1 to 254"),
    ("dropout", 1.0, "probability"),
])
def test_invalid_configs_say_what_is_valid(field, value, message):
    with pytest.raises(AmfEdgeError, match=message):
        get_preset("asymfusion-r18", num_classes=40).replace(**{field: value})


def test_configs_from_a_newer_version_are_refused():
    d = get_preset("asymfusion-r18", num_classes=3).to_dict() | {"new_knob": 1}
    with pytest.raises(AmfEdgeError, match="upgrade amf-edge"):
        ModelConfig.from_dict(d)


def test_edge_and_faithful_presets():
    assert get_preset("asymfusion-r101", num_classes=40).decoder == "refinenet"
    assert get_preset("asymfusion-r18", num_classes=40).decoder == "light-refinenet"
    assert get_preset("asymfusion-r34", num_classes=40).block == "basic"


def test_voc_colormap_formula_and_nyudv2_palette():
    cmap = voc_colormap()
    assert cmap[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert cmap[255].tolist() == [224, 224, 192]
    nyu = get_labels("nyudv2")
    assert nyu.num_classes == 40 and nyu.names[23] == "refridgerator"
    assert nyu.palette[0] == (128, 0, 0) and nyu.palette[39] == (64, 0, 64)  # cmap[label + 1]


def test_colorize_paints_ignore_black():
    labels = LabelSet("two", ("a", "b"), ((10, 20, 30), (40, 50, 60)))
    img = labels.colorize(np.array([[0, 1, 255]], dtype=np.uint8))
    assert img.tolist() == [[[10, 20, 30], [40, 50, 60], [0, 0, 0]]]
    with pytest.raises(AmfEdgeError, match="valid names"):
        get_labels("nope")
    assert LabelSet.from_dict(labels.to_dict()) == labels


def test_preprocessing_normalises_rgb_and_keeps_invalid_depth_zero():
    spec = PreprocessSpec()
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255
    depth = np.array([[0.0, 1.0, 2.5, 5.0, 10.0]] * 4, np.float32)
    r, d = spec(rgb, depth)
    assert r.shape == (1, 3, 4, 5) and d.shape == (1, 1, 4, 5) and r.dtype == d.dtype == np.float32
    assert np.allclose(r[0, 0], (1 - 0.485) / 0.229) and np.allclose(r[0, 1], -0.456 / 0.224)
    assert np.allclose(d[0, 0, 0], [0.0, 0.2, 0.5, 1.0, 2.0]) and d[0, 0, 0, 0] == 0  # metres / 5; 0 stays 0
    bgr = PreprocessSpec(channel_order="BGR").rgb(rgb[..., ::-1].copy())
    assert np.allclose(bgr, r)


def test_preprocessing_rejects_what_it_cannot_use():
    spec = PreprocessSpec()
    with pytest.raises(AmfEdgeError, match="convert raw counts first"):
        spec.depth(np.zeros((4, 5), np.uint16))
    with pytest.raises(AmfEdgeError, match="align depth"):
        spec(np.zeros((4, 5, 3), np.uint8), np.zeros((4, 6), np.float32))
    with pytest.raises(AmfEdgeError, match="uint8 with 3 channels"):
        spec.rgb(np.zeros((4, 5, 4), np.uint8))
    assert (PreprocessSpec.from_dict(PreprocessSpec(depth_divisor_m=1.0).to_dict())
            == PreprocessSpec(depth_divisor_m=1.0))


def test_sample_contract():
    s = RGBDSample(np.zeros((4, 5, 3), np.uint8), np.full((4, 5), 1500, np.uint16), 0.001, np.zeros((4, 5), np.uint8))
    assert s.size == (4, 5) and np.allclose(s.depth_m(), 1.5)
    with pytest.raises(AmfEdgeError, match="depth: expected uint16"):
        RGBDSample(np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5), np.float32), 0.001)
    with pytest.raises(AmfEdgeError, match="align depth"):
        RGBDSample(np.zeros((4, 6, 3), np.uint8), np.zeros((4, 5), np.uint16), 0.001)
