"""``vaekit`` command line: thin subcommands over training, checkpoint and applications.

``main(argv)`` is testable in-process. Subcommands live in ``vaekit.commands``; heavy imports
(torch) happen inside them so ``vaekit --help`` stays fast. A VaekitError prints one line and
exits 1, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vaekit.errors import VaekitError

# ------------------------------------------------------------------------------------- main

# each module has register(subparsers) and imports nothing heavy at module level
COMMAND_MODULES = ["train", "basic", "evaluate", "explore", "detect", "samplers", "compress"]


def build_parser() -> argparse.ArgumentParser:
    from vaekit import __version__

    parser = argparse.ArgumentParser(prog="vaekit", description="Train, measure and use variational autoencoders.")
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"vaekit.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except VaekitError as e:
        print(f"vaekit {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vaekit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m vaekit.cli
    sys.exit(main())
