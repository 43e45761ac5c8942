"""`amf-edge COMMAND ...`: dispatch to the command modules; user errors exit 1 without a traceback."""

from __future__ import annotations

import argparse
import importlib
import sys

from amf_edge import __version__
from amf_edge.errors import AmfEdgeError

COMMANDS = {
    "info": "amf_edge.cli.info",
    "import-reference": "amf_edge.cli.import_reference",
    "demo": "amf_edge.cli.demo",
    "train": "train.cli",
    "eval": "train.eval_cli",
    "export": "convert.export_cli",
    "record": "runtime.record_cli",
    "quantize": "convert.quantize_cli",
    "build": "convert.build_cli",
    "run": "runtime.run_cli",
    "calib": "amf_edge.cli.calib",
    "bench": "bench.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amf-edge",
        description="AsymFusion RGB-D semantic segmentation from training to edge GPUs.",
    )
    parser.add_argument("--version", action="version", version=f"amf-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name, help=module.HELP, description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_args(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except AmfEdgeError as e:
        print(f"amf-edge {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"amf-edge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
