"""`SCHEME://LOCATION?key=value&...` options, parsed one way for datasets and frame sources alike.

Only the first '?' separates the location from the options and the location is taken literally (no
percent-decoding), so ordinary file names survive. Unknown, repeated or malformed options are errors
that say what is valid.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from amf_edge.errors import AmfEdgeError

Option = tuple[Callable[[str], object], str]  # (parser raising ValueError, what a valid value is)


def split_uri(uri: str) -> tuple[str, str, str]:
    """`SCHEME://LOCATION?QUERY` → (scheme, location with ~ expanded, query); no '://' gives scheme ""."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "", uri, ""
    location, _, query = rest.partition("?")
    return scheme, os.path.expanduser(location), query


def parse_options(uri: str, query: str, spec: Mapping[str, Option], valid: str) -> dict[str, object]:
    """The options in `query`, each converted by its parser in `spec`; `valid` lists them for errors."""
    options: dict[str, object] = {}
    for key, text in parse_qsl(query, keep_blank_values=True):
        if key not in spec:
            raise AmfEdgeError(f"{uri!r}: unknown option {key!r}; {valid}")
        if key in options:
            raise AmfEdgeError(f"{uri!r}: option {key!r} is given twice; give it once")
        parse, expected = spec[key]
        try:
            options[key] = parse(text)
        except ValueError:
            raise AmfEdgeError(f"{uri!r}: option {key!r} must be {expected}, got {text!r}") from None
    return options


def positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError
    return value


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def flag(text: str) -> bool:
    """"0" or "1"."""
    if text not in ("0", "1"):
        raise ValueError
    return text == "1"
