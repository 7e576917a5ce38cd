"""`structconv paper`: the seed supplementary's Tables 1-2 beside our counts."""
from __future__ import annotations

from structconv.core import compare_paper_tables

from ._output import print_json
from ._table import render


def register(sub) -> None:
    p = sub.add_parser("paper", help="seed Tables 1-2 (#adds, #mults, #params) beside our counts")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    rows = compare_paper_tables()
    if args.json:
        print_json({"rows": rows})
        return 0
    out = []
    for r in rows:
        out.append([r["table"], r["label"]] + [
            f"{r[f'paper_{f}'] / div:.4g} / {r[f'ours_{f}'] / div:.4g} ({100 * r[f'rel_{f}']:+.1f}%)"
            for f, div in (("adds", 1e9), ("mults", 1e9), ("params", 1e6))])
    print(render(["table", "network", "#adds 1e9 paper / ours", "#mults 1e9 paper / ours",
                  "#params 1e6 paper / ours"], out, "lllll"))
    print("\nrelative difference = (ours - paper) / paper; see README 'Paper tables' for the causes.")
    return 0
