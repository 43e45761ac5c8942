"""`amf-edge COMMAND ...`: dispatch to the command modules; user errors exit 1 without a traceback.

amf_edge.cli is the roof of the package: one module per command, named after it, above every stage
(amf_edge.train, .convert, .runtime, .bench). Nothing below imports it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from amf_edge import __version__
from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import EXTRAS, missing_module_message

# command → its module, amf_edge.cli.<command> ('-' becomes '_'), in the order of `amf-edge --help`
COMMANDS = ["info", "import-reference", "demo", "train", "eval", "export", "record", "quantize", "build", "run",
            "calib", "bench"]


def command_module(name: str) -> str:
    return f"amf_edge.cli.{name.replace('-', '_')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amf-edge",
        description="AsymFusion RGB-D semantic segmentation from training to edge GPUs.",
    )
    parser.add_argument("--version", action="version", version=f"amf-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(command_module(name))
        p = sub.add_parser(
            name, help=module.HELP, description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_args(p)
        p.set_defaults(run=module.run, extras=getattr(module, "EXTRAS", None))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except AmfEdgeError as e:
        print(f"amf-edge {args.command}: error: {e}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] not in EXTRAS:
            raise  # not an optional dependency: a bug or a broken install, keep the traceback
        print(f"amf-edge {args.command}: error: {missing_module_message(e, 'this command', args.extras)}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"amf-edge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
