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
import os
import sys

from ._errors import CLIError, StdoutError, guarded_stdout, one_line, os_error_line
from ._output import escaping_streams, plug_closed_fds

COMMANDS = ("zoo", "cost", "paper", "simulate", "search", "score", "train", "decompose", "report", "demo",
            "rtl")


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


def _dispatch(parser, argv) -> int:
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    rc = int(args.func(args) or 0)
    sys.stdout.flush()                         # `> /dev/full` fails here, not at exit where no one can say it
    return rc


def _error(message: str) -> int:
    if sys.stderr is None:                     # `2>&-`: the exit status says it (print would pick stdout)
        return 2
    try:
        print(f"structconv: error: {message}", file=sys.stderr, flush=True)
    except OSError:                            # stderr itself is unwritable: the exit status still says it
        pass
    return 2


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush of what is buffered cannot fail again."""
    try:
        fd = sys.__stdout__.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv=None) -> int:
    stdout_closed = sys.stdout is None
    plug_closed_fds()
    if stdout_closed:                          # before any work: its results would have nowhere to go
        return _error("standard output is closed; structconv writes its results there (use > FILE or "
                      "> /dev/null)")
    with escaping_streams():
        return _main(argv)


def _main(argv) -> int:
    parser = build_parser()
    try:
        with guarded_stdout():
            return _dispatch(parser, argv)
    except BrokenPipeError:                    # `structconv ... --json | head`: the reader had enough
        _silence_stdout()
        return 0
    except StdoutError as e:                   # `> /dev/full`
        _silence_stdout()
        return _error(f"cannot write to standard output: {e.strerror or e}")
    except (CLIError, ValueError, KeyError) as e:
        return _error(one_line(e))
    except OSError as e:                       # an unwritable --out/-o or an unreadable input, found late
        return _error(os_error_line(e))
    except KeyboardInterrupt:
        if sys.stderr is not None:
            print("structconv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
