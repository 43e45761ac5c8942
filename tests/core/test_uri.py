"""One URI parser (amf_edge.uri) for datasets, frame sources and sinks: the same tricky inputs through a
dataset URI (sunrgbd://, parsed by amf_edge.datasets), a source URI (folder://, opened by open_source) and
a sink URI (masks://, video://, made by sink_from_uri) must behave identically."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import amf_edge
import amf_edge.runtime
from amf_edge.datasets import open_dataset, parse_dataset_uri
from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.sinks import sink_from_uri
from amf_edge.runtime.sources import open_source
from amf_edge.uri import parse_uri, query_pairs, split_address, split_uri

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

KINDS = ("dataset", "source", "sink")
# Per kind, the scheme taking a folder and a switch, the switch, its valid options and the example its errors show.
SCHEME = {"dataset": "sunrgbd", "source": "folder", "sink": "masks"}
SWITCH = {"dataset": "label_offset", "source": "loop", "sink": "color"}
VALID = {"dataset": "depth_unit, label_offset", "source": "width, height, loop, resize, depth_unit, fps",
         "sink": "color"}
EXAMPLE = {"dataset": "sunrgbd://data/sunrgbd?label_offset=1", "source": "folder://captures/office",
           "sink": "masks://out/masks?color=1"}
# Per kind, a URI with a positive number option: (template, option).
NUMBER = {"dataset": ("sunrgbd://data?depth_unit={}", "depth_unit"),
          "source": ("folder://{}?depth_unit={}", "depth_unit"),
          "sink": ("video://out.mp4?fps={}", "fps")}
SWITCH_ERROR = "must be one of 1/0, true/false, yes/no, on/off (any case), got"


def frame_folder(path: Path) -> Path:
    """The least a folder:// source opens: one stem with a colour and a depth file (not read until iterated)."""
    for sub in ("rgb", "depth"):
        (path / sub).mkdir(parents=True, exist_ok=True)
        (path / sub / "a.png").write_bytes(b"")
    return path


def read(kind: str, uri: str) -> tuple[str, bool | None]:
    """(the path the URI names, its switch: None when not given) as the kind's own entry point reads them."""
    if kind == "dataset":
        _, path, options = parse_dataset_uri(uri)
        return path, bool(options["label_offset"]) if "label_offset" in options else None
    if kind == "source":
        with open_source(uri) as source:
            return str(source.root), source.options.get("loop")
    sink = sink_from_uri(uri)
    return str(sink.root), sink.color if "color" in uri else None


def error(kind_or_call, uri: str) -> str:
    call = {"dataset": parse_dataset_uri, "source": open_source, "sink": sink_from_uri}.get(kind_or_call, kind_or_call)
    with pytest.raises(AmfEdgeError) as caught:
        call(uri)
    return str(caught.value)


# --- paths: one percent-decoding rule ------------------------------------------------------------------

LOCATIONS = [
    ("my%20set", "my set"),
    ("a+b", "a+b"),  # '+' is a plus, in paths as in values
    ("50%25", "50%"),
    ("100%", "100%"),  # a '%' without two hex digits stays
    ("what%3F", "what?"),  # an escaped '?' stays in the path
    ("x%26y%3Dz", "x&y=z"),
    ("hash#1", "hash#1"),  # no fragments: '#' is part of the name
    ("caf%C3%A9", "café"),
    ("%7Ehome", "~home"),  # an escaped ~ is not expanded
    ("data/x", "data/x"),  # relative stays relative
    ("C:/data/x", "C:/data/x"),  # a Windows path stays whole (here a relative folder named C:)
    ("C:\\data\\x", "C:\\data\\x"),
    ("{tmp}/my%20set", "{tmp}/my set"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("location, expected", LOCATIONS)
def test_paths_decode_the_same_everywhere(kind, location, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    location, expected = location.format(tmp=tmp_path), expected.format(tmp=tmp_path)
    frame_folder(tmp_path / expected)
    assert read(kind, f"{SCHEME[kind]}://{location}") == (expected, None)


def test_file_paths_decode_too(tmp_path):
    assert str(sink_from_uri("video://out%20file.mp4").path) == "out file.mp4"
    assert str(sink_from_uri(f"stats://{tmp_path}/run%231.json").path) == f"{tmp_path}/run#1.json"
    assert parse_dataset_uri("folder:///data/my%20set")[1] == "/data/my set"
    assert sink_from_uri("video://~/out.mp4").path == Path.home() / "out.mp4"  # a written ~ is home everywhere
    assert parse_dataset_uri("nyudv2://~/nyu")[1] == str(Path.home() / "nyu")


@pytest.mark.parametrize("kind", KINDS)
def test_a_uri_without_a_path_is_an_error(kind):
    scheme = SCHEME[kind]
    for uri in (f"{scheme}://", f"{scheme}://?{SWITCH[kind]}=1"):
        assert error(kind, uri) == f"{uri!r} names no folder; write {scheme}://PATH, e.g. {EXAMPLE[kind]!r}"
    assert error("sink", "video://") == ("'video://' names no file; write video://PATH, "
                                         "e.g. 'video://out.mp4?fps=30&view=overlay'")
    assert error("source", "bag://") == "'bag://' names no file; write bag://PATH, e.g. 'bag://recordings/kitchen.db3'"


def test_schemes_without_a_path_refuse_one_alike():
    assert "synthetic:// takes no path ('x y'), only options" in error(open_dataset, "synthetic://x%20y?n=2")
    assert "synthetic:// takes no path ('x y'), only options" in error("source", "synthetic://x%20y?n=2")
    assert "window:// takes no path ('x y'), only options" in error("sink", "window://x%20y?legend=1")


# --- options: one boolean rule, one wording for every error --------------------------------------------

SPELLINGS = [("1", True), ("true", True), ("True", True), ("TRUE", True), ("yes", True), ("YeS", True), ("on", True),
             ("ON", True), ("%74rue", True), ("0", False), ("false", False), ("FALSE", False), ("no", False),
             ("No", False), ("off", False), ("OFF", False), ("of%66", False)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("text, expected", SPELLINGS)
def test_switches_take_every_spelling_everywhere(kind, text, expected, tmp_path):
    frame_folder(tmp_path)
    assert read(kind, f"{SCHEME[kind]}://{tmp_path}?{SWITCH[kind]}={text}") == (str(tmp_path), expected)


@pytest.mark.parametrize("text", ["1", "yes", "Off"])
def test_the_window_switch_too(text):
    assert sink_from_uri(f"window://?legend={text}").show_legend is (text != "Off")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("query, message", [
    ("?{switch}=maybe", "{uri!r}: option '{switch}' " + SWITCH_ERROR + " 'maybe'"),
    ("?{switch}=2", "{uri!r}: option '{switch}' " + SWITCH_ERROR + " '2'"),
    ("?{switch}=", "{uri!r}: option '{switch}' " + SWITCH_ERROR + " ''"),  # an empty value
    ("?{switch}", "{uri!r}: option '{switch}' " + SWITCH_ERROR + " ''"),  # a key alone is an empty value
    ("?{switch}=y%20s", "{uri!r}: option '{switch}' " + SWITCH_ERROR + " 'y s'"),  # shown decoded
    ("?{switch}=1&{switch}=1", "{uri!r}: option '{switch}' is given twice; give it once"),
    ("?{switch}=1&{escaped}=0", "{uri!r}: option '{switch}' is given twice; give it once"),  # keys compare decoded
    ("?bogus=1", "{uri!r}: unknown option 'bogus'; valid options: {valid}; e.g. {example!r}"),
    ("?{switch}=1&BOGUS", "{uri!r}: unknown option 'BOGUS'; valid options: {valid}; e.g. {example!r}"),
    ("?=1", "{uri!r}: unknown option ''; valid options: {valid}; e.g. {example!r}"),
])
def test_option_errors_read_the_same_everywhere(kind, query, message, tmp_path):
    switch = SWITCH[kind]
    escaped = switch[:-1] + f"%{ord(switch[-1]):02X}"
    uri = f"{SCHEME[kind]}://{tmp_path}" + query.format(switch=switch, escaped=escaped)
    assert error(kind, uri) == message.format(uri=uri, switch=switch, valid=VALID[kind], example=EXAMPLE[kind])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("text, expected", [("0.5", 0.5), ("0%2E5", 0.5), ("1e+1", 10.0), ("1e%2B1", 10.0)])
def test_numbers_decode_the_same_and_plus_is_a_plus(kind, text, expected, tmp_path):
    template, name = NUMBER[kind]
    uri = template.format(*([frame_folder(tmp_path)] if kind == "source" else []), text)
    if kind == "dataset":
        assert parse_dataset_uri(uri)[2] == {name: expected}
    elif kind == "source":
        with open_source(uri) as source:
            assert source.depth_unit == expected
    else:
        assert sink_from_uri(uri).fps == expected


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("text", ["", "1%201", "1e 1", "-1", "0", "inf", "nan"])
def test_bad_numbers_read_the_same_everywhere(kind, text, tmp_path):
    template, name = NUMBER[kind]
    uri = template.format(*([tmp_path] if kind == "source" else []), text)
    shown = text.replace("%20", " ")
    assert re.fullmatch(rf"{re.escape(repr(uri))}: option '{name}' must be .+ > 0.*, got {re.escape(repr(shown))}",
                        error(kind, uri))


def test_plus_in_a_text_value_is_a_plus():
    assert sink_from_uri("video://out.avi?fourcc=a+bc").fourcc == "a+bc"
    assert sink_from_uri("video://out.avi?fourcc=a%2Bbc").fourcc == "a+bc"


def test_synthetic_reads_the_same_as_a_dataset_and_as_a_source():
    for uri in ("synthetic://?n=2&n=3", "synthetic://?colour=red", "synthetic://?n=two", "synthetic://?n="):
        # the same parser; the source takes two options more (a camera's pace, and whether to resize)
        expected = error(open_dataset, uri).replace("width, val;", "width, val, fps, resize;")
        assert error("source", uri) == expected
    assert error(open_dataset, "synthetic://?colour=red") == (
        "'synthetic://?colour=red': unknown option 'colour'; valid options: seed, n, height, width, val; "
        "e.g. 'synthetic://?seed=0&n=100&height=240&width=320'")
    assert len(open_dataset("synthetic://?n=%33&height=16&width=16")) == 3


@pytest.mark.parametrize("uri", ["FOLDER://x", "Masks://x", "SunRGBD://x"])
def test_schemes_are_lower_case_everywhere(uri):
    for call in (parse_dataset_uri, open_source, sink_from_uri):
        assert "unknown" in error(call, uri)


# --- the parts ------------------------------------------------------------------------------------------


def test_split_uri():
    assert split_uri("folder:///data/my%20set?loop=1&fps=3") == ("folder", "/data/my set", "loop=1&fps=3")
    assert split_uri("video://a?b?c") == ("video", "a", "b?c")  # only the first '?' splits
    assert split_uri("data/rooms") == ("", "data/rooms", "")
    assert split_uri("C:\\data\\rooms") == ("", "C:\\data\\rooms", "")
    assert split_uri("window://") == ("window", "", "")
    assert split_uri("~/x")[1] == "~/x"  # not a URI: untouched
    assert split_uri("folder://~/x")[1] == str(Path.home() / "x")
    assert split_uri("folder://%7E/x")[1] == "~/x"


def test_query_pairs():
    assert query_pairs("u", "a=1+2&&b&c=%3D%26&=x&d=e=f") == [("a", "1+2"), ("b", ""), ("c", "=&"), ("", "x"),
                                                              ("d", "e=f")]
    with pytest.raises(AmfEdgeError, match="not UTF-8 once its %-escapes are decoded"):
        query_pairs("u", "a=%FF")


def test_parse_uri_checks_the_scheme_and_the_location():
    assert parse_uri("realsense://123%20456?fps=30", "realsense", {"fps": (int, "an integer")}, "realsense://") == (
        "123 456", {"fps": 30})
    with pytest.raises(AmfEdgeError, match="expected a tum:// URI like 'tum://x', got 'folder://x'"):
        parse_uri("folder://x", "tum", {}, "tum://x")
    with pytest.raises(AmfEdgeError, match="valid options: none .folder datasets take theirs from dataset.yaml.; e.g."):
        parse_dataset_uri("folder://x?depth_unit=1")


@pytest.mark.parametrize("location, expected", [
    ("", (None, None)), ("127.0.0.1:8080", ("127.0.0.1", 8080)), ("0.0.0.0:0/", ("0.0.0.0", 0)),
    ("[::1]:9000", ("::1", 9000)), ("[::1]", ("::1", None)), (":8080", (None, 8080)),
    ("localhost", ("localhost", None)),
])
def test_split_address(location, expected):
    assert split_address(location) == expected


@pytest.mark.parametrize("location, problem", [
    ("h:99999", "port"), ("h:80a", "port"), ("h:-1", "port"), ("h:8080/live", "address"), ("u@h:1", "address"),
    ("[::1", "address"), ("[::1]x", "address"),
])
def test_split_address_errors(location, problem):
    with pytest.raises(ValueError, match=problem):
        split_address(location)


def test_amf_edge_uri_is_the_only_uri_parser():
    """No other module splits or decodes URIs (the http preview's request handler splits request paths, not URIs)."""
    found = []
    for root in (Path(amf_edge.__file__).parent, Path(amf_edge.runtime.__file__).parent):
        for path in root.rglob("*.py"):
            if path.name == "uri.py" and path.parent.name == "amf_edge":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                request_path = path.parts[-2:] == ("sinks", "http.py") and "urlsplit" in line
                if re.search(r"\b(urlsplit|urlparse|parse_qsl?|unquote(_plus)?)\b", line) and not request_path:
                    found.append(f"{path}:{number}: {line.strip()}")
    assert found == []
