"""`amf-edge COMMAND ...`: dispatch to the command modules; user errors exit 1 without a traceback.

amf_edge.cli is the roof of the package: one module per command, named after it, above every stage
(amf_edge.train, .convert, .runtime, .bench). Nothing below imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import traceback

from amf_edge import __version__
from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import EXTRAS, missing_module_message

# command → its module, amf_edge.cli.<command> ('-' becomes '_'), in the order of `amf-edge --help`
COMMANDS = ["info", "import-reference", "demo", "train", "eval", "export", "record", "quantize", "build", "check",
            "run", "calib", "bench", "inspect"]


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
    """Run one command; its exit status. `argv` None: the program's own command line (the process ends
    after this: a stop signal from then on is ignored, and a closed stdout is not reported at exit)."""
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args) or 0
        sys.stdout.flush()  # a reader that went away (`| head`) shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        # the reader of stdout closed it (`amf-edge info --json | head -c 10`): stop quietly, as Unix tools do
        _silence_stdout()
        return 1
    except BaseException as e:
        if argv is None and isinstance(e, KeyboardInterrupt):
            ignore_stop_signals()  # on the way out: a second Ctrl-C must not break the exit
        code = report_error(args.command, e, getattr(args, "extras", None))
        if code is None:
            raise
        return code


def report_error(command: str, error: BaseException, extras: str | None = None) -> int | None:
    """Print the one line a user error deserves; its exit status. None: a bug, whose traceback is kept."""
    if isinstance(error, AmfEdgeError):
        print(f"amf-edge {command}: error: {error}", file=sys.stderr)
        return 1
    if isinstance(error, ModuleNotFoundError):
        if error.name is None or error.name.split(".")[0] not in EXTRAS:
            return None  # not an optional dependency: a bug or a broken install, keep the traceback
        print(f"amf-edge {command}: error: {missing_module_message(error, 'this command', extras)}", file=sys.stderr)
        return 1
    if isinstance(error, KeyboardInterrupt):
        # Ctrl-C (SIGINT) → 130; SIGTERM → 143 and SIGHUP → 129 where the command turns them into interrupts
        signum = getattr(error, "signum", signal.SIGINT)
        name = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
        print(f"amf-edge {command}: interrupted{name}", file=sys.stderr)
        return 128 + signum
    if isinstance(error, BrokenPipeError):
        _silence_stdout()
        return 1
    return None


@contextlib.contextmanager
def broken_model_metadata(path):
    """Around opening an ONNX model (nothing else): its amf-edge metadata unreadable (not JSON, keys or
    shapes missing) becomes one line naming the file, not a traceback."""
    try:
        yield
    except (ValueError, KeyError, TypeError, IndexError) as e:  # json.JSONDecodeError is a ValueError
        if str(path).lower().endswith(".onnx"):
            raise AmfEdgeError(f"{path}: its amf-edge metadata is broken ({type(e).__name__}: {e}); the file was "
                               "changed after `amf-edge export` or written by another tool: export it again") from None
        raise


def ignore_stop_signals() -> None:
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def leave_now(command: str, error: BaseException | None) -> None:
    """End the process at once, without the interpreter's clean-up: for when worker threads still run inside
    native code (a camera driver, ONNX Runtime) that the clean-up would free under them (SIGABRT).
    The caller has closed its files; the exit status and message are those `main` would give."""
    code = 0
    if error is not None:
        code = report_error(command, error)
        if code is None:
            traceback.print_exception(error)
            code = 1
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    sys.stderr.flush()
    os._exit(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null: the interpreter's last flush would fail again and print a warning."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (captured by a test): nothing is flushed at exit
        pass


if __name__ == "__main__":
    sys.exit(main())
