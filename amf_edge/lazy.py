"""Optional heavy dependencies, imported where they are used, with an install hint when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from amf_edge.errors import AmfEdgeError


def require_module(name: str, pip_name: str | None = None, why: str = "") -> ModuleType:
    """Import `name` or raise AmfEdgeError saying which package to install."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        purpose = f" ({why})" if why else ""
        raise AmfEdgeError(f"this needs the Python module {name!r}{purpose}: pip install {pip_name or name} [{e}]") from None
