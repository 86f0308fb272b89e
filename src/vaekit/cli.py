"""``vaekit`` command line: thin subcommands over training, checkpoint and applications.

``main(argv)`` is testable in-process. Subcommands live in ``vaekit.commands``; heavy imports
(torch) happen inside them so ``vaekit --help`` stays fast. A VaekitError prints one line and
exits 1 (130 after Ctrl-C), no traceback; so does a file system error (full disk, read-only).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import typing

from vaekit.errors import VaekitError

# ------------------------------------------------------------------------------------- main

# each module has register(subparsers) and imports nothing heavy at module level
COMMAND_MODULES = [
    "train",
    "sample",
    "reconstruct",
    "info",
    "evaluate",
    "explore",
    "manifold",
    "detect",
    "restore",
    "recommend",
    "serve",
    "sweep",
    "compress",
]


class _Parser(argparse.ArgumentParser):
    """argparse with vaekit's error format: one line on stderr (not usage + error), exit 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from vaekit import __version__

    parser = _Parser(prog="vaekit", description="Train, measure and use variational autoencoders.")
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"vaekit.commands.{name}").register(sub)
    return parser


def one_line(text: str) -> str:
    """``text`` with newlines and other control characters escaped (``\\n``, ``\\x1b``), so a file
    name can neither break the one-line error format nor send terminal escapes."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def main(argv: list[str] | None = None) -> int:
    command = "vaekit"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        command = f"vaekit {args.command}"
        return args.handler(args)
    except VaekitError as e:
        print(f"{command}: error: {one_line(str(e))}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # the file system said no: a full disk, a read-only folder, permissions
        where = f"{e.filename}: " if e.filename else ""
        print(f"{command}: error: {one_line(where + (e.strerror or str(e)))}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{command}: error: out of memory; use a smaller model, batch or data set", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m vaekit.cli
    sys.exit(main())
