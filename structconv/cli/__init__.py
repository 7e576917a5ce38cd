"""The `structconv` command line: a thin shell over the library.

Each command lives in its own module here and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a ``run(args) -> int``. Every command
takes its model through ``core.resolve_network`` and its plan (--preset or --plan)
through ``core.resolve_plan``. The parser imports every command module, so heavy
imports (sim's numba kernels, analysis's pandas and plotly, torch, optuna) stay
inside ``run`` and `structconv cost` stays quick.
Bad input of any kind ends as one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("zoo", "cost", "paper", "simulate", "search", "train", "decompose", "report", "demo")


class CLIError(Exception):
    """A user error the CLI reports as one line (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other bad input
        raise CLIError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="structconv", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue                      # command not written yet
            raise
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except (CLIError, ValueError, KeyError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"structconv: error: {msg.splitlines()[0] if msg else type(e).__name__}", file=sys.stderr)
        return 2
    except BrokenPipeError:                    # `structconv ... --json | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("structconv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
