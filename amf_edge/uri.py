"""`SCHEME://LOCATION?key=value&...`: the one parser of the URIs that name datasets, frame sources and sinks.

The same rules for every scheme:

- The scheme is what precedes the first "://", as written (schemes are lower case); without "://" there is none.
- The location runs to the first '?'; what follows is the query, `key=value` pairs joined by '&'.
- Percent-escapes are decoded in the location, the keys and the values alike, after splitting, so an
  escaped '?' (%3F), '&' (%26), '=' (%3D) or '%' (%25) stays part of a name: `folder:///data/my%20set` is
  the folder "/data/my set", `video://out%20file.mp4` the file "out file.mp4". Everything else is literal:
  '+' is a plus, not a space (`?depth_unit=1e+3`), '#' is part of the name, and a '%' without two hex digits
  after it stays a '%'. A leading ~ (as written; %7E is a literal ~) is expanded to the home folder. A
  relative location (`folder://data/x`) stays relative, a Windows path (`video://C:/out/x.mp4`) whole.
- Switches take 1/0, true/false, yes/no or on/off, in any case.
- An unknown option, an option given twice and a value its option cannot take are errors that name the
  option, the value and what is valid, with an example URI.

`parse_uri` applies all of it for one scheme; `split_uri`, `parse_options` and the value parsers are its parts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from urllib.parse import unquote

from amf_edge.errors import AmfEdgeError

Option = tuple[Callable[[str], object], str]  # (parser raising ValueError, what a valid value is)
LOCATIONS = ("optional", "none", "folder", "file")  # what parse_uri's `location` may say
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def decode(uri: str, text: str) -> str:
    """`text` (a part of `uri`) with its percent-escapes decoded as UTF-8; nothing else changes."""
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise AmfEdgeError(f"{uri!r}: {text!r} is not UTF-8 once its %-escapes are decoded; "
                           "escape each byte of a UTF-8 name, e.g. %C3%A9 for é") from None


def split_uri(uri: str) -> tuple[str, str, str]:
    """`SCHEME://LOCATION?QUERY` → (scheme, location decoded with ~ expanded, raw query); no '://' gives scheme ""."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "", uri, ""
    location, _, query = rest.partition("?")
    path = decode(uri, location)
    return scheme, os.path.expanduser(path) if location.startswith("~") else path, query  # %7E stays a literal ~


def query_pairs(uri: str, query: str) -> list[tuple[str, str]]:
    """The decoded (key, value) pairs of `query` in order; `key` alone is (key, ""), empty pieces are skipped."""
    pairs = []
    for piece in query.split("&"):
        if piece:
            key, _, value = piece.partition("=")
            pairs.append((decode(uri, key), decode(uri, value)))
    return pairs


def parse_options(uri: str, query: str, spec: Mapping[str, Option], example: str, note: str = "") -> dict[str, object]:
    """The options in `query`, each converted by its parser in `spec`.

    Errors name the option and the value; an unknown option lists the valid ones (`note` follows the list)
    and `example`, a URI of the scheme.
    """
    options: dict[str, object] = {}
    for key, text in query_pairs(uri, query):
        if key not in spec:
            raise AmfEdgeError(f"{uri!r}: unknown option {key!r}; valid options: {', '.join(spec) or 'none'}{note}; "
                               f"e.g. {example!r}")
        if key in options:
            raise AmfEdgeError(f"{uri!r}: option {key!r} is given twice; give it once")
        parse, expected = spec[key]
        try:
            options[key] = parse(text)
        except ValueError:
            raise AmfEdgeError(f"{uri!r}: option {key!r} must be {expected}, got {text!r}") from None
    return options


def parse_uri(uri: str, scheme: str, spec: Mapping[str, Option], example: str, *, location: str = "optional",
              note: str = "") -> tuple[str, dict[str, object]]:
    """`scheme://LOCATION?options` → (LOCATION decoded with ~ expanded, parsed options).

    `location` says what the scheme's location is: "folder" or "file" (required), "optional" (a camera
    serial, an address) or "none" (options only). `example` is a valid URI of the scheme, shown in errors.
    """
    if location not in LOCATIONS:
        raise ValueError(f"location must be one of {', '.join(LOCATIONS)}, got {location!r}")
    given, place, query = split_uri(uri)
    if given != scheme:
        raise AmfEdgeError(f"expected a {scheme}:// URI like {example!r}, got {uri!r}")
    if location in ("folder", "file") and not place:
        raise AmfEdgeError(f"{uri!r} names no {location}; write {scheme}://PATH, e.g. {example!r}")
    if location == "none" and place:
        raise AmfEdgeError(f"{uri!r}: {scheme}:// takes no path ({place!r}), only options, e.g. {example!r}")
    return place, parse_options(uri, query, spec, example, note)


def split_address(location: str) -> tuple[str | None, int | None]:
    """`HOST[:PORT]`, `[IPv6][:PORT]` or "" (a trailing '/' allowed) → (host or None, port or None).

    Raises ValueError("port") for a port that is not a number from 0 to 65535 and ValueError("address")
    for anything that is more than an address and a port (a path, a user name).
    """
    location = location.removesuffix("/")
    if location.startswith("["):
        host, bracket, rest = location[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("address")
        port = rest[1:] if rest else ""
    else:
        host, _, port = location.partition(":")
    if "/" in host or "@" in host or "[" in host or "]" in host or "/" in port:
        raise ValueError("address")
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        raise ValueError("port")
    return host or None, int(port) if port else None


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
    """A switch: 1/true/yes/on or 0/false/no/off, in any case."""
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ValueError


FLAG: Option = (flag, "one of 1/0, true/false, yes/no, on/off (any case)")


def choice(*values: str) -> Option:
    """An option that takes one of `values`, as written."""
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError
        return text
    return parse, f"one of {', '.join(values)}"
