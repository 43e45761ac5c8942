"""Stand-in `tensorrt` modules generated from API surfaces, and a stand-in CUDA layer.

TensorRT cannot be installed here and there is no GPU, so the build path (convert/build.py) and the
backend (runtime/backends/trt.py) run against modules made mechanically from the exact API lists in
tests/data/trt_api/tensorrt-<version>.json (scripts/trt_api_surface.py makes them from the public
binding wheels):

- every top-level name, class member and enum value of the surface exists, and nothing else: touching
  a name the surface lacks raises AttributeError, as the real module would;
- methods check their arguments against the surface's pybind11 signatures (count, keywords, and the
  types that can be checked: TensorRT classes and enums, int, str, bool, buffers; overloads: accepted
  when any matches) and raise TypeError otherwise; classes without a constructor refuse construction;
- read-only properties refuse assignment; enum members are ints for flag arithmetic;
- every call, property write and name lookup is recorded (`module.standin`), so tests can say which
  API a run used, and prove that removing any of it from a surface makes the run fail.

What the fakes return is mechanical too (the signature's return annotation: an instance of the
TensorRT class it names, True for bool, None for None...), except where a test's `behaviour` maps a
qualified name to a function or value: the one hand-written part, kept to what a scenario needs
(tensor names of an engine, a serialized plan, the builder calling the callbacks it was given). A
behaviour for a name the surface lacks is never installed.

`FakeCuda` implements amf_edge.runtime.cuda.Cuda on host memory, recording every operation with its stream.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from amf_edge.gpu import Device

SURFACE_DIR = Path(__file__).parent / "data" / "trt_api"
VERSIONS = ("10.3.0", "10.16.1.11", "11.4.0.106")
_HERE = str(Path(__file__).resolve())


def load_surface(version: str) -> dict:
    return json.loads((SURFACE_DIR / f"tensorrt-{version}.json").read_text())


def classes(surface: dict) -> dict[str, dict[str, str]]:
    """{class name: {member: kind}} for every top-level class of a surface."""
    out: dict[str, dict[str, str]] = {n: {} for n, k in surface["api"].items() if "." not in n and k == "class"}
    for qual, kind in surface["api"].items():
        owner, dot, member = qual.partition(".")
        if dot and owner in out:
            out[owner][member] = kind
    return out


# --- pybind11 signatures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    annotation: str
    has_default: bool
    default: str
    kind: str  # "positional", "keyword", "var_positional", "var_keyword"


@dataclass(frozen=True)
class Signature:
    text: str
    params: tuple[Param, ...]  # without self
    returns: str

    def positional_range(self) -> tuple[int, float]:
        """(fewest, most) positional arguments after self."""
        pos = [p for p in self.params if p.kind == "positional"]
        most = float("inf") if any(p.kind == "var_positional" for p in self.params) else len(pos)
        return sum(not p.has_default for p in pos), most


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside brackets, angle-bracketed reprs and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>" and not (ch == ">" and text[i - 1] == "-"):
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_signature(line: str) -> Signature:
    """`name(self: T, a: int, b: X = <X.Y: 0>) -> R` (optionally numbered "2. ...") → Signature."""
    text = re.sub(r"^\d+\.\s+", "", line.strip())
    open_at = text.index("(")
    depth, close_at = 0, None
    for i in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            close_at = i
            break
    inner, rest = text[open_at + 1:close_at], text[close_at + 1:]
    returns = rest.split("->", 1)[1].strip() if "->" in rest else "None"
    params, keyword_only = [], False
    for raw in _split_top(inner):
        if raw == "*":
            keyword_only = True
            continue
        if raw == "/":
            params = [Param(p.name, p.annotation, p.has_default, p.default, "positional_only") for p in params]
            continue
        name, _, rest_ = raw.partition(":")
        annotation, _, default = rest_.partition(" = ")
        name = name.strip()
        if name.startswith("**"):
            kind = "var_keyword"
        elif name.startswith("*"):
            kind = "var_positional"
        else:
            kind = "keyword" if keyword_only else "positional"
        params.append(Param(name.lstrip("*"), annotation.strip(), bool(default), default.strip(), kind))
    if params and params[0].name == "self":
        params = params[1:]
    return Signature(line, tuple(params), returns)


def signatures(surface: dict, qualname: str) -> list[Signature]:
    lines = surface["signatures"].get(qualname, [])
    numbered = [line for line in lines if re.match(r"^\d+\.\s", line)]
    return [parse_signature(line) for line in (numbered or lines)]


def annotation_class(annotation: str) -> str | None:
    """"tensorrt_bindings.tensorrt.IBuilderConfig" → "IBuilderConfig"; None for anything not a top-level class."""
    m = re.fullmatch(r"tensorrt(?:_bindings)?\.tensorrt\.(\w+)", annotation)
    return m.group(1) if m else None


# --- the generated module -----------------------------------------------------------------------------------


@dataclass
class Call:
    name: str
    args: tuple
    kwargs: dict
    result: Any = None


@dataclass
class Record:
    """What a run did with a stand-in module."""

    version: str
    surface: dict
    calls: list[Call] = field(default_factory=list)
    accessed: dict[str, set[str]] = field(default_factory=dict)  # qualified name → files that looked it up
    state: dict = field(default_factory=dict)  # scratch space for behaviours

    def called(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    def used_by(self, *files: str) -> set[str]:
        """Qualified names looked up from code in `files` (absolute paths)."""
        return {name for name, where in self.accessed.items() if where & set(files)}


def _caller_file() -> str:
    """The file whose code looked the name up (lookups by the stand-in's own behaviours count as this file)."""
    return sys._getframe(2).f_code.co_filename


class _StandInMeta(type):
    def __getattribute__(cls, name):
        members = type.__getattribute__(cls, "_standin_members")
        if name in members:
            record = type.__getattribute__(cls, "_standin_record")
            record.accessed.setdefault(f"{type.__getattribute__(cls, '_standin_name')}.{name}",
                                       set()).add(_caller_file())
        return type.__getattribute__(cls, name)


class _StandIn(metaclass=_StandInMeta):
    """Base of every generated class; subclasses written in Python (trampolines) may add attributes."""

    _standin_members: ClassVar[dict[str, str]] = {}
    _standin_name = "?"
    _standin_record: Record | None = None

    def __getattribute__(self, name):
        cls = type(self)
        if name in cls._standin_members:
            cls._standin_record.accessed.setdefault(f"{cls._standin_name}.{name}", set()).add(_caller_file())
        return object.__getattribute__(self, name)

    def __setattr__(self, name, value):
        cls = type(self)
        kind = cls._standin_members.get(name)
        if kind is None and type.__getattribute__(cls, "_standin_generated") is cls:
            raise AttributeError(f"'{cls._standin_name}' object has no attribute '{name}' "
                                 f"(not in the TensorRT {cls._standin_record.version} surface)")
        if kind is not None and not kind.startswith("property"):
            raise AttributeError(f"can't set attribute '{name}' of '{cls._standin_name}' (a {kind})")
        if kind is not None:
            cls._standin_record.accessed.setdefault(f"{cls._standin_name}.{name}", set()).add(
                sys._getframe(1).f_code.co_filename)
        object.__setattr__(self, name, value)  # properties go through their descriptor; read-only ones refuse

    def __repr__(self):
        return f"<stand-in tensorrt.{type(self)._standin_name}>"


class _EnumMember:
    """A member of a generated enum: an int with a name (pybind11 enums convert to int)."""

    def __init__(self, owner: str, name: str, value: int):
        self.name, self.value, self._owner = name, value, owner

    def __int__(self):
        return self.value

    __index__ = __int__

    def __repr__(self):
        return f"<{self._owner}.{self.name}: {self.value}>"


class StandInModule(types.ModuleType):
    def __getattribute__(self, name):
        d = types.ModuleType.__getattribute__(self, "__dict__")
        if name in d.get("_standin_toplevel", ()):
            d["standin"].accessed.setdefault(name, set()).add(_caller_file())
        return types.ModuleType.__getattribute__(self, name)


def make_tensorrt(surface: dict, behaviour: dict[str, Any] | None = None) -> StandInModule:
    """A module with exactly `surface`'s names; see the module docstring. `behaviour` maps qualified names
    to what they do: for methods and functions a callable (self, *args, **kwargs) → result; for
    properties a value or a callable (self) → value used until the property is assigned."""
    behaviour = behaviour or {}
    api = surface["api"]
    record = Record(surface["version"], surface)
    module = StandInModule("tensorrt")
    module.__version__ = surface["version"]
    module.standin = record
    members_of = classes(surface)
    generated: dict[str, type] = {}

    def is_enum(name: str) -> bool:
        return any(k == "enum_value" for k in members_of[name].values())

    def new(name: str, **attrs) -> Any:
        """An instance of generated class `name` without calling its constructor (as TensorRT returns them)."""
        obj = object.__new__(generated[name])
        object.__setattr__(obj, "_standin_props", {})
        for k, v in attrs.items():
            object.__setattr__(obj, k, v)
        return obj

    def structural_ok(value: Any, wanted: str) -> bool:
        cls = type(value)
        have = getattr(cls, "_standin_members", None)
        if have is None:
            return False
        if cls._standin_name == wanted:
            return True
        # pybind11 inheritance is not in the surface: a class whose members include all of the wanted
        # class's members stands in for a subclass (Logger for ILogger)
        return set(members_of.get(wanted, {})) <= set(have)

    def type_ok(value: Any, param: Param) -> bool:
        a = param.annotation
        if param.has_default and param.default == "None" and value is None:
            return True
        wanted = annotation_class(a)
        if wanted is not None and wanted in generated:
            if is_enum(wanted):
                alias = isinstance(value, _EnumMember) and value._owner == wanted
                return alias or type(value) is generated[wanted]
            return structural_ok(value, wanted)
        if a in ("int", "typing.SupportsInt"):
            return hasattr(value, "__index__") and not isinstance(value, float)
        if a == "float" or a == "typing.SupportsFloat":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if a == "str":
            return isinstance(value, (str, bytes))
        if a == "bool":
            return isinstance(value, (bool, np.bool_))
        if a in ("buffer", "typing_extensions.Buffer", "collections.abc.Buffer"):
            try:
                memoryview(value)
                return True
            except TypeError:
                return False
        if re.fullmatch(r"(List|list|collections\.abc\.Sequence)\[str\]", a):
            return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        if a in ("tuple", "list"):
            return isinstance(value, {"tuple": tuple, "list": list}[a])
        return True  # annotations we cannot check (object, typing.Any, numpy types, C++ names) accept anything

    def bind(sig: Signature, args: tuple, kwargs: dict) -> str | None:
        """None when the call fits `sig`, else why not."""
        positional = [p for p in sig.params if p.kind in ("positional", "positional_only")]
        if len(args) > len(positional) and not any(p.kind == "var_positional" for p in sig.params):
            return f"{len(args)} positional arguments, at most {len(positional)}"
        bound = dict(zip([p.name for p in positional], args))
        by_name = {p.name: p for p in sig.params if p.kind in ("positional", "keyword")
                   and not re.fullmatch(r"arg\d+", p.name)}
        for k, v in kwargs.items():
            if k in bound:
                return f"{k!r} given twice"
            if k not in by_name:
                if any(p.kind == "var_keyword" for p in sig.params):
                    continue
                return f"no parameter {k!r}"
            bound[k] = v
        for p in sig.params:
            if p.kind in ("var_positional", "var_keyword"):
                continue
            if p.name not in bound:
                if not p.has_default:
                    return f"missing {p.name!r}"
            elif not type_ok(bound[p.name], p):
                return f"{p.name}={bound[p.name]!r} is not {p.annotation}"
        return None

    def fake_return(annotation: str) -> Any:
        cls = annotation_class(annotation)
        if cls in generated:
            return new(cls)
        return {"None": None, "bool": True, "int": 0, "float": 0.0, "str": ""}.get(annotation)

    def make_method(qual: str, sigs: list[Signature], is_init: bool) -> Callable:
        if is_init and not sigs:
            def no_constructor(self, *args, **kwargs):
                raise TypeError(f"tensorrt.{qual.split('.')[0]}: No constructor defined!")
            return no_constructor
        do = behaviour.get(qual)

        def method(self, *args, **kwargs):
            chosen = None
            if sigs:
                reasons = []
                for sig in sigs:
                    why = bind(sig, args, kwargs)
                    if why is None:
                        chosen = sig
                        break
                    reasons.append(f"  {sig.text}: {why}")
                if chosen is None:
                    raise TypeError(f"{qual}(): incompatible arguments for TensorRT {record.version}; the surface has\n"
                                    + "\n".join(reasons))
            if is_init:
                object.__setattr__(self, "_standin_props", {})
                result = None
                if do is not None:
                    do(self, *args, **kwargs)
            elif do is not None:
                result = do(self, *args, **kwargs)
            else:
                result = fake_return(chosen.returns) if chosen else None
            record.calls.append(Call(qual, args, kwargs, result))
            return result

        method.__name__ = qual.split(".")[-1]
        method.__qualname__ = qual
        return method

    def make_property(qual: str, writable: bool) -> property:
        name = qual.split(".")[-1]
        default = behaviour.get(qual)

        def get(self):
            props = object.__getattribute__(self, "__dict__").setdefault("_standin_props", {})
            if name in props:
                return props[name]
            return default(self) if callable(default) else default

        def set_(self, value):
            object.__getattribute__(self, "__dict__").setdefault("_standin_props", {})[name] = value
            record.calls.append(Call(qual + "=", (value,), {}))

        return property(get, set_ if writable else None, doc=f"stand-in for {qual}")

    # classes first (methods refer to each other by name), then their members
    for cname in members_of:
        generated[cname] = _StandInMeta(cname, (_StandIn,), {
            "_standin_members": members_of[cname], "_standin_name": cname, "_standin_record": record,
            "__module__": "tensorrt",
        })
        type.__setattr__(generated[cname], "_standin_generated", generated[cname])
    for cname, members in members_of.items():
        cls = generated[cname]
        nested_enums: dict[str, list[str]] = {}
        for member, kind in members.items():
            qual = f"{cname}.{member}"
            if kind == "method":
                type.__setattr__(cls, member, make_method(qual, signatures(surface, qual), member == "__init__"))
            elif kind in ("property", "property(ro)"):
                type.__setattr__(cls, member, make_property(qual, kind == "property"))
            elif kind == "enum_builtin":
                continue  # name/value: attributes of each member
            elif kind == "enum_value":
                pass  # below, once all values are known
            else:  # a value of a nested enum, e.g. Logger.WARNING of type Severity
                nested_enums.setdefault(kind, []).append(member)
        if "__init__" not in members:  # pybind11's default: a class bound without a constructor refuses one
            type.__setattr__(cls, "__init__", make_method(f"{cname}.__init__", [], True))
        values = sorted(m for m, k in members.items() if k == "enum_value")
        if values:  # pybind11 enum members convert to int (flag arithmetic: 1 << int(flag))
            type.__setattr__(cls, "__int__", _enum_int)
            type.__setattr__(cls, "__index__", _enum_int)
            type.__setattr__(cls, "__repr__", _enum_repr)
        for i, member in enumerate(values):
            type.__setattr__(cls, member, _make_enum_member(cls, cname, member, i))
        for enum_name, names in nested_enums.items():
            for i, member in enumerate(sorted(names)):
                type.__setattr__(cls, member, _EnumMember(f"{cname}.{enum_name}", member, i))

    toplevel = set()
    for name, kind in api.items():
        if "." in name:
            continue
        toplevel.add(name)
        if kind == "class":
            setattr(module, name, generated[name])
        elif kind == "function":
            setattr(module, name, _make_function(name, behaviour.get(name), record))
        elif kind == "module":
            setattr(module, name, types.ModuleType(name))
        elif kind in members_of and is_enum(kind):  # aliases such as tensorrt.float32 (a DataType)
            setattr(module, name, _EnumMember(kind, name, -1))
        else:
            setattr(module, name, object())
    module._standin_toplevel = frozenset(toplevel)
    module._standin_new = new
    return module


def _make_enum_member(cls: type, owner: str, name: str, value: int):
    """A member of generated enum class `cls` that is both an instance of it and an int."""
    member = object.__new__(cls)
    object.__setattr__(member, "_standin_props", {})
    object.__setattr__(member, "name", name)
    object.__setattr__(member, "value", value)
    object.__setattr__(member, "_owner", owner)
    return member


def _enum_int(self):
    return object.__getattribute__(self, "value")


def _enum_repr(self):
    return f"<{type(self)._standin_name}.{object.__getattribute__(self, 'name')}: {_enum_int(self)}>"


def _make_function(name: str, do: Callable | None, record: Record) -> Callable:
    def function(*args, **kwargs):
        result = do(*args, **kwargs) if do is not None else None
        record.calls.append(Call(name, args, kwargs, result))
        return result

    function.__name__ = name
    return function


def install(monkeypatch, surface: dict, behaviour: dict[str, Any] | None = None) -> StandInModule:
    """Make `import tensorrt` return a stand-in for `surface` for the rest of the test."""
    module = make_tensorrt(surface, behaviour)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    return module


def call_override(obj: Any, module: StandInModule, qualname: str, **values) -> Any:
    """Call a Python override the way TensorRT would: with one argument per parameter of the surface's
    signature (named values from `values`, the rest made up from the annotation)."""
    sig = signatures(module.standin.surface, qualname)[0]
    made = {"str": "", "int": 1, "typing.SupportsInt": 1, "bool": True, "float": 1.0}
    args = []
    for p in sig.params:
        if p.name in values:
            args.append(values[p.name])
        elif p.annotation in made:
            args.append(made[p.annotation])
        else:
            raise KeyError(f"give a value for {qualname}'s parameter {p.name}: {p.annotation}")
    return getattr(obj, qualname.split(".")[-1])(*args)


def host_memory(module: StandInModule, data: bytes) -> Any:
    """An IHostMemory that also holds `data` (the real one supports the buffer protocol; a Python class
    can only by deriving from a buffer type, so this one derives from bytearray as well)."""
    base = type(module.IHostMemory)
    cls = module.standin.state.get("_host_memory_cls")
    if cls is None:
        cls = base("IHostMemory", (module.IHostMemory, bytearray), {})
        module.standin.state["_host_memory_cls"] = cls
    obj = bytearray.__new__(cls)
    bytearray.__init__(obj, data)
    object.__setattr__(obj, "_standin_props", {})
    return obj


# --- the stand-in CUDA layer ------------------------------------------------------------------------------


class FakeCuda:
    """amf_edge.runtime.cuda.Cuda on host memory: device pointers index byte arrays; every operation is logged as
    (operation, stream id, detail) and runs at once, except inside a stream capture, where it is kept for
    the graph. `enqueue(stream_handle, fn)` is how a fake kernel (the stand-in execute_async_v3) runs."""

    name = "fake-cuda"

    def __init__(self, device, supports_graphs: bool = True):
        self._device = device
        self.supports_graphs = supports_graphs
        self.memory: dict[int, bytearray] = {}
        self.log: list[tuple] = []
        self.freed = False
        self._ids = itertools.count(1)
        self._next_ptr = 0x1000_0000
        self._capturing: dict[int, list] = {}
        self.streams: dict[int, object] = {}
        self.clock_ms = 0.0

    def device(self):
        return self._device

    def malloc(self, nbytes):
        ptr = self._next_ptr
        self._next_ptr += (nbytes + 0xFFFF) & ~0xFFFF
        self.memory[ptr] = bytearray(nbytes)
        self.log.append(("malloc", None, nbytes))
        return ptr

    def view(self, ptr: int, dtype, shape) -> np.ndarray:
        return np.frombuffer(self.memory[ptr], dtype=dtype, count=int(np.prod(shape))).reshape(shape)

    def pinned(self, shape, dtype):
        self.log.append(("pinned", None, tuple(shape)))
        return np.zeros(shape, dtype)

    def stream(self):
        s = types.SimpleNamespace(id=next(self._ids))
        self.streams[s.id] = s
        return s

    def stream_handle(self, stream):
        return stream.id

    def event(self, timing=False):
        return types.SimpleNamespace(id=next(self._ids), recorded=False, timing=timing, at_ms=None)

    # a fake device clock: every operation on a stream takes COST_MS of its kind, so elapsed times are known
    COST_MS = {"h2d": 1.0, "d2h": 0.25}
    KERNEL_MS = 5.0

    def elapsed_ms(self, start, end):
        assert start.timing and end.timing, "elapsed_ms needs events created with timing=True"
        assert start.recorded and end.recorded, "elapsed_ms on an event never recorded"
        return end.at_ms - start.at_ms

    def memory_info(self):
        total = 8 << 30
        return total - sum(len(b) for b in self.memory.values()), total

    def _run(self, stream_id: int, what: str, fn: Callable, detail=None):
        if stream_id in self._capturing:
            self._capturing[stream_id].append((what, fn, detail))
            self.log.append(("captured " + what, stream_id, detail))
        else:
            self.log.append((what, stream_id, detail))
            self.clock_ms += self.COST_MS.get(what, 0.0 if what == "record" else self.KERNEL_MS)
            fn()

    def enqueue(self, stream_handle: int, what: str, fn: Callable) -> None:
        self._run(stream_handle, what, fn)

    def copy_to_device(self, dst, src, stream):
        data = np.ascontiguousarray(src).tobytes()

        def go():
            self.memory[dst][:len(data)] = data
        self._run(stream.id, "h2d", go, dst)

    def copy_to_host(self, dst, src, stream):
        def go():
            dst.reshape(-1).view(np.uint8)[:] = np.frombuffer(self.memory[src], np.uint8, count=dst.nbytes)
        self._run(stream.id, "d2h", go, src)

    def record(self, event, stream):
        def go():
            event.recorded, event.at_ms = True, self.clock_ms
        self._run(stream.id, "record", go, event.id)

    def wait(self, stream, event):
        self.log.append(("wait", stream.id, event.id))

    def synchronize(self, event):
        if not event.recorded:
            raise AssertionError("synchronize on an event that was never recorded: the host would hang")
        self.log.append(("synchronize", None, event.id))

    def begin_capture(self, stream):
        self._capturing[stream.id] = []
        self.log.append(("begin_capture", stream.id, None))

    def end_capture(self, stream):
        ops = self._capturing.pop(stream.id)
        self.log.append(("end_capture", stream.id, len(ops)))
        return types.SimpleNamespace(ops=ops)

    def launch(self, graph, stream):
        self.log.append(("launch", stream.id, len(graph.ops)))
        for what, fn, detail in graph.ops:
            self.log.append(("graph " + what, stream.id, detail))
            self.clock_ms += self.COST_MS.get(what, 0.0 if what == "record" else self.KERNEL_MS)
            fn()

    def no_graphs_error(self):
        from amf_edge.errors import AmfEdgeError
        return AmfEdgeError("fake-cuda without graphs")

    def close(self):
        self.freed = True
        self.log.append(("close", None, None))




class FakeDeviceArray:
    """polygraphy.cuda.DeviceArray as convert/calibrator.py's calibrator uses it: raw((nbytes,)), copy_from(host bytes),
    ptr, free."""

    log: ClassVar[list] = []
    _next = 0x7000_0000

    def __init__(self, nbytes: int):
        FakeDeviceArray._next += 0x100000
        self.ptr, self.nbytes, self.data = FakeDeviceArray._next, nbytes, None

    @classmethod
    def with_log(cls, log: list):
        return type("LoggedDeviceArray", (cls,), {"log": log})

    @classmethod
    def raw(cls, shape):
        return cls(shape[0])

    def copy_from(self, host):
        assert host.dtype == np.uint8 and host.nbytes == self.nbytes
        self.data = host.copy()
        self.log.append(host.nbytes)

    def free(self):
        self.ptr = 0


# --- a world: what the fakes do in the scenarios the tests run (the hand-written part) ---------------------

ORIN = Device("NVIDIA Jetson AGX Orin", "8.7", integrated=True)
RTX_4090 = Device("NVIDIA GeForce RTX 4090", "8.9")

_DTYPES = {"UINT8": np.uint8, "FLOAT": np.float32, "HALF": np.float16, "INT32": np.int32, "INT64": np.int64}


@dataclass
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str  # a DataType member name
    is_input: bool


def default_io(height: int, width: int, outputs: tuple[str, ...] = ("labels",)) -> list[TensorSpec]:
    """An amf-edge engine's tensors, as TensorRT lists them (inputs first)."""
    out = {"labels": ((1, height, width), "UINT8"), "logits": ((1, 11, height // 4, width // 4), "FLOAT"),
           "confidence": ((1, height, width), "FLOAT"), "overlay": ((1, height, width, 3), "UINT8")}
    return [TensorSpec("rgb", (1, height, width, 3), "UINT8", True),
            TensorSpec("depth", (1, height, width), "FLOAT", True),
            *(TensorSpec(o, *out[o], False) for o in outputs)]


def fake_labels(rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """What the fake engine computes: a function of both inputs, so a wrong buffer shows in the result."""
    return (rgb[..., 0] // 64 + 4 * (depth > 1.0)).astype(np.uint8)


LAYERS = {"Layers": [
    {"Name": "conv1", "LayerType": "CaskConvolution",
     "Outputs": [{"Name": "a", "Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}]},
    {"Name": "conv2", "LayerType": "CaskConvolution",
     "Outputs": [{"Name": "b", "Format/Datatype": "Row major linear Int8 format"}]},
    {"Name": "argmax", "LayerType": "TopK",
     "Outputs": [{"Name": "labels", "Format/Datatype": "Row major linear UInt8 format"}]},
    {"Name": "head", "LayerType": "Reformat", "Outputs": [{"Name": "c", "Format/Datatype": "Row major linear FP32"}]},
], "Bindings": ["rgb", "depth", "labels"]}


def make_world(surface: dict, *, io: list[TensorSpec] | None = None, cuda: FakeCuda | None = None, dla_cores: int = 0,
               parse_errors: tuple[str, ...] = (), plan: bytes = b"fake-plan", layers: dict | None = None,
               build_fails: bool = False) -> StandInModule:
    """A stand-in module whose builder, runtime, engine and context act out one scenario.

    The builder calls the progress monitor and (on surfaces that have calibrators) the INT8 calibrator it
    was configured with, through their surface signatures, and returns `plan`; the runtime deserializes
    any plan into an engine with tensors `io`; the context's execute_async_v3 runs `fake_labels` on the
    device buffers bound at enqueue time, through `cuda`.
    """
    holder: dict[str, Any] = {}
    io = io if io is not None else default_io(48, 64)
    specs = {t.name: t for t in io}

    def state() -> dict:
        return holder["module"].standin.state

    def build(builder, network, config):
        trt = holder["module"]
        monitor = config.progress_monitor
        if monitor is not None:
            call_override(monitor, trt, "IProgressMonitor.phase_start", phase_name="Building engine", parent_phase="",
                          num_steps=2)
            call_override(monitor, trt, "IProgressMonitor.phase_start", phase_name="Tactics",
                          parent_phase="Building engine", num_steps=5)
            for step in range(5):
                assert call_override(monitor, trt, "IProgressMonitor.step_complete", phase_name="Tactics",
                                     step=step) is True
            call_override(monitor, trt, "IProgressMonitor.phase_finish", phase_name="Tactics")
            call_override(monitor, trt, "IProgressMonitor.phase_finish", phase_name="Building engine")
        if "IBuilderConfig.int8_calibrator" in trt.standin.surface["api"] and config.int8_calibrator is not None:
            calibrator = config.int8_calibrator
            state()["calibrator"] = calibrator
            assert call_override(calibrator, trt, "IInt8EntropyCalibrator2.get_batch_size") == 1
            cached = call_override(calibrator, trt, "IInt8EntropyCalibrator2.read_calibration_cache")
            state()["calibration_cache_read"] = cached
            if cached is None:
                batches = state().setdefault("calibration_batches", [])
                while (ptrs := call_override(calibrator, trt, "IInt8EntropyCalibrator2.get_batch",
                                             names=["rgb", "depth"])) is not None:
                    batches.append(ptrs)
                if batches:
                    call_override(calibrator, trt, "IInt8EntropyCalibrator2.write_calibration_cache",
                                  cache=b"TRT-100300-EntropyCalibration2\nrgb: 3c010a14\n")
        return None if build_fails else host_memory(trt, plan)

    def deserialize(runtime, data):
        engine = holder["module"]._standin_new("ICudaEngine")
        state().setdefault("deserialized", []).append(bytes(data))
        return engine

    def set_address(context, name, memory):
        state().setdefault("addresses", {})[name] = memory
        return name in specs

    def execute(context, stream_handle):
        bound = dict(state().get("addresses", {}))  # TensorRT reads the addresses at enqueue time

        def kernel():
            rgb = cuda.view(bound["rgb"], np.uint8, specs["rgb"].shape)
            depth = cuda.view(bound["depth"], np.float32, specs["depth"].shape)
            labels = cuda.view(bound["labels"], np.uint8, specs["labels"].shape)
            labels[...] = fake_labels(rgb, depth)
            state()["executions"] = state().get("executions", 0) + 1

        cuda.enqueue(stream_handle, "execute", kernel)
        return True

    def parser_error(parser, index):
        error = holder["module"]._standin_new("ParserError")
        object.__setattr__(error, "_text", parse_errors[index])
        return error

    def create_timing_cache(config, serialized_timing_cache):
        cache = holder["module"]._standin_new("ITimingCache")
        object.__setattr__(cache, "_data", bytes(serialized_timing_cache))
        state()["timing_cache"] = cache
        return cache

    def serialize_timing_cache(cache):  # the build added timings to what was loaded
        return host_memory(holder["module"], cache._data + b"[timings]")

    behaviour = {
        "IBuilderConfig.create_timing_cache": create_timing_cache,
        "IBuilderConfig.get_timing_cache": lambda config: state()["timing_cache"],
        "ITimingCache.serialize": serialize_timing_cache,
        "Builder.num_DLA_cores": dla_cores,
        "Builder.build_serialized_network": build,
        "OnnxParser.parse_from_file": lambda parser, model: not parse_errors,
        "OnnxParser.num_errors": len(parse_errors),
        "OnnxParser.get_error": parser_error,
        "ParserError.desc": lambda error: error._text,
        "ParserError.node": lambda error: 7,
        "Runtime.deserialize_cuda_engine": deserialize,
        "EngineInspector.get_engine_information": lambda inspector, fmt: json.dumps(layers or LAYERS),
        "ICudaEngine.num_io_tensors": len(io),
        "ICudaEngine.get_tensor_name": lambda engine, index: io[index].name,
        "ICudaEngine.get_tensor_mode": lambda engine, name: (holder["module"].TensorIOMode.INPUT if specs[name].is_input
                                                             else holder["module"].TensorIOMode.OUTPUT),
        "ICudaEngine.get_tensor_shape": lambda engine, name: specs[name].shape,
        "ICudaEngine.get_tensor_dtype": lambda engine, name: getattr(holder["module"].DataType, specs[name].dtype),
        "IExecutionContext.set_tensor_address": set_address,
        "IExecutionContext.execute_async_v3": execute,
    }
    module = make_tensorrt(surface, behaviour)
    holder["module"] = module
    return module


def write_onnx(path: Path, *, height: int = 48, width: int = 64, precision: str | None = "fp32",
               outputs: tuple[str, ...] = ("labels",), channel_order: str = "RGB", dynamic: bool = False) -> Path:
    """A tiny ONNX file with amf-edge metadata (the stand-in builder never reads its graph; a real
    TensorRT build needs a real export, see the trt-marked tests)."""
    import onnx
    from onnx import TensorProto, helper

    from amf_edge.contract import encode_metadata
    from amf_edge.synthetic import SYNTHETIC_LABELS

    rgb = helper.make_tensor_value_info("rgb", TensorProto.UINT8, [1, height, width, 3])
    depth = helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, height, width])
    labels = helper.make_tensor_value_info("labels", TensorProto.UINT8, [1, height, width])
    nodes = [helper.make_node("Slice", ["rgb", "starts", "ends", "axes"], ["first"]),
             helper.make_node("Squeeze", ["first", "axes"], ["labels"])]
    inits = [helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in (("starts", 0), ("ends", 1), ("axes", 3))]
    graph = helper.make_graph(nodes, "tiny", [rgb, depth], [labels], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    h, w = ("H", "W") if dynamic else (height, width)
    meta = {
        "preset": "asymfusion-r18", "labels": SYNTHETIC_LABELS.to_dict(), "layout": "grouped",
        "input_contract": {"rgb": {"dtype": "uint8", "shape": ["N", h, w, 3], "channel_order": channel_order},
                           "depth": {"dtype": "float32", "shape": ["N", h, w], "unit": "metre", "invalid": 0.0},
                           "outputs": list(outputs)},
    }
    if precision is not None:
        meta["precision"] = precision
    for key, value in encode_metadata(meta).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


# --- the two real runtime/cuda.py implementations over fake bindings ---------------------------------------
#
# These run amf_edge.runtime.cuda.CudaPython and amf_edge.runtime.cuda.PyCuda themselves (pointer arithmetic, copy
# directions, events, graph capture), over modules shaped like cuda-python's runtime and pycuda's driver
# whose memory is ctypes buffers. test_trt_conformance checks the fake cuda-python's names and argument
# counts against the real package where it is installed.


class _HostMemoryMachine:
    """Addresses → ctypes buffers, and streams that either run operations or capture them."""

    def __init__(self):
        self.buffers: dict[int, Any] = {}
        self.capturing: dict[int, list] = {}
        self.log: list[tuple] = []
        self.live: set[tuple[str, int]] = set()

    def alloc(self, nbytes: int, what: str) -> int:
        buf = (ctypes.c_ubyte * max(nbytes, 1))()
        address = ctypes.addressof(buf)
        self.buffers[address] = buf
        self.live.add((what, address))
        return address

    def release(self, what: str, address: int) -> None:
        self.live.remove((what, int(address)))

    def run(self, stream: int, what: str, fn: Callable) -> None:
        if stream in self.capturing:
            self.capturing[stream].append(fn)
        else:
            fn()
        self.log.append((what, stream))

    def view(self, ptr: int, dtype, shape) -> np.ndarray:
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return np.frombuffer((ctypes.c_ubyte * n).from_address(ptr), dtype=dtype).reshape(shape)

    # what make_world's execute needs from "the GPU"
    def enqueue(self, stream_handle: int, what: str, fn: Callable) -> None:
        self.run(int(stream_handle), what, fn)


class _Handle(int):
    """cuda-python's handle types (cudaStream_t, cudaEvent_t...) convert to int."""


def fake_cuda_python(device: Device = RTX_4090) -> tuple[types.ModuleType, _HostMemoryMachine]:
    import enum

    m = _HostMemoryMachine()
    rt = types.ModuleType("cuda.bindings.runtime")
    ok = enum.IntEnum("cudaError_t", {"cudaSuccess": 0, "cudaErrorInsufficientDriver": 35}).cudaSuccess
    rt.cudaError_t = type(ok)
    rt.cudaMemcpyKind = enum.IntEnum("cudaMemcpyKind", {"cudaMemcpyHostToDevice": 1, "cudaMemcpyDeviceToHost": 2})
    rt.cudaStreamCaptureMode = enum.IntEnum("cudaStreamCaptureMode", {"cudaStreamCaptureModeGlobal": 0,
                                                                      "cudaStreamCaptureModeThreadLocal": 1})
    rt.cudaStreamNonBlocking, rt.cudaEventDefault, rt.cudaEventDisableTiming = 1, 0, 2
    counter = itertools.count(100)
    events: dict[int, bool] = {}

    def handle(what):
        h = _Handle(next(counter))
        m.live.add((what, h))
        return h

    def cudaSetDevice(device):
        return (ok,)

    def cudaGetErrorName(error):
        return (ok, rt.cudaError_t(error).name.encode())

    def cudaGetDeviceProperties(device_index):
        return (ok, types.SimpleNamespace(name=device.name.encode(), major=device.cc[0], minor=device.cc[1],
                                          integrated=int(device.integrated)))

    def cudaMalloc(size):
        return (ok, m.alloc(size, "device"))

    def cudaFree(devPtr):
        m.release("device", devPtr)
        return (ok,)

    def cudaMallocHost(size):
        return (ok, m.alloc(size, "pinned"))

    def cudaFreeHost(ptr):
        m.release("pinned", ptr)
        return (ok,)

    def cudaStreamCreateWithFlags(flags):
        assert flags == rt.cudaStreamNonBlocking
        return (ok, handle("stream"))

    def cudaStreamDestroy(stream):
        m.release("stream", stream)
        return (ok,)

    def cudaEventCreateWithFlags(flags):
        h = handle("event")
        events[h] = False
        return (ok, h)

    def cudaEventDestroy(event):
        m.release("event", event)
        return (ok,)

    def cudaEventRecord(event, stream):
        m.run(int(stream), "record", lambda: events.__setitem__(event, True))
        return (ok,)

    def cudaEventSynchronize(event):
        assert events[event], "synchronize on an event never recorded: the host would hang"
        return (ok,)

    def cudaEventElapsedTime(start, end):
        assert events[start] and events[end], "elapsed time of an event never recorded"
        return (ok, 0.0)

    def cudaMemGetInfo():
        return (ok, 6 << 30, 8 << 30)

    def cudaStreamWaitEvent(stream, event, flags):
        m.log.append(("wait", int(stream)))
        return (ok,)

    def cudaMemcpyAsync(dst, src, count, kind, stream):
        assert kind in (rt.cudaMemcpyKind.cudaMemcpyHostToDevice, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost)
        m.run(int(stream), kind.name, lambda: ctypes.memmove(int(dst), int(src), count))
        return (ok,)

    def cudaStreamBeginCapture(stream, mode):
        m.capturing[int(stream)] = []
        return (ok,)

    def cudaStreamEndCapture(stream):
        ops = m.capturing.pop(int(stream))
        graph = handle("graph")
        m.buffers[graph] = ops
        return (ok, graph)

    def cudaGraphInstantiate(graph, flags):
        executable = handle("graph_exec")
        m.buffers[executable] = list(m.buffers[graph])
        return (ok, executable)

    def cudaGraphDestroy(graph):
        m.release("graph", graph)
        return (ok,)

    def cudaGraphExecDestroy(graphExec):
        m.release("graph_exec", graphExec)
        return (ok,)

    def cudaGraphLaunch(graphExec, stream):
        for fn in m.buffers[graphExec]:
            m.run(int(stream), "graph op", fn)
        return (ok,)

    for name, value in list(locals().items()):
        if name.startswith("cuda") and callable(value):
            setattr(rt, name, value)
    return rt, m


def fake_pycuda(device: Device = RTX_4090) -> tuple[types.ModuleType, _HostMemoryMachine]:
    m = _HostMemoryMachine()
    drv = types.ModuleType("pycuda.driver")

    class Error(Exception):
        pass

    class DeviceAllocation:
        def __init__(self, nbytes):
            self.ptr = m.alloc(nbytes, "device")

        def __int__(self):
            return self.ptr

        def free(self):
            m.release("device", self.ptr)

    class HostAllocation(bytearray):
        def free(self):
            m.live.discard(("pinned", id(self)))

    class Stream:
        def __init__(self, flags=0):
            self.handle = id(self)

        def wait_for_event(self, event):
            m.log.append(("wait", self.handle))

    class Event:
        def __init__(self, flags=None):
            self.recorded = False

        def record(self, stream=None):
            self.recorded = True
            return self

        def synchronize(self):
            assert self.recorded, "synchronize on an event never recorded"
            return self

        def time_since(self, start):
            assert self.recorded and start.recorded, "time_since on an event never recorded"
            return 0.0

    class Context:
        def push(self):
            m.live.add(("context", 0))

        @staticmethod
        def pop():
            m.live.discard(("context", 0))

    class Device_:
        def __init__(self, index):
            pass

        def name(self):
            return device.name

        def compute_capability(self):
            return device.cc

        def get_attribute(self, attr):
            return int(device.integrated)

        def retain_primary_context(self):
            return Context()

    def pagelocked_empty(shape, dtype, order="C", mem_flags=0):
        dtype = np.dtype(dtype)
        buf = HostAllocation(int(np.prod(shape)) * dtype.itemsize)
        m.live.add(("pinned", id(buf)))
        return np.ndarray(shape, dtype, buffer=buf)  # .base is the allocation, as in pycuda

    def memcpy_htod_async(dest, src, stream=None):
        m.run(stream.handle, "htod", lambda: ctypes.memmove(int(dest), src.ctypes.data, src.nbytes))

    def memcpy_dtoh_async(dest, src, stream=None):
        m.run(stream.handle, "dtoh", lambda: ctypes.memmove(dest.ctypes.data, int(src), dest.nbytes))

    drv.init = lambda flags=0: None
    drv.Error, drv.Device, drv.Stream, drv.Event = Error, Device_, Stream, Event
    drv.mem_alloc = DeviceAllocation
    drv.pagelocked_empty, drv.memcpy_htod_async, drv.memcpy_dtoh_async = (pagelocked_empty, memcpy_htod_async,
                                                                          memcpy_dtoh_async)
    drv.event_flags = types.SimpleNamespace(DISABLE_TIMING=2)
    drv.mem_get_info = lambda: (6 << 30, 8 << 30)
    drv.device_attribute = types.SimpleNamespace(INTEGRATED="INTEGRATED")
    return drv, m
