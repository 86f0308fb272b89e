"""Subcommands of the `vaekit` CLI; each module exposes register(subparsers)."""
