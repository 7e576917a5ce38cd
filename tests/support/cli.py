"""The command line run in-process, as the CLI tests call it."""
from __future__ import annotations

import json

from structconv.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """``structconv ARGV...``: (exit code, stdout, stderr)."""
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def cli_json(capsys, *argv) -> dict:
    """``structconv ARGV... --json``'s document (after output left by earlier calls is dropped); exit 0."""
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)
